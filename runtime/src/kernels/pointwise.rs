//! [`PointwiseConv`]: a 1×1 convolution, stride 1, one group.
//!
//! tract lowers it to a packed matrix product: a packing node and a
//! matmul node per convolution, sized for large matrices. Our cells' 1×1
//! convolutions are small (16–144 channels, 64 to 4 positions at batch 1),
//! where the packing and the kernel's set-up cost as much as the products.
//! This kernel reads the input in place: blocks of 4 output channels × 16
//! positions accumulate over the input channels in vector registers.

use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;

use super::{ConvParts, ImageOp, conv_parts, image_op, relu, relu_note};

/// A 1×1 convolution with its weights and bias, on f32 input `[N, Cin,
/// H, W]` or `[Cin, H, W]`.
#[derive(Debug, Clone, PartialEq)]
pub struct PointwiseConv {
    pub in_channels: usize,
    pub out_channels: usize,
    /// The plane's `[height, width]`.
    pub input: [usize; 2],
    /// Whether the input has a batch axis.
    pub batched: bool,
    /// `[Cout, Cin]` row-major.
    pub weights: Arc<Vec<f32>>,
    /// `[Cout]`.
    pub bias: Arc<Vec<f32>>,
    /// Whether the input goes through a ReLU first: a ReLU node fused into
    /// this op ([`super::swap_in`]), applied to each loaded vector.
    pub relu: bool,
    /// Whether the op takes a second input of the output's shape and adds
    /// it to the product: an `Add` node fused into this op
    /// ([`super::swap_in`]), added as each block is stored.
    pub residual: bool,
}

impl PointwiseConv {
    /// The same convolution with a ReLU on its input.
    pub fn with_relu(&self) -> Self {
        Self {
            relu: true,
            ..self.clone()
        }
    }

    /// The same convolution with a second input added to its output.
    pub fn with_residual(&self) -> Self {
        Self {
            residual: true,
            ..self.clone()
        }
    }

    /// Runs the convolution on `input` (`n` images of `positions` values
    /// per channel, contiguous) into `output`.
    pub fn run(&self, n: usize, positions: usize, input: &[f32], output: &mut [f32]) {
        self.run_adding(n, positions, input, None, output);
    }

    /// [`Self::run`], adding `residual` (of the output's size) to each
    /// output value when given: `output = conv(input) + residual`, the
    /// sum tract's `Add` of the two would give.
    pub fn run_adding(
        &self,
        n: usize,
        positions: usize,
        input: &[f32],
        residual: Option<&[f32]>,
        output: &mut [f32],
    ) {
        assert_eq!(input.len(), n * self.in_channels * positions);
        assert_eq!(output.len(), n * self.out_channels * positions);
        assert!(residual.is_none_or(|r| r.len() == output.len()));
        if positions == 0 {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if super::avx2_fma() {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            unsafe { run_avx2_fma(self, positions, input, residual, output) };
            return;
        }
        run_body(self, positions, input, residual, output, |w, v, a| {
            a + w * v
        });
    }
}

/// The x86-64 build: 8-lane vectors and fused multiply-adds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn run_avx2_fma(
    op: &PointwiseConv,
    positions: usize,
    input: &[f32],
    residual: Option<&[f32]>,
    output: &mut [f32],
) {
    run_body(
        op,
        positions,
        input,
        residual,
        output,
        |w: f32, v: f32, a: f32| w.mul_add(v, a),
    );
}

/// Every image through [`Matrix::apply`]. `madd(w, v, a)` is `a + w·v`,
/// fused or not.
#[inline(always)]
fn run_body(
    op: &PointwiseConv,
    p: usize,
    input: &[f32],
    residual: Option<&[f32]>,
    output: &mut [f32],
    madd: impl Fn(f32, f32, f32) -> f32 + Copy,
) {
    let matrix = Matrix {
        weights: &op.weights,
        bias: &op.bias,
        rows: op.out_channels,
        cols: op.in_channels,
        relu: op.relu,
        avx2_fma: super::avx2_fma(),
    };
    let image = op.out_channels * p;
    let images = input
        .chunks_exact(op.in_channels * p)
        .zip(output.chunks_exact_mut(image))
        .enumerate();
    for (i, (x, out)) in images {
        let residual = residual.map(|r| &r[i * image..(i + 1) * image]);
        matrix.apply(p, x, residual, out, madd);
    }
}

/// A weight matrix and bias: `out[r, j] = bias[r] + Σ_c weights[r, c] ·
/// x[c, j]` over `p` columns `j`. A 1×1 convolution applies it to an
/// image as it is, a k×k one to the image's patches ([`super::dense`]).
pub(super) struct Matrix<'a> {
    /// `[rows, cols]` row-major.
    pub weights: &'a [f32],
    /// `[rows]`.
    pub bias: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    /// Whether `x` goes through a ReLU as it is read.
    pub relu: bool,
    /// Whether the CPU has AVX2 and FMA: blocks of 6 rows × 16 columns
    /// then run [`block_6x16`].
    pub avx2_fma: bool,
}

impl Matrix<'_> {
    /// `out` (`[rows, p]`) from `x` (`[cols, p]`), plus `residual` (of
    /// `out`'s size) when given: columns in chunks of 16, 8, 4 and 1
    /// (outer, so that a chunk's stripe of `x` stays in L1 cache), each
    /// through rows in blocks of 6 (AVX2, 16 columns) and 4, then single
    /// rows.
    #[inline(always)]
    pub fn apply(
        &self,
        p: usize,
        x: &[f32],
        residual: Option<&[f32]>,
        out: &mut [f32],
        madd: impl Fn(f32, f32, f32) -> f32 + Copy,
    ) {
        if self.relu {
            self.apply_with(p, x, residual, out, relu, madd);
        } else {
            self.apply_with(p, x, residual, out, |v| v, madd);
        }
    }

    /// [`Self::apply`] with `prepare(v)` what each value of `x` becomes
    /// (the ReLU or the value itself).
    #[inline(always)]
    fn apply_with(
        &self,
        p: usize,
        x: &[f32],
        residual: Option<&[f32]>,
        out: &mut [f32],
        prepare: impl Fn(f32) -> f32 + Copy,
        madd: impl Fn(f32, f32, f32) -> f32 + Copy,
    ) {
        assert!(x.len() == self.cols * p && out.len() == self.rows * p);
        assert!(residual.is_none_or(|r| r.len() == out.len()));
        assert!(self.weights.len() == self.rows * self.cols && self.bias.len() == self.rows);
        let mut stripe = Vec::with_capacity(self.cols * 16);
        let mut j = 0;
        while j + 16 <= p {
            self.columns_at::<16>(p, x, residual, out, j, &mut stripe, prepare, madd);
            j += 16;
        }
        if j + 8 <= p {
            self.columns_at::<8>(p, x, residual, out, j, &mut stripe, prepare, madd);
            j += 8;
        }
        if j + 4 <= p {
            self.columns_at::<4>(p, x, residual, out, j, &mut stripe, prepare, madd);
            j += 4;
        }
        while j < p {
            self.columns_at::<1>(p, x, residual, out, j, &mut stripe, prepare, madd);
            j += 1;
        }
    }

    /// Output columns `j..j + W` of every row. When `p` is a multiple of 64
    /// the stripe of `x` they read is first copied to `stripe`, contiguous:
    /// read in place its rows lie `p` apart, and at such strides they fall
    /// in a few L1 cache sets and evict each other (measured: 2.7× slower
    /// at 36 channels × 1024 positions; the copy costs more than it saves
    /// at 16 × 784). So it is when the weights outgrow a 32 KiB L1 data
    /// cache: streaming them once per row block evicted the stripe's
    /// lines, each read across two (256 → 64 channels at 7×7: 26.8 →
    /// 21.2 µs; at 128 → 64 the copy did not pay).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn columns_at<const W: usize>(
        &self,
        p: usize,
        x: &[f32],
        residual: Option<&[f32]>,
        out: &mut [f32],
        j: usize,
        stripe: &mut Vec<f32>,
        prepare: impl Fn(f32) -> f32 + Copy,
        madd: impl Fn(f32, f32, f32) -> f32 + Copy,
    ) {
        // The input as `block` reads it: values, row length, first column.
        let (xs, xp, xj) = if p.is_multiple_of(64) || self.rows * self.cols > L1_FLOATS {
            stripe.clear();
            for c in 0..self.cols {
                stripe.extend_from_slice(&x[c * p + j..][..W]);
            }
            (&stripe[..], W, 0)
        } else {
            (x, p, j)
        };
        let mut r = 0;
        #[cfg(target_arch = "x86_64")]
        if W == 16 && self.avx2_fma {
            // As many blocks of 6 as leave a multiple of 4 rows (32 = 4·6 +
            // 2·4), not single rows.
            let sixes = (0..=self.rows / 6)
                .rev()
                .find(|k| (self.rows - 6 * k).is_multiple_of(4))
                .unwrap_or(self.rows / 6);
            while r < 6 * sixes {
                // SAFETY: AVX2 and FMA (`avx2_fma`); rows r..r + 6 of the
                // weights and of `out`, columns j..j + 16 of `out` and xj..xj
                // + 16 of each of the `cols` rows of `xs` (xp apart) exist.
                unsafe {
                    assert!(xj + 16 <= xp && xs.len() >= self.cols * xp);
                    assert!((r + 5) * p + j + 16 <= out.len());
                    let w = &self.weights[r * self.cols..(r + 6) * self.cols];
                    let bias = &self.bias[r..r + 6];
                    let (x, o) = (xs.as_ptr().add(xj), out.as_mut_ptr().add(r * p + j));
                    let res = residual.map(|res| &res[r * p + j..(r + 5) * p + j + 16]);
                    if self.relu {
                        block_6x16::<true>(x, xp, self.cols, w, bias, res, o, p);
                    } else {
                        block_6x16::<false>(x, xp, self.cols, w, bias, res, o, p);
                    }
                }
                r += 6;
            }
        }
        while r + 4 <= self.rows {
            let values = self.block::<4, W>(xp, xs, r, xj, prepare, madd);
            for (i, v) in values.iter().enumerate() {
                store(v, residual, out, (r + i) * p + j);
            }
            r += 4;
        }
        while r < self.rows {
            let [v] = self.block::<1, W>(xp, xs, r, xj, prepare, madd);
            store(&v, residual, out, r * p + j);
            r += 1;
        }
    }

    /// Output rows `r..r + R` at columns `j..j + W`: the bias, then each
    /// input row's product added in order.
    #[inline(always)]
    fn block<const R: usize, const W: usize>(
        &self,
        p: usize,
        x: &[f32],
        r: usize,
        j: usize,
        prepare: impl Fn(f32) -> f32,
        madd: impl Fn(f32, f32, f32) -> f32,
    ) -> [[f32; W]; R] {
        let cols = self.cols;
        let mut acc: [[f32; W]; R] = std::array::from_fn(|i| [self.bias[r + i]; W]);
        let weights: [&[f32]; R] = std::array::from_fn(|i| &self.weights[(r + i) * cols..][..cols]);
        assert!(j + W <= p && x.len() == cols * p);
        for c in 0..cols {
            // SAFETY: c < cols and j + W <= p, so the run lies in x (len cols·p).
            let src = unsafe { &*(x.as_ptr().add(c * p + j) as *const [f32; W]) };
            let src = src.map(&prepare);
            for (acc, w) in acc.iter_mut().zip(&weights) {
                let w = w[c];
                for (a, &v) in acc.iter_mut().zip(&src) {
                    *a = madd(w, v, *a);
                }
            }
        }
        acc
    }
}

/// Floats in a 32 KiB L1 data cache: weights past it have their input
/// stripes copied ([`Matrix::columns_at`]).
const L1_FLOATS: usize = 8192;

/// `v` into `out` at `at`, plus `residual`'s values there when given.
#[inline(always)]
fn store<const W: usize>(v: &[f32; W], residual: Option<&[f32]>, out: &mut [f32], at: usize) {
    let out = &mut out[at..][..W];
    match residual {
        Some(r) => {
            for ((o, &v), &r) in out.iter_mut().zip(v).zip(&r[at..][..W]) {
                *o = v + r;
            }
        }
        None => out.copy_from_slice(v),
    }
}

/// Output rows `0..6` × columns `0..16` of a matrix product on AVX2: the
/// bias, then each input row's products added in order, as
/// [`Matrix::block`] adds them (the same values), in 12 vector
/// accumulators — the 4 × 16 blocks of the portable code keep 8, just
/// the multiply-adds in flight that two FMA units of 4 cycles' latency
/// need, and stalled on any delay. `x`: `cols` rows of 16 values, `xp`
/// apart (through a ReLU when `RELU`); `w`: `[6, cols]`; `out` and
/// `residual` (added when given): 6 rows `op` apart.
///
/// # Safety
/// AVX2 and FMA; the pointers cover what is described.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn block_6x16<const RELU: bool>(
    x: *const f32,
    xp: usize,
    cols: usize,
    w: &[f32],
    bias: &[f32],
    residual: Option<&[f32]>,
    out: *mut f32,
    op: usize,
) {
    use std::arch::x86_64::*;
    assert!(w.len() == 6 * cols && bias.len() == 6);
    assert!(residual.is_none_or(|r| r.len() == 5 * op + 16));
    // SAFETY: the caller's contract; w[i·cols + c] is in bounds (asserted).
    unsafe {
        let b: [__m256; 6] = std::array::from_fn(|i| _mm256_set1_ps(bias[i]));
        let mut acc = [
            [b[0]; 2], [b[1]; 2], [b[2]; 2], [b[3]; 2], [b[4]; 2], [b[5]; 2],
        ];
        let zero = _mm256_setzero_ps();
        let w = w.as_ptr();
        for c in 0..cols {
            let row = x.add(c * xp);
            let (mut x0, mut x1) = (_mm256_loadu_ps(row), _mm256_loadu_ps(row.add(8)));
            if RELU {
                // ReLU as the portable code's compare and select: 0 for
                // NaN too.
                x0 = _mm256_and_ps(x0, _mm256_cmp_ps::<_CMP_GT_OQ>(x0, zero));
                x1 = _mm256_and_ps(x1, _mm256_cmp_ps::<_CMP_GT_OQ>(x1, zero));
            }
            for (i, acc) in acc.iter_mut().enumerate() {
                let wv = _mm256_broadcast_ss(&*w.add(i * cols + c));
                acc[0] = _mm256_fmadd_ps(wv, x0, acc[0]);
                acc[1] = _mm256_fmadd_ps(wv, x1, acc[1]);
            }
        }
        for (i, acc) in acc.iter().enumerate() {
            let (mut a0, mut a1) = (acc[0], acc[1]);
            if let Some(r) = residual {
                let r = r.as_ptr().add(i * op);
                a0 = _mm256_add_ps(a0, _mm256_loadu_ps(r));
                a1 = _mm256_add_ps(a1, _mm256_loadu_ps(r.add(8)));
            }
            _mm256_storeu_ps(out.add(i * op), a0);
            _mm256_storeu_ps(out.add(i * op + 8), a1);
        }
    }
}

impl ImageOp for PointwiseConv {
    fn name(&self) -> &'static str {
        "EdgenasPointwiseConv"
    }

    fn describe(&self) -> String {
        format!(
            "{} → {} channels, {:?}{}{}",
            self.in_channels,
            self.out_channels,
            self.input,
            relu_note(self.relu),
            if self.residual {
                ", plus an added input"
            } else {
                ""
            }
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
        Some([self.in_channels, self.input[0], self.input[1]])
    }

    fn output_chw(&self) -> Option<[usize; 3]> {
        Some([self.out_channels, self.input[0], self.input[1]])
    }

    fn macs_per_image(&self) -> usize {
        self.in_channels * self.out_channels * self.input[0] * self.input[1]
    }

    fn run_images(&self, n: usize, input: &[f32], output: &mut [f32]) {
        self.run(n, self.input[0] * self.input[1], input, output);
    }

    fn residual(&self) -> bool {
        self.residual
    }

    fn run_images_adding(&self, n: usize, input: &[f32], residual: &[f32], output: &mut [f32]) {
        let p = self.input[0] * self.input[1];
        self.run_adding(n, p, input, Some(residual), output);
    }
}

image_op!(PointwiseConv);

/// The [`PointwiseConv`] a `Conv` node is, when it is one: a 1×1 kernel,
/// stride 1, no padding, one group.
pub(super) fn pointwise_of(
    model: &TypedModel,
    node: &TypedNode,
) -> TractResult<Option<PointwiseConv>> {
    let Some(ConvParts {
        batched,
        geometry: g,
        out_channels,
        group,
        weights,
        bias,
    }) = conv_parts(model, node)?
    else {
        return Ok(None);
    };
    if group != 1
        || g.kernel != [1, 1]
        || g.stride != [1, 1]
        || g.pad_before != [0, 0]
        || g.pad_after != [0, 0]
    {
        return Ok(None);
    }
    Ok(Some(PointwiseConv {
        in_channels: g.channels,
        out_channels,
        input: g.input,
        batched,
        weights: Arc::new(weights),
        bias: Arc::new(bias),
        relu: false,
        residual: false,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::tests::{same_bits, values};

    /// Every block shape (6 (AVX2), 4 and 1 channels; 16, 8, 4 and 1
    /// positions; 32 channels as 4 blocks of 6 and 2 of 4) against the
    /// definition, some with a fused ReLU; weights over 32 KiB (130 × 64),
    /// whose input stripes are copied. Each also with an added input,
    /// whose sum must be the product's plus it, bit for bit.
    #[test]
    fn pointwise_matches_the_definition() {
        let cases = [
            (1, 1, 1),
            (3, 5, 7),
            (16, 16, 64),
            (48, 16, 29),
            (5, 9, 4),
            (8, 32, 17),
            (130, 64, 20),
        ];
        for (case, (cin, cout, p)) in cases.into_iter().enumerate() {
            let op = PointwiseConv {
                in_channels: cin,
                out_channels: cout,
                input: [1, p],
                batched: true,
                weights: Arc::new(values(cin * cout, 1)),
                bias: Arc::new(values(cout, 2)),
                relu: case % 2 == 1,
                residual: false,
            };
            let n = 2;
            let x = values(n * cin * p, 3);
            let mut out = vec![f32::NAN; n * cout * p];
            op.run(n, p, &x, &mut out);
            let r = values(n * cout * p, 4);
            let mut sum = vec![f32::NAN; n * cout * p];
            op.with_residual().run_adding(n, p, &x, Some(&r), &mut sum);
            let want: Vec<f32> = out.iter().zip(&r).map(|(o, r)| o + r).collect();
            assert!(
                same_bits(&sum, &want),
                "{cin} → {cout}, {p}: the sum differs"
            );
            for i in 0..n {
                for co in 0..cout {
                    for j in 0..p {
                        let want = (0..cin).fold(op.bias[co], |s, ci| {
                            let v = x[(i * cin + ci) * p + j];
                            s + op.weights[co * cin + ci] * if op.relu { v.max(0.0) } else { v }
                        });
                        let got = out[(i * cout + co) * p + j];
                        assert!(
                            (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                            "{got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
