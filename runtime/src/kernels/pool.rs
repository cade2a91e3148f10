//! [`Pool2d`]: max and average pooling over 2-D planes.
//!
//! tract's pools walk the output point by point; at 28×28 with 16
//! channels its 3×3 max pool took 10× onnxruntime's time in our networks.
//! This op runs the depthwise kernel's walks ([`Walk`]: planes, or 8
//! channels per vector) with a maximum or a sum in place of the
//! multiply-add, then scales averages by each output's divisor.

use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::cnn::{MaxPool, PoolSpec, SumPool};

use super::depthwise::{MAX_TAPS, Walk, each_plane};
use super::{Geometry, ImageOp, geometry_of, image_op};

/// What a [`Pool2d`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PoolKind {
    Max,
    /// The mean of the taps inside the input (`count_include_pad` false),
    /// or of all taps, the padding's zeros included.
    Average {
        count_include_pad: bool,
    },
}

/// A max or average pool on f32 input `[N, C, H, W]` or `[C, H, W]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool2d {
    pub geometry: Geometry,
    pub kind: PoolKind,
    /// Whether the input has a batch axis.
    pub batched: bool,
    /// Average pools: 1 / divisor per output position (`[oh·ow]`).
    scale: Arc<Vec<f32>>,
}

impl Pool2d {
    pub fn new(geometry: Geometry, kind: PoolKind, batched: bool) -> Option<Self> {
        let [oh, ow] = geometry.output()?;
        if geometry.taps() > MAX_TAPS {
            return None;
        }
        // Taps of output (oy, ox) inside the input, per axis.
        let inside = |axis: usize, o: usize| {
            (0..geometry.kernel[axis])
                .filter(|k| {
                    let at = (o * geometry.stride[axis] + k * geometry.dilation[axis]) as isize
                        - geometry.pad_before[axis] as isize;
                    (0..geometry.input[axis] as isize).contains(&at)
                })
                .count()
        };
        let scale = match kind {
            PoolKind::Max => Vec::new(),
            PoolKind::Average { count_include_pad } => (0..oh * ow)
                .map(|i| match count_include_pad {
                    true => geometry.taps(),
                    false => inside(0, i / ow) * inside(1, i % ow),
                })
                .map(|n| 1.0 / n.max(1) as f32)
                .collect(),
        };
        Some(Self {
            geometry,
            kind,
            batched,
            scale: Arc::new(scale),
        })
    }

    /// Runs the pool on `input` (`n` images, contiguous NCHW) into
    /// `output` (contiguous NCHW of the output size).
    pub fn run(&self, n: usize, input: &[f32], output: &mut [f32]) {
        self.run_walk(self.walk(), n, input, output);
    }

    /// The walk [`Self::run`] takes: [`Walk::for_geometry`].
    pub fn walk(&self) -> Walk {
        Walk::for_geometry(&self.geometry)
    }

    /// [`Self::run`] with the walk chosen ([`DepthwiseConv::run_walk`]).
    pub fn run_walk(&self, walk: Walk, n: usize, input: &[f32], output: &mut [f32]) {
        let g = &self.geometry;
        let [oh, ow] = g.output().expect("checked when the op was made");
        assert_eq!(input.len(), n * g.channels * g.input[0] * g.input[1]);
        assert_eq!(output.len(), n * g.channels * oh * ow);
        #[cfg(target_arch = "x86_64")]
        if super::avx2_fma() {
            use super::channels_avx2::{ADD, MAX, channel_walk};
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            unsafe {
                if walk == Walk::Planes {
                    run_avx2(self, input, output);
                    return;
                }
                // The walk's taps go unused by a max or a sum.
                let unused = vec![0.0f32; g.channels * g.taps()];
                match self.kind {
                    PoolKind::Max => {
                        let start = vec![f32::NEG_INFINITY; g.channels];
                        let pad = f32::NEG_INFINITY;
                        channel_walk::<MAX>(g, &unused, &start, pad, false, input, output);
                    }
                    PoolKind::Average { .. } => {
                        let start = vec![0.0; g.channels];
                        channel_walk::<ADD>(g, &unused, &start, 0.0, false, input, output);
                        self.scale_averages(output);
                    }
                }
            }
            return;
        }
        let _ = walk;
        run_body(self, input, output);
    }

    /// Divides each average pool's sums by their divisors.
    fn scale_averages(&self, output: &mut [f32]) {
        if let PoolKind::Average { .. } = self.kind {
            for plane in output.chunks_exact_mut(self.scale.len()) {
                for (o, s) in plane.iter_mut().zip(self.scale.iter()) {
                    *o *= s;
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn run_avx2(op: &Pool2d, input: &[f32], output: &mut [f32]) {
    run_body(op, input, output);
}

#[inline(always)]
fn run_body(op: &Pool2d, input: &[f32], output: &mut [f32]) {
    let g = &op.geometry;
    let ones = vec![1.0f32; g.taps()];
    match op.kind {
        PoolKind::Max => {
            let init = |_| (&ones[..], f32::NEG_INFINITY);
            each_plane(
                g,
                input,
                output,
                f32::NEG_INFINITY,
                |v| v,
                init,
                // A compare and select, which LLVM maps to one vector max (it
                // left `f32::max` scalar here); like `f32::max` it skips a NaN
                // input.
                |_, v, a: f32| if v > a { v } else { a },
            );
        }
        PoolKind::Average { .. } => {
            let init = |_| (&ones[..], 0.0);
            each_plane(g, input, output, 0.0, |v| v, init, |_, v, a| a + v);
            op.scale_averages(output);
        }
    }
}

impl ImageOp for Pool2d {
    fn name(&self) -> &'static str {
        match self.kind {
            PoolKind::Max => "EdgenasMaxPool",
            PoolKind::Average { .. } => "EdgenasAvgPool",
        }
    }

    fn describe(&self) -> String {
        format!("{:?} {:?} {:?}", self.kind, self.walk(), self.geometry)
    }

    fn batched(&self) -> bool {
        self.batched
    }

    fn unbatched(&self) -> Self {
        Self {
            batched: false,
            ..self.clone()
        }
    }

    fn input_chw(&self) -> Option<[usize; 3]> {
        let g = &self.geometry;
        Some([g.channels, g.input[0], g.input[1]])
    }

    fn output_chw(&self) -> Option<[usize; 3]> {
        let [oh, ow] = self.geometry.output()?;
        Some([self.geometry.channels, oh, ow])
    }

    fn macs_per_image(&self) -> usize {
        let [c, oh, ow] = self.output_chw().unwrap_or_default();
        c * oh * ow * self.geometry.taps()
    }

    fn run_images(&self, n: usize, input: &[f32], output: &mut [f32]) {
        self.run(n, input, output);
    }
}

image_op!(Pool2d);

/// The [`Pool2d`] a `MaxPool` (without index output) or `SumPool`
/// (normalized: an average) node is, when it pools f32 NCHW or CHW input
/// over two spatial axes of known size with explicit or no padding.
pub(super) fn pool_of(model: &TypedModel, node: &TypedNode) -> TractResult<Option<Pool2d>> {
    let (spec, kind): (&PoolSpec, PoolKind) = if let Some(op) = node.op_as::<MaxPool>() {
        if op.with_index_outputs.is_some() {
            return Ok(None);
        }
        (&op.pool_spec, PoolKind::Max)
    } else if let Some(op) = node.op_as::<SumPool>() {
        if !op.normalize {
            return Ok(None);
        }
        let count_include_pad = op.count_include_pad;
        (&op.pool_spec, PoolKind::Average { count_include_pad })
    } else {
        return Ok(None);
    };
    let Some((batched, geometry)) = geometry_of(spec, model.outlet_fact(node.inputs[0])?) else {
        return Ok(None);
    };
    Ok(Pool2d::new(geometry, kind, batched))
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::tests::{same_bits, values};

    /// Max and average (with and without the padding counted) pools of
    /// the sizes our cells use (3×3 and 5×5, stride 1 and 2, padding
    /// k div 2) and a few others, against the definition.
    #[test]
    fn pools_match_the_definition() {
        let kinds = [
            PoolKind::Max,
            PoolKind::Average {
                count_include_pad: false,
            },
            PoolKind::Average {
                count_include_pad: true,
            },
        ];
        let mut cases = Vec::new();
        for size in [1, 2, 4, 7, 8, 14, 28] {
            for k in [3, 5] {
                for s in [1, 2] {
                    cases.push(([size, size], [k, k], [s, s], [k / 2, k / 2], [k / 2, k / 2]));
                }
            }
        }
        cases.push(([9, 6], [2, 3], [2, 1], [0, 1], [1, 0]));
        for (case, (input, kernel, stride, pad_before, pad_after)) in cases.into_iter().enumerate()
        {
            for kind in kinds {
                // 3 channels: one partial group of lanes; 11: a full one too.
                let channels = if case % 2 == 0 { 11 } else { 3 };
                let geometry = Geometry {
                    channels,
                    input,
                    kernel,
                    stride,
                    dilation: [1, 1],
                    pad_before,
                    pad_after,
                };
                let Some(op) = Pool2d::new(geometry, kind, true) else {
                    continue;
                };
                let [oh, ow] = geometry.output().unwrap();
                let n = 2;
                let x = values(n * channels * input[0] * input[1], case as u32);
                let mut outs = Vec::new();
                for walk in [Walk::Planes, Walk::Channels] {
                    let mut out = vec![f32::NAN; n * channels * oh * ow];
                    op.run_walk(walk, n, &x, &mut out);
                    let mut i = 0;
                    for plane in x.chunks_exact(input[0] * input[1]) {
                        for oy in 0..oh {
                            for ox in 0..ow {
                                let mut inside = Vec::new();
                                for ky in 0..kernel[0] {
                                    for kx in 0..kernel[1] {
                                        let y =
                                            (oy * stride[0] + ky) as isize - pad_before[0] as isize;
                                        let xx =
                                            (ox * stride[1] + kx) as isize - pad_before[1] as isize;
                                        if (0..input[0] as isize).contains(&y)
                                            && (0..input[1] as isize).contains(&xx)
                                        {
                                            inside.push(plane[y as usize * input[1] + xx as usize]);
                                        }
                                    }
                                }
                                let sum: f32 = inside.iter().sum();
                                let want = match kind {
                                    PoolKind::Max => {
                                        inside.iter().copied().fold(f32::MIN, f32::max)
                                    }
                                    PoolKind::Average {
                                        count_include_pad: false,
                                    } => sum / inside.len() as f32,
                                    PoolKind::Average {
                                        count_include_pad: true,
                                    } => sum / (kernel[0] * kernel[1]) as f32,
                                };
                                let got = out[i];
                                assert!(
                                    (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                                    "{walk:?} {kind:?} {geometry:?} [{i}]: {got} vs {want}"
                                );
                                i += 1;
                            }
                        }
                    }
                    outs.push(out);
                }
                assert!(
                    same_bits(&outs[0], &outs[1]),
                    "{kind:?} {geometry:?}: the two walks differ"
                );
            }
        }
    }
}
