//! Training-mode batch normalization (batch statistics) on contiguous NCHW
//! `f32` slices, forward and backward.
//!
//! burn computes the per-channel statistics by swapping the batch and
//! channel axes and reshaping — a full copy of the activation for the mean,
//! another for the variance, more in the backward pass — then normalizes
//! with broadcast element-wise ops. Here each channel is one job that reads
//! its `N` planes in place: two passes for the statistics, one to write the
//! output; the backward pass is two passes as well.

use rayon::prelude::*;

use super::vector::dot;

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
/// biased variance of each channel (accumulated in f64).
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
    let m = g.samples() as f64;
    let stats: Vec<(f32, f32)> = (0..g.channels)
        .into_par_iter()
        .map(|c| {
            let sum: f64 = g.planes(c).map(|r| plane_sum(&x[r])).sum();
            let mean = sum / m;
            let sq: f64 = g
                .planes(c)
                .map(|r| {
                    x[r].iter()
                        .map(|&v| (f64::from(v) - mean).powi(2))
                        .sum::<f64>()
                })
                .sum();
            (mean as f32, (sq / m) as f32)
        })
        .collect();
    let mut y = vec![0.0f32; x.len()];
    y.par_chunks_mut(g.pixels)
        .zip(x.par_chunks(g.pixels))
        .enumerate()
        .for_each(|(plane, (yp, xp))| {
            let c = plane % g.channels;
            let (mean, var) = stats[c];
            let scale = gamma[c] / (f64::from(var) + epsilon).sqrt() as f32;
            let shift = beta[c] - mean * scale;
            for (o, &v) in yp.iter_mut().zip(xp) {
                *o = v * scale + shift;
            }
        });
    let (mean, variance) = stats.into_iter().unzip();
    (y, BnStats { mean, variance })
}

/// A plane's sum in f64 (eight f32 lanes per block, blocks summed in f64).
fn plane_sum(p: &[f32]) -> f64 {
    p.chunks(256)
        .map(|block| f64::from(dot(block, &[1.0; 256])))
        .sum()
}

/// The gradients `(dx, dγ, dβ)` of [`forward`] given the output gradient:
/// `dβ_c = Σ dy`, `dγ_c = Σ dy·x̂`, `dx = γ_c/σ_c · (dy − dβ_c/M − x̂·dγ_c/M)`
/// with `x̂ = (x − mean_c)/σ_c` and `M` the samples per channel.
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
    let m = g.samples() as f64;
    let inv_std: Vec<f32> = stats
        .variance
        .iter()
        .map(|&v| (1.0 / (f64::from(v) + epsilon).sqrt()) as f32)
        .collect();
    // Per channel: Σ dy and Σ dy·(x − mean) (then dγ = the latter / σ).
    let sums: Vec<(f64, f64)> = (0..g.channels)
        .into_par_iter()
        .map(|c| {
            let mean = stats.mean[c];
            g.planes(c).fold((0.0, 0.0), |(sg, sgx), r| {
                let (gp, xp) = (&gy[r.clone()], &x[r]);
                let s1 = plane_sum(gp);
                let s2: f64 = gp
                    .iter()
                    .zip(xp)
                    .map(|(&d, &v)| f64::from(d) * (f64::from(v) - f64::from(mean)))
                    .sum();
                (sg + s1, sgx + s2)
            })
        })
        .collect();
    let dbeta: Vec<f32> = sums.iter().map(|&(s, _)| s as f32).collect();
    let dgamma: Vec<f32> = sums
        .iter()
        .zip(&inv_std)
        .map(|(&(_, sx), &is)| (sx * f64::from(is)) as f32)
        .collect();
    let mut gx = vec![0.0f32; x.len()];
    gx.par_chunks_mut(g.pixels)
        .enumerate()
        .for_each(|(plane, gxp)| {
            let c = plane % g.channels;
            let at = plane * g.pixels;
            let (gp, xp) = (&gy[at..at + g.pixels], &x[at..at + g.pixels]);
            let is = inv_std[c];
            let scale = gamma[c] * is;
            let mean_dy = (f64::from(dbeta[c]) / m) as f32;
            // x̂·dγ/M = (x − mean)·σ⁻¹·dγ/M
            let proj = (f64::from(dgamma[c]) * f64::from(is) / m) as f32;
            let mean = stats.mean[c];
            for ((o, &d), &v) in gxp.iter_mut().zip(gp).zip(xp) {
                *o = scale * (d - mean_dy - (v - mean) * proj);
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
