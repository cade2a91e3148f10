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
use super::{ConvParts, Geometry, ImageOp, conv_parts, image_op};

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
}

impl DenseConv {
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

#[inline(always)]
fn run_body(
    op: &DenseConv,
    input: &[f32],
    output: &mut [f32],
    madd: impl Fn(f32, f32, f32) -> f32 + Copy,
) {
    let g = &op.geometry;
    let [oh, ow] = g.output().expect("checked when the op was made");
    let taps = g.kernel[0] * g.kernel[1];
    let matrix = Matrix {
        weights: &op.weights,
        bias: &op.bias,
        rows: op.out_channels,
        cols: g.channels * taps,
    };
    let mut patches = vec![0.0f32; g.channels * taps * oh * ow];
    let images = input
        .chunks_exact(g.channels * g.input[0] * g.input[1])
        .zip(output.chunks_exact_mut(op.out_channels * oh * ow));
    for (x, out) in images {
        gather(g, x, &mut patches);
        matrix.apply(oh * ow, &patches, out, madd);
    }
}

/// `patches[(c·kh + ky)·kw + kx, oy·ow + ox]` = the input at channel `c`,
/// row `oy·sh + ky·dh − ph`, column `ox·sw + kx·dw − pw`, or 0 outside.
#[inline(always)]
fn gather(g: &Geometry, x: &[f32], patches: &mut [f32]) {
    let [oh, ow] = g.output().expect("checked when the op was made");
    let [ih, iw] = g.input;
    let (sh, sw) = (g.stride[0], g.stride[1]);
    let mut rows = patches.chunks_exact_mut(oh * ow);
    for plane in x.chunks_exact(ih * iw) {
        for ky in 0..g.kernel[0] {
            for kx in 0..g.kernel[1] {
                let row = rows.next().expect("one row per channel and tap");
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
    }
}

impl ImageOp for DenseConv {
    fn name(&self) -> &'static str {
        "EdgenasDenseConv"
    }

    fn describe(&self) -> String {
        format!("{:?} → {} channels", self.geometry, self.out_channels)
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
        let [c, oh, ow] = self.output_chw().unwrap_or_default();
        c * oh * ow * self.geometry.channels * self.geometry.taps()
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
    Ok(Some(DenseConv {
        geometry,
        out_channels,
        batched,
        weights: Arc::new(weights),
        bias: Arc::new(bias),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::tests::values;

    /// The stem (3×3, padding 1), FactorizedReduce's 2×2 stride-2 conv
    /// with asymmetric padding, 5×5 and 1×7 convs, dilation and stride 3,
    /// against the definition.
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
        for (case, (cin, cout, input, kernel, stride, dilation, pad_before, pad_after)) in
            cases.into_iter().enumerate()
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
            let op = DenseConv {
                geometry,
                out_channels: cout,
                batched: true,
                weights: Arc::new(values(cout * cin * taps, case as u32)),
                bias: Arc::new(values(cout, 50 + case as u32)),
            };
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
                                            want += w * v;
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
