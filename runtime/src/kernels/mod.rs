//! edgenas' own tract ops, swapped in for tract's where they run faster.
//!
//! tract runs our exported networks several times slower than onnxruntime
//! at batch 1 (docs/results/tract-vs-onnxruntime.md): most of the time
//! goes to depthwise convolutions and to the small matrix products of the
//! 1×1 convolutions. [`swap_in`] replaces such `Conv` nodes of a typed
//! model, before tract declutters and lowers it, by ops of this module:
//! [`DepthwiseConv`], [`PointwiseConv`], [`DenseConv`] (every other
//! one-group convolution) and [`Pool2d`] (max and average pools). They are ordinary tract ops
//! (`EvalOp` + `TypedOp`), so the ONNX file stays standard and tract-onnx
//! stays the runtime: any tract user gets the same numbers, and plans made
//! through this crate ([`crate::TractModel::plan`]) get the speed.
//! They are on by default on x86-64 CPUs with AVX2 and FMA (where they were
//! measured); `EDGENAS_TRACT_KERNELS=tract` keeps tract's own kernels and
//! `EDGENAS_TRACT_KERNELS=edgenas` uses ours on any CPU.
//!
//! Each kernel is compiled twice, for AVX2 with FMA and for the baseline,
//! and picks one at run time. The FMA build rounds once per product, so
//! outputs differ from tract's by float rounding (checked to 1e-5 relative
//! in export's parity tests, with burn's to 1e-4).

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec};
use tract_onnx::tract_core::ops::nn::DataFormat;

mod dense;
mod depthwise;
mod pointwise;
mod pool;

pub use dense::DenseConv;
pub use depthwise::{DepthwiseConv, DepthwiseGeometry};
pub use pointwise::PointwiseConv;
pub use pool::{Pool2d, PoolKind};

/// The generation of kernels [`Kernels::Edgenas`] plans use: 0 is tract's
/// own everywhere, 1 adds [`DepthwiseConv`], 2 [`PointwiseConv`] and
/// [`DenseConv`], 3 [`Pool2d`]. Raise it
/// whenever a kernel is added or changes speed.
const GENERATION: u32 = 3;

/// The environment variable that chooses the kernels: `tract` (tract's own
/// everywhere) or `edgenas` (ours wherever they apply, on any CPU).
pub const ENV: &str = "EDGENAS_TRACT_KERNELS";

/// Which implementation runs the ops that have an edgenas kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    /// edgenas' ops where they apply.
    Edgenas,
    /// tract's own lowering everywhere.
    Tract,
}

impl Kernels {
    /// `EDGENAS_TRACT_KERNELS=tract|edgenas` when set; otherwise ours on
    /// x86-64 CPUs with AVX2 and FMA, where they were measured faster, and
    /// tract's elsewhere (ARM: tract has NEON kernels of its own; ours have
    /// not been timed against them).
    pub fn from_env() -> Self {
        match std::env::var(ENV).as_deref() {
            Ok("tract") => Kernels::Tract,
            Ok("edgenas") => Kernels::Edgenas,
            _ if avx2_fma() => Kernels::Edgenas,
            _ => Kernels::Tract,
        }
    }

    /// What plans made with these kernels run: 0 for tract's own, else the
    /// generation of edgenas' kernels. Latency tables put it in their
    /// fingerprint, since they must time what the deployment runs.
    pub fn generation(self) -> u32 {
        match self {
            Kernels::Tract => 0,
            Kernels::Edgenas => GENERATION,
        }
    }
}

/// Whether this CPU runs the kernels' AVX2 + FMA build.
pub(crate) fn avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Replaces every convolution of a typed (not yet decluttered) `model`
/// or pool that [`DepthwiseConv`], [`PointwiseConv`], [`DenseConv`] or
/// [`Pool2d`] covers;
/// returns how many it replaced.
pub fn swap_in(model: &mut TypedModel) -> TractResult<usize> {
    let (mut depthwise, mut pointwise, mut dense, mut pools) = (0, 0, 0, 0);
    for id in model.eval_order()? {
        let node = model.node(id);
        let op: Box<dyn TypedOp> = if let Some(op) = depthwise::depthwise_of(model, node)? {
            depthwise += 1;
            Box::new(op)
        } else if let Some(op) = pointwise::pointwise_of(model, node)? {
            pointwise += 1;
            Box::new(op)
        } else if let Some(op) = dense::dense_of(model, node)? {
            dense += 1;
            Box::new(op)
        } else if let Some(op) = pool::pool_of(model, node)? {
            pools += 1;
            Box::new(op)
        } else {
            continue;
        };
        let patch = TypedModelPatch::replace_single_op(model, node, &node.inputs[..1], op)?;
        patch.apply(model)?;
    }
    log::debug!(
        "edgenas kernels: {depthwise} depthwise, {pointwise} pointwise, {dense} dense convolutions, {pools} pools"
    );
    Ok(depthwise + pointwise + dense + pools)
}

/// A 2-D f32 convolution with constant weights, as the kernels of this
/// module take it.
struct ConvParts {
    /// `[N, C, H, W]` (true) or `[C, H, W]`.
    batched: bool,
    input: [usize; 2],
    in_channels: usize,
    out_channels: usize,
    group: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    pad_before: [usize; 2],
    pad_after: [usize; 2],
    /// OIHW, `[out, in / group, kh, kw]` row-major.
    weights: Vec<f32>,
    /// `[out]`.
    bias: Vec<f32>,
}

/// The parts of a `Conv` node, when it is an f32 NCHW or CHW convolution
/// over two spatial axes of known size, with OIHW constant weights, a
/// constant bias (one value or one per output channel), and explicit or no
/// padding.
fn conv_parts(model: &TypedModel, node: &TypedNode) -> TractResult<Option<ConvParts>> {
    let Some(conv) = node.op_as::<Conv>() else {
        return Ok(None);
    };
    let spec = &conv.pool_spec;
    let batched = match spec.data_format {
        DataFormat::NCHW => true,
        DataFormat::CHW => false,
        _ => return Ok(None),
    };
    if conv.q_params.is_some()
        || spec.kernel_shape.len() != 2
        || conv.kernel_fmt != KernelFormat::OIHW
        || node.inputs.len() != 3
        || conv.group == 0
    {
        return Ok(None);
    }
    let x = model.outlet_fact(node.inputs[0])?;
    let Some(shape) = x.shape.as_concrete() else {
        return Ok(None);
    };
    let lead = usize::from(batched);
    let (in_channels, out_channels) = (spec.input_channels, spec.output_channels);
    if x.datum_type != f32::datum_type() || shape.len() != 3 + lead || shape[lead] != in_channels {
        return Ok(None);
    }
    let constant = |i: usize| -> TractResult<Option<Vec<f32>>> {
        match constant_value(model, node.inputs[i], 4)? {
            Some(t) if t.datum_type() == f32::datum_type() => {
                Ok(Some(t.try_as_plain_ram()?.as_slice::<f32>()?.to_vec()))
            }
            _ => Ok(None),
        }
    };
    let (Some(weights), Some(bias)) = (constant(1)?, constant(2)?) else {
        return Ok(None);
    };
    let kernel = [spec.kernel_shape[0], spec.kernel_shape[1]];
    if model.outlet_fact(node.inputs[1])?.shape.as_concrete()
        != Some(&[out_channels, in_channels / conv.group, kernel[0], kernel[1]][..])
    {
        return Ok(None);
    }
    let bias = match bias.len() {
        1 => vec![bias[0]; out_channels],
        n if n == out_channels => bias,
        _ => return Ok(None),
    };
    let (pad_before, pad_after) = match &spec.padding {
        PaddingSpec::Valid => ([0, 0], [0, 0]),
        PaddingSpec::Explicit(b, a) | PaddingSpec::ExplicitOnnxPool(b, a, false)
            if b.len() == 2 && a.len() == 2 =>
        {
            ([b[0], b[1]], [a[0], a[1]])
        }
        _ => return Ok(None),
    };
    let pair = |v: &Option<TVec<usize>>| match v {
        None => Some([1, 1]),
        Some(v) if v.len() == 2 && v.iter().all(|&x| x > 0) => Some([v[0], v[1]]),
        _ => None,
    };
    let (Some(stride), Some(dilation)) = (pair(&spec.strides), pair(&spec.dilations)) else {
        return Ok(None);
    };
    Ok(Some(ConvParts {
        batched,
        input: [shape[lead + 1], shape[lead + 2]],
        in_channels,
        out_channels,
        group: conv.group,
        kernel,
        stride,
        dilation,
        pad_before,
        pad_after,
        weights,
        bias,
    }))
}

/// The value of `outlet` when it is constant: a constant, or (before
/// decluttering folds them) an op of at most `depth` levels over constants,
/// such as the `Cast` tract-onnx puts on a convolution's bias.
fn constant_value(
    model: &TypedModel,
    outlet: OutletId,
    depth: usize,
) -> TractResult<Option<Arc<Tensor>>> {
    if let Some(value) = &model.outlet_fact(outlet)?.konst {
        return Ok(Some(value.clone()));
    }
    let node = model.node(outlet.node);
    if depth == 0 || node.inputs.is_empty() {
        return Ok(None);
    }
    let mut inputs = TVec::new();
    for &input in &node.inputs {
        match constant_value(model, input, depth - 1)? {
            Some(value) => inputs.push(value.into_tvalue()),
            None => return Ok(None),
        }
    }
    Ok(node
        .op
        .eval_out_of_plan(inputs)?
        .and_then(|mut outputs| {
            (outlet.slot < outputs.len()).then(|| outputs.swap_remove(outlet.slot))
        })
        .map(|value| value.into_arc_tensor()))
}

/// What an op of this module answers when tract's declutter removes the
/// batch axis (of size 1) around it: the same op without a batch axis.
fn drop_batch_axis<O: TypedOp>(
    model: &TypedModel,
    node: &TypedNode,
    batched: bool,
    change: &AxisOp,
    unbatched: impl FnOnce() -> O,
) -> Option<AxisChangeConsequence> {
    (batched && *change == AxisOp::Rm(0))
        .then(|| AxisChangeConsequence::new(model, node, Some(Box::new(unbatched())), change))
}
