//! Training-mode batch normalization (batch statistics) on contiguous NCHW
//! `f32` slices, forward and backward, computing burn's values to the bit.
//!
//! burn's `batch_norm_train` (and its backward) computes the per-channel
//! statistics by swapping the batch and channel axes and reshaping — a full
//! copy of the activation for the mean, another for the variance, more in
//! the backward pass, one channel after another — then normalizes with
//! broadcast element-wise ops. Here every channel is one parallel job, and
//! the arithmetic is burn's, operation for operation: the same sums (burn-
//! flex's own SIMD row sum over the channel's values in burn's order, image
//! after image), divisions and products, so the results are the same
//! floats (tested against burn in models/tests/kernels.rs).

use burn::backend::flex::simd::kernels::sum_rows_f32;
use rayon::prelude::*;

/// The shape of one batch normalization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BnGeometry {
    pub batch: usize,
    pub channels: usize,
    /// `H · W`.
    pub pixels: usize,
}

impl BnGeometry {
    fn samples(&self) -> usize {
        self.batch * self.pixels
    }

    /// The planes of channel `c`: `(offset, len)` for each image.
    fn planes(&self, c: usize) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        (0..self.batch).map(move |n| {
            let at = (n * self.channels + c) * self.pixels;
            at..at + self.pixels
        })
    }

    /// The values of channel `c`, image after image: burn's row of the
    /// channel in its `[channels, batch · H · W]` view.
    fn row(&self, c: usize, t: &[f32]) -> Vec<f32> {
        let mut row = Vec::with_capacity(self.samples());
        for r in self.planes(c) {
            row.extend_from_slice(&t[r]);
        }
        row
    }

    /// `(channel, plane)` for every plane of an NCHW tensor, in parallel.
    fn for_each_plane(&self, out: &mut [f32], f: impl Fn(usize, usize, &mut [f32]) + Sync) {
        out.par_chunks_mut(self.pixels)
            .enumerate()
            .for_each(|(plane, chunk)| f(plane % self.channels, plane * self.pixels, chunk));
    }
}

/// burn-flex's sum of a row (`sum_dim` over a contiguous last axis).
fn row_sum(row: &[f32]) -> f32 {
    let mut sum = [0.0f32];
    sum_rows_f32(row, &mut sum, 1, row.len());
    sum[0]
}

/// The statistics of one forward pass, kept for the backward pass.
#[derive(Clone, Debug)]
pub struct BnStats {
    /// Batch mean per channel.
    pub mean: Vec<f32>,
    /// Biased batch variance per channel.
    pub variance: Vec<f32>,
}

/// `y = (x − mean_c) / sqrt(var_c + ε) · γ_c + β_c` with the batch mean and
/// biased variance of each channel.
///
/// # Shapes
/// - `x`: `[batch, channels, H, W]`; `gamma`, `beta`: `[channels]`
/// - returns `y` like `x`, and the statistics
pub fn forward(
    g: &BnGeometry,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    epsilon: f64,
) -> (Vec<f32>, BnStats) {
    assert_eq!(x.len(), g.batch * g.channels * g.pixels, "batch norm input");
    assert_eq!(gamma.len(), g.channels, "batch norm gamma");
    assert_eq!(beta.len(), g.channels, "batch norm beta");
    let m = g.samples() as f32;
    let (mean, variance): (Vec<f32>, Vec<f32>) = (0..g.channels)
        .into_par_iter()
        .map(|c| {
            let row = g.row(c, x);
            let mean = row_sum(&row) / m;
            let squares: Vec<f32> = row
                .iter()
                .map(|&v| {
                    let centered = v - mean;
                    centered * centered
                })
                .collect();
            (mean, row_sum(&squares) / m)
        })
        .unzip();
    let std: Vec<f32> = variance
        .iter()
        .map(|&v| (v + epsilon as f32).sqrt())
        .collect();
    let mut y = vec![0.0f32; x.len()];
    g.for_each_plane(&mut y, |c, at, yp| {
        let (mean, std, gamma, beta) = (mean[c], std[c], gamma[c], beta[c]);
        for (o, &v) in yp.iter_mut().zip(&x[at..]) {
            *o = (v - mean) / std * gamma + beta;
        }
    });
    (y, BnStats { mean, variance })
}

/// The gradients `(dx, dγ, dβ)` of [`forward`] given the output gradient:
/// `dβ_c = Σ dy`, `dγ_c = Σ dy·x̂`, `dx = γ_c/σ_c · (dy − dβ_c/M − x̂·dγ_c/M)`
/// with `x̂ = (x − mean_c)/σ_c` and `M` the samples per channel, evaluated
/// as burn's `batch_norm_train_backward` evaluates it.
///
/// # Shapes
/// - `x`, `gy`: `[batch, channels, H, W]`; `gamma`: `[channels]`
/// - returns `dx` like `x`, `dγ` and `dβ` of `[channels]`
pub fn backward(
    g: &BnGeometry,
    x: &[f32],
    gy: &[f32],
    gamma: &[f32],
    stats: &BnStats,
    epsilon: f64,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    assert_eq!(x.len(), g.batch * g.channels * g.pixels, "batch norm input");
    assert_eq!(gy.len(), x.len(), "batch norm output grad");
    let m = g.samples() as f32;
    let inv_std: Vec<f32> = stats
        .variance
        .iter()
        .map(|&v| 1.0 / (v + epsilon as f32).sqrt())
        .collect();
    let (dbeta, dgamma): (Vec<f32>, Vec<f32>) = (0..g.channels)
        .into_par_iter()
        .map(|c| {
            let (mean, inv_std) = (stats.mean[c], inv_std[c]);
            let dy = g.row(c, gy);
            let dy_x: Vec<f32> = dy
                .iter()
                .zip(g.row(c, x))
                .map(|(&d, v)| d * ((v - mean) * inv_std))
                .collect();
            (row_sum(&dy), row_sum(&dy_x))
        })
        .unzip();
    let mut gx = vec![0.0f32; x.len()];
    g.for_each_plane(&mut gx, |c, at, gxp| {
        let (mean, inv_std) = (stats.mean[c], inv_std[c]);
        let (mean_dy, mean_dy_x) = (dbeta[c] / m, dgamma[c] / m);
        let scale = gamma[c] * inv_std;
        for ((o, &d), &v) in gxp.iter_mut().zip(&gy[at..]).zip(&x[at..]) {
            *o = scale * ((d - mean_dy) - (v - mean) * inv_std * mean_dy_x);
        }
    });
    (gx, dgamma, dbeta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradients_match_finite_differences() {
        let g = BnGeometry {
            batch: 3,
            channels: 2,
            pixels: 5,
        };
        let len = g.batch * g.channels * g.pixels;
        let x: Vec<f32> = (0..len).map(|i| ((i as f32) * 0.913).sin() * 2.0).collect();
        let gy: Vec<f32> = (0..len).map(|i| ((i as f32) * 0.37).cos()).collect();
        let gamma = [1.3f32, -0.7];
        let beta = [0.2f32, 0.5];
        let eps = 1e-5;
        // L = Σ gy·y, so dL/dθ is what backward returns for this gy.
        let loss = |x: &[f32], gamma: &[f32], beta: &[f32]| -> f64 {
            let (y, _) = forward(&g, x, gamma, beta, eps);
            y.iter()
                .zip(&gy)
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum()
        };
        let (_, stats) = forward(&g, &x, &gamma, &beta, eps);
        let (gx, dgamma, dbeta) = backward(&g, &x, &gy, &gamma, &stats, eps);
        let h = 1e-2f32;
        let fd = |plus: f64, minus: f64| (plus - minus) / (2.0 * f64::from(h));
        for i in 0..len {
            let (mut a, mut b) = (x.clone(), x.clone());
            a[i] += h;
            b[i] -= h;
            let want = fd(loss(&a, &gamma, &beta), loss(&b, &gamma, &beta));
            assert!(
                (f64::from(gx[i]) - want).abs() < 2e-2,
                "dx[{i}] {} vs {want}",
                gx[i]
            );
        }
        for c in 0..2 {
            let (mut a, mut b) = (gamma, gamma);
            a[c] += h;
            b[c] -= h;
            let want = fd(loss(&x, &a, &beta), loss(&x, &b, &beta));
            assert!((f64::from(dgamma[c]) - want).abs() < 2e-2, "dγ[{c}]");
            let (mut a, mut b) = (beta, beta);
            a[c] += h;
            b[c] -= h;
            let want = fd(loss(&x, &gamma, &a), loss(&x, &gamma, &b));
            assert!((f64::from(dbeta[c]) - want).abs() < 2e-2, "dβ[{c}]");
        }
        // The statistics are the batch's: mean and biased variance.
        let c0: Vec<f64> = g
            .planes(0)
            .flat_map(|r| x[r].iter().map(|&v| f64::from(v)).collect::<Vec<_>>())
            .collect();
        let mean = c0.iter().sum::<f64>() / c0.len() as f64;
        let var = c0.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / c0.len() as f64;
        assert!((f64::from(stats.mean[0]) - mean).abs() < 1e-6);
        assert!((f64::from(stats.variance[0]) - var).abs() < 1e-5);
    }
}
