//! [`DenseConv`]: a k×k convolution with one group (any stride, dilation
//! and padding): the stem, FactorizedReduce's strided 2×2 convolution, and
//! the plain convolutions of op spaces 1 and 2.
//!
//! tract lowers it to an `Im2col` node and a packed matmul. This op
//! gathers each image's patches into a scratch matrix, one contiguous run
//! per (input channel, tap, output row), and multiplies it with the
//! weights by the 1×1 kernel's [`Matrix::apply`].

use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;

use super::pointwise::Matrix;
use super::{ConvParts, Geometry, ImageOp, conv_parts, image_op, relu, relu_note};

/// A k×k, one-group convolution with its weights and bias, on f32 input
/// `[N, Cin, H, W]` or `[Cin, H, W]`. `geometry.channels` is `Cin`.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseConv {
    pub geometry: Geometry,
    pub out_channels: usize,
    /// Whether the input has a batch axis.
    pub batched: bool,
    /// `[Cout, Cin·kh·kw]` row-major (OIHW).
    pub weights: Arc<Vec<f32>>,
    /// `[Cout]`.
    pub bias: Arc<Vec<f32>>,
    /// Whether the input goes through a ReLU first: a ReLU node fused into
    /// this op ([`super::swap_in`]), applied as patches are gathered.
    pub relu: bool,
    /// The products the convolution computes ([`DenseConv::new`]).
    blocks: Arc<Vec<RowBlock>>,
}

/// Output channels `rows` of a [`DenseConv`], computed from the patch rows
/// `columns` (`c·kh·kw + ky·kw + kx`) only: those where some weight of
/// these channels is not zero.
#[derive(Debug, Clone, PartialEq)]
struct RowBlock {
    rows: std::ops::Range<usize>,
    columns: Vec<usize>,
    /// `[rows.len(), columns.len()]` row-major.
    weights: Vec<f32>,
}

impl DenseConv {
    /// The convolution with OIHW `weights` (`[Cout, Cin·kh·kw]`) and
    /// `bias` (`[Cout]`).
    ///
    /// Output channels are split into runs whose non-zero weights lie in
    /// the same patch rows, and each run multiplies only those. Our
    /// FactorizedReduce is one 2×2 stride-2 convolution in which half the
    /// channels use only tap (0, 0) and half only tap (1, 1): it then
    /// gathers and multiplies half the patch rows (measured 2× faster).
    /// The zeros skipped would add exact zeros to each sum, so outputs are
    /// bit-identical, except that an infinite input no longer meets a zero
    /// weight (which makes NaN).
    /// A convolution without such structure is one run over every patch
    /// row.
    pub fn new(
        geometry: Geometry,
        out_channels: usize,
        batched: bool,
        weights: Vec<f32>,
        bias: Vec<f32>,
    ) -> Self {
        let cols = geometry.channels * geometry.taps();
        assert_eq!(weights.len(), out_channels * cols);
        assert_eq!(bias.len(), out_channels);
        let used = |o: usize| -> Vec<usize> {
            (0..cols)
                .filter(|&c| weights[o * cols + c] != 0.0)
                .collect()
        };
        let mut runs: Vec<(std::ops::Range<usize>, Vec<usize>)> = Vec::new();
        for o in 0..out_channels {
            let columns = used(o);
            match runs.last_mut() {
                Some((rows, last)) if *last == columns => rows.end = o + 1,
                _ => runs.push((o..o + 1, columns)),
            }
        }
        let sparse: usize = runs.iter().map(|(r, c)| r.len() * c.len()).sum();
        // Split only where it saves a quarter of the products, in few runs
        // (every run gathers its own patch rows).
        if runs.len() > MAX_RUNS || 4 * sparse > 3 * out_channels * cols {
            runs = vec![(0..out_channels, (0..cols).collect())];
        }
        let blocks = runs
            .into_iter()
            .map(|(rows, columns)| RowBlock {
                weights: rows
                    .clone()
                    .flat_map(|o| columns.iter().map(move |&c| o * cols + c))
                    .map(|i| weights[i])
                    .collect(),
                rows,
                columns,
            })
            .collect();
        Self {
            geometry,
            out_channels,
            batched,
            weights: Arc::new(weights),
            bias: Arc::new(bias),
            relu: false,
            blocks: Arc::new(blocks),
        }
    }

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
        let g = &self.geometry;
        let [oh, ow] = g.output().expect("checked when the op was made");
        assert_eq!(input.len(), n * g.channels * g.input[0] * g.input[1]);
        assert_eq!(output.len(), n * self.out_channels * oh * ow);
        #[cfg(target_arch = "x86_64")]
        if super::avx2_fma() {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            unsafe { run_avx2_fma(self, input, output) };
            return;
        }
        run_body(self, input, output, |w, v, a| a + w * v);
    }
}

/// The x86-64 build: 8-lane vectors and fused multiply-adds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn run_avx2_fma(op: &DenseConv, input: &[f32], output: &mut [f32]) {
    run_body(op, input, output, |w: f32, v: f32, a: f32| w.mul_add(v, a));
}

/// Most runs of output channels [`DenseConv::new`] splits a convolution in.
const MAX_RUNS: usize = 8;

#[inline(always)]
fn run_body(
    op: &DenseConv,
    input: &[f32],
    output: &mut [f32],
    madd: impl Fn(f32, f32, f32) -> f32 + Copy,
) {
    let g = &op.geometry;
    let [oh, ow] = g.output().expect("checked when the op was made");
    let p = oh * ow;
    let most = op.blocks.iter().map(|b| b.columns.len()).max().unwrap_or(0);
    let mut patches = vec![0.0f32; most * p];
    let images = input
        .chunks_exact(g.channels * g.input[0] * g.input[1])
        .zip(output.chunks_exact_mut(op.out_channels * p));
    for (x, out) in images {
        for block in op.blocks.iter() {
            let patches = &mut patches[..block.columns.len() * p];
            gather(g, x, &block.columns, patches);
            if op.relu {
                for v in patches.iter_mut() {
                    *v = relu(*v);
                }
            }
            let matrix = Matrix {
                weights: &block.weights,
                bias: &op.bias[block.rows.clone()],
                rows: block.rows.len(),
                cols: block.columns.len(),
                // Applied to the patches as they are gathered.
                relu: false,
                avx2_fma: super::avx2_fma(),
            };
            let out = &mut out[block.rows.start * p..block.rows.end * p];
            matrix.apply(p, patches, None, out, madd);
        }
    }
}

/// Row `i` of `patches` is patch row `columns[i]`: with `columns[i] =
/// (c·kh + ky)·kw + kx`, `patches[i, oy·ow + ox]` = the input at channel
/// `c`, row `oy·sh + ky·dh − ph`, column `ox·sw + kx·dw − pw`, or 0
/// outside.
#[inline(always)]
fn gather(g: &Geometry, x: &[f32], columns: &[usize], patches: &mut [f32]) {
    let [oh, ow] = g.output().expect("checked when the op was made");
    let [ih, iw] = g.input;
    let (sh, sw) = (g.stride[0], g.stride[1]);
    let [kh, kw] = g.kernel;
    for (&column, row) in columns.iter().zip(patches.chunks_exact_mut(oh * ow)) {
        let (c, ky, kx) = (column / (kh * kw), column / kw % kh, column % kw);
        let plane = &x[c * ih * iw..][..ih * iw];
        // Output columns whose input column is inside: lo..hi.
        let shift = (kx * g.dilation[1]) as isize - g.pad_before[1] as isize;
        let first = |ox: usize| shift + (ox * sw) as isize;
        let lo = (0..ow).find(|&ox| first(ox) >= 0).unwrap_or(ow);
        let hi = (lo..ow).find(|&ox| first(ox) >= iw as isize).unwrap_or(ow);
        for (oy, out) in row.chunks_exact_mut(ow).enumerate() {
            let iy = (oy * sh + ky * g.dilation[0]) as isize - g.pad_before[0] as isize;
            if iy < 0 || iy >= ih as isize || lo == hi {
                out.fill(0.0);
                continue;
            }
            let src = &plane[iy as usize * iw..][..iw];
            out[..lo].fill(0.0);
            out[hi..].fill(0.0);
            let start = first(lo) as usize;
            if sw == 1 {
                out[lo..hi].copy_from_slice(&src[start..start + (hi - lo)]);
            } else {
                for (i, o) in out[lo..hi].iter_mut().enumerate() {
                    *o = src[start + i * sw];
                }
            }
        }
    }
}

impl ImageOp for DenseConv {
    fn name(&self) -> &'static str {
        "EdgenasDenseConv"
    }

    fn describe(&self) -> String {
        format!(
            "{:?} → {} channels{}",
            self.geometry,
            self.out_channels,
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
        Some([self.out_channels, oh, ow])
    }

    fn macs_per_image(&self) -> usize {
        let [_, oh, ow] = self.output_chw().unwrap_or_default();
        let products: usize = self.blocks.iter().map(|b| b.weights.len()).sum();
        products * oh * ow
    }

    fn run_images(&self, n: usize, input: &[f32], output: &mut [f32]) {
        self.run(n, input, output);
    }
}

image_op!(DenseConv);

/// The [`DenseConv`] a `Conv` node is, when it is one: one group, and not
/// a 1×1 stride-1 unpadded convolution ([`super::PointwiseConv`]'s).
pub(super) fn dense_of(model: &TypedModel, node: &TypedNode) -> TractResult<Option<DenseConv>> {
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
    if group != 1 {
        return Ok(None);
    }
    Ok(Some(DenseConv::new(
        geometry,
        out_channels,
        batched,
        weights,
        bias,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::tests::values;

    /// The stem (3×3, padding 1), FactorizedReduce's 2×2 stride-2 conv
    /// with asymmetric padding (dense, and with its zeros, which split it
    /// in two runs of channels), 5×5 and 1×7 convs, dilation and stride 3,
    /// against the definition; every other case with a fused ReLU.
    #[test]
    fn dense_matches_the_definition() {
        let cases = [
            (3, 5, [8, 8], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),
            (4, 6, [8, 8], [2, 2], [2, 2], [1, 1], [0, 0], [1, 1]),
            (2, 3, [7, 7], [2, 2], [2, 2], [1, 1], [0, 0], [1, 1]),
            (3, 4, [9, 11], [5, 5], [1, 1], [1, 1], [2, 2], [2, 2]),
            (3, 4, [6, 6], [1, 7], [1, 1], [1, 1], [0, 3], [0, 3]),
            (2, 2, [10, 9], [3, 3], [3, 2], [2, 1], [1, 0], [0, 2]),
            (5, 3, [4, 4], [1, 1], [2, 2], [1, 1], [0, 0], [0, 0]),
        ];
        let sparse_cases = [
            (4, 6, [8, 8], [2, 2], [2, 2], [1, 1], [0, 0], [1, 1]),
            (3, 4, [7, 7], [2, 2], [2, 2], [1, 1], [0, 0], [1, 1]),
        ];
        let all = cases
            .into_iter()
            .map(|c| (false, c))
            .chain(sparse_cases.into_iter().map(|c| (true, c)));
        for (case, (sparse, (cin, cout, input, kernel, stride, dilation, pad_before, pad_after))) in
            all.enumerate()
        {
            let geometry = Geometry {
                channels: cin,
                input,
                kernel,
                stride,
                dilation,
                pad_before,
                pad_after,
            };
            let [oh, ow] = geometry.output().unwrap();
            let taps = kernel[0] * kernel[1];
            let mut weights = values(cout * cin * taps, case as u32);
            if sparse {
                // FactorizedReduce's form: the first half of the output
                // channels use tap 0 only, the rest the last tap only.
                for (i, w) in weights.iter_mut().enumerate() {
                    let (o, t) = (i / (cin * taps), i % taps);
                    if t != if o < cout / 2 { 0 } else { taps - 1 } {
                        *w = 0.0;
                    }
                }
            }
            let op = DenseConv {
                relu: case % 2 == 1,
                ..DenseConv::new(
                    geometry,
                    cout,
                    true,
                    weights,
                    values(cout, 50 + case as u32),
                )
            };
            assert_eq!(op.blocks.len(), if sparse { 2 } else { 1 }, "case {case}");
            let n = 2;
            let x = values(n * cin * input[0] * input[1], 99 + case as u32);
            let mut out = vec![f32::NAN; n * cout * oh * ow];
            op.run(n, &x, &mut out);
            let mut i = 0;
            for b in 0..n {
                for co in 0..cout {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let mut want = op.bias[co];
                            for ci in 0..cin {
                                for ky in 0..kernel[0] {
                                    for kx in 0..kernel[1] {
                                        let y = (oy * stride[0] + ky * dilation[0]) as isize
                                            - pad_before[0] as isize;
                                        let xx = (ox * stride[1] + kx * dilation[1]) as isize
                                            - pad_before[1] as isize;
                                        if (0..input[0] as isize).contains(&y)
                                            && (0..input[1] as isize).contains(&xx)
                                        {
                                            let w = op.weights[((co * cin + ci) * kernel[0] + ky)
                                                * kernel[1]
                                                + kx];
                                            let v = x[((b * cin + ci) * input[0] + y as usize)
                                                * input[1]
                                                + xx as usize];
                                            want += w * if op.relu { v.max(0.0) } else { v };
                                        }
                                    }
                                }
                            }
                            let got = out[i];
                            assert!(
                                (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                                "case {case} [{i}]: {got} vs {want}"
                            );
                            i += 1;
                        }
                    }
                }
            }
        }
    }
}
