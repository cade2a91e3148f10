//! [`DepthwiseConv`]: a depthwise convolution (one filter per channel).
//!
//! tract 0.23.9 lowers a depthwise convolution to its `DepthWise` op, which
//! walks the output zone by zone and calls its vectorised AVX routine only
//! for stride-1 rows of at least 8 outputs; stride-2 convolutions and the
//! 8×8…2×2 planes our cells see at reduced resolution run its scalar loop.
//!
//! This kernel walks its input one of two ways ([`Walk`], chosen by
//! [`Walk::for_geometry`]; both add the same products in the same
//! order, so their outputs are bit-identical): on x86-64 with AVX2, 8
//! channels per vector ([`super::channels_avx2`]); elsewhere channel by
//! channel, each padded plane as one flat run of full vector blocks
//! ([`each_plane`]).

use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;

use super::{ConvParts, Geometry, ImageOp, conv_parts, image_op, relu, relu_note};

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
    /// Whether the input goes through a ReLU first: a ReLU node fused into
    /// this op ([`super::swap_in`]), applied as the input is copied into
    /// the padded plane.
    pub relu: bool,
}

impl DepthwiseConv {
    /// The same convolution with a ReLU on its input.
    pub fn with_relu(&self) -> Self {
        Self {
            relu: true,
            ..self.clone()
        }
    }

    /// Runs the convolution on `input` (`n` images, contiguous NCHW) into
    /// `output` (contiguous NCHW of the output size).
    pub fn run(&self, n: usize, input: &[f32], output: &mut [f32]) {
        self.run_walk(self.walk(), n, input, output);
    }

    /// The walk [`Self::run`] takes: [`Walk::for_geometry`].
    pub fn walk(&self) -> Walk {
        Walk::for_geometry(&self.geometry)
    }

    /// [`Self::run`] with the walk chosen; [`Walk::Channels`] is
    /// [`Walk::Planes`] on CPUs without AVX2 and FMA. Both add the same
    /// products in the same order, so their outputs are bit-identical.
    pub fn run_walk(&self, walk: Walk, n: usize, input: &[f32], output: &mut [f32]) {
        let g = &self.geometry;
        let [oh, ow] = g.output().expect("checked when the op was made");
        assert_eq!(input.len(), n * g.channels * g.input[0] * g.input[1]);
        assert_eq!(output.len(), n * g.channels * oh * ow);
        #[cfg(target_arch = "x86_64")]
        if super::avx2_fma() {
            let (w, b) = (&self.weights[..], &self.bias[..]);
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            unsafe {
                match walk {
                    Walk::Channels => {
                        use super::channels_avx2::{FMA, channel_walk};
                        channel_walk::<FMA>(g, w, b, 0.0, self.relu, input, output)
                    }
                    Walk::Planes => run_avx2_fma(self, input, output),
                }
            }
            return;
        }
        let _ = walk;
        run_body(self, input, output, |w, v, a| a + w * v);
    }
}

/// How a [`DepthwiseConv`] or [`super::Pool2d`] walks its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// Channel by channel, vectors along each padded plane ([`each_plane`]).
    Planes,
    /// 8 channels at once, one per vector lane (x86-64 with AVX2 and FMA;
    /// elsewhere the same as `Planes`).
    Channels,
}

impl Walk {
    /// The faster walk for `g`, as measured on an x86-64 CPU with AVX2
    /// (`runtime/examples/kernel_walks.rs`, docs/results/tract-vs-onnxruntime.md):
    /// across channels for every geometry the DARTS space deploys, since
    /// stride-1 3×3 and 5×5 kernels load each pixel once per kernel row
    /// there (`channels_avx2`). Where the channel walk has no kernel (no
    /// AVX2) it is the plane walk anyway.
    pub fn for_geometry(_g: &Geometry) -> Self {
        Walk::Channels
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
    if op.relu {
        each_plane(&op.geometry, input, output, 0.0, relu, weights, madd);
    } else {
        each_plane(&op.geometry, input, output, 0.0, |v| v, weights, madd);
    }
}

/// Every plane, through one padded scratch plane, as one flat run.
///
/// The padded plane is stored as `stride[0] × stride[1]` phases: phase
/// `(py, px)` holds padded rows `py, py + sy, …` and columns `px, px + sx,
/// …`, each `cols` wide. Tap `(ky, kx)` of output `(oy, ox)` then reads
/// phase `(ky·dy mod sy, kx·dx mod sx)` at row `oy + ky·dy div sy`, column
/// `ox + kx·dx div sx`: with `q = oy·cols + ox`, at `q + offset(tap)`. So
/// the kernel computes every `q` in `0..oh·cols` as one flat run of full
/// vector blocks (of 64, and one of 32), whatever the plane's width, and
/// copies the `ow` valid values of each row out. The columns `ow..cols` it
/// also computes are waste (at most about half, on 7×7 planes with a
/// dilated 5×5 kernel); the narrow row ends and scalar remainders of a
/// row-by-row walk cost more (measured 1.2–2× slower on 14×14 and 7×7
/// planes).
/// The scratch is filled with `pad` once: each plane then overwrites only
/// its inside.
///
/// `weights(c)` gives channel `c`'s taps and the value each output starts
/// from (its bias), `pad` the value of the border, `prepare(v)` what an
/// input value becomes in the scratch (a ReLU fused into the op, or the
/// value itself) and `madd(w, v, a)` folds tap weight `w` and input `v`
/// into `a` (`a + w·v` for a convolution, fused or not; a pool ignores
/// `w`).
#[inline(always)]
pub(super) fn each_plane<'w>(
    g: &Geometry,
    input: &[f32],
    output: &mut [f32],
    pad: f32,
    prepare: impl Fn(f32) -> f32 + Copy,
    weights: impl Fn(usize) -> (&'w [f32], f32),
    madd: impl Fn(f32, f32, f32) -> f32 + Copy,
) {
    let [oh, ow] = g.output().expect("checked when the op was made");
    let [sy, sx] = g.stride;
    let [ih, iw] = g.input;
    let cols = g.padded(1).div_ceil(sx);
    let phase = g.padded(0).div_ceil(sy) * cols;
    // Scratch index of padded row y / padded column x.
    let row_at = |y: usize| (y % sy) * sx * phase + (y / sy) * cols;
    let col_at = |x: usize| (x % sx) * phase + x / sx;
    let rows: Vec<usize> = (0..ih).map(|y| row_at(y + g.pad_before[0])).collect();
    // Per column phase: where its first input column goes in a scratch
    // row, how many input columns it takes, the first of them.
    let phases: Vec<(usize, usize, usize)> = (0..sx)
        .map(|px| {
            let first = (px + sx - g.pad_before[1] % sx) % sx;
            let count = iw.saturating_sub(first).div_ceil(sx);
            (col_at(first + g.pad_before[1]), count, first)
        })
        .collect();
    let taps = g.taps();
    let mut offsets = [0usize; MAX_TAPS];
    let offsets = &mut offsets[..taps];
    for ky in 0..g.kernel[0] {
        for kx in 0..g.kernel[1] {
            offsets[ky * g.kernel[1] + kx] =
                row_at(ky * g.dilation[0]) + col_at(kx * g.dilation[1]);
        }
    }
    // Flat outputs computed per plane, rounded up to whole blocks of 64
    // and one of 32 (4 independent chains of adds at least: single 8-wide
    // blocks were bound by the latency of their one chain); every read (`q
    // + offset`) lies below `flat + max offset`.
    let flat = (oh * cols).next_multiple_of(32);
    let reach = flat + offsets.iter().max().copied().unwrap_or(0);
    let mut scratch = vec![pad; (sy * sx * phase).max(reach)];
    let mut values = vec![0.0f32; flat];
    let planes = input
        .chunks_exact(ih * iw)
        .zip(output.chunks_exact_mut(oh * ow));
    for (i, (x, out)) in planes.enumerate() {
        for (row, &at) in x.chunks_exact(iw).zip(&rows) {
            if sx == 1 {
                let dst = &mut scratch[at + g.pad_before[1]..][..iw];
                for (d, &v) in dst.iter_mut().zip(row) {
                    *d = prepare(v);
                }
            } else {
                // Strided outputs take the channel walk on AVX2 CPUs
                // (`Walk::for_geometry`), so this value-by-value copy into
                // the column phases runs only elsewhere.
                for &(dst, count, first) in &phases {
                    for j in 0..count {
                        scratch[at + dst + j] = prepare(row[first + j * sx]);
                    }
                }
            }
        }
        let (w, bias) = weights(i % g.channels);
        assert_eq!(w.len(), taps);
        let mut q = 0;
        while q + 64 <= flat {
            block::<4, 16>(&scratch, q, w, offsets, bias, &mut values, madd);
            q += 64;
        }
        if q < flat {
            block::<2, 16>(&scratch, q, w, offsets, bias, &mut values, madd);
        }
        for (o, v) in out.chunks_exact_mut(ow).zip(values.chunks(cols)) {
            o.copy_from_slice(&v[..ow]);
        }
    }
}

/// Largest kernel [`DepthwiseConv`] takes (taps per channel).
pub(super) const MAX_TAPS: usize = 128;

/// The `W` flat outputs at each of `q`, `q + W`, … (`N` runs, at most
/// 4) into `values`: the bias, then each tap's product added in tap
/// order. The runs are independent chains of adds, so the CPU overlaps
/// them. They are separate named arrays, so that LLVM keeps each in
/// vector registers: an array of runs indexed by a loop it kept on the
/// stack for some kernels (scalar code, measured 6× slower for pools), one
/// flat `[f32; 64]` for all of them.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block<const N: usize, const W: usize>(
    scratch: &[f32],
    q: usize,
    taps: &[f32],
    offsets: &[usize],
    bias: f32,
    values: &mut [f32],
    madd: impl Fn(f32, f32, f32) -> f32 + Copy,
) {
    assert!((1..=4).contains(&N));
    let (mut a0, mut a1, mut a2, mut a3) = ([bias; W], [bias; W], [bias; W], [bias; W]);
    // SAFETY (every `run`): `each_plane` makes the scratch at least `flat +
    // largest offset` long and calls this only with `q + N·W <= flat`.
    let run = |at: usize| -> &[f32; W] {
        debug_assert!(at + W <= scratch.len());
        unsafe { &*(scratch.as_ptr().add(at) as *const [f32; W]) }
    };
    let fold = |acc: &mut [f32; W], w: f32, src: &[f32; W]| {
        for (a, &v) in acc.iter_mut().zip(src) {
            *a = madd(w, v, *a);
        }
    };
    for (&w, &off) in taps.iter().zip(offsets) {
        let at = q + off;
        fold(&mut a0, w, run(at));
        if N > 1 {
            fold(&mut a1, w, run(at + W));
        }
        if N > 2 {
            fold(&mut a2, w, run(at + 2 * W));
        }
        if N > 3 {
            fold(&mut a3, w, run(at + 3 * W));
        }
    }
    for (r, acc) in [a0, a1, a2, a3].iter().take(N).enumerate() {
        values[q + r * W..][..W].copy_from_slice(acc);
    }
}

impl ImageOp for DepthwiseConv {
    fn name(&self) -> &'static str {
        "EdgenasDepthwiseConv"
    }

    fn describe(&self) -> String {
        format!(
            "{:?} {:?}{}",
            self.walk(),
            self.geometry,
            relu_note(self.relu)
        )
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
        relu: false,
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
                                let v = x[y as usize * g.input[1] + xx as usize];
                                sum += w * if op.relu { v.max(0.0) } else { v };
                            }
                        }
                    }
                    out.push(sum);
                }
            }
        }
        out
    }

    use super::super::tests::{same_bits, values};

    /// Every geometry our cells export (3×3 and 5×5, dilation 1 and 2,
    /// stride 1 and 2, 1×N / N×1, planes from 1×1 to 28×28) and some they
    /// do not (asymmetric padding, stride 3, no padding), against the
    /// definition, in both walks (which must agree bit for bit); every
    /// other case with a fused ReLU.
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
            // 3 channels: one partial group of lanes; 11: a full one too.
            let channels = if case % 3 == 0 { 11 } else { 3 };
            let geometry = Geometry {
                channels,
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
                weights: Arc::new(values(channels * kernel[0] * kernel[1], case as u32)),
                bias: Arc::new(values(channels, 7 + case as u32)),
                relu: case % 2 == 1,
            };
            let n = 2;
            let x = values(n * channels * input[0] * input[1], 99 + case as u32);
            let want = reference(&op, n, &x);
            let mut outs = Vec::new();
            for walk in [Walk::Planes, Walk::Channels] {
                let mut out = vec![f32::NAN; n * channels * oh * ow];
                op.run_walk(walk, n, &x, &mut out);
                for (i, (a, b)) in out.iter().zip(&want).enumerate() {
                    assert!(
                        (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                        "{walk:?} {geometry:?} [{i}]: {a} vs {b}"
                    );
                }
                outs.push(out);
            }
            assert!(
                same_bits(&outs[0], &outs[1]),
                "{geometry:?}: the two walks differ"
            );
        }
    }

    /// `run` takes the walk `for_geometry` picks: across channels for
    /// strided or narrow outputs, along planes for wide stride-1 ones (a
    /// strided conv on the plane walk copies its input value by value).
    #[test]
    fn run_takes_the_walk_of_its_geometry() {
        let op = |size: usize, stride: usize| DepthwiseConv {
            geometry: Geometry {
                channels: 8,
                input: [size, size],
                kernel: [3, 3],
                stride: [stride, stride],
                dilation: [1, 1],
                pad_before: [1, 1],
                pad_after: [1, 1],
            },
            batched: true,
            weights: Arc::new(values(72, 1)),
            bias: Arc::new(values(8, 2)),
            relu: false,
        };
        assert_eq!(op(28, 1).walk(), Walk::Channels);
        assert_eq!(op(14, 1).walk(), Walk::Channels);
        assert_eq!(op(28, 2).walk(), Walk::Channels);
        assert_eq!(op(7, 1).walk(), Walk::Channels);
        assert!(op(28, 2).describe().starts_with("Channels"));
    }
}
