//! Direct square max and average pooling (symmetric zero padding, the
//! average over the in-bounds taps only, as PyTorch's
//! `count_include_pad=False`) on contiguous NCHW `f32` slices, forward and
//! backward.
//!
//! burn-flex runs 2-D pools through its 3-D kernels, one output pixel at a
//! time with the window's bounds recomputed per pixel; here each (image,
//! channel) plane is padded (−∞ for max, 0 for the average) and walked tap by
//! tap in the layout of [`Wide`].

use rayon::prelude::*;

use super::vector::{axpy, max_select};
use super::wide::Wide;

/// The shape of one pooling: a square window with symmetric padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeometry {
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl PoolGeometry {
    /// Output size `(H_out, W_out)` (floor mode).
    pub fn out_hw(&self) -> (usize, usize) {
        let out = |len: usize| (len + 2 * self.padding - self.kernel) / self.stride + 1;
        (out(self.height), out(self.width))
    }

    fn planes(&self) -> usize {
        self.batch * self.channels
    }

    fn wide(&self) -> Wide {
        Wide::new(
            self.height,
            self.width,
            self.kernel,
            self.stride,
            self.padding,
            1,
        )
    }
}

/// Max pooling; also returns, per output, the in-plane index of the input it
/// took (the first maximum in scan order, as burn's kernel does).
///
/// # Shapes
/// - `x`: `[batch, channels, height, width]`
/// - returns `[batch, channels, H_out, W_out]` twice (values, argmax)
pub fn max_forward(g: &PoolGeometry, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
    let (oh, ow) = g.out_hw();
    let plane_in = g.height * g.width;
    assert_eq!(x.len(), g.planes() * plane_in, "pool input");
    let mut y = vec![0.0f32; g.planes() * oh * ow];
    let mut arg = vec![0u32; g.planes() * oh * ow];
    let wide = g.wide();
    let tap_rows_cols: Vec<(usize, usize)> = (0..g.kernel)
        .flat_map(|kh| (0..g.kernel).map(move |kw| (kh, kw)))
        .collect();
    y.par_chunks_mut(oh * ow)
        .zip(arg.par_chunks_mut(oh * ow))
        .enumerate()
        .for_each_init(
            || (Vec::new(), Vec::new(), Vec::new()),
            |(padded, best, tap), (plane, (out, idx))| {
                wide.pad(
                    &x[plane * plane_in..][..plane_in],
                    f32::NEG_INFINITY,
                    padded,
                );
                best.clear();
                best.resize(wide.len, f32::NEG_INFINITY);
                tap.clear();
                tap.resize(wide.len, 0u32);
                // Tap by tap with a strict `>`: the earliest tap of equal
                // maxima wins.
                for (t, &off) in wide.offsets.iter().enumerate() {
                    max_select(t as u32, &padded[off..], best, tap);
                }
                for (((o, i), at), (oy, ox)) in out
                    .iter_mut()
                    .zip(idx.iter_mut())
                    .zip(wide.samples())
                    .zip((0..oh).flat_map(|oy| (0..ow).map(move |ox| (oy, ox))))
                {
                    *o = best[at];
                    let (kh, kw) = tap_rows_cols[tap[at] as usize];
                    // The padded pixel (oy·s + kh, ox·s + kw), unpadded. A
                    // window whose values are all NaN keeps tap 0, which may
                    // be padding: clamped into the image, its (NaN) gradient
                    // goes to a real pixel instead of out of bounds.
                    let row = (oy * g.stride + kh)
                        .saturating_sub(g.padding)
                        .min(g.height - 1);
                    let col = (ox * g.stride + kw)
                        .saturating_sub(g.padding)
                        .min(g.width - 1);
                    *i = (row * g.width + col) as u32;
                }
            },
        );
    (y, arg)
}

/// The gradient of max pooling: each output gradient goes to its argmax.
///
/// # Shapes
/// - `gy`, `arg`: `[batch, channels, H_out, W_out]`
/// - returns `[batch, channels, height, width]`
pub fn max_backward(g: &PoolGeometry, gy: &[f32], arg: &[u32]) -> Vec<f32> {
    let (oh, ow) = g.out_hw();
    let plane_in = g.height * g.width;
    assert_eq!(gy.len(), g.planes() * oh * ow, "pool output grad");
    assert_eq!(arg.len(), gy.len(), "pool argmax");
    let mut gx = vec![0.0f32; g.planes() * plane_in];
    gx.par_chunks_mut(plane_in)
        .enumerate()
        .for_each(|(plane, gxp)| {
            let at = plane * oh * ow;
            for (gv, &i) in gy[at..at + oh * ow].iter().zip(&arg[at..at + oh * ow]) {
                gxp[i as usize] += gv;
            }
        });
    gx
}

/// The number of in-bounds taps of each output (the average's divisor).
fn counts(g: &PoolGeometry) -> Vec<f32> {
    let (oh, ow) = g.out_hw();
    let inside = |o: usize, len: usize| {
        (0..g.kernel)
            .filter(|&k| {
                let i = (o * g.stride + k) as isize - g.padding as isize;
                i >= 0 && i < len as isize
            })
            .count()
    };
    let rows: Vec<usize> = (0..oh).map(|oy| inside(oy, g.height)).collect();
    let cols: Vec<usize> = (0..ow).map(|ox| inside(ox, g.width)).collect();
    rows.iter()
        .flat_map(|r| cols.iter().map(move |c| (r * c) as f32))
        .collect()
}

/// Average pooling over the in-bounds taps.
///
/// # Shapes
/// - `x`: `[batch, channels, height, width]`
/// - returns `[batch, channels, H_out, W_out]`
pub fn avg_forward(g: &PoolGeometry, x: &[f32]) -> Vec<f32> {
    let (oh, ow) = g.out_hw();
    let plane_in = g.height * g.width;
    assert_eq!(x.len(), g.planes() * plane_in, "pool input");
    let count = counts(g);
    let mut y = vec![0.0f32; g.planes() * oh * ow];
    let wide = g.wide();
    y.par_chunks_mut(oh * ow).enumerate().for_each_init(
        || (Vec::new(), Vec::new()),
        |(padded, sum), (plane, out)| {
            wide.pad(&x[plane * plane_in..][..plane_in], 0.0, padded);
            sum.clear();
            sum.resize(wide.len, 0.0);
            for &off in &wide.offsets {
                axpy(1.0, &padded[off..], sum);
            }
            wide.gather(sum, out);
            for (o, c) in out.iter_mut().zip(&count) {
                *o /= c;
            }
        },
    );
    y
}

/// The gradient of average pooling: each output gradient, divided by its
/// tap count, goes to every input of its window.
///
/// # Shapes
/// - `gy`: `[batch, channels, H_out, W_out]`
/// - returns `[batch, channels, height, width]`
pub fn avg_backward(g: &PoolGeometry, gy: &[f32]) -> Vec<f32> {
    let (oh, ow) = g.out_hw();
    let plane_in = g.height * g.width;
    assert_eq!(gy.len(), g.planes() * oh * ow, "pool output grad");
    let count = counts(g);
    let mut gx = vec![0.0f32; g.planes() * plane_in];
    let wide = g.wide();
    gx.par_chunks_mut(plane_in).enumerate().for_each_init(
        || (Vec::new(), Vec::new(), Vec::new()),
        |(scaled, gy_wide, gx_padded), (plane, gxp)| {
            scaled.clear();
            scaled.extend(
                gy[plane * oh * ow..][..oh * ow]
                    .iter()
                    .zip(&count)
                    .map(|(v, c)| v / c),
            );
            wide.scatter(scaled, gy_wide);
            gx_padded.clear();
            gx_padded.resize(wide.padded_len(), 0.0);
            // Taps in reverse order: each input then receives its
            // outputs' shares in their raster order, as burn's backward adds
            // them, so the sums round the same.
            for &off in wide.offsets.iter().rev() {
                axpy(1.0, gy_wide, &mut gx_padded[off..]);
            }
            wide.crop(gx_padded, gxp);
        },
    );
    gx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A diverged network feeds NaN into max pooling: the argmax of an
    /// all-NaN window stayed on a padding tap and the backward pass indexed
    /// 2^32 − 3 (a panic in `retrain --lr 1e6`). It must stay in the plane.
    #[test]
    fn all_nan_windows_keep_their_argmax_inside_the_plane() {
        let g = PoolGeometry {
            batch: 1,
            channels: 1,
            height: 2,
            width: 2,
            kernel: 3,
            stride: 1,
            padding: 1,
        };
        let (y, arg) = max_forward(&g, &[f32::NAN; 4]);
        assert_eq!(y.len(), 4);
        assert!(arg.iter().all(|&i| i < 4), "{arg:?}");
        let gx = max_backward(&g, &[1.0; 4], &arg);
        assert_eq!(gx.iter().sum::<f32>(), 4.0);
        // Finite inputs are untouched by the clamp: each window's maximum.
        let (y, arg) = max_forward(&g, &[1.0, 4.0, 3.0, 2.0]);
        assert_eq!((y, arg), (vec![4.0; 4], vec![1; 4]));
    }
}
