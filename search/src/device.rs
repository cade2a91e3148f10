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
    Ok(probe_cuda().map_err(SearchError::Config)?.autodiff())
}

/// CUDA device 0, probed with one tiny tensor round trip: burn-cuda panics
/// (in its device thread) when no driver or device can be opened, and the
/// probe turns that into an error the commands can print.
#[cfg(feature = "cuda")]
pub fn probe_cuda() -> Result<Device, String> {
    std::panic::catch_unwind(|| {
        let device = Device::cuda(0);
        let _ = burn::tensor::Tensor::<1>::ones([1], &device).into_data();
        device
    })
    .map_err(|_| {
        "this build has CUDA support, but no CUDA device or driver could be opened \
         (does `nvidia-smi` or `tegrastats` see the GPU, and is libcuda on the library path?)"
            .to_string()
    })
}

#[cfg(not(feature = "cuda"))]
fn cuda_device() -> Result<Device, SearchError> {
    Err(SearchError::Config(
        "this edgenas was built without CUDA support; rebuild with `cargo build --release --features cuda` on the GPU machine (it needs network access while building)".into(),
    ))
}
