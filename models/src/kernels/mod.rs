//! Custom backend operations where burn's generic kernels are slow for the
//! DARTS shapes (few channels, small images), with their own backward passes.
//!
//! The convolutions of a separable or dilated op (depthwise k×k, pointwise
//! 1×1), the 1×1 preprocessing, the 3×3 pools and training-mode batch
//! normalization go through [`Kernels`], a
//! `#[backend_extension]` trait: direct kernels on burn-flex (the CPU
//! backend), a handwritten backward on `Autodiff<Flex>`, and on every other
//! backend (CUDA) the trait's default bodies, which call burn's own
//! differentiable `conv2d` and pools. [`use_reference_kernels`] switches the
//! whole process back to burn's ops, which the equivalence tests and
//! `edgenas bench --reference-kernels` compare against.

pub mod batch_norm;
pub mod depthwise;
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

/// Which convolution, with its hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConvKind {
    Depthwise {
        stride: usize,
        padding: usize,
        dilation: usize,
    },
    Pointwise,
}

impl ConvKind {
    /// burn's `conv2d` options for the same convolution.
    fn options(self, c_out: usize) -> ConvOptions<2> {
        match self {
            ConvKind::Depthwise {
                stride,
                padding,
                dilation,
            } => ConvOptions::new([stride; 2], [padding; 2], [dilation; 2], c_out),
            ConvKind::Pointwise => ConvOptions::new([1; 2], [0; 2], [1; 2], 1),
        }
    }

    /// The geometry of this convolution of `x` by `weight` when a direct
    /// kernel applies (f32, the shapes this kind expects), else `None`.
    fn plan(self, x: &FlexTensor, weight: &FlexTensor) -> Option<Plan> {
        let (xs, ws) = (x.shape(), weight.shape());
        let usable = x.dtype() == DType::F32
            && weight.dtype() == DType::F32
            && xs.num_dims() == 4
            && ws.num_dims() == 4;
        if !usable {
            return None;
        }
        match self {
            ConvKind::Depthwise {
                stride,
                padding,
                dilation,
            } => {
                let fits = ws[0] == xs[1] && ws[1] == 1 && ws[2] == ws[3] && ws[2] > 0;
                let g = DwGeometry {
                    batch: xs[0],
                    channels: xs[1],
                    height: xs[2],
                    width: xs[3],
                    kernel: ws[2],
                    stride,
                    padding,
                    dilation,
                };
                let span = dilation * (ws[2] - 1) + 1;
                let in_bounds = stride > 0
                    && dilation > 0
                    && xs[2] + 2 * padding >= span
                    && xs[3] + 2 * padding >= span;
                (fits && in_bounds).then_some(Plan::Depthwise(g))
            }
            ConvKind::Pointwise => {
                let fits = ws[1] == xs[1] && ws[2] == 1 && ws[3] == 1;
                fits.then_some(Plan::Pointwise(PwGeometry {
                    batch: xs[0],
                    c_in: xs[1],
                    c_out: ws[0],
                    pixels: xs[2] * xs[3],
                }))
            }
        }
    }
}

/// A convolution the direct kernels run.
#[derive(Clone, Copy, Debug)]
enum Plan {
    Depthwise(DwGeometry),
    Pointwise(PwGeometry),
}

impl Plan {
    fn forward(&self, x: &FlexTensor, weight: &FlexTensor) -> FlexTensor {
        let [_, _, h, w] = x.shape().dims();
        let (xv, wv) = (values(x), values(weight));
        match self {
            Plan::Depthwise(g) => {
                let (oh, ow) = g.out_hw();
                let shape = [g.batch, g.channels, oh, ow];
                flex_tensor(depthwise::forward(g, &xv, &wv), shape)
            }
            Plan::Pointwise(g) => {
                let shape = [g.batch, g.c_out, h, w];
                flex_tensor(pointwise::forward(g, &xv, &wv), shape)
            }
        }
    }

    fn backward_input(&self, grad: &[f32], x: &FlexTensor, weight: &FlexTensor) -> FlexTensor {
        let w = values(weight);
        let gx = match self {
            Plan::Depthwise(g) => depthwise::backward_input(g, grad, &w),
            Plan::Pointwise(g) => pointwise::backward_input(g, grad, &w),
        };
        flex_tensor_like(gx, x)
    }

    fn backward_weight(&self, grad: &[f32], x: &FlexTensor, weight: &FlexTensor) -> FlexTensor {
        let x = values(x);
        let gw = match self {
            Plan::Depthwise(g) => depthwise::backward_weight(g, &x, grad),
            Plan::Pointwise(g) => pointwise::backward_weight(g, &x, grad),
        };
        flex_tensor_like(gw, weight)
    }
}

/// The contiguous `f32` values of a Flex tensor, copied only when strided.
fn values(t: &FlexTensor) -> Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(
            t.to_contiguous()
                .as_slice::<f32>()
                .expect("a contiguous f32 tensor")
                .to_vec(),
        ),
    }
}

fn flex_tensor(values: Vec<f32>, [n, c, h, w]: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, Shape::from([n, c, h, w])))
}

fn flex_tensor_like(values: Vec<f32>, like: &FlexTensor) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, like.shape()))
}

/// A convolution on Flex: the direct kernel when it applies, else burn's.
fn flex_conv(x: FlexTensor, weight: FlexTensor, kind: ConvKind) -> FlexTensor {
    match kind.plan(&x, &weight) {
        Some(plan) => plan.forward(&x, &weight),
        None => {
            let options = kind.options(weight.shape()[0]);
            Flex::conv2d(x, weight, None, options)
        }
    }
}

impl Kernels for Flex {
    fn depthwise_conv2d(
        x: FlexTensor,
        weight: FlexTensor,
        stride: usize,
        padding: usize,
        dilation: usize,
    ) -> FlexTensor {
        let kind = ConvKind::Depthwise {
            stride,
            padding,
            dilation,
        };
        flex_conv(x, weight, kind)
    }

    fn pointwise_conv2d(x: FlexTensor, weight: FlexTensor) -> FlexTensor {
        flex_conv(x, weight, ConvKind::Pointwise)
    }

    fn batch_norm_stats(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
    ) -> BnTrain<Self> {
        match bn_plan(&x, &gamma, &beta) {
            Some(g) => {
                let (output, stats) = flex_bn(&x, &gamma, &beta, epsilon, &g);
                let (mean, variance) = stats_tensors(&stats);
                BnTrain {
                    output,
                    mean,
                    variance,
                }
            }
            None => Flex::batch_norm_train(x, gamma, beta, epsilon).into(),
        }
    }

    fn max_pool_square(x: FlexTensor, kernel: usize, stride: usize, padding: usize) -> FlexTensor {
        match pool_plan(&x, kernel, stride, padding) {
            Some(g) => flex_max_pool(&x, &g).0,
            None => Flex::max_pool2d(x, [kernel; 2], [stride; 2], [padding; 2], [1, 1], false),
        }
    }

    fn avg_pool_square(x: FlexTensor, kernel: usize, stride: usize, padding: usize) -> FlexTensor {
        match pool_plan(&x, kernel, stride, padding) {
            Some(g) => flex_avg_pool(&x, &g),
            None => Flex::avg_pool2d(x, [kernel; 2], [stride; 2], [padding; 2], false, false),
        }
    }
}

/// The geometry of a batch normalization of `x` when the direct kernels
/// apply: f32, 4-D, one γ and β per channel.
fn bn_plan(x: &FlexTensor, gamma: &FlexTensor, beta: &FlexTensor) -> Option<BnGeometry> {
    let xs = x.shape();
    let f32s = [x, gamma, beta].iter().all(|t| t.dtype() == DType::F32);
    let per_channel = |t: &FlexTensor| t.shape().num_dims() == 1 && t.shape()[0] == xs[1];
    (f32s && xs.num_dims() == 4 && per_channel(gamma) && per_channel(beta)).then(|| BnGeometry {
        batch: xs[0],
        channels: xs[1],
        pixels: xs[2] * xs[3],
    })
}

fn flex_bn(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    epsilon: f64,
    g: &BnGeometry,
) -> (FlexTensor, BnStats) {
    let (y, stats) = batch_norm::forward(g, &values(x), &values(gamma), &values(beta), epsilon);
    (flex_tensor_like(y, x), stats)
}

fn channel_tensor(values: Vec<f32>) -> FlexTensor {
    let len = values.len();
    FlexTensor::from_data(TensorData::new(values, Shape::from([len])))
}

fn stats_tensors(stats: &BnStats) -> (FlexTensor, FlexTensor) {
    (
        channel_tensor(stats.mean.clone()),
        channel_tensor(stats.variance.clone()),
    )
}

/// The backward step of the direct batch normalization.
#[derive(Debug)]
struct BnBackward;

impl Backward<Flex, 3> for BnBackward {
    type State = (NodeId, NodeId, Arc<BnStats>, f64, BnGeometry);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x_state, gamma_state, stats, epsilon, g) = ops.state;
        let x = checkpointer.retrieve_node_output::<FlexTensor>(x_state);
        let gamma = checkpointer.retrieve_node_output::<FlexTensor>(gamma_state);
        let (gx, dgamma, dbeta) = batch_norm::backward(
            &g,
            &values(&x),
            &values(&grad),
            &values(&gamma),
            &stats,
            epsilon,
        );
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, flex_tensor_like(gx, &x));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, channel_tensor(dgamma));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, channel_tensor(dbeta));
        }
    }
}

/// The geometry of a pooling of `x` when the direct kernels apply: f32,
/// 4-D, and every window overlapping the image (padding at most half the
/// window, as PyTorch requires).
fn pool_plan(x: &FlexTensor, kernel: usize, stride: usize, padding: usize) -> Option<PoolGeometry> {
    let xs = x.shape();
    let usable = x.dtype() == DType::F32
        && xs.num_dims() == 4
        && kernel > 0
        && stride > 0
        && 2 * padding <= kernel
        && xs[2] + 2 * padding >= kernel
        && xs[3] + 2 * padding >= kernel;
    usable.then(|| PoolGeometry {
        batch: xs[0],
        channels: xs[1],
        height: xs[2],
        width: xs[3],
        kernel,
        stride,
        padding,
    })
}

fn pool_output(values: Vec<f32>, g: &PoolGeometry) -> FlexTensor {
    let (oh, ow) = g.out_hw();
    flex_tensor(values, [g.batch, g.channels, oh, ow])
}

fn pool_input_grad(values: Vec<f32>, g: &PoolGeometry) -> FlexTensor {
    flex_tensor(values, [g.batch, g.channels, g.height, g.width])
}

fn flex_max_pool(x: &FlexTensor, g: &PoolGeometry) -> (FlexTensor, Arc<[u32]>) {
    let (y, arg) = pool::max_forward(g, &values(x));
    (pool_output(y, g), arg.into())
}

fn flex_avg_pool(x: &FlexTensor, g: &PoolGeometry) -> FlexTensor {
    pool_output(pool::avg_forward(g, &values(x)), g)
}

/// The backward step of the direct max pool: the argmax of every output.
#[derive(Debug)]
struct MaxPoolBackward;

impl Backward<Flex, 1> for MaxPoolBackward {
    type State = (PoolGeometry, Arc<[u32]>);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (g, arg) = ops.state;
        if let Some(node) = node_x {
            let gx = pool::max_backward(&g, &values(&grad), &arg);
            grads.register::<Flex>(node.id, pool_input_grad(gx, &g));
        }
    }
}

/// The backward step of the direct average pool (needs only the shapes).
#[derive(Debug)]
struct AvgPoolBackward;

impl Backward<Flex, 1> for AvgPoolBackward {
    type State = PoolGeometry;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node_x {
            let gx = pool::avg_backward(&ops.state, &values(&grad));
            grads.register::<Flex>(node.id, pool_input_grad(gx, &ops.state));
        }
    }
}

/// The backward step of a direct-kernel convolution on `Autodiff<Flex>`.
#[derive(Debug)]
struct ConvBackward;

impl Backward<Flex, 2> for ConvBackward {
    type State = (NodeId, NodeId, ConvKind);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x_state, weight_state, kind) = ops.state;
        let x = checkpointer.retrieve_node_output::<FlexTensor>(x_state);
        let weight = checkpointer.retrieve_node_output::<FlexTensor>(weight_state);
        let plan = kind
            .plan(&x, &weight)
            .expect("the forward pass ran the direct kernel on these tensors");
        let gy = values(&grad);
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, plan.backward_input(&gy, &x, &weight));
        }
        if let Some(node) = node_weight {
            grads.register::<Flex>(node.id, plan.backward_weight(&gy, &x, &weight));
        }
    }
}

/// A convolution on `Autodiff<Flex>`: the direct kernels and [`ConvBackward`]
/// when they apply, else burn's differentiable `conv2d`.
fn autodiff_flex_conv<C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<Flex, C>>,
    weight: FloatTensor<Autodiff<Flex, C>>,
    kind: ConvKind,
) -> FloatTensor<Autodiff<Flex, C>> {
    if kind.plan(x.primitive(), weight.primitive()).is_none() {
        let options = kind.options(weight.shape()[0]);
        return Autodiff::<Flex, C>::conv2d(x, weight, None, options);
    }
    match ConvBackward
        .prepare::<C>([x.node(), weight.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let x_state = prep.checkpoint(&x);
            let weight_state = prep.checkpoint(&weight);
            let y = flex_conv(x.into_primitive(), weight.into_primitive(), kind);
            prep.finish((x_state, weight_state, kind), y)
        }
        OpsKind::UnTracked(prep) => {
            prep.finish(flex_conv(x.into_primitive(), weight.into_primitive(), kind))
        }
    }
}

impl<C: CheckpointStrategy> Kernels for Autodiff<Flex, C> {
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
        autodiff_flex_conv::<C>(x, weight, kind)
    }

    fn pointwise_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        autodiff_flex_conv::<C>(x, weight, ConvKind::Pointwise)
    }

    fn batch_norm_stats(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> BnTrain<Self> {
        let Some(g) = bn_plan(x.primitive(), gamma.primitive(), beta.primitive()) else {
            return Self::batch_norm_train(x, gamma, beta, epsilon).into();
        };
        let (y, stats) = flex_bn(
            x.primitive(),
            gamma.primitive(),
            beta.primitive(),
            epsilon,
            &g,
        );
        let (mean, variance) = stats_tensors(&stats);
        let output = match BnBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let gamma_state = prep.checkpoint(&gamma);
                prep.finish((x_state, gamma_state, Arc::new(stats), epsilon, g), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(y),
        };
        BnTrain {
            output,
            mean: Self::from_inner(mean),
            variance: Self::from_inner(variance),
        }
    }

    fn max_pool_square(
        x: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let Some(g) = pool_plan(x.primitive(), kernel, stride, padding) else {
            let [k, s, p] = [[kernel; 2], [stride; 2], [padding; 2]];
            return Self::max_pool2d(x, k, s, p, [1, 1], false);
        };
        match MaxPoolBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (y, arg) = flex_max_pool(x.primitive(), &g);
                prep.finish((g, arg), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(flex_max_pool(x.primitive(), &g).0),
        }
    }

    fn avg_pool_square(
        x: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let Some(g) = pool_plan(x.primitive(), kernel, stride, padding) else {
            let [k, s, p] = [[kernel; 2], [stride; 2], [padding; 2]];
            return Self::avg_pool2d(x, k, s, p, false, false);
        };
        match AvgPoolBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(g, flex_avg_pool(x.primitive(), &g)),
            OpsKind::UnTracked(prep) => prep.finish(flex_avg_pool(x.primitive(), &g)),
        }
    }
}
