//! Direct depthwise 2-D convolution kernels on contiguous NCHW `f32` slices:
//! the forward pass and both backward passes (input and weight gradients).
//!
//! burn-flex runs a depthwise convolution as a grouped im2col + GEMM and its
//! input gradient as a grouped transposed convolution, one tiny GEMM per
//! channel; with 8–16 channels of 3×3 taps those GEMMs are mostly overhead.
//! Here every (image, channel) plane is an independent job and each kernel
//! tap one long multiply-add over a padded copy of the plane (the layout of
//! [`Wide`]), which the compiler vectorizes.

use rayon::prelude::*;

use super::vector::axpy;
use super::wide::Wide;

/// The shape of one depthwise convolution: a square kernel with symmetric
/// zero padding, one filter per channel (`groups = channels`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DwGeometry {
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub dilation: usize,
}

impl DwGeometry {
    /// Output size `(H_out, W_out)`, PyTorch's formula.
    pub fn out_hw(&self) -> (usize, usize) {
        let span = self.dilation * (self.kernel - 1) + 1;
        let out = |len: usize| (len + 2 * self.padding - span) / self.stride + 1;
        (out(self.height), out(self.width))
    }

    fn taps(&self) -> usize {
        self.kernel * self.kernel
    }

    fn wide(&self) -> Wide {
        Wide::new(
            self.height,
            self.width,
            self.kernel,
            self.stride,
            self.padding,
            self.dilation,
        )
    }
}

/// `y[n, c] = Σ_taps w[c, kh, kw] · x[n, c, oy·s + kh·d − p, ox·s + kw·d − p]`.
///
/// # Shapes
/// - `x`: `[batch, channels, height, width]`
/// - `w`: `[channels, 1, kernel, kernel]`
/// - returns `[batch, channels, H_out, W_out]`
pub fn forward(g: &DwGeometry, x: &[f32], w: &[f32]) -> Vec<f32> {
    let (oh, ow) = g.out_hw();
    let plane_in = g.height * g.width;
    assert_eq!(x.len(), g.batch * g.channels * plane_in, "depthwise input");
    assert_eq!(w.len(), g.channels * g.taps(), "depthwise weight");
    let mut y = vec![0.0f32; g.batch * g.channels * oh * ow];
    let wide = g.wide();
    y.par_chunks_mut(oh * ow).enumerate().for_each_init(
        || (Vec::new(), Vec::new()),
        |(padded, out_wide), (plane, out)| {
            let xin = &x[plane * plane_in..][..plane_in];
            let wk = &w[(plane % g.channels) * g.taps()..][..g.taps()];
            wide.pad(xin, 0.0, padded);
            out_wide.clear();
            out_wide.resize(wide.len, 0.0);
            for (&wv, &off) in wk.iter().zip(&wide.offsets) {
                axpy(wv, &padded[off..], out_wide);
            }
            wide.gather(out_wide, out);
        },
    );
    y
}

/// The gradient with respect to the input: every output gradient is
/// scattered back, scaled by its tap's weight, onto the input pixel it read.
///
/// # Shapes
/// - `gy`: `[batch, channels, H_out, W_out]`
/// - `w`: `[channels, 1, kernel, kernel]`
/// - returns `[batch, channels, height, width]`
pub fn backward_input(g: &DwGeometry, gy: &[f32], w: &[f32]) -> Vec<f32> {
    let (oh, ow) = g.out_hw();
    let plane_in = g.height * g.width;
    assert_eq!(
        gy.len(),
        g.batch * g.channels * oh * ow,
        "depthwise output grad"
    );
    assert_eq!(w.len(), g.channels * g.taps(), "depthwise weight");
    let mut gx = vec![0.0f32; g.batch * g.channels * plane_in];
    let wide = g.wide();
    gx.par_chunks_mut(plane_in).enumerate().for_each_init(
        || (Vec::new(), Vec::new()),
        |(gx_padded, gy_wide), (plane, gxp)| {
            let gyp = &gy[plane * oh * ow..][..oh * ow];
            let wk = &w[(plane % g.channels) * g.taps()..][..g.taps()];
            // Zero wherever no output was sampled, so the flat scatter adds
            // nothing from there.
            wide.scatter(gyp, gy_wide);
            gx_padded.clear();
            gx_padded.resize(wide.padded_len(), 0.0);
            for (&wv, &off) in wk.iter().zip(&wide.offsets) {
                axpy(wv, gy_wide, &mut gx_padded[off..]);
            }
            wide.crop(gx_padded, gxp);
        },
    );
    gx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, one output at a time, in f64.
    fn naive_forward(g: &DwGeometry, x: &[f32], w: &[f32]) -> Vec<f64> {
        let (oh, ow) = g.out_hw();
        let mut y = vec![0.0f64; g.batch * g.channels * oh * ow];
        for n in 0..g.batch {
            for c in 0..g.channels {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut sum = 0.0f64;
                        for kh in 0..g.kernel {
                            for kw in 0..g.kernel {
                                let iy =
                                    (oy * g.stride + kh * g.dilation) as isize - g.padding as isize;
                                let ix =
                                    (ox * g.stride + kw * g.dilation) as isize - g.padding as isize;
                                if iy < 0
                                    || ix < 0
                                    || iy >= g.height as isize
                                    || ix >= g.width as isize
                                {
                                    continue;
                                }
                                let xi = x[((n * g.channels + c) * g.height + iy as usize)
                                    * g.width
                                    + ix as usize];
                                let wi = w[(c * g.kernel + kh) * g.kernel + kw];
                                sum += f64::from(xi) * f64::from(wi);
                            }
                        }
                        y[((n * g.channels + c) * oh + oy) * ow + ox] = sum;
                    }
                }
            }
        }
        y
    }

    fn pseudo_random(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn geometries() -> Vec<DwGeometry> {
        let mut all = Vec::new();
        // The DARTS ops: sep 3/5 (dilation 1), dil 3/5 (dilation 2), stride 1
        // and 2, on even and odd sizes.
        for (kernel, dilation) in [(3, 1), (5, 1), (3, 2), (5, 2)] {
            for stride in [1, 2] {
                for (height, width) in [(8, 8), (7, 7), (5, 9)] {
                    all.push(DwGeometry {
                        batch: 2,
                        channels: 3,
                        height,
                        width,
                        kernel,
                        stride,
                        padding: dilation * (kernel - 1) / 2,
                        dilation,
                    });
                }
            }
        }
        all
    }

    fn assert_close(what: &str, g: &DwGeometry, got: &[f32], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{what} length, {g:?}");
        for (i, (a, b)) in got.iter().zip(want).enumerate() {
            assert!(
                (f64::from(*a) - b).abs() <= 1e-5 * (1.0 + b.abs()),
                "{what}[{i}] = {a}, want {b}, {g:?}"
            );
        }
    }

    #[test]
    fn forward_matches_the_definition() {
        for g in geometries() {
            let x = pseudo_random(g.batch * g.channels * g.height * g.width, 1);
            let w = pseudo_random(g.channels * g.taps(), 2);
            assert_close("y", &g, &forward(&g, &x, &w), &naive_forward(&g, &x, &w));
        }
    }

    /// The forward pass is linear in x, so its gradient is the forward's
    /// Jacobian transposed: ⟨gy, J e_i⟩ for every basis vector e_i.
    #[test]
    fn input_gradient_is_the_transposed_forward() {
        for g in geometries() {
            let (oh, ow) = g.out_hw();
            let x = pseudo_random(g.batch * g.channels * g.height * g.width, 3);
            let w = pseudo_random(g.channels * g.taps(), 4);
            let gy = pseudo_random(g.batch * g.channels * oh * ow, 5);
            let dot = |y: &[f64]| y.iter().zip(&gy).map(|(a, b)| a * f64::from(*b)).sum();

            let want_gx: Vec<f64> = (0..x.len())
                .map(|i| {
                    let mut e = vec![0.0f32; x.len()];
                    e[i] = 1.0;
                    dot(&naive_forward(&g, &e, &w))
                })
                .collect();
            assert_close("gx", &g, &backward_input(&g, &gy, &w), &want_gx);
        }
    }
}
