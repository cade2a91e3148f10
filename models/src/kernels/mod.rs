//! Custom backend operations where burn's generic kernels are slow for the
//! DARTS shapes (few channels, small images), with their own backward passes.
//!
//! The convolutions of a separable or dilated op (depthwise k×k, pointwise
//! 1×1), the 1×1 preprocessing, FactorizedReduce's 1×1 convolutions, the
//! 3×3 pools and training-mode batch normalization go through [`Kernels`],
//! a `#[backend_extension]` trait: direct kernels on burn-flex (the CPU
//! backend), a handwritten backward on `Autodiff<Flex>`, and on every other
//! backend (CUDA) the trait's default bodies, which call burn's own
//! differentiable `conv2d` and pools. [`use_reference_kernels`] switches the
//! whole process back to burn's ops, which the equivalence tests and
//! `edgenas-bench --reference-kernels` compare against.
//!
//! # Bit for bit burn's results
//!
//! On Flex every value these kernels compute is the one burn's op computes,
//! to the bit (`models/tests/kernels.rs` compares the bits): the forward
//! passes and input gradients sum in burn's order; batch normalization
//! evaluates burn's formulas operation for operation, with burn-flex's own
//! row sum for the statistics; the weight gradients are burn's
//! (`conv2d_weight_backward` for 1×1 convolutions, its per-channel
//! convolutions for depthwise ones, run in parallel). A search is chaotic:
//! a difference in the last bit of one gradient grows about tenfold per
//! step and sends it to another genotype, so anything less would make the
//! kernel switch change the searched architecture, not just its speed
//! (docs/results/search-convergence.md).
//!
//! FactorizedReduce takes the pixels a stride of 2 reads and runs the 1×1
//! convolution on them on both paths: burn's strided convolution sums in
//! another order than its 1×1 one.

mod autodiff;
pub mod batch_norm;
pub mod depthwise;
mod flex;
pub mod pointwise;
pub mod pool;
mod vector;
mod wide;

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{BatchNormTrain, ConvOptions, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    Autodiff, AutodiffBackend, Backend, Dispatch, Flex, TensorMetadata, backend_extension,
};
use burn::nn::PaddingConfig2d;
use burn::nn::pool::{AvgPool2dConfig, MaxPool2dConfig};
use burn::tensor::{DType, Shape, Tensor, TensorData};

use batch_norm::{BnGeometry, BnStats};
use burn::backend::ExtensionType;
use burn::nn::BatchNorm;
use depthwise::DwGeometry;
use flex::ConvKind;
use pointwise::PwGeometry;
use pool::PoolGeometry;

/// Set when the process should run burn's ops; starts from the environment.
static REFERENCE_KERNELS: LazyLock<AtomicBool> = LazyLock::new(|| {
    AtomicBool::new(std::env::var_os(REFERENCE_KERNELS_ENV).is_some_and(|v| v == "1"))
});

/// `EDGENAS_REFERENCE_KERNELS=1` makes every command run burn's own ops
/// instead of the custom kernels (for comparing results or timings).
pub const REFERENCE_KERNELS_ENV: &str = "EDGENAS_REFERENCE_KERNELS";

/// Routes every op of this module through burn's ops (`true`) or the custom
/// kernels (`false`, the default unless [`REFERENCE_KERNELS_ENV`] is `1`)
/// for the rest of the process.
pub fn use_reference_kernels(reference: bool) {
    REFERENCE_KERNELS.store(reference, Ordering::SeqCst);
}

/// True while burn's ops are selected (see [`use_reference_kernels`]).
pub fn reference_kernels() -> bool {
    REFERENCE_KERNELS.load(Ordering::SeqCst)
}

/// Depthwise convolution (`groups = channels`, no bias, square kernel,
/// symmetric padding), differentiable in both inputs.
///
/// # Shapes
/// - `x`: `[batch, channels, H, W]`
/// - `weight`: `[channels, 1, k, k]`
/// - returns `[batch, channels, H_out, W_out]`
pub fn depthwise_conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    stride: usize,
    padding: usize,
    dilation: usize,
) -> Tensor<4> {
    let kind = ConvKind::Depthwise {
        stride,
        padding,
        dilation,
    };
    if reference_kernels() {
        let options = kind.options(weight.dims()[0]);
        return burn::tensor::module::conv2d(x, weight, None, options);
    }
    Tensor::from_dispatch(<Dispatch as Kernels>::depthwise_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        stride,
        padding,
        dilation,
    ))
}

/// 1×1 convolution, stride 1, no padding, no groups, no bias,
/// differentiable in both inputs.
///
/// # Shapes
/// - `x`: `[batch, c_in, H, W]`
/// - `weight`: `[c_out, c_in, 1, 1]`
/// - returns `[batch, c_out, H, W]`
pub fn pointwise_conv2d(x: Tensor<4>, weight: Tensor<4>) -> Tensor<4> {
    if reference_kernels() {
        let options = ConvKind::Pointwise.options(weight.dims()[0]);
        return burn::tensor::module::conv2d(x, weight, None, options);
    }
    Tensor::from_dispatch(<Dispatch as Kernels>::pointwise_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
    ))
}

/// Max pooling over a `kernel`×`kernel` window with symmetric zero
/// padding (floor mode, no dilation), differentiable.
///
/// # Shapes
/// - `x`: `[batch, channels, H, W]`
/// - returns `[batch, channels, H_out, W_out]`
pub fn max_pool2d(x: Tensor<4>, kernel: usize, stride: usize, padding: usize) -> Tensor<4> {
    if reference_kernels() {
        let pad = PaddingConfig2d::Explicit(padding, padding, padding, padding);
        return MaxPool2dConfig::new([kernel; 2])
            .with_strides([stride; 2])
            .with_padding(pad)
            .init()
            .forward(x);
    }
    Tensor::from_dispatch(<Dispatch as Kernels>::max_pool_square(
        x.into_dispatch(),
        kernel,
        stride,
        padding,
    ))
}

/// Average pooling over the in-bounds taps of a `kernel`×`kernel` window
/// (PyTorch's `count_include_pad=False`, floor mode), differentiable.
///
/// # Shapes
/// - `x`: `[batch, channels, H, W]`
/// - returns `[batch, channels, H_out, W_out]`
pub fn avg_pool2d(x: Tensor<4>, kernel: usize, stride: usize, padding: usize) -> Tensor<4> {
    if reference_kernels() {
        let pad = PaddingConfig2d::Explicit(padding, padding, padding, padding);
        return AvgPool2dConfig::new([kernel; 2])
            .with_strides([stride; 2])
            .with_padding(pad)
            .with_count_include_pad(false)
            .init()
            .forward(x);
    }
    Tensor::from_dispatch(<Dispatch as Kernels>::avg_pool_square(
        x.into_dispatch(),
        kernel,
        stride,
        padding,
    ))
}

/// `bn` applied to `x`: in training (an autodiff device and the layer's
/// training flag on) with the batch statistics on the custom kernel, and the
/// running statistics updated as `BatchNorm::forward` updates them;
/// otherwise `BatchNorm::forward` itself.
///
/// # Shapes
/// - `x`: `[batch, channels, H, W]`
/// - returns the same shape
pub fn batch_norm(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    if reference_kernels() || !(x.device().is_autodiff() && bn.training.is_enabled()) {
        return bn.forward(x);
    }
    let r = <Dispatch as Kernels>::batch_norm_stats(
        x.into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        bn.epsilon,
    );
    let output = Tensor::<4>::from_dispatch(r.output);
    let mean = Tensor::<1>::from_dispatch(r.mean);
    let variance = Tensor::<1>::from_dispatch(r.variance);
    let device = output.device();
    let running_mean = bn.running_mean.value_sync().to_device(&device);
    let running_var = bn.running_var.value_sync().to_device(&device);
    let running_mean = running_mean
        .mul_scalar(1.0 - bn.momentum)
        .add(mean.detach().mul_scalar(bn.momentum));
    let running_var = running_var
        .mul_scalar(1.0 - bn.momentum)
        .add(variance.detach().mul_scalar(bn.momentum));
    bn.running_mean.update(running_mean.detach());
    bn.running_var.update(running_var.detach());
    output
}

/// The result of a training-mode batch normalization.
#[derive(ExtensionType)]
pub struct BnTrain<B: Backend> {
    /// The normalized input.
    pub output: FloatTensor<B>,
    /// Batch mean per channel, `[channels]` (not differentiable).
    pub mean: FloatTensor<B>,
    /// Biased batch variance per channel, `[channels]` (not differentiable).
    pub variance: FloatTensor<B>,
}

impl<B: Backend> From<BatchNormTrain<B>> for BnTrain<B> {
    fn from(r: BatchNormTrain<B>) -> Self {
        BnTrain {
            output: r.output,
            mean: r.mean,
            variance: r.variance,
        }
    }
}

/// The ops with custom kernels. Every backend gets burn's own op (the
/// default bodies) unless it implements a method itself (Flex and
/// `Autodiff<Flex>` do).
#[backend_extension(Flex, Cube: cfg(feature = "cuda"), Autodiff)]
pub trait Kernels: Backend {
    /// See [`depthwise_conv2d`](fn@depthwise_conv2d).
    fn depthwise_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: usize,
        dilation: usize,
    ) -> FloatTensor<Self> {
        let kind = ConvKind::Depthwise {
            stride,
            padding,
            dilation,
        };
        let options = kind.options(weight.shape()[0]);
        Self::conv2d(x, weight, None, options)
    }

    /// See [`pointwise_conv2d`](fn@pointwise_conv2d).
    fn pointwise_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        let options = ConvKind::Pointwise.options(weight.shape()[0]);
        Self::conv2d(x, weight, None, options)
    }

    /// Training-mode batch normalization with batch statistics (see
    /// [`batch_norm`](fn@batch_norm)); by default burn's `batch_norm_train`.
    fn batch_norm_stats(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> BnTrain<Self> {
        Self::batch_norm_train(x, gamma, beta, epsilon).into()
    }

    /// See [`max_pool2d`](fn@max_pool2d).
    fn max_pool_square(
        x: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        Self::max_pool2d(x, [kernel; 2], [stride; 2], [padding; 2], [1, 1], false)
    }

    /// See [`avg_pool2d`](fn@avg_pool2d).
    fn avg_pool_square(
        x: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        Self::avg_pool2d(x, [kernel; 2], [stride; 2], [padding; 2], false, false)
    }
}

#[cfg(feature = "cuda")]
impl Kernels for burn::backend::Cube {}

#[cfg(feature = "cuda")]
impl<C: CheckpointStrategy> Kernels for Autodiff<burn::backend::Cube, C> {}
