//! Direct 1×1 convolution kernels (stride 1, no padding, no groups) on
//! contiguous NCHW `f32` slices: forward and both backward passes.
//!
//! With the DARTS channel counts (8–64) a 1×1 convolution is a product of a
//! tiny `[C_out, C_in]` matrix with `[C_in, H·W]` images. burn-flex computes
//! its weight gradient as a convolution whose kernel is the whole image
//! (after transposing batch and channels) and its input gradient as a
//! transposed convolution; here each is a few hundred row-sized `axpy`/`dot`
//! loops, parallel over (image, channel) rows.

use rayon::prelude::*;

use super::vector::{axpy, dot};

/// The shape of one pointwise convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PwGeometry {
    pub batch: usize,
    pub c_in: usize,
    pub c_out: usize,
    /// `H · W`: the pixels of one channel.
    pub pixels: usize,
}

/// `y[n, o] = Σ_i w[o, i] · x[n, i]` (rows of `pixels` values).
///
/// # Shapes
/// - `x`: `[batch, c_in, H, W]`, `w`: `[c_out, c_in, 1, 1]`
/// - returns `[batch, c_out, H, W]`
pub fn forward(g: &PwGeometry, x: &[f32], w: &[f32]) -> Vec<f32> {
    let p = g.pixels;
    assert_eq!(x.len(), g.batch * g.c_in * p, "pointwise input");
    assert_eq!(w.len(), g.c_out * g.c_in, "pointwise weight");
    let mut y = vec![0.0f32; g.batch * g.c_out * p];
    y.par_chunks_mut(p).enumerate().for_each(|(row, yr)| {
        let (n, o) = (row / g.c_out, row % g.c_out);
        let xn = &x[n * g.c_in * p..][..g.c_in * p];
        for (i, xr) in xn.chunks_exact(p).enumerate() {
            axpy(w[o * g.c_in + i], xr, yr);
        }
    });
    y
}

/// `gx[n, i] = Σ_o w[o, i] · gy[n, o]`.
///
/// # Shapes
/// - `gy`: `[batch, c_out, H, W]`, `w`: `[c_out, c_in, 1, 1]`
/// - returns `[batch, c_in, H, W]`
pub fn backward_input(g: &PwGeometry, gy: &[f32], w: &[f32]) -> Vec<f32> {
    let p = g.pixels;
    assert_eq!(gy.len(), g.batch * g.c_out * p, "pointwise output grad");
    assert_eq!(w.len(), g.c_out * g.c_in, "pointwise weight");
    let mut gx = vec![0.0f32; g.batch * g.c_in * p];
    gx.par_chunks_mut(p).enumerate().for_each(|(row, xr)| {
        let (n, i) = (row / g.c_in, row % g.c_in);
        let gyn = &gy[n * g.c_out * p..][..g.c_out * p];
        for (o, gr) in gyn.chunks_exact(p).enumerate() {
            axpy(w[o * g.c_in + i], gr, xr);
        }
    });
    gx
}

/// `gw[o, i] = Σ_n ⟨gy[n, o], x[n, i]⟩`.
///
/// # Shapes
/// - `x`: `[batch, c_in, H, W]`, `gy`: `[batch, c_out, H, W]`
/// - returns `[c_out, c_in, 1, 1]`
pub fn backward_weight(g: &PwGeometry, x: &[f32], gy: &[f32]) -> Vec<f32> {
    let p = g.pixels;
    assert_eq!(x.len(), g.batch * g.c_in * p, "pointwise input");
    assert_eq!(gy.len(), g.batch * g.c_out * p, "pointwise output grad");
    // Partial sums per (image, output channel), reduced over images below.
    let mut partial = vec![0.0f32; g.batch * g.c_out * g.c_in];
    partial
        .par_chunks_mut(g.c_in)
        .enumerate()
        .for_each(|(row, acc)| {
            let n = row / g.c_out;
            let gr = &gy[row * p..][..p];
            let xn = &x[n * g.c_in * p..][..g.c_in * p];
            for (a, xr) in acc.iter_mut().zip(xn.chunks_exact(p)) {
                *a = dot(gr, xr);
            }
        });
    let mut gw = vec![0.0f32; g.c_out * g.c_in];
    for image in partial.chunks_exact(g.c_out * g.c_in) {
        for (w, v) in gw.iter_mut().zip(image) {
            *w += v;
        }
    }
    gw
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: f32) -> Vec<f32> {
        (0..len)
            .map(|i| ((i as f32 + seed) * 0.731).sin())
            .collect()
    }

    #[test]
    fn pointwise_passes_match_the_definition() {
        let g = PwGeometry {
            batch: 3,
            c_in: 5,
            c_out: 4,
            pixels: 13,
        };
        let p = g.pixels;
        let x = values(g.batch * g.c_in * p, 1.0);
        let w = values(g.c_out * g.c_in, 2.0);
        let gy = values(g.batch * g.c_out * p, 3.0);
        let close = |a: f32, b: f64| (f64::from(a) - b).abs() < 1e-5 * (1.0 + b.abs());

        let y = forward(&g, &x, &w);
        let gx = backward_input(&g, &gy, &w);
        let gw = backward_weight(&g, &x, &gy);
        for n in 0..g.batch {
            for o in 0..g.c_out {
                for q in 0..p {
                    let want: f64 = (0..g.c_in)
                        .map(|i| {
                            f64::from(w[o * g.c_in + i]) * f64::from(x[(n * g.c_in + i) * p + q])
                        })
                        .sum();
                    assert!(close(y[(n * g.c_out + o) * p + q], want), "y {n} {o} {q}");
                }
            }
            for i in 0..g.c_in {
                for q in 0..p {
                    let want: f64 = (0..g.c_out)
                        .map(|o| {
                            f64::from(w[o * g.c_in + i]) * f64::from(gy[(n * g.c_out + o) * p + q])
                        })
                        .sum();
                    assert!(close(gx[(n * g.c_in + i) * p + q], want), "gx {n} {i} {q}");
                }
            }
        }
        for o in 0..g.c_out {
            for i in 0..g.c_in {
                let want: f64 = (0..g.batch)
                    .flat_map(|n| (0..p).map(move |q| (n, q)))
                    .map(|(n, q)| {
                        f64::from(gy[(n * g.c_out + o) * p + q])
                            * f64::from(x[(n * g.c_in + i) * p + q])
                    })
                    .sum();
                assert!(close(gw[o * g.c_in + i], want), "gw {o} {i}");
            }
        }
    }
}
