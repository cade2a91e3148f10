//! Chooses the burn device the search and retraining run on.

pub use artifacts::Backend;
use burn::tensor::Device;

use crate::SearchError;

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
