//! The layout every sliding-window kernel here runs on.
//!
//! A window op (convolution or pool) over a plane padded to `Hp × Wp` reads,
//! for the stride-1 output pixel `(oy, ox)`, the padded pixels
//! `(oy + kh·d, ox + kw·d)`. Laying the output out with the padded width
//! `Wp` (the last columns of each row unused) makes every tap one
//! element-wise loop over the whole plane at a fixed flat offset
//! `(kh·Wp + kw)·d` — nine or 25 long vector loops per plane instead of one
//! short loop per row and tap. A stride-s output is the stride-1 one sampled
//! at `(oy·s, ox·s)`: stride 2 costs four times the arithmetic but stays
//! vectorized, which wins on these small planes.

/// One window geometry in the wide layout.
#[derive(Clone, Debug)]
pub struct Wide {
    height: usize,
    width: usize,
    padding: usize,
    stride: usize,
    /// Padded width `Wp`: the row pitch of every wide plane.
    pub pitch: usize,
    /// Length of the stride-1 wide output: `(H1 − 1)·Wp + W1`.
    pub len: usize,
    /// Flat offset of each tap, row-major over (kh, kw).
    pub offsets: Vec<usize>,
    /// The strided output size.
    pub out_h: usize,
    pub out_w: usize,
}

impl Wide {
    /// A `kernel`×`kernel` window with `dilation`, symmetric `padding` and
    /// `stride` over `height × width` planes. Panics when the window does not
    /// fit the padded plane.
    pub fn new(
        height: usize,
        width: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        dilation: usize,
    ) -> Self {
        let span = dilation * (kernel - 1) + 1;
        let (hp, wp) = (height + 2 * padding, width + 2 * padding);
        assert!(
            hp >= span && wp >= span,
            "window larger than the padded plane"
        );
        let (h1, w1) = (hp - span + 1, wp - span + 1);
        let offsets = (0..kernel)
            .flat_map(|kh| (0..kernel).map(move |kw| (kh * wp + kw) * dilation))
            .collect();
        Wide {
            height,
            width,
            padding,
            stride,
            pitch: wp,
            len: (h1 - 1) * wp + w1,
            offsets,
            out_h: (h1 - 1) / stride + 1,
            out_w: (w1 - 1) / stride + 1,
        }
    }

    /// Length of a padded plane, `Hp · Wp`.
    pub fn padded_len(&self) -> usize {
        (self.height + 2 * self.padding) * self.pitch
    }

    /// The wide index of each strided output pixel, row-major.
    pub fn samples(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.out_h).flat_map(move |oy| {
            (0..self.out_w).map(move |ox| oy * self.stride * self.pitch + ox * self.stride)
        })
    }

    /// Copies an `H × W` plane into the interior of an `Hp × Wp` one whose
    /// border is `fill`.
    pub fn pad(&self, plane: &[f32], fill: f32, padded: &mut Vec<f32>) {
        padded.clear();
        padded.resize(self.padded_len(), fill);
        for (row, src) in plane.chunks_exact(self.width).enumerate() {
            let at = (row + self.padding) * self.pitch + self.padding;
            padded[at..at + self.width].copy_from_slice(src);
        }
    }

    /// Copies the interior of a padded plane back to an `H × W` one.
    pub fn crop(&self, padded: &[f32], plane: &mut [f32]) {
        for (row, dst) in plane.chunks_exact_mut(self.width).enumerate() {
            let at = (row + self.padding) * self.pitch + self.padding;
            dst.copy_from_slice(&padded[at..at + self.width]);
        }
    }

    /// Places a strided output plane (`out_h × out_w`) into a zeroed wide
    /// plane of length [`Wide::len`], zeros everywhere else.
    pub fn scatter(&self, plane: &[f32], wide: &mut Vec<f32>) {
        wide.clear();
        wide.resize(self.len, 0.0);
        for (v, at) in plane.iter().zip(self.samples()) {
            wide[at] = *v;
        }
    }

    /// Reads the strided output plane out of a wide one.
    pub fn gather(&self, wide: &[f32], plane: &mut [f32]) {
        for (dst, at) in plane.iter_mut().zip(self.samples()) {
            *dst = wide[at];
        }
    }
}
