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
//! A ReLU whose every use is one of these convolutions is fused into them
//! (`fuse_relus`). Each kernel is compiled twice, for AVX2 with FMA and
//! for the baseline, and picks one at run time; depthwise convolutions and
//! pools also have an AVX2 walk across channels written with intrinsics
//! (`channels_avx2`). The FMA build rounds once per product, so
//! outputs differ from tract's by float rounding (checked to 1e-5 relative
//! in export's parity tests, with burn's to 1e-4).

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
use tract_onnx::tract_core::ops::math::{Add, Max};
use tract_onnx::tract_core::ops::nn::DataFormat;

#[cfg(target_arch = "x86_64")]
mod channels_avx2;
mod dense;
mod depthwise;
mod pointwise;
mod pool;

pub use dense::DenseConv;
pub use depthwise::{DepthwiseConv, Walk};
pub use pointwise::PointwiseConv;
pub use pool::{Pool2d, PoolKind};

/// The generation of kernels [`Kernels::Edgenas`] plans use: 0 is tract's
/// own everywhere, 1 adds [`DepthwiseConv`], 2 [`PointwiseConv`] and
/// [`DenseConv`], 3 [`Pool2d`], 4 the flat plane walk of depthwise
/// convolutions and pools, their AVX2 walk across channels for narrow or
/// strided outputs, [`DenseConv`]'s runs of channels, ReLUs fused into the
/// convolutions after them and uninitialized outputs, 5 the AVX2 walk
/// across channels for every geometry (each pixel loaded once per kernel
/// row, transposes through 128-bit halves), 1×1 products in blocks of 6
/// channels × 16 positions and Adds fused into the 1×1 convolutions that
/// feed them. Raise it whenever a kernel is added or changes speed.
const GENERATION: u32 = 5;

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
    let relus = fuse_relus(model)?;
    // After the ReLUs: their fusion rewires a convolution's first input
    // only.
    let adds = fuse_adds(model)?;
    log::debug!(
        "edgenas kernels: {depthwise} depthwise, {pointwise} pointwise, {dense} dense convolutions, {pools} pools; {relus} ReLUs and {adds} adds fused into them"
    );
    Ok(depthwise + pointwise + dense + pools)
}

/// Fuses each ReLU whose every use is one of our convolutions into them
/// (each applies it as it reads its input, and the ReLU node drops out of
/// the plan); returns how many ReLUs it fused. Our cells put a ReLU
/// before every convolution but the stem (tract merges the identical ReLUs
/// of one tensor into one node): as separate nodes they cost a pass over
/// the tensor and tract's per-node overhead each.
fn fuse_relus(model: &mut TypedModel) -> TractResult<usize> {
    // A patch leaves the node it replaced in the graph, still reading its
    // inputs: without this, a ReLU would count dead convolutions as uses.
    model.compact()?;
    let mut fused = 0;
    for id in model.eval_order()? {
        let Some(x) = relu_input(model, model.node(id))? else {
            continue;
        };
        let uses = model.outlet_successors(OutletId::new(id, 0)).to_vec();
        let with_relu: Option<Vec<Box<dyn TypedOp>>> = uses
            .iter()
            .map(|to| {
                let node = model.node(to.node);
                (to.slot == 0).then_some(())?;
                let op: Box<dyn TypedOp> = if let Some(op) = node.op_as::<DepthwiseConv>() {
                    Box::new(op.with_relu())
                } else if let Some(op) = node.op_as::<PointwiseConv>() {
                    Box::new(op.with_relu())
                } else {
                    Box::new(node.op_as::<DenseConv>()?.with_relu())
                };
                Some(op)
            })
            .collect();
        let Some(with_relu) = with_relu.filter(|ops| !ops.is_empty()) else {
            continue;
        };
        for (to, op) in uses.iter().zip(with_relu) {
            let node = model.node(to.node);
            TypedModelPatch::replace_single_op(model, node, &[x], op)?.apply(model)?;
        }
        fused += 1;
    }
    model.compact()?;
    Ok(fused)
}

/// Fuses each `Add` of two f32 tensors of one shape, one of them a 1×1
/// convolution's output used only there, into that convolution
/// ([`PointwiseConv::residual`]: it adds the other tensor as it stores
/// its blocks); returns how many. A DARTS node sums two ops' outputs, and
/// separable and dilated convolutions end in a 1×1 convolution: the Add
/// nodes cost a pass over the tensor, an allocation and tract's per-node
/// overhead each. The sum is the same to the bit (a float add is
/// commutative).
fn fuse_adds(model: &mut TypedModel) -> TractResult<usize> {
    model.compact()?;
    let mut fused = 0;
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some(op) = node.op_as::<TypedBinOp>() else {
            continue;
        };
        if !op.0.is::<Add>() || node.inputs.len() != 2 {
            continue;
        }
        let fact = model.outlet_fact(OutletId::new(id, 0))?;
        let same = |o: OutletId| -> TractResult<bool> {
            let f = model.outlet_fact(o)?;
            Ok(f.shape == fact.shape && f.datum_type == f32::datum_type())
        };
        let [a, b] = [node.inputs[0], node.inputs[1]];
        if fact.datum_type != f32::datum_type() || !same(a)? || !same(b)? {
            continue;
        }
        let conv = |o: OutletId| {
            let op = model.node(o.node).op_as::<PointwiseConv>()?;
            (!op.residual && model.outlet_successors(o).len() == 1).then_some(op)
        };
        let Some((at, other, op)) = conv(b)
            .map(|op| (b, a, op))
            .or_else(|| conv(a).map(|op| (a, b, op)))
        else {
            continue;
        };
        let conv_node = model.node(at.node);
        let mut patch = TypedModelPatch::default();
        let x = patch.tap_model(model, conv_node.inputs[0])?;
        let r = patch.tap_model(model, other)?;
        let name = format!("{}+{}", conv_node.name, node.name);
        let sum = patch.wire_node(name, op.with_residual(), &[x, r])?;
        patch.shunt_outside(model, OutletId::new(id, 0), sum[0])?;
        patch.apply(model)?;
        fused += 1;
    }
    model.compact()?;
    Ok(fused)
}

/// The input of `node` when it is a ReLU as tract-onnx writes one:
/// `max(x, 0)` with the zero a constant, and the output of `x`'s shape.
fn relu_input(model: &TypedModel, node: &TypedNode) -> TractResult<Option<OutletId>> {
    let Some(op) = node.op_as::<TypedBinOp>() else {
        return Ok(None);
    };
    if !op.0.is::<Max>() || node.inputs.len() != 2 {
        return Ok(None);
    }
    let [x, zero] = [node.inputs[0], node.inputs[1]];
    let fact = model.outlet_fact(x)?;
    let is_zero = match constant_value(model, zero, 2)? {
        Some(t) if t.datum_type() == f32::datum_type() => t
            .try_as_plain_ram()?
            .as_slice::<f32>()?
            .iter()
            .all(|&v| v == 0.0),
        _ => false,
    };
    let same_shape = fact.shape == model.outlet_fact(OutletId::new(node.id, 0))?.shape;
    Ok((is_zero && same_shape && fact.datum_type == f32::datum_type()).then_some(x))
}

/// A ReLU, as the kernels apply a fused one (a compare and select, which
/// LLVM vectorises).
#[inline(always)]
fn relu(v: f32) -> f32 {
    if v > 0.0 { v } else { 0.0 }
}

/// What a kernel op adds to its one-line description when a ReLU is
/// fused into it.
fn relu_note(relu: bool) -> &'static str {
    if relu { ", ReLU on input" } else { "" }
}

/// Geometry of one 2-D convolution or pool on NCHW planes, per spatial
/// axis `[height, width]`; `channels` are the input's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Geometry {
    pub channels: usize,
    pub input: [usize; 2],
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    pub pad_before: [usize; 2],
    pub pad_after: [usize; 2],
}

impl Geometry {
    fn padded(&self, axis: usize) -> usize {
        self.input[axis] + self.pad_before[axis] + self.pad_after[axis]
    }

    /// Output size along `axis`, or `None` when the kernel's span exceeds
    /// the padded input.
    fn output_axis(&self, axis: usize) -> Option<usize> {
        let span = self.dilation[axis] * (self.kernel[axis] - 1) + 1;
        let padded = self.padded(axis);
        (padded >= span).then(|| (padded - span) / self.stride[axis] + 1)
    }

    /// The output plane's `[height, width]`, or `None` when the kernel's
    /// span exceeds the padded input.
    pub fn output(&self) -> Option<[usize; 2]> {
        Some([self.output_axis(0)?, self.output_axis(1)?])
    }

    fn taps(&self) -> usize {
        self.kernel[0] * self.kernel[1]
    }
}

/// The geometry of a tract `Conv` or pool with `spec` on the input `x`,
/// and whether `x` has a batch axis: f32 NCHW or CHW over two spatial axes
/// of known size, explicit or no padding.
fn geometry_of(spec: &PoolSpec, x: &TypedFact) -> Option<(bool, Geometry)> {
    let batched = match spec.data_format {
        DataFormat::NCHW => true,
        DataFormat::CHW => false,
        _ => return None,
    };
    let shape = x.shape.as_concrete()?;
    let lead = usize::from(batched);
    if x.datum_type != f32::datum_type() || shape.len() != 3 + lead || spec.kernel_shape.len() != 2
    {
        return None;
    }
    let (pad_before, pad_after) = match &spec.padding {
        PaddingSpec::Valid => ([0, 0], [0, 0]),
        PaddingSpec::Explicit(b, a) | PaddingSpec::ExplicitOnnxPool(b, a, false)
            if b.len() == 2 && a.len() == 2 =>
        {
            ([b[0], b[1]], [a[0], a[1]])
        }
        _ => return None,
    };
    let pair = |v: &Option<TVec<usize>>| match v {
        None => Some([1, 1]),
        Some(v) if v.len() == 2 && v.iter().all(|&x| x > 0) => Some([v[0], v[1]]),
        _ => None,
    };
    let geometry = Geometry {
        channels: shape[lead],
        input: [shape[lead + 1], shape[lead + 2]],
        kernel: [spec.kernel_shape[0], spec.kernel_shape[1]],
        stride: pair(&spec.strides)?,
        dilation: pair(&spec.dilations)?,
        pad_before,
        pad_after,
    };
    geometry.output().map(|_| (batched, geometry))
}

/// A 2-D f32 convolution with constant weights, as the kernels of this
/// module take it.
struct ConvParts {
    /// `[N, C, H, W]` (true) or `[C, H, W]`.
    batched: bool,
    geometry: Geometry,
    out_channels: usize,
    group: usize,
    /// OIHW, `[out, in / group, kh, kw]` row-major.
    weights: Vec<f32>,
    /// `[out]`.
    bias: Vec<f32>,
}

/// The parts of a `Conv` node, when [`geometry_of`] takes it and its
/// weights are OIHW constants and its bias a constant (one value or one
/// per output channel).
fn conv_parts(model: &TypedModel, node: &TypedNode) -> TractResult<Option<ConvParts>> {
    let Some(conv) = node.op_as::<Conv>() else {
        return Ok(None);
    };
    let spec = &conv.pool_spec;
    if conv.q_params.is_some()
        || conv.kernel_fmt != KernelFormat::OIHW
        || node.inputs.len() != 3
        || conv.group == 0
    {
        return Ok(None);
    }
    let Some((batched, geometry)) = geometry_of(spec, model.outlet_fact(node.inputs[0])?) else {
        return Ok(None);
    };
    let (in_channels, out_channels) = (spec.input_channels, spec.output_channels);
    if geometry.channels != in_channels {
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
    let [kh, kw] = geometry.kernel;
    if model.outlet_fact(node.inputs[1])?.shape.as_concrete()
        != Some(&[out_channels, in_channels / conv.group, kh, kw][..])
    {
        return Ok(None);
    }
    let bias = match bias.len() {
        1 => vec![bias[0]; out_channels],
        n if n == out_channels => bias,
        _ => return Ok(None),
    };
    Ok(Some(ConvParts {
        batched,
        geometry,
        out_channels,
        group: conv.group,
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

/// What the ops of this module share: f32 images of one shape in, `[C,
/// H, W]`, with a batch axis (`[N, C, H, W]`) or without (what tract's
/// declutter leaves of batch 1), and images of one shape out.
/// [`image_op!`] writes their tract traits from it.
trait ImageOp: std::fmt::Debug + Clone + PartialEq + Send + Sync + 'static {
    /// The op's name in tract's plans and profiles.
    fn name(&self) -> &'static str;
    /// One line for tract's dumps.
    fn describe(&self) -> String;
    fn batched(&self) -> bool;
    /// The same op on input without the batch axis.
    fn unbatched(&self) -> Self;
    /// One image's `[C, H, W]` in and out (`None` only for a geometry the
    /// constructors refuse).
    fn input_chw(&self) -> Option<[usize; 3]>;
    fn output_chw(&self) -> Option<[usize; 3]>;
    /// Multiply-adds (or comparisons) per image, for tract's cost model.
    fn macs_per_image(&self) -> usize;
    /// `n` contiguous images of `input` into `output`.
    fn run_images(&self, n: usize, input: &[f32], output: &mut [f32]);

    /// Whether the op takes a second input, of its output's shape, and
    /// adds it to its output (an `Add` node fused into it).
    fn residual(&self) -> bool {
        false
    }

    /// [`Self::run_images`] plus `residual` (of the output's size), for
    /// ops whose [`Self::residual`] is true.
    fn run_images_adding(&self, n: usize, input: &[f32], residual: &[f32], output: &mut [f32]) {
        self.run_images(n, input, output);
        for (o, &r) in output.iter_mut().zip(residual) {
            *o += r;
        }
    }

    /// tract's `eval`: checks the input's shape, runs, returns the output.
    fn eval_images(&self, mut inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let residual = match self.residual() {
            true => {
                ensure!(inputs.len() == 2, "{} expects 2 inputs", self.name());
                inputs.pop()
            }
            false => None,
        };
        let input = args_1!(inputs);
        let shape = input.shape();
        let lead = usize::from(self.batched());
        let (Some(chw), Some(out_chw)) = (self.input_chw(), self.output_chw()) else {
            bail!("{}: kernel larger than its padded input", self.name());
        };
        ensure!(
            shape.len() == 3 + lead && shape[lead..] == chw,
            "{} expects {}{chw:?}, got {shape:?}",
            self.name(),
            if self.batched() { "N × " } else { "" }
        );
        let n = if self.batched() { shape[0] } else { 1 };
        let out_shape = [n, out_chw[0], out_chw[1], out_chw[2]];
        // SAFETY: f32 has no invalid bit patterns, and every kernel writes
        // every value of its output (their tests start from NaN outputs and
        // check each value), so nothing uninitialized is ever read. Zeroing
        // it first cost a pass over each output.
        let mut output = unsafe { Tensor::uninitialized::<f32>(&out_shape[1 - lead..])? };
        {
            let plain = input.try_as_plain_ram()?;
            let mut out = output.try_as_plain_ram_mut()?;
            let (x, out) = (plain.as_slice::<f32>()?, out.as_slice_mut::<f32>()?);
            match &residual {
                Some(r) => {
                    ensure!(
                        r.shape() == &out_shape[1 - lead..],
                        "{}: the added input is {:?}, the output {:?}",
                        self.name(),
                        r.shape(),
                        &out_shape[1 - lead..]
                    );
                    let r = r.try_as_plain_ram()?;
                    self.run_images_adding(n, x, r.as_slice::<f32>()?, out);
                }
                None => self.run_images(n, x, out),
            }
        }
        Ok(tvec!(output.into_tvalue()))
    }

    /// tract's `output_facts`.
    fn image_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let chw = self
            .output_chw()
            .context("kernel larger than its padded input")?;
        let mut shape: TVec<TDim> = chw.iter().map(|d| d.to_dim()).collect();
        if self.batched() {
            shape.insert(0, inputs[0].shape[0].clone());
        }
        Ok(tvec!(f32::fact(&*shape)))
    }

    /// tract's `cost`.
    fn image_cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let n = match self.batched() {
            true => inputs[0].shape[0].clone(),
            false => 1.to_dim(),
        };
        Ok(tvec!((
            Cost::FMA(f32::datum_type()),
            n * self.macs_per_image()
        )))
    }

    /// tract's `change_axes`: when the declutter removes the batch axis
    /// (of size 1) around the op, the same op without one.
    fn drop_batch_axis(
        &self,
        model: &TypedModel,
        node: &TypedNode,
        change: &AxisOp,
    ) -> Option<AxisChangeConsequence>
    where
        Self: TypedOp,
    {
        (self.batched() && *change == AxisOp::Rm(0)).then(|| {
            AxisChangeConsequence::new(model, node, Some(Box::new(self.unbatched())), change)
        })
    }
}

/// tract's `Op`, `EvalOp` and `TypedOp` for an [`ImageOp`] (in a module
/// that imports `tract_core::internal::*`).
macro_rules! image_op {
    ($op:ty) => {
        impl Eq for $op {}

        impl Op for $op {
            fn name(&self) -> StaticName {
                ImageOp::name(self).into()
            }

            fn info(&self) -> TractResult<Vec<String>> {
                Ok(vec![ImageOp::describe(self)])
            }

            fn validation(&self) -> Validation {
                Validation::Rounding
            }

            op_as_typed_op!();
        }

        impl EvalOp for $op {
            op_out_of_plan!();

            fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
                ImageOp::eval_images(self, inputs)
            }
        }

        impl TypedOp for $op {
            as_op!();

            fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
                ImageOp::image_facts(self, inputs)
            }

            fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
                ImageOp::image_cost(self, inputs)
            }

            fn change_axes(
                &self,
                model: &TypedModel,
                node: &TypedNode,
                _io: InOut,
                change: &AxisOp,
            ) -> TractResult<Option<AxisChangeConsequence>> {
                Ok(ImageOp::drop_batch_axis(self, model, node, change))
            }
        }
    };
}
use image_op;

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `a` and `b` hold the same floats, bit for bit.
    pub(super) fn same_bits(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
    }

    /// The reference net's three residual adds (after a 1×1 conv each)
    /// leave its typed graph, fused into the convolutions, and its logits
    /// stay tract's own to float rounding, at batch 1 (no batch axis after
    /// the declutter) and 3.
    #[test]
    fn adds_fuse_into_the_convolutions() {
        use super::Kernels;
        use crate::reference::reference_onnx;
        use crate::tract::TractModel;
        let bytes = reference_onnx();
        let adds = |m: &TypedModel| {
            m.nodes()
                .iter()
                .filter(|n| n.op_as::<TypedBinOp>().is_some_and(|op| op.0.is::<Add>()))
                .count()
        };
        let mut typed = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])
            .unwrap()
            .with_input_fact(0, f32::fact([1, 8, 16, 16]).into())
            .unwrap()
            .into_typed()
            .unwrap();
        assert_eq!(adds(&typed), 3);
        swap_in(&mut typed).unwrap();
        assert_eq!(adds(&typed), 0);
        let summing = typed
            .nodes()
            .iter()
            .filter(|n| n.op_as::<PointwiseConv>().is_some_and(|op| op.residual))
            .count();
        assert_eq!(summing, 3);

        let model = TractModel::from_bytes("reference.onnx", &bytes).unwrap();
        for batch in [1, 3] {
            let shape = vec![batch, 8, 16, 16];
            let input = values(shape.iter().product(), 5);
            let ours = model
                .plan_with(std::slice::from_ref(&shape), Kernels::Edgenas)
                .unwrap();
            let own = model.plan_with(&[shape], Kernels::Tract).unwrap();
            let (_, a) = ours.run(&[&input]).unwrap();
            let (_, b) = own.run(&[&input]).unwrap();
            let err = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max);
            assert!(err < 1e-5, "batch {batch}: {err}");
        }
    }

    /// Deterministic values in [−1, 1) for the kernels' tests.
    pub(super) fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| ((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 1000)
            .map(|v| v as f32 / 500.0 - 1.0)
            .collect()
    }
}
