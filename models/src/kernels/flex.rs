//! The custom kernels on burn-flex (the CPU backend): the direct forward
//! passes of [`Kernels`](super::Kernels) on `Flex`, and the geometry checks
//! that decide when they apply (otherwise burn's own op runs).

use rayon::prelude::*;

use super::*;

/// Which convolution, with its hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ConvKind {
    Depthwise {
        stride: usize,
        padding: usize,
        dilation: usize,
    },
    Pointwise,
}

impl ConvKind {
    /// burn's `conv2d` options for the same convolution.
    pub(super) fn options(self, c_out: usize) -> ConvOptions<2> {
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
    pub(super) fn plan(self, x: &FlexTensor, weight: &FlexTensor) -> Option<Plan> {
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
pub(super) enum Plan {
    Depthwise(DwGeometry),
    Pointwise(PwGeometry),
}

impl Plan {
    pub(super) fn forward(&self, x: &FlexTensor, weight: &FlexTensor) -> FlexTensor {
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

    pub(super) fn backward_input(
        &self,
        grad: &[f32],
        x: &FlexTensor,
        weight: &FlexTensor,
    ) -> FlexTensor {
        let w = values(weight);
        let gx = match self {
            Plan::Depthwise(g) => depthwise::backward_input(g, grad, &w),
            Plan::Pointwise(g) => pointwise::backward_input(g, grad, &w),
        };
        flex_tensor_like(gx, x)
    }

    /// The weight gradient, burn's to the bit: burn's own
    /// `conv2d_weight_backward` for 1×1 convolutions; for depthwise ones the
    /// same per-channel convolutions burn's runs (the input's planes of one
    /// channel convolved with the output gradient's), but in parallel over
    /// the channels where burn runs them one after another.
    pub(super) fn backward_weight(
        &self,
        grad: FlexTensor,
        x: FlexTensor,
        weight: FlexTensor,
    ) -> FlexTensor {
        let g = match self {
            Plan::Pointwise(g) => {
                let options = ConvKind::Pointwise.options(g.c_out);
                return Flex::conv2d_weight_backward(x, weight, grad, options);
            }
            Plan::Depthwise(g) => g,
        };
        let (xv, gy) = (values(&x), values(&grad));
        let (oh, ow) = g.out_hw();
        let (plane_in, plane_out, k) = (g.height * g.width, oh * ow, g.kernel);
        // burn's options for a weight gradient: stride and dilation swap.
        let options = ConvOptions::new([g.dilation; 2], [g.padding; 2], [g.stride; 2], 1);
        let channel_planes = |values: &[f32], c: usize, len: usize| -> Vec<f32> {
            (0..g.batch)
                .flat_map(|n| &values[(n * g.channels + c) * len..][..len])
                .copied()
                .collect()
        };
        let taps: Vec<Vec<f32>> = (0..g.channels)
            .into_par_iter()
            .map(|c| {
                let xc = flex_tensor(
                    channel_planes(&xv, c, plane_in),
                    [1, g.batch, g.height, g.width],
                );
                let gc = flex_tensor(channel_planes(&gy, c, plane_out), [1, g.batch, oh, ow]);
                let out = Flex::conv2d(xc, gc, None, options.clone());
                // [1, 1, kh, kw] with kh, kw ≥ k: its top-left k × k.
                let [_, _, _, kw] = out.shape().dims();
                let out = values(&out);
                (0..k).flat_map(|r| out[r * kw..][..k].to_vec()).collect()
            })
            .collect();
        flex_tensor(taps.concat(), [g.channels, 1, k, k])
    }
}

/// The contiguous `f32` values of a Flex tensor, copied only when strided.
pub(super) fn values(t: &FlexTensor) -> Cow<'_, [f32]> {
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

pub(super) fn flex_tensor(values: Vec<f32>, [n, c, h, w]: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, Shape::from([n, c, h, w])))
}

pub(super) fn flex_tensor_like(values: Vec<f32>, like: &FlexTensor) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, like.shape()))
}

/// A convolution on Flex: the direct kernel when it applies, else burn's.
pub(super) fn flex_conv(x: FlexTensor, weight: FlexTensor, kind: ConvKind) -> FlexTensor {
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
pub(super) fn bn_plan(x: &FlexTensor, gamma: &FlexTensor, beta: &FlexTensor) -> Option<BnGeometry> {
    let xs = x.shape();
    let f32s = [x, gamma, beta].iter().all(|t| t.dtype() == DType::F32);
    let per_channel = |t: &FlexTensor| t.shape().num_dims() == 1 && t.shape()[0] == xs[1];
    (f32s && xs.num_dims() == 4 && per_channel(gamma) && per_channel(beta)).then(|| BnGeometry {
        batch: xs[0],
        channels: xs[1],
        pixels: xs[2] * xs[3],
    })
}

pub(super) fn flex_bn(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    epsilon: f64,
    g: &BnGeometry,
) -> (FlexTensor, BnStats) {
    let (y, stats) = batch_norm::forward(g, &values(x), &values(gamma), &values(beta), epsilon);
    (flex_tensor_like(y, x), stats)
}

pub(super) fn channel_tensor(values: Vec<f32>) -> FlexTensor {
    let len = values.len();
    FlexTensor::from_data(TensorData::new(values, Shape::from([len])))
}

pub(super) fn stats_tensors(stats: &BnStats) -> (FlexTensor, FlexTensor) {
    (
        channel_tensor(stats.mean.clone()),
        channel_tensor(stats.variance.clone()),
    )
}

/// The geometry of a pooling of `x` when the direct kernels apply: f32,
/// 4-D, and every window overlapping the image (padding at most half the
/// window, as PyTorch requires).
pub(super) fn pool_plan(
    x: &FlexTensor,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> Option<PoolGeometry> {
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

pub(super) fn pool_output(values: Vec<f32>, g: &PoolGeometry) -> FlexTensor {
    let (oh, ow) = g.out_hw();
    flex_tensor(values, [g.batch, g.channels, oh, ow])
}

pub(super) fn pool_input_grad(values: Vec<f32>, g: &PoolGeometry) -> FlexTensor {
    flex_tensor(values, [g.batch, g.channels, g.height, g.width])
}

pub(super) fn flex_max_pool(x: &FlexTensor, g: &PoolGeometry) -> (FlexTensor, Arc<[u32]>) {
    let (y, arg) = pool::max_forward(g, &values(x));
    (pool_output(y, g), arg.into())
}

pub(super) fn flex_avg_pool(x: &FlexTensor, g: &PoolGeometry) -> FlexTensor {
    pool_output(pool::avg_forward(g, &values(x)), g)
}
