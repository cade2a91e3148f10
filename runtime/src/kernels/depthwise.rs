//! [`DepthwiseConv`]: a depthwise convolution (one filter per channel).
//!
//! tract 0.23.9 lowers a depthwise convolution to its `DepthWise` op, which
//! walks the output zone by zone and calls its vectorised AVX routine only
//! for stride-1 rows of at least 8 outputs; stride-2 convolutions and the
//! 8×8…2×2 planes our cells see at reduced resolution run its scalar loop.
//!
//! This kernel pads each channel's plane into a scratch plane (split into
//! column phases for a horizontal stride, so every tap reads a contiguous
//! run), then accumulates blocks of 4 rows × 16 columns over the taps in
//! vector registers: 4 independent chains of fused multiply-adds.

use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;

use super::{ConvParts, Geometry, ImageOp, conv_parts, image_op};

/// A depthwise convolution (one filter per channel) with its weights and
/// bias, on f32 input `[N, C, H, W]`, or `[C, H, W]` (what tract's
/// declutter leaves of batch 1).
#[derive(Debug, Clone, PartialEq)]
pub struct DepthwiseConv {
    pub geometry: Geometry,
    /// Whether the input has a batch axis.
    pub batched: bool,
    /// `[C, kh·kw]`, row-major taps.
    pub weights: Arc<Vec<f32>>,
    /// `[C]`.
    pub bias: Arc<Vec<f32>>,
}

impl DepthwiseConv {
    /// Runs the convolution on `input` (`n` images, contiguous NCHW) into
    /// `output` (contiguous NCHW of the output size).
    pub fn run(&self, n: usize, input: &[f32], output: &mut [f32]) {
        let g = &self.geometry;
        let [oh, ow] = g.output().expect("checked when the op was made");
        assert_eq!(input.len(), n * g.channels * g.input[0] * g.input[1]);
        assert_eq!(output.len(), n * g.channels * oh * ow);
        #[cfg(target_arch = "x86_64")]
        if super::avx2_fma() {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            unsafe { run_avx2_fma(self, input, output) };
            return;
        }
        run_body(self, input, output, |w, v, a| a + w * v);
    }
}

/// The x86-64 build: 8-lane vectors and fused multiply-adds (one rounding
/// per tap instead of two).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn run_avx2_fma(op: &DepthwiseConv, input: &[f32], output: &mut [f32]) {
    run_body(op, input, output, |w: f32, v: f32, a: f32| w.mul_add(v, a));
}

#[inline(always)]
fn run_body(
    op: &DepthwiseConv,
    input: &[f32],
    output: &mut [f32],
    madd: impl Fn(f32, f32, f32) -> f32 + Copy,
) {
    let taps = op.geometry.taps();
    let weights = |c: usize| (&op.weights[c * taps..(c + 1) * taps], op.bias[c]);
    each_plane(&op.geometry, input, output, 0.0, weights, madd);
}

/// Every plane, through one padded scratch plane. The plane is stored as
/// `stride[1]` column phases: phase `p` holds padded columns `p, p + s,
/// p + 2s, …`, so output column `x` of tap column `kx` reads phase
/// `(kx·d) mod s` at `x + (kx·d) div s`, a contiguous run. The scratch is
/// zeroed once: each plane then overwrites only the inside of its border.
/// Outputs go in blocks of 4 rows × 16 columns (4 × 8, 4 × 4 and 4 × 1 at
/// a row's end; single rows at the plane's end), each accumulated over every tap
/// in fixed-size arrays that LLVM keeps in vector registers.
///
/// `weights(c)` gives channel `c`'s taps and the value each output starts
/// from (its bias), `pad` the value of the border, and `madd(w, v, a)`
/// folds tap weight `w` and input `v` into `a` (`a + w·v` for a
/// convolution, fused or not; a pool ignores `w`).
#[inline(always)]
pub(super) fn each_plane<'w>(
    g: &Geometry,
    input: &[f32],
    output: &mut [f32],
    pad: f32,
    weights: impl Fn(usize) -> (&'w [f32], f32),
    madd: impl Fn(f32, f32, f32) -> f32 + Copy,
) {
    let [oh, ow] = g.output().expect("checked when the op was made");
    let (ph, pw) = (g.padded(0), g.padded(1));
    let s = g.stride[1];
    let phase_w = pw.div_ceil(s);
    let mut scratch = vec![pad; s * ph * phase_w];
    // Where input column x goes in a padded row of the scratch.
    let (iw, pl) = (g.input[1], g.pad_before[1]);
    let column: Vec<usize> = (0..iw)
        .map(|x| ((x + pl) % s) * ph * phase_w + (x + pl) / s)
        .collect();
    let taps = g.taps();
    let mut offsets = [0usize; MAX_TAPS];
    let offsets = &mut offsets[..taps];
    for ky in 0..g.kernel[0] {
        for kx in 0..g.kernel[1] {
            let off = kx * g.dilation[1];
            offsets[ky * g.kernel[1] + kx] =
                ((off % s) * ph + ky * g.dilation[0]) * phase_w + off / s;
        }
    }
    let row_step = g.stride[0] * phase_w;
    // Every read of `block` lies below this end: the unchecked loads rely on it.
    let last_read = (oh - 1) * row_step + (ow - 1) + offsets.iter().max().copied().unwrap_or(0);
    assert!(
        last_read < scratch.len(),
        "depthwise reads past its padded plane"
    );
    let planes = input
        .chunks_exact(g.input[0] * iw)
        .zip(output.chunks_exact_mut(oh * ow));
    for (i, (x, out)) in planes.enumerate() {
        let c = i % g.channels;
        for (y, row) in x.chunks_exact(iw).enumerate() {
            let dst = (y + g.pad_before[0]) * phase_w;
            if s == 1 {
                scratch[dst + pl..][..iw].copy_from_slice(row);
            } else {
                for (&at, &v) in column.iter().zip(row) {
                    scratch[dst + at] = v;
                }
            }
        }
        let (w, bias) = weights(c);
        assert_eq!(w.len(), taps);
        let mut oy = 0;
        while oy + 4 <= oh {
            rows::<4>(&scratch, oy, row_step, ow, w, offsets, bias, out, madd);
            oy += 4;
        }
        while oy < oh {
            rows::<1>(&scratch, oy, row_step, ow, w, offsets, bias, out, madd);
            oy += 1;
        }
    }
}

/// Largest kernel [`DepthwiseConv`] takes (taps per channel).
pub(super) const MAX_TAPS: usize = 128;

/// Output rows `oy..oy + R`, in column chunks of 8, then 4, then 1.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn rows<const R: usize>(
    plane: &[f32],
    oy: usize,
    row_step: usize,
    ow: usize,
    taps: &[f32],
    offsets: &[usize],
    bias: f32,
    output: &mut [f32],
    madd: impl Fn(f32, f32, f32) -> f32 + Copy,
) {
    let mut store = |x: usize, values: &[[f32; 16]; R], w: usize| {
        for (r, v) in values.iter().enumerate() {
            output[(oy + r) * ow + x..][..w].copy_from_slice(&v[..w]);
        }
    };
    let base = oy * row_step;
    let mut x = 0;
    while x + 16 <= ow {
        store(
            x,
            &block::<R, 16>(plane, base + x, row_step, taps, offsets, bias, madd),
            16,
        );
        x += 16;
    }
    while x + 8 <= ow {
        store(
            x,
            &block::<R, 8>(plane, base + x, row_step, taps, offsets, bias, madd).map(widen),
            8,
        );
        x += 8;
    }
    if x + 4 <= ow {
        store(
            x,
            &block::<R, 4>(plane, base + x, row_step, taps, offsets, bias, madd).map(widen),
            4,
        );
        x += 4;
    }
    while x < ow {
        store(
            x,
            &block::<R, 1>(plane, base + x, row_step, taps, offsets, bias, madd).map(widen),
            1,
        );
        x += 1;
    }
}

fn widen<const W: usize>(v: [f32; W]) -> [f32; 16] {
    let mut out = [0.0; 16];
    out[..W].copy_from_slice(&v);
    out
}

/// `R` rows (`row_step` apart in the padded plane) of `W` consecutive
/// outputs starting at `base`: the bias, then each tap's product added in
/// tap order. The `R` rows are independent chains of adds, so the CPU
/// overlaps them.
#[inline(always)]
fn block<const R: usize, const W: usize>(
    plane: &[f32],
    base: usize,
    row_step: usize,
    taps: &[f32],
    offsets: &[usize],
    bias: f32,
    madd: impl Fn(f32, f32, f32) -> f32,
) -> [[f32; W]; R] {
    let mut acc = [[bias; W]; R];
    for (&w, &off) in taps.iter().zip(offsets) {
        for (r, acc) in acc.iter_mut().enumerate() {
            let at = base + r * row_step + off;
            debug_assert!(at + W <= plane.len());
            // SAFETY: `plane_body` asserted that its last read (the last
            // row's last column at the largest offset) is in the plane.
            let src = unsafe { &*(plane.as_ptr().add(at) as *const [f32; W]) };
            for (a, &v) in acc.iter_mut().zip(src) {
                *a = madd(w, v, *a);
            }
        }
    }
    acc
}

impl ImageOp for DepthwiseConv {
    fn name(&self) -> &'static str {
        "EdgenasDepthwiseConv"
    }

    fn describe(&self) -> String {
        format!("{:?}", self.geometry)
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

image_op!(DepthwiseConv);

/// The [`DepthwiseConv`] a `Conv` node is, when it is one: one input and
/// one output channel per group ([`conv_parts`] says what else it needs).
pub(super) fn depthwise_of(
    model: &TypedModel,
    node: &TypedNode,
) -> TractResult<Option<DepthwiseConv>> {
    let Some(ConvParts {
        batched,
        geometry,
        out_channels,
        group,
        weights,
        bias,
    }) = conv_parts(model, node)?
    else {
        return Ok(None);
    };
    let channels = geometry.channels;
    if group != channels || out_channels != channels || geometry.taps() > MAX_TAPS {
        return Ok(None);
    }
    Ok(Some(DepthwiseConv {
        geometry,
        batched,
        weights: Arc::new(weights),
        bias: Arc::new(bias),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, one output at a time.
    fn reference(op: &DepthwiseConv, n: usize, input: &[f32]) -> Vec<f32> {
        let g = &op.geometry;
        let [oh, ow] = g.output().unwrap();
        let mut out = Vec::new();
        for i in 0..n * g.channels {
            let c = i % g.channels;
            let x = &input[i * g.input[0] * g.input[1]..];
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut sum = op.bias[c];
                    for ky in 0..g.kernel[0] {
                        for kx in 0..g.kernel[1] {
                            let y = (oy * g.stride[0] + ky * g.dilation[0]) as isize
                                - g.pad_before[0] as isize;
                            let xx = (ox * g.stride[1] + kx * g.dilation[1]) as isize
                                - g.pad_before[1] as isize;
                            if (0..g.input[0] as isize).contains(&y)
                                && (0..g.input[1] as isize).contains(&xx)
                            {
                                let w = op.weights[c * g.taps() + ky * g.kernel[1] + kx];
                                sum += w * x[y as usize * g.input[1] + xx as usize];
                            }
                        }
                    }
                    out.push(sum);
                }
            }
        }
        out
    }

    use super::super::tests::values;

    /// Every geometry our cells export (3×3 and 5×5, dilation 1 and 2,
    /// stride 1 and 2, 1×N / N×1, planes from 1×1 to 28×28) and some they
    /// do not (asymmetric padding, stride 3, no padding), against the
    /// definition.
    #[test]
    fn depthwise_matches_the_definition() {
        let mut cases = Vec::new();
        for size in [1, 2, 4, 7, 8, 14, 28] {
            for (k, d) in [(3, 1), (5, 1), (3, 2), (5, 2)] {
                for s in [1, 2] {
                    let p = d * (k - 1) / 2;
                    cases.push(([size, size], [k, k], [s, s], [d, d], [p, p], [p, p]));
                }
            }
            cases.push(([size, size], [1, 7], [1, 1], [1, 1], [0, 3], [0, 3]));
            cases.push(([size, size], [7, 1], [2, 2], [1, 1], [3, 0], [3, 0]));
        }
        cases.push(([9, 11], [3, 3], [3, 2], [1, 2], [0, 1], [2, 0]));
        cases.push(([6, 5], [2, 3], [1, 1], [1, 1], [0, 0], [0, 0]));
        for (case, (input, kernel, stride, dilation, pad_before, pad_after)) in
            cases.into_iter().enumerate()
        {
            let geometry = Geometry {
                channels: 3,
                input,
                kernel,
                stride,
                dilation,
                pad_before,
                pad_after,
            };
            let Some([oh, ow]) = geometry.output() else {
                continue;
            };
            let op = DepthwiseConv {
                geometry,
                batched: true,
                weights: Arc::new(values(3 * kernel[0] * kernel[1], case as u32)),
                bias: Arc::new(values(3, 7 + case as u32)),
            };
            let n = 2;
            let x = values(n * 3 * input[0] * input[1], 99 + case as u32);
            let mut out = vec![f32::NAN; n * 3 * oh * ow];
            op.run(n, &x, &mut out);
            let want = reference(&op, n, &x);
            for (i, (a, b)) in out.iter().zip(&want).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                    "{geometry:?} [{i}]: {a} vs {b}"
                );
            }
        }
    }
}
