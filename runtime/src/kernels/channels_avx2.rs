//! The x86-64 depthwise kernel: eight channels at once, one per lane of
//! an AVX2 vector.
//!
//! Each group of 8 channels is transposed into one padded plane of 8-lane
//! pixels (`[y][x][lane]`, 8×8 in-register transposes), so every tap of
//! every output reads one vector whatever the plane's size, stride or
//! dilation; 8 outputs of a row accumulate in 8 registers and are
//! transposed back into their channels' planes. For the square 3×3 and
//! 5×5 kernels of dilation and stride 1 or 2 that the DARTS space deploys,
//! [`Row::full_run`] loads each pixel of a kernel row's span once and
//! feeds it to every output it reaches; other kernels load one pixel per
//! tap ([`Row::outputs`]). [`super::DepthwiseConv`] and [`super::Pool2d`]
//! use it for every geometry on AVX2 CPUs: faster than the plane walk on
//! each of the Fashion-MNIST network's (`runtime/examples/kernel_walks.rs`;
//! 16 channels 28×28 5×5: 13.5 → 10.2 µs, 64 channels 7×7 5×5: 7.1 → 3.5
//! µs). What it spends beyond the multiply-adds is the transposes in and
//! out: about a third of its time on 3×3 kernels.
//!
//! Written with `core::arch` intrinsics: LLVM did not vectorise the same
//! code written over `[f32; 8]` lanes (it kept 64 scalar accumulators and
//! spilled them).

use std::arch::x86_64::*;

use super::Geometry;
use super::depthwise::MAX_TAPS;

/// Lanes of a vector: channels per group.
const LANES: usize = 8;

/// What [`channel_walk`] folds each tap into its output with.
pub(super) const FMA: u8 = 0;
/// The larger of the two (a NaN input is skipped, like `f32::max`).
pub(super) const MAX: u8 = 1;
/// The sum (the tap's weight is not used).
pub(super) const ADD: u8 = 2;

/// A depthwise convolution (`OP` = [`FMA`]) or a max or sum pool ([`MAX`],
/// [`ADD`]) of `input` (contiguous NCHW images of `g`'s size) into
/// `output`: per channel `c`, the taps `weights[c·taps..]` and the start
/// value `bias[c]`; the padding is `pad`; with `relu`, the input goes
/// through a ReLU first.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn channel_walk<const OP: u8>(
    g: &Geometry,
    weights: &[f32],
    bias: &[f32],
    pad: f32,
    relu: bool,
    input: &[f32],
    output: &mut [f32],
) {
    let [oh, ow] = g.output().expect("checked when the op was made");
    let [ih, iw] = g.input;
    let (ph, pw) = (g.padded(0), g.padded(1));
    let [pt, pl] = g.pad_before;
    let taps = g.taps();
    let channels = g.channels;
    assert!(taps <= MAX_TAPS && weights.len() == channels * taps && bias.len() == channels);
    let (plane_in, plane_out) = (ih * iw, oh * ow);
    assert!(input.len().is_multiple_of(channels * plane_in));
    assert_eq!(
        output.len() / (channels * plane_out),
        input.len() / (channels * plane_in)
    );
    // Scratch offset of each tap from its output's first tap, in pixels.
    let mut offsets = [0usize; MAX_TAPS];
    for ky in 0..g.kernel[0] {
        for kx in 0..g.kernel[1] {
            offsets[ky * g.kernel[1] + kx] = ky * g.dilation[0] * pw + kx * g.dilation[1];
        }
    }
    let offsets = &offsets[..taps];
    let reach = offsets.iter().max().copied().unwrap_or(0);
    // The padded plane of the current group; its border stays `pad`.
    // Aligned to 64 bytes, so that no pixel's vector straddles two cache
    // lines (each such load costs two).
    // SLACK pixels past the plane: a row's last run of 8 outputs reads
    // that far when fewer than 8 remain (`Row::full_run`).
    let mut buffer = vec![pad; (ph * pw + SLACK) * LANES + 16];
    let skip = buffer.as_ptr().align_offset(64);
    let scratch = &mut buffer[skip..][..(ph * pw + SLACK) * LANES];
    let rows = rows_fn::<OP>(g);
    let mut tap_weights = vec![0.0f32; taps * LANES];
    let images = input
        .chunks_exact(channels * plane_in)
        .zip(output.chunks_exact_mut(channels * plane_out));
    for (x, out) in images {
        for c0 in (0..channels).step_by(LANES) {
            let lanes = (channels - c0).min(LANES);
            // Weights and bias as vectors of lanes; unused lanes stay zero.
            tap_weights.fill(0.0);
            let mut lane_bias = [0.0f32; LANES];
            for k in 0..lanes {
                lane_bias[k] = bias[c0 + k];
                for t in 0..taps {
                    tap_weights[t * LANES + k] = weights[(c0 + k) * taps + t];
                }
            }
            let group = &x[c0 * plane_in..(c0 + lanes) * plane_in];
            // SAFETY (both): AVX2 and FMA, this function's contract.
            unsafe {
                pack(group, lanes, [ih, iw], relu, scratch, pw, [pt, pl]);
            }
            let out = &mut out[c0 * plane_out..(c0 + lanes) * plane_out];
            let first_row = Row {
                scratch,
                first: 0,
                step: g.stride[1],
                down: g.stride[0] * pw,
                taps: &tap_weights,
                offsets,
                reach,
                pw,
                bias: &lane_bias,
            };
            // SAFETY: AVX2 and FMA, this function's contract.
            unsafe { rows(&first_row, [oh, ow], out, lanes) };
        }
    }
}

/// The `lanes` channel planes of `group` (`[lanes, ih, iw]`), through a
/// ReLU when `relu`, into the inside of the padded plane of pixels
/// `scratch` (`pw` pixels a row, `pad = [top, left]`).
#[target_feature(enable = "avx2,fma")]
unsafe fn pack(
    group: &[f32],
    lanes: usize,
    [ih, iw]: [usize; 2],
    relu: bool,
    scratch: &mut [f32],
    pw: usize,
    [pt, pl]: [usize; 2],
) {
    let plane = ih * iw;
    assert_eq!(group.len(), lanes * plane);
    let zero = _mm256_setzero_ps();
    for y in 0..ih {
        let dst_row = (y + pt) * pw + pl;
        assert!((dst_row + iw) * LANES <= scratch.len());
        // 8 pixels at a time (fewer at the row's end): the group's 8 rows of
        // them, loaded masked (unused channels zero), transposed.
        for x in (0..iw).step_by(8) {
            let n = (iw - x).min(8);
            let first = y * iw + x;
            if lanes == LANES && 7 * plane + first + 8 <= group.len() {
                // All 8 channels, 8 values each within the group (past the
                // row's end they are the next row's, and those pixels are
                // not stored).
                // SAFETY: the reads lie in the group (just checked); pixel
                // dst_row + x + j < dst_row + iw, asserted in the scratch.
                unsafe {
                    let pixels = load_transposed(group.as_ptr().add(first), plane, relu);
                    for (j, p) in pixels.iter().enumerate().take(n) {
                        _mm256_storeu_ps(scratch.as_mut_ptr().add((dst_row + x + j) * LANES), *p);
                    }
                }
                continue;
            }
            let mask = first_lanes(n);
            let rows: [__m256; 8] = std::array::from_fn(|k| {
                if k >= lanes {
                    return zero;
                }
                let at = k * plane + y * iw + x;
                // SAFETY: the first n values from `at` lie in row y of
                // plane k; the masked-out lanes are not read.
                let v = unsafe {
                    let p = group.as_ptr().add(at);
                    if n == 8 {
                        _mm256_loadu_ps(p)
                    } else {
                        _mm256_maskload_ps(p, mask)
                    }
                };
                if relu { _mm256_max_ps(v, zero) } else { v }
            });
            let pixels = transpose(rows);
            for (j, p) in pixels.iter().enumerate().take(n) {
                // SAFETY: pixel dst_row + x + j < dst_row + iw, asserted in the scratch.
                unsafe {
                    _mm256_storeu_ps(scratch.as_mut_ptr().add((dst_row + x + j) * LANES), *p)
                };
            }
        }
    }
}

/// A mask of the first `n` (≤ 8) lanes, for masked loads and stores.
#[target_feature(enable = "avx2,fma")]
fn first_lanes(n: usize) -> __m256i {
    _mm256_cmpgt_epi32(
        _mm256_set1_epi32(n as i32),
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
    )
}

/// One output row of [`depthwise`].
#[derive(Clone, Copy)]
struct Row<'a> {
    /// The padded plane of pixels.
    scratch: &'a [f32],
    /// Pixel index of the row's first output's first tap.
    first: usize,
    /// Horizontal stride, in pixels.
    step: usize,
    /// `[taps][LANES]`.
    taps: &'a [f32],
    offsets: &'a [usize],
    /// The largest of `offsets`.
    reach: usize,
    /// Pixels a row of the padded plane.
    pw: usize,
    /// Pixels from one output row's first tap to the next row's.
    down: usize,
    bias: &'a [f32; LANES],
}

impl Row<'_> {
    /// Outputs `ox..ox + n` (`n` ≤ 8) of the row, each a vector of the
    /// group's channels: 8 independent accumulators (those past `n` read
    /// pixel `ox` again, and are dropped).
    #[target_feature(enable = "avx2,fma")]
    unsafe fn outputs<const OP: u8>(&self, ox: usize, n: usize) -> [__m256; 8] {
        assert!((1..=8).contains(&n));
        let s = self.step;
        // Pixel offset of each accumulator's output from output ox.
        let at: [usize; 8] = std::array::from_fn(|j| if j < n { j * s } else { 0 });
        let base = self.first + ox * s;
        let last = base + at[n - 1] + self.reach;
        assert!((last + 1) * LANES <= self.scratch.len());
        assert_eq!(self.taps.len(), self.offsets.len() * LANES);
        let p = self.scratch.as_ptr();
        // SAFETY: every read is pixel base + at[j] + offset ≤ last, asserted
        // inside the scratch; tap t's weights are taps[t·8..t·8 + 8].
        unsafe {
            let b = _mm256_loadu_ps(self.bias.as_ptr());
            let [
                mut a0,
                mut a1,
                mut a2,
                mut a3,
                mut a4,
                mut a5,
                mut a6,
                mut a7,
            ] = [b; 8];
            for (t, &off) in self.offsets.iter().enumerate() {
                let w = _mm256_loadu_ps(self.taps.as_ptr().add(t * LANES));
                let q = p.add((base + off) * LANES);
                let fold = |j: usize, a: __m256| {
                    let v = _mm256_loadu_ps(q.add(at[j] * LANES));
                    match OP {
                        FMA => _mm256_fmadd_ps(w, v, a),
                        MAX => _mm256_max_ps(v, a),
                        _ => _mm256_add_ps(v, a),
                    }
                };
                a0 = fold(0, a0);
                a1 = fold(1, a1);
                a2 = fold(2, a2);
                a3 = fold(3, a3);
                a4 = fold(4, a4);
                a5 = fold(5, a5);
                a6 = fold(6, a6);
                a7 = fold(7, a7);
            }
            [a0, a1, a2, a3, a4, a5, a6, a7]
        }
    }
}

/// Pixels of slack past the padded plane (see [`Row::full_run`]).
const SLACK: usize = 16;

/// Every output row of one group of channels: rows `0..oh` below
/// `first_row` (`[oh, ow]` outputs), unpacked into the group's `lanes`
/// output planes.
type Rows = unsafe fn(&Row, [usize; 2], &mut [f32], usize);

/// The [`Rows`] for `g`'s kernel: [`rows_of`] with [`Row::full_run`]
/// inlined for square 3×3 or 5×5 kernels, dilation 1 or 2, stride 1 or 2
/// (every depthwise conv and pool of the DARTS space), with
/// [`Row::outputs`] otherwise. Chosen once per call, so the runs inline into the loop
/// (through a function pointer per run, each returned its 8 vectors
/// through the stack).
fn rows_fn<const OP: u8>(g: &Geometry) -> Rows {
    let square = |[a, b]: [usize; 2]| (a == b).then_some(a);
    let shape = square(g.kernel)
        .zip(square(g.dilation))
        .zip(square(g.stride));
    match shape {
        Some(((3, 1), 1)) => rows_of::<OP, 3, 1, 1>,
        Some(((3, 2), 1)) => rows_of::<OP, 3, 2, 1>,
        Some(((5, 1), 1)) => rows_of::<OP, 5, 1, 1>,
        Some(((5, 2), 1)) => rows_of::<OP, 5, 2, 1>,
        Some(((3, 1), 2)) => rows_of::<OP, 3, 1, 2>,
        Some(((3, 2), 2)) => rows_of::<OP, 3, 2, 2>,
        Some(((5, 1), 2)) => rows_of::<OP, 5, 1, 2>,
        Some(((5, 2), 2)) => rows_of::<OP, 5, 2, 2>,
        _ => rows_of::<OP, 0, 0, 0>,
    }
}

/// [`Rows`] with [`Row::full_run`] for `K` > 0, with [`Row::outputs`]
/// (any kernel) for `K` = 0.
///
/// # Safety
/// AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn rows_of<const OP: u8, const K: usize, const D: usize, const S: usize>(
    first_row: &Row,
    [oh, ow]: [usize; 2],
    out: &mut [f32],
    lanes: usize,
) {
    for oy in 0..oh {
        let row = Row {
            first: oy * first_row.down,
            ..*first_row
        };
        let mut ox = 0;
        while ox < ow {
            let n = (ow - ox).min(8);
            // SAFETY: AVX2 and FMA, this function's contract.
            unsafe {
                let values = match K {
                    0 => row.outputs::<OP>(ox, n),
                    _ => row.full_run::<OP, K, D, S>(ox),
                };
                unpack(&values, n, out, lanes, oh * ow, oy * ow + ox);
            }
            ox += n;
        }
    }
}

impl Row<'_> {
    /// Outputs `ox..ox + 8` of a row with a `K`×`K` kernel of dilation
    /// `D` and stride `S`, each a vector of the group's channels, with
    /// every pixel loaded once per kernel row: pixel `i` of the row's span
    /// (`7·S + (K − 1)·D + 1` of them) feeds output `(i − kx·D) / S` for
    /// each `kx` that makes it a whole number in `0..8`.
    /// [`Self::outputs`] loads one pixel per multiply-add, 5× as many for
    /// 5×5 kernels, and its loads bound it. The products reach each output
    /// in tap order, as there, so the values are the same bit for bit.
    ///
    /// Past the row's last output it computes on whatever pixels follow
    /// (the next row's, or the scratch's [`SLACK`]); the caller keeps
    /// only the valid outputs.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn full_run<const OP: u8, const K: usize, const D: usize, const S: usize>(
        &self,
        ox: usize,
    ) -> [__m256; 8] {
        const { assert!(K == 0 || 7 * S + (K - 1) * D < 24) };
        assert_eq!(self.step, S);
        let base = self.first + ox * S;
        assert!((base + 7 * S + self.reach + 1) * LANES <= self.scratch.len());
        assert_eq!(self.taps.len(), K * K * LANES);
        assert_eq!(self.reach, (K - 1) * D * (self.pw + 1));
        let p = self.scratch.as_ptr();
        // SAFETY: every read is pixel base + ky·D·pw + i with
        // i ≤ 7·S + (K − 1)·D, at most base + 7·S + reach, asserted inside
        // the scratch; tap t's weights are taps[t·8..t·8 + 8].
        unsafe {
            let b = _mm256_loadu_ps(self.bias.as_ptr());
            let mut acc = [b; 8];
            for ky in 0..K {
                let w: [__m256; K] = std::array::from_fn(|kx| {
                    _mm256_loadu_ps(self.taps.as_ptr().add((ky * K + kx) * LANES))
                });
                let row = p.add((base + ky * D * self.pw) * LANES);
                // Pixel i of the span into every output it feeds. Spelled
                // out per pixel: as a loop LLVM kept the accumulators on
                // the stack.
                macro_rules! pixel {
                    ($($i:literal)*) => {$(
                        if $i < 7 * S + (K - 1) * D + 1 {
                            let v = _mm256_load_ps(row.add($i * LANES));
                            for kx in 0..K {
                                let at = $i as isize - (kx * D) as isize;
                                if at >= 0 && at as usize % S == 0 && (at as usize) / S < 8 {
                                    let j = at as usize / S;
                                    acc[j] = match OP {
                                        FMA => _mm256_fmadd_ps(w[kx], v, acc[j]),
                                        MAX => _mm256_max_ps(v, acc[j]),
                                        _ => _mm256_add_ps(v, acc[j]),
                                    };
                                }
                            }
                        }
                    )*};
                }
                pixel!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23);
            }
            acc
        }
    }
}

/// The first `n` of 8 output pixels (`values[j]`: lane `k` is channel `k`)
/// into the first `lanes` channel planes of `out` (`plane` values each),
/// at `at` in each plane.
#[target_feature(enable = "avx2,fma")]
unsafe fn unpack(
    values: &[__m256; 8],
    n: usize,
    out: &mut [f32],
    lanes: usize,
    plane: usize,
    at: usize,
) {
    if lanes == LANES && at + 8 <= plane {
        assert!(7 * plane + at + 8 <= out.len());
        // SAFETY: channel k's 8 values from `at` lie in its plane (checked);
        // the values past n land on outputs written later, as below.
        unsafe { store_transposed(values, out.as_mut_ptr().add(at), plane) };
        return;
    }
    let channels = transpose(*values);
    for (k, c) in channels.iter().enumerate().take(lanes) {
        let start = k * plane + at;
        if at + 8 <= plane {
            // A full store, also when n < 8: the values past n land on the
            // next outputs of this channel, which are written later (rows
            // and runs go in order). A masked store is microcoded on AMD
            // CPUs (measured a quarter of this kernel's time on 7×7).
            let dst = &mut out[start..start + 8];
            // SAFETY: dst holds 8 values.
            unsafe { _mm256_storeu_ps(dst.as_mut_ptr(), *c) };
        } else {
            let mut v = [0.0f32; 8];
            // SAFETY: v holds 8 values.
            unsafe { _mm256_storeu_ps(v.as_mut_ptr(), *c) };
            for (d, &v) in out[start..start + n].iter_mut().zip(&v) {
                *d = v;
            }
        }
    }
}

/// The 8 pixels of 8 channels from NCHW planes: channel `k`'s 8 values
/// at `p + k·stride`, through a ReLU when `relu`, as pixel vectors (lane
/// `k` = channel `k`). Each row is loaded as two 128-bit halves, row `k`'s
/// beside row `k + 4`'s, so that two 4×4 transposes within the 128-bit
/// lanes finish the job: 16 shuffles, where [`transpose`] takes 24 (the
/// shuffle units bound this packing).
///
/// # Safety
/// AVX2; `p + k·stride .. + 8` readable for each `k < 8`.
#[target_feature(enable = "avx2,fma")]
unsafe fn load_transposed(p: *const f32, stride: usize, relu: bool) -> [__m256; 8] {
    // SAFETY (every `halves`): the caller's contract.
    let mut halves = unsafe {
        [
            halves(p, 0, 0, stride),
            halves(p, 1, 0, stride),
            halves(p, 2, 0, stride),
            halves(p, 3, 0, stride),
            halves(p, 0, 4, stride),
            halves(p, 1, 4, stride),
            halves(p, 2, 4, stride),
            halves(p, 3, 4, stride),
        ]
    };
    if relu {
        for h in &mut halves {
            *h = _mm256_max_ps(*h, _mm256_setzero_ps());
        }
    }
    let [a, b, c, d, e, f, g, h] = halves;
    let [p0, p1, p2, p3] = transpose_4x4_lanes(a, b, c, d);
    let [p4, p5, p6, p7] = transpose_4x4_lanes(e, f, g, h);
    [p0, p1, p2, p3, p4, p5, p6, p7]
}

/// Row `k`'s 4 values from `off` beside row `k + 4`'s (rows `stride`
/// apart from `p`). A function, not a closure: closures do not inherit
/// the target features, and their intrinsics were then calls.
///
/// # Safety
/// AVX2; both runs readable.
#[target_feature(enable = "avx2,fma")]
unsafe fn halves(p: *const f32, k: usize, off: usize, stride: usize) -> __m256 {
    // SAFETY: the caller's contract.
    unsafe {
        let low = _mm_loadu_ps(p.add(k * stride + off));
        let high = _mm_loadu_ps(p.add((k + 4) * stride + off));
        _mm256_insertf128_ps::<1>(_mm256_castps128_ps256(low), high)
    }
}

/// Pixel vectors `values` (lane `k` = channel `k`) into 8 NCHW planes:
/// channel `k`'s 8 values at `out + k·stride`, as 128-bit halves after two
/// 4×4 transposes within lanes (the inverse of [`load_transposed`]).
///
/// # Safety
/// AVX2; `out + k·stride .. + 8` writable for each `k < 8`.
#[target_feature(enable = "avx2,fma")]
unsafe fn store_transposed(values: &[__m256; 8], out: *mut f32, stride: usize) {
    let [v0, v1, v2, v3, v4, v5, v6, v7] = *values;
    // first[k]: channel k's pixels 0..4 | channel k + 4's; second: 4..8.
    let first = transpose_4x4_lanes(v0, v1, v2, v3);
    let second = transpose_4x4_lanes(v4, v5, v6, v7);
    for k in 0..4 {
        // SAFETY: the caller's contract.
        unsafe {
            let (low, high) = (out.add(k * stride), out.add((k + 4) * stride));
            _mm_storeu_ps(low, _mm256_castps256_ps128(first[k]));
            _mm_storeu_ps(low.add(4), _mm256_castps256_ps128(second[k]));
            _mm_storeu_ps(high, _mm256_extractf128_ps::<1>(first[k]));
            _mm_storeu_ps(high.add(4), _mm256_extractf128_ps::<1>(second[k]));
        }
    }
}

/// Within each 128-bit lane, the 4×4 transpose of `a, b, c, d` (lane-half
/// row `i`, element `j` → row `j`, element `i`).
#[target_feature(enable = "avx2,fma")]
fn transpose_4x4_lanes(a: __m256, b: __m256, c: __m256, d: __m256) -> [__m256; 4] {
    let ab_low = _mm256_unpacklo_ps(a, b);
    let ab_high = _mm256_unpackhi_ps(a, b);
    let cd_low = _mm256_unpacklo_ps(c, d);
    let cd_high = _mm256_unpackhi_ps(c, d);
    [
        _mm256_shuffle_ps::<0x44>(ab_low, cd_low),
        _mm256_shuffle_ps::<0xEE>(ab_low, cd_low),
        _mm256_shuffle_ps::<0x44>(ab_high, cd_high),
        _mm256_shuffle_ps::<0xEE>(ab_high, cd_high),
    ]
}

/// The 8×8 transpose of `rows` (row `i`, lane `j` → row `j`, lane `i`).
#[target_feature(enable = "avx2,fma")]
fn transpose(rows: [__m256; 8]) -> [__m256; 8] {
    let [r0, r1, r2, r3, r4, r5, r6, r7] = rows;
    let t0 = _mm256_unpacklo_ps(r0, r1);
    let t1 = _mm256_unpackhi_ps(r0, r1);
    let t2 = _mm256_unpacklo_ps(r2, r3);
    let t3 = _mm256_unpackhi_ps(r2, r3);
    let t4 = _mm256_unpacklo_ps(r4, r5);
    let t5 = _mm256_unpackhi_ps(r4, r5);
    let t6 = _mm256_unpacklo_ps(r6, r7);
    let t7 = _mm256_unpackhi_ps(r6, r7);
    let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
    let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
    let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
    let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
    let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
    let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
    let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
    let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
    [
        _mm256_permute2f128_ps::<0x20>(u0, u4),
        _mm256_permute2f128_ps::<0x20>(u1, u5),
        _mm256_permute2f128_ps::<0x20>(u2, u6),
        _mm256_permute2f128_ps::<0x20>(u3, u7),
        _mm256_permute2f128_ps::<0x31>(u0, u4),
        _mm256_permute2f128_ps::<0x31>(u1, u5),
        _mm256_permute2f128_ps::<0x31>(u2, u6),
        _mm256_permute2f128_ps::<0x31>(u3, u7),
    ]
}
