//! Chooses the burn device the search and retraining run on.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::SearchError;

/// The compute backend for training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// burn-flex on the CPU (default).
    #[default]
    Flex,
    /// burn-cuda on GPU `index` (needs the `cuda` cargo feature).
    Cuda,
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "flex" | "cpu" => Ok(Backend::Flex),
            "cuda" => Ok(Backend::Cuda),
            _ => Err(format!("unknown backend `{s}` (expected flex or cuda)")),
        }
    }
}

/// The autodiff training device for `backend`.
pub fn training_device(backend: Backend) -> Result<Device, SearchError> {
    match backend {
        Backend::Flex => Ok(Device::flex().autodiff()),
        Backend::Cuda => cuda_device(),
    }
}

#[cfg(feature = "cuda")]
fn cuda_device() -> Result<Device, SearchError> {
    Ok(Device::cuda(0).autodiff())
}

#[cfg(not(feature = "cuda"))]
fn cuda_device() -> Result<Device, SearchError> {
    Err(SearchError::Config(
        "this edgenas was built without CUDA support; rebuild with `cargo build --release --features cuda` on the GPU machine (it needs network access while building)".into(),
    ))
}
