//! 1×1 convolution kernels (stride 1, no padding, no groups) on contiguous
//! NCHW `f32` slices: forward and both backward passes.
//!
//! A 1×1 convolution of one image is the matrix product of the `[C_out,
//! C_in]` weight with the `[C_in, H·W]` image. burn-flex computes its weight
//! gradient as a convolution whose kernel is the whole image (after
//! transposing batch and channels) and its input gradient as a transposed
//! convolution; here each pass is one register-blocked GEMM per image (the
//! `gemm` crate, the same one burn-flex uses for its matmuls), with images
//! spread over the rayon pool. A row-by-row `axpy` formulation, tried first,
//! was memory-bound: every multiply-add loaded and stored a row element.

use rayon::prelude::*;

/// The shape of one pointwise convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PwGeometry {
    pub batch: usize,
    pub c_in: usize,
    pub c_out: usize,
    /// `H · W`: the pixels of one channel.
    pub pixels: usize,
}

/// A read-only row-major (or transposed) matrix view for [`matmul`].
#[derive(Clone, Copy)]
struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    /// Distance between rows and between columns, in elements.
    row_stride: usize,
    col_stride: usize,
}

impl<'a> MatRef<'a> {
    fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of the row-major `cols × rows` matrix in `data`.
    fn transposed(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            row_stride: 1,
            col_stride: rows,
        }
    }

    fn covers_its_data(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride
                < self.data.len()
    }
}

/// `dst = a · b` (or `dst += a · b` with `accumulate`), `dst` row-major.
fn matmul(dst: &mut [f32], a: MatRef<'_>, b: MatRef<'_>, accumulate: bool, threads: bool) {
    assert_eq!(a.cols, b.rows, "matmul inner dimensions");
    assert_eq!(dst.len(), a.rows * b.cols, "matmul destination");
    assert!(
        a.covers_its_data() && b.covers_its_data(),
        "matmul operand bounds"
    );
    let parallelism = if threads {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above keep every index that the strides and sizes
    // describe inside `dst`, `a.data` and `b.data`; `dst` is borrowed
    // mutably, so it cannot alias the operands.
    unsafe {
        gemm::gemm(
            a.rows,
            b.cols,
            a.cols,
            dst.as_mut_ptr(),
            1,
            b.cols as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Runs `per_image(n, out_n)` for every image, in parallel over images when
/// there are enough of them to keep the pool busy, otherwise one image at a
/// time with the parallelism inside the GEMM (`true` passed on).
fn for_each_image(
    out: &mut [f32],
    per_image_len: usize,
    per_image: impl Fn(usize, &mut [f32], bool) + Sync,
) {
    let images = out.len() / per_image_len.max(1);
    if images >= rayon::current_num_threads() {
        out.par_chunks_mut(per_image_len)
            .enumerate()
            .for_each(|(n, o)| per_image(n, o, false));
    } else {
        for (n, o) in out.chunks_mut(per_image_len).enumerate() {
            per_image(n, o, true);
        }
    }
}

/// `y[n] = w · x[n]` with `x[n]` as a `[c_in, pixels]` matrix.
///
/// # Shapes
/// - `x`: `[batch, c_in, H, W]`, `w`: `[c_out, c_in, 1, 1]`
/// - returns `[batch, c_out, H, W]`
pub fn forward(g: &PwGeometry, x: &[f32], w: &[f32]) -> Vec<f32> {
    let p = g.pixels;
    assert_eq!(x.len(), g.batch * g.c_in * p, "pointwise input");
    assert_eq!(w.len(), g.c_out * g.c_in, "pointwise weight");
    let mut y = vec![0.0f32; g.batch * g.c_out * p];
    let weight = MatRef::row_major(w, g.c_out, g.c_in);
    for_each_image(&mut y, g.c_out * p, |n, yn, threads| {
        let xn = MatRef::row_major(&x[n * g.c_in * p..][..g.c_in * p], g.c_in, p);
        matmul(yn, weight, xn, false, threads);
    });
    y
}

/// `gx[n] = wᵀ · gy[n]`.
///
/// # Shapes
/// - `gy`: `[batch, c_out, H, W]`, `w`: `[c_out, c_in, 1, 1]`
/// - returns `[batch, c_in, H, W]`
pub fn backward_input(g: &PwGeometry, gy: &[f32], w: &[f32]) -> Vec<f32> {
    let p = g.pixels;
    assert_eq!(gy.len(), g.batch * g.c_out * p, "pointwise output grad");
    assert_eq!(w.len(), g.c_out * g.c_in, "pointwise weight");
    let mut gx = vec![0.0f32; g.batch * g.c_in * p];
    let weight_t = MatRef::transposed(w, g.c_in, g.c_out);
    for_each_image(&mut gx, g.c_in * p, |n, gxn, threads| {
        let gyn = MatRef::row_major(&gy[n * g.c_out * p..][..g.c_out * p], g.c_out, p);
        matmul(gxn, weight_t, gyn, false, threads);
    });
    gx
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
        // One image per GEMM with threads inside it, and several images.
        for batch in [1, 3, 9] {
            check_against_the_definition(&PwGeometry {
                batch,
                c_in: 5,
                c_out: 4,
                pixels: 13,
            });
        }
        check_against_the_definition(&PwGeometry {
            batch: 6,
            c_in: 33,
            c_out: 17,
            pixels: 70,
        });
    }

    fn check_against_the_definition(g: &PwGeometry) {
        let g = *g;
        let p = g.pixels;
        let x = values(g.batch * g.c_in * p, 1.0);
        let w = values(g.c_out * g.c_in, 2.0);
        let gy = values(g.batch * g.c_out * p, 3.0);
        // A sum of k f32 products is off by at most about k·2⁻²⁴ times the
        // sum of the products' magnitudes, whatever the order of the sum;
        // a missing or doubled term moves it by far more than 1e-5 of that.
        let close = |a: f32, terms: &mut dyn Iterator<Item = f64>| {
            let (sum, scale) = terms.fold((0.0, 0.0), |(s, m), t| (s + t, m + t.abs()));
            (f64::from(a) - sum).abs() <= 1e-5 * scale + 1e-7
        };

        let y = forward(&g, &x, &w);
        let gx = backward_input(&g, &gy, &w);
        for n in 0..g.batch {
            for o in 0..g.c_out {
                for q in 0..p {
                    let mut want = (0..g.c_in).map(|i| {
                        f64::from(w[o * g.c_in + i]) * f64::from(x[(n * g.c_in + i) * p + q])
                    });
                    assert!(
                        close(y[(n * g.c_out + o) * p + q], &mut want),
                        "y {n} {o} {q} ({g:?})"
                    );
                }
            }
            for i in 0..g.c_in {
                for q in 0..p {
                    let mut want = (0..g.c_out).map(|o| {
                        f64::from(w[o * g.c_in + i]) * f64::from(gy[(n * g.c_out + o) * p + q])
                    });
                    assert!(
                        close(gx[(n * g.c_in + i) * p + q], &mut want),
                        "gx {n} {i} {q} ({g:?})"
                    );
                }
            }
        }
    }
}
