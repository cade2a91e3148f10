//! The candidate operations of op spaces 1–4 and the dynamic space, and the
//! cell glue that feeds them (docs/algorithms.md §2.1): convolutions, pools,
//! activations, inverted-residual blocks, FactorizedReduce, ReLU–Conv–BN.
//!
//! Every op keeps the spatial size at stride 1 and produces `ceil(H / 2)` at
//! stride 2, for odd sizes too (28×28 inputs reach 7×7 after two reductions).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::activation::{leaky_relu, relu, sigmoid, tanh};
use burn::tensor::{Device, Distribution, Tensor, s};

use crate::kernels;
use crate::space::{LEAKY_RELU_SLOPE, MbConvSpec, OpKind, Pointwise, ZERO_NOISE_MEAN, ZeroForm};

/// Batch normalization that is either affine (evaluation network) or has
/// frozen γ = 1, β = 0 (the search network's non-affine BN, as in DARTS).
///
/// Running statistics are tracked in both cases so that a validation pass
/// (`Module::valid`) normalizes with them.
pub fn batch_norm(channels: usize, affine: bool, device: &Device) -> BatchNorm {
    let mut bn = BatchNormConfig::new(channels).init(device);
    if !affine {
        bn.gamma = bn.gamma.set_require_grad(false);
        bn.beta = bn.beta.set_require_grad(false);
    }
    bn
}

/// A bias-free 2-D convolution with symmetric padding (PyTorch's `Conv2d`
/// argument list, which every op here is written against).
#[allow(clippy::too_many_arguments)]
pub fn conv(
    c_in: usize,
    c_out: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
    groups: usize,
    device: &Device,
) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(
            padding, padding, padding, padding,
        ))
        .with_dilation([dilation, dilation])
        .with_groups(groups)
        .with_bias(false)
        .init(device)
}

/// ReLU → 1×1 (or k×k) convolution → BN: the cell-input preprocessing.
#[derive(Module, Debug)]
pub struct ReluConvBn {
    pub conv: Conv2d,
    pub bn: BatchNorm,
}

impl ReluConvBn {
    pub fn new(c_in: usize, c_out: usize, affine: bool, device: &Device) -> Self {
        Self {
            conv: conv(c_in, c_out, 1, 1, 0, 1, 1, device),
            bn: batch_norm(c_out, affine, device),
        }
    }

    /// # Shapes
    /// - input: `[batch, c_in, H, W]`
    /// - output: `[batch, c_out, H, W]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = kernels::pointwise_conv2d(relu(x), self.conv.weight.val());
        kernels::batch_norm(&self.bn, y)
    }
}

/// Halves the spatial size with two 1×1 stride-2 convolutions on inputs offset
/// by one pixel, concatenated along channels, then BN (DARTS' FactorizedReduce).
#[derive(Module, Debug)]
pub struct FactorizedReduce {
    pub conv_a: Conv2d,
    pub conv_b: Conv2d,
    pub bn: BatchNorm,
}

impl FactorizedReduce {
    pub fn new(c_in: usize, c_out: usize, affine: bool, device: &Device) -> Self {
        assert!(
            c_out.is_multiple_of(2),
            "FactorizedReduce needs an even channel count, got {c_out}"
        );
        Self {
            conv_a: conv(c_in, c_out / 2, 1, 2, 0, 1, 1, device),
            conv_b: conv(c_in, c_out / 2, 1, 2, 0, 1, 1, device),
            bn: batch_norm(c_out, affine, device),
        }
    }

    /// # Shapes
    /// - input: `[batch, c_in, H, W]`
    /// - output: `[batch, c_out, ceil(H/2), ceil(W/2)]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = relu(x);
        let [_, _, h, w] = x.dims();
        let convs = if h < 2 || w < 2 {
            self.convs_strided(x)
        } else {
            self.convs_sampled(x)
        };
        kernels::batch_norm(&self.bn, convs)
    }

    /// Both branches' convolutions, concatenated along channels, on the
    /// 1×1 kernel, on either kernel path.
    fn convs_sampled(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        // A 1×1 stride-2 convolution reads every other pixel: take those
        // pixels (a strided view) and run the stride-1 1×1 convolution on
        // them. Both kernel paths do so: burn's strided convolution sums in
        // another order than its 1×1 one, which the custom kernel matches bit
        // for bit (see `kernels`). The offset branch reads x[1:, 1:]; for odd
        // sizes it is one short and gets a zero row/column at the end, as in
        // `convs_strided`.
        let (h_out, w_out) = (h.div_ceil(2), w.div_ceil(2));
        let even = x.clone().slice(s![.., .., 0..h;2, 0..w;2]);
        let mut odd = x.slice(s![.., .., 1..h;2, 1..w;2]);
        if h_out != h / 2 || w_out != w / 2 {
            odd = odd.pad(
                [(0, 0), (0, 0), (0, h_out - h / 2), (0, w_out - w / 2)],
                0.0,
            );
        }
        let a = kernels::pointwise_conv2d(even, self.conv_a.weight.val());
        let b = kernels::pointwise_conv2d(odd, self.conv_b.weight.val());
        Tensor::cat(vec![a, b], 1)
    }

    /// The same with burn's stride-2 convolutions, for images under 2×2
    /// (an empty offset branch).
    fn convs_strided(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        // DARTS only ever sees even sizes; for odd ones we pad the shifted
        // input back to H×W with zeros at the end so both branches produce
        // ceil(H/2) × ceil(W/2) and can be concatenated.
        let shifted = x
            .clone()
            .slice([0..x.dims()[0], 0..x.dims()[1], 1..h, 1..w])
            .pad([(0, 0), (0, 0), (0, 1), (0, 1)], 0.0);
        let a = self.conv_a.forward(x); // [batch, c_out/2, ceil(H/2), ceil(W/2)]
        let b = self.conv_b.forward(shifted);
        Tensor::cat(vec![a, b], 1)
    }
}

/// Depthwise k×k (optionally dilated) then pointwise 1×1, then BN. The ReLU
/// in front is applied by the caller so that a mixed edge computes it once.
#[derive(Module, Debug)]
pub struct DwPwBn {
    pub depthwise: Conv2d,
    pub pointwise: Conv2d,
    pub bn: BatchNorm,
}

impl DwPwBn {
    #[allow(clippy::too_many_arguments)]
    fn new(
        c_in: usize,
        c_out: usize,
        kernel: usize,
        stride: usize,
        dilation: usize,
        affine: bool,
        device: &Device,
    ) -> Self {
        let padding = dilation * (kernel - 1) / 2;
        Self {
            depthwise: conv(c_in, c_in, kernel, stride, padding, dilation, c_in, device),
            pointwise: conv(c_in, c_out, 1, 1, 0, 1, 1, device),
            bn: batch_norm(c_out, affine, device),
        }
    }

    fn forward(&self, relu_x: Tensor<4>) -> Tensor<4> {
        // Both convolutions run on the direct kernels of `kernels` (same
        // weights, same result as `Conv2d::forward`, which the kernel tests
        // compare against).
        let dw = &self.depthwise;
        let [stride, _] = dw.stride;
        let [dilation, _] = dw.dilation;
        let padding = dilation * (dw.kernel_size[0] - 1) / 2;
        let y = kernels::depthwise_conv2d(relu_x, dw.weight.val(), stride, padding, dilation);
        let y = kernels::pointwise_conv2d(y, self.pointwise.weight.val());
        kernels::batch_norm(&self.bn, y)
    }
}

/// Separable convolution: [ReLU, depthwise k×k, pointwise 1×1, BN] twice,
/// the stride only in the first half.
#[derive(Module, Debug)]
pub struct SepConv {
    pub first: DwPwBn,
    pub second: DwPwBn,
}

impl SepConv {
    fn new(c: usize, kernel: usize, stride: usize, affine: bool, device: &Device) -> Self {
        Self {
            first: DwPwBn::new(c, c, kernel, stride, 1, affine, device),
            second: DwPwBn::new(c, c, kernel, 1, 1, affine, device),
        }
    }

    fn forward(&self, relu_x: Tensor<4>) -> Tensor<4> {
        self.second.forward(relu(self.first.forward(relu_x)))
    }
}

/// A k×k convolution (stride s, padding k/2) then BN: `min_conv_k×k`, or
/// with a ReLU first (applied by the caller, as for the separable
/// convolutions) `std_conv_k×k` (op space 2).
#[derive(Module, Debug)]
pub struct ConvBnOp {
    pub conv: Conv2d,
    pub bn: BatchNorm,
}

impl ConvBnOp {
    fn new(c: usize, kernel: usize, stride: usize, affine: bool, device: &Device) -> Self {
        Self {
            conv: conv(c, c, kernel, stride, kernel / 2, 1, 1, device),
            bn: batch_norm(c, affine, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        kernels::batch_norm(&self.bn, self.conv.forward(x))
    }
}

/// `conv_N×1_1×N` (op space 2, NASNet): ReLU (applied by the caller), a
/// 1×N convolution with stride (1, s), an N×1 convolution with stride
/// (s, 1), BN — the stride split across the two, as in DARTS' code.
#[derive(Module, Debug)]
pub struct ConvPairOp {
    pub horizontal: Conv2d,
    pub vertical: Conv2d,
    pub bn: BatchNorm,
}

impl ConvPairOp {
    fn new(c: usize, n: usize, stride: usize, affine: bool, device: &Device) -> Self {
        let p = n / 2;
        Self {
            horizontal: Conv2dConfig::new([c, c], [1, n])
                .with_stride([1, stride])
                .with_padding(PaddingConfig2d::Explicit(0, p, 0, p))
                .with_bias(false)
                .init(device),
            vertical: Conv2dConfig::new([c, c], [n, 1])
                .with_stride([stride, 1])
                .with_padding(PaddingConfig2d::Explicit(p, 0, p, 0))
                .with_bias(false)
                .init(device),
            bn: batch_norm(c, affine, device),
        }
    }

    fn forward(&self, relu_x: Tensor<4>) -> Tensor<4> {
        let y = self.vertical.forward(self.horizontal.forward(relu_x));
        kernels::batch_norm(&self.bn, y)
    }
}

/// `conv_k×k` and `dw_conv_k×k` (op space 1): one k×k convolution (full or
/// depthwise, stride s, padding k/2) and nothing else.
#[derive(Module, Debug)]
pub struct PlainConvOp {
    pub conv: Conv2d,
}

impl PlainConvOp {
    fn new(c: usize, kernel: usize, depthwise: bool, stride: usize, device: &Device) -> Self {
        let groups = if depthwise { c } else { 1 };
        Self {
            conv: conv(c, c, kernel, stride, kernel / 2, 1, groups, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let conv = &self.conv;
        if conv.groups > 1 {
            let [stride, _] = conv.stride;
            let padding = conv.kernel_size[0] / 2;
            kernels::depthwise_conv2d(x, conv.weight.val(), stride, padding, 1)
        } else {
            conv.forward(x)
        }
    }
}

/// Op space 1's element-wise ops (`act_relu`, `act_leaky_relu`,
/// `act_sigmoid`, `act_tanh`, `batch_norm`); at stride 2 a
/// FactorizedReduce comes first, as for a strided identity.
#[derive(Module, Debug)]
pub struct PointwiseOp {
    pub reduce: Option<FactorizedReduce>,
    /// `batch_norm`'s layer.
    pub bn: Option<BatchNorm>,
    #[module(skip)]
    pub function: Pointwise,
}

impl PointwiseOp {
    fn new(function: Pointwise, c: usize, stride: usize, affine: bool, device: &Device) -> Self {
        Self {
            reduce: (stride == 2).then(|| FactorizedReduce::new(c, c, affine, device)),
            bn: (function == Pointwise::BatchNorm).then(|| batch_norm(c, affine, device)),
            function,
        }
    }

    /// True for `act_relu` at stride 1: it is the mixed edge's shared ReLU.
    fn is_shared_relu(&self) -> bool {
        self.function == Pointwise::Relu && self.reduce.is_none()
    }

    fn forward(&self, x: Tensor<4>, relu_x: Tensor<4>) -> Tensor<4> {
        if self.is_shared_relu() {
            return relu_x;
        }
        let x = match &self.reduce {
            Some(fr) => fr.forward(x),
            None => x,
        };
        match self.function {
            Pointwise::Relu => relu(x),
            Pointwise::LeakyRelu => leaky_relu(x, LEAKY_RELU_SLOPE),
            Pointwise::Sigmoid => sigmoid(x),
            Pointwise::Tanh => tanh(x),
            Pointwise::BatchNorm => {
                kernels::batch_norm(self.bn.as_ref().expect("batch_norm has its layer"), x)
            }
        }
    }
}

/// Squeeze-excitation (EfficientNet): global average pool, 1×1 conv to
/// `MbConvSpec::se_channels` with bias, ReLU, 1×1 conv back with bias,
/// sigmoid, and the input scaled channel-wise by the result.
#[derive(Module, Debug)]
pub struct SqueezeExcite {
    pub reduce: Conv2d,
    pub expand: Conv2d,
}

impl SqueezeExcite {
    fn new(c: usize, squeeze: usize, device: &Device) -> Self {
        let one = |c_in, c_out| {
            Conv2dConfig::new([c_in, c_out], [1, 1])
                .with_bias(true)
                .init(device)
        };
        Self {
            reduce: one(c, squeeze),
            expand: one(squeeze, c),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let pooled = x.clone().mean_dim(3).mean_dim(2); // [batch, C, 1, 1]
        let gate = sigmoid(self.expand.forward(relu(self.reduce.forward(pooled))));
        x.mul(gate)
    }
}

/// ReLU6, MobileNetV2's activation.
fn relu6(x: Tensor<4>) -> Tensor<4> {
    x.clamp(0.0, 6.0)
}

/// An inverted-residual block of op space 4 (`MbConvSpec`): [1×1 expand,
/// ReLU6], depthwise k×k, ReLU6, [SE], 1×1 project, BN; or, fused, k×k
/// expand, ReLU6, 1×1 project, BN. The stride sits in the first spatial
/// convolution. No residual inside: the cell's `identity` candidate is the
/// skip connection, as in ProxylessNAS' MBConv candidates.
#[derive(Module, Debug)]
pub struct MbConvOp {
    pub expand: Option<Conv2d>,
    pub depthwise: Option<Conv2d>,
    pub se: Option<SqueezeExcite>,
    pub project: Conv2d,
    pub bn: BatchNorm,
}

impl MbConvOp {
    fn new(spec: MbConvSpec, c: usize, stride: usize, affine: bool, device: &Device) -> Self {
        let (k, wide) = (spec.kernel, spec.expansion * c);
        let (expand, depthwise) = if spec.fused {
            (Some(conv(c, wide, k, stride, k / 2, 1, 1, device)), None)
        } else {
            let expand = (spec.expansion > 1).then(|| conv(c, wide, 1, 1, 0, 1, 1, device));
            let dw = conv(wide, wide, k, stride, k / 2, 1, wide, device);
            (expand, Some(dw))
        };
        Self {
            expand,
            depthwise,
            se: spec
                .se
                .then(|| SqueezeExcite::new(wide, MbConvSpec::se_channels(c), device)),
            project: conv(wide, c, 1, 1, 0, 1, 1, device),
            bn: batch_norm(c, affine, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut h = x;
        if let Some(expand) = &self.expand {
            h = relu6(if expand.kernel_size[0] == 1 {
                kernels::pointwise_conv2d(h, expand.weight.val())
            } else {
                expand.forward(h)
            });
        }
        if let Some(dw) = &self.depthwise {
            let [stride, _] = dw.stride;
            let padding = dw.kernel_size[0] / 2;
            h = relu6(kernels::depthwise_conv2d(
                h,
                dw.weight.val(),
                stride,
                padding,
                1,
            ));
        }
        if let Some(se) = &self.se {
            h = se.forward(h);
        }
        let y = kernels::pointwise_conv2d(h, self.project.weight.val());
        kernels::batch_norm(&self.bn, y)
    }
}

/// One candidate operation with its weights.
// Variant sizes differ (a SepConv holds four convolutions), but ops are built
// once per edge and live in a Vec; boxing would only add indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Op {
    /// `zero`: a tensor of zeros of the output shape.
    Zero(ZeroOp),
    MaxPool(PoolOp<MaxPool2d>),
    AvgPool(PoolOp<AvgPool2d>),
    /// `identity` at stride 1.
    Identity(IdentityOp),
    /// `identity` at stride 2.
    Reduce(FactorizedReduce),
    Sep(SepConv),
    Dil(DwPwBn),
    /// `min_conv_k×k`: conv, BN.
    MinConv(ConvBnOp),
    /// `std_conv_k×k`: ReLU, conv, BN.
    StdConv(ConvBnOp),
    /// `conv_N×1_1×N`: ReLU, 1×N conv, N×1 conv, BN.
    ConvPair(ConvPairOp),
    /// `conv_k×k`, `dw_conv_k×k`: one convolution.
    PlainConv(PlainConvOp),
    /// The activations and `batch_norm` (after a FactorizedReduce at stride 2).
    Pointwise(PointwiseOp),
    /// MBConv, MBConv with SE, fused MBConv.
    MbConv(MbConvOp),
}

/// The `zero` operation: zeros, or (zero configurations V2–V4) uniform
/// noise in [0, 1) while training and its mean 0.5 at inference
/// (`ZeroForm::Noise`).
#[derive(Module, Debug)]
pub struct ZeroOp {
    pub stride: usize,
    #[module(skip)]
    pub noise: bool,
}

/// `identity` at stride 1 (no weights).
#[derive(Module, Debug)]
pub struct IdentityOp {}

/// A 3×3 or 5×5 pool (padding k/2), followed by BN in the search network.
#[derive(Module, Debug)]
pub struct PoolOp<P: Module> {
    pub pool: P,
    pub bn: Option<BatchNorm>,
}

impl Op {
    /// Builds `kind` on `c` channels. `search` selects the search network's
    /// form: non-affine BN and a BN after each pool.
    pub fn new(kind: OpKind, c: usize, stride: usize, search: bool, device: &Device) -> Self {
        let affine = !search;
        let pool_bn = search.then(|| batch_norm(c, false, device));
        if let Some(spec) = kind.mbconv() {
            return Op::MbConv(MbConvOp::new(spec, c, stride, affine, device));
        }
        if let Some(function) = kind.pointwise() {
            return Op::Pointwise(PointwiseOp::new(function, c, stride, affine, device));
        }
        if let Some((k, depthwise)) = kind.plain_conv() {
            return Op::PlainConv(PlainConvOp::new(c, k, depthwise, stride, device));
        }
        let k = kind.pool_kernel().unwrap_or(3);
        let pad = PaddingConfig2d::Explicit(k / 2, k / 2, k / 2, k / 2);
        match kind {
            OpKind::Zero => Op::zero(stride, ZeroForm::Zeros),
            OpKind::MaxPool3x3 | OpKind::MaxPool5x5 => Op::MaxPool(PoolOp {
                pool: MaxPool2dConfig::new([k, k])
                    .with_strides([stride, stride])
                    .with_padding(pad)
                    .init(),
                bn: pool_bn,
            }),
            OpKind::AvgPool3x3 | OpKind::AvgPool5x5 => Op::AvgPool(PoolOp {
                pool: AvgPool2dConfig::new([k, k])
                    .with_strides([stride, stride])
                    .with_padding(pad)
                    .with_count_include_pad(false)
                    .init(),
                bn: pool_bn,
            }),
            OpKind::Identity if stride == 1 => Op::Identity(IdentityOp {}),
            OpKind::Identity => Op::Reduce(FactorizedReduce::new(c, c, affine, device)),
            OpKind::SepConv3x3 => Op::Sep(SepConv::new(c, 3, stride, affine, device)),
            OpKind::SepConv5x5 => Op::Sep(SepConv::new(c, 5, stride, affine, device)),
            OpKind::DilConv3x3 => Op::Dil(DwPwBn::new(c, c, 3, stride, 2, affine, device)),
            OpKind::DilConv5x5 => Op::Dil(DwPwBn::new(c, c, 5, stride, 2, affine, device)),
            OpKind::MinConv3x3 => Op::MinConv(ConvBnOp::new(c, 3, stride, affine, device)),
            OpKind::MinConv5x5 => Op::MinConv(ConvBnOp::new(c, 5, stride, affine, device)),
            OpKind::StdConv3x3 => Op::StdConv(ConvBnOp::new(c, 3, stride, affine, device)),
            OpKind::StdConv5x5 => Op::StdConv(ConvBnOp::new(c, 5, stride, affine, device)),
            OpKind::Conv7x1x1x7 => Op::ConvPair(ConvPairOp::new(c, 7, stride, affine, device)),
            OpKind::Conv9x1x1x9 => Op::ConvPair(ConvPairOp::new(c, 9, stride, affine, device)),
            other => unreachable!("{other} is built above"),
        }
    }

    /// The `zero` op at `stride` in the given form.
    pub fn zero(stride: usize, form: ZeroForm) -> Self {
        Op::Zero(ZeroOp {
            stride,
            noise: form == ZeroForm::Noise,
        })
    }

    /// True when the op starts with a ReLU of its input (convolutions), so a
    /// mixed edge can share one ReLU among them.
    pub fn wants_relu_input(&self) -> bool {
        match self {
            Op::Sep(_) | Op::Dil(_) | Op::StdConv(_) | Op::ConvPair(_) => true,
            Op::Pointwise(p) => p.is_shared_relu(),
            _ => false,
        }
    }

    /// True for the op that passes its input through unchanged (drop-path
    /// skips it, as in DARTS).
    pub fn is_identity(&self) -> bool {
        matches!(self, Op::Identity(_))
    }

    /// Applies the op to `x`.
    ///
    /// # Shapes
    /// - input: `[batch, C, H, W]`
    /// - output: `[batch, C, H', W']`, `H' = ceil(H / stride)`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        if self.wants_relu_input() {
            self.forward_shared(x.clone(), relu(x))
        } else {
            self.forward_shared(x.clone(), x)
        }
    }

    /// Applies the op given both `x` and `relu(x)`, so that a mixed edge
    /// computes the ReLU shared by its convolutions once instead of once per op.
    pub fn forward_shared(&self, x: Tensor<4>, relu_x: Tensor<4>) -> Tensor<4> {
        match self {
            Op::Zero(zero) => {
                let [n, c, h, w] = x.dims();
                let s = zero.stride;
                let shape = [n, c, h.div_ceil(s), w.div_ceil(s)];
                let device = x.device();
                match (zero.noise, device.is_autodiff()) {
                    (false, _) => Tensor::zeros(shape, &device),
                    (true, true) => Tensor::random(shape, Distribution::Uniform(0.0, 1.0), &device),
                    (true, false) => Tensor::full(shape, ZERO_NOISE_MEAN, &device),
                }
            }
            Op::MaxPool(p) => {
                let [stride, _] = p.pool.stride;
                let k = p.pool.kernel_size[0];
                let y = kernels::max_pool2d(x, k, stride, k / 2);
                match &p.bn {
                    Some(bn) => kernels::batch_norm(bn, y),
                    None => y,
                }
            }
            Op::AvgPool(p) => {
                let [stride, _] = p.pool.stride;
                let k = p.pool.kernel_size[0];
                let y = kernels::avg_pool2d(x, k, stride, k / 2);
                match &p.bn {
                    Some(bn) => kernels::batch_norm(bn, y),
                    None => y,
                }
            }
            Op::Identity(_) => x,
            Op::Reduce(fr) => fr.forward(x),
            Op::Sep(sep) => sep.forward(relu_x),
            Op::Dil(dil) => dil.forward(relu_x),
            Op::MinConv(op) => op.forward(x),
            Op::StdConv(op) => op.forward(relu_x),
            Op::ConvPair(op) => op.forward(relu_x),
            Op::PlainConv(op) => op.forward(x),
            Op::Pointwise(op) => op.forward(x, relu_x),
            Op::MbConv(op) => op.forward(x),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_keeps_or_halves_spatial_size() {
        let device = Device::flex();
        for kind in OpKind::ALL {
            for (size, stride, expect) in [(8, 1, 8), (8, 2, 4), (7, 2, 4), (7, 1, 7)] {
                for search in [true, false] {
                    let op = Op::new(kind, 4, stride, search, &device);
                    let x = Tensor::<4>::ones([2, 4, size, size], &device);
                    let y = op.forward(x);
                    assert_eq!(
                        y.dims(),
                        [2, 4, expect, expect],
                        "{kind} stride {stride} on {size}×{size}"
                    );
                }
            }
        }
    }

    /// `zero` as noise (V2–V4): uniform in [0, 1) on an autodiff device
    /// (training), its mean everywhere at inference; as zeros: zeros.
    #[test]
    fn zero_op_forms() {
        let values = |t: Tensor<4>| t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        for stride in [1, 2] {
            let noise = Op::zero(stride, ZeroForm::Noise);
            let training = Device::flex().autodiff();
            let y = values(noise.forward(Tensor::<4>::ones([2, 3, 7, 7], &training)));
            let side = 7usize.div_ceil(stride);
            assert_eq!(y.len(), 2 * 3 * side * side);
            assert!(y.iter().all(|v| (0.0..1.0).contains(v)), "{y:?}");
            let mean = y.iter().sum::<f32>() / y.len() as f32;
            assert!((mean - 0.5).abs() < 0.15, "mean {mean}");
            let spread = y.iter().fold(0f32, |m, v| m.max((v - mean).abs()));
            assert!(spread > 0.3, "noise, not a constant: {spread}");
            let inference = Device::flex();
            let y = values(noise.forward(Tensor::<4>::ones([2, 3, 7, 7], &inference)));
            assert!(y.iter().all(|v| *v == ZERO_NOISE_MEAN));
            let zeros = Op::zero(stride, ZeroForm::Zeros);
            let y = values(zeros.forward(Tensor::<4>::ones([2, 3, 7, 7], &training)));
            assert!(y.iter().all(|v| *v == 0.0));
        }
    }

    /// The custom path (every other pixel, then the stride-1 kernel) against
    /// burn's stride-2 convolutions: the concatenated outputs, the input
    /// gradient and both convolutions' weight gradients, on even and odd
    /// sizes (the batch norm after them is shared).
    #[test]
    fn factorized_reduce_matches_the_strided_convolutions() {
        use burn::tensor::Distribution;
        let device = Device::flex().autodiff();
        device.seed(11);
        let values = |t: Tensor<4>| t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        for size in [8, 7, 2] {
            let reduce = FactorizedReduce::new(6, 10, true, &device);
            let x = Tensor::<4>::random([3, 6, size, size], Distribution::Default, &device)
                .sub_scalar(0.5);
            let run = |sampled: bool| {
                let x = x.clone().require_grad();
                let relu_x = relu(x.clone());
                let y = if sampled {
                    reduce.convs_sampled(relu_x)
                } else {
                    reduce.convs_strided(relu_x)
                };
                // A non-uniform upstream gradient: d(Σ y³/3)/dy = y².
                let grads = y.clone().powi_scalar(3).sum().div_scalar(3.0).backward();
                let grad = |t: &Tensor<4>| values(t.grad(&grads).expect("a gradient"));
                [
                    values(y),
                    grad(&x),
                    grad(&reduce.conv_a.weight.val()),
                    grad(&reduce.conv_b.weight.val()),
                ]
            };
            let (ours, burns) = (run(true), run(false));
            for (what, (a, b)) in ["y", "dx", "dw_a", "dw_b"]
                .iter()
                .zip(ours.iter().zip(&burns))
            {
                assert_eq!(a.len(), b.len(), "{what} {size}×{size}");
                let scale = b.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
                for (i, (p, q)) in a.iter().zip(b).enumerate() {
                    assert!(
                        (p - q).abs() <= 1e-5 * scale,
                        "{what}[{i}] on {size}×{size}: {p} vs {q}"
                    );
                }
            }
        }
    }
}
