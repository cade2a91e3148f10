//! Per-channel normalization statistics: computed on training images, saved with a model.

use serde::{Deserialize, Serialize};

use crate::Split;

/// Smallest standard deviation used when dividing, so a constant channel
/// (e.g. an always-black border plane) maps to 0 instead of NaN/inf.
pub const STD_FLOOR: f32 = 1e-6;

/// Mean and standard deviation per channel, over every pixel of a split.
///
/// Serializable so the exact statistics a network was trained with can be
/// recorded in `search.json` / `model.json` and reused at inference.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Normalization {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Normalization {
    /// Population mean and standard deviation of each channel of `split`.
    ///
    /// Accumulates in f64: 47 M pixels summed in f32 would lose digits.
    /// An empty split gives mean 0, std 1 (the identity). Stored stds are
    /// floored at [`STD_FLOOR`].
    ///
    /// # Panics
    /// If `channels * height * width != split.image_len`.
    pub fn from_split(split: &Split, channels: usize, height: usize, width: usize) -> Self {
        let plane = height * width;
        assert_eq!(
            channels * plane,
            split.image_len,
            "normalization shape {channels}x{height}x{width} does not match image length {}",
            split.image_len
        );
        let mut sum = vec![0f64; channels];
        let mut sum_sq = vec![0f64; channels];
        for image in split.images.chunks_exact(split.image_len.max(1)) {
            for (c, values) in image.chunks_exact(plane.max(1)).enumerate() {
                for &v in values {
                    let v = f64::from(v);
                    sum[c] += v;
                    sum_sq[c] += v * v;
                }
            }
        }
        let count = (split.len * plane) as f64;
        let (mean, std) = (0..channels)
            .map(|c| {
                if count == 0.0 {
                    return (0.0, 1.0);
                }
                let m = sum[c] / count;
                // Clamp: rounding can make E[x²] - m² slightly negative.
                let var = (sum_sq[c] / count - m * m).max(0.0);
                (m as f32, (var.sqrt() as f32).max(STD_FLOOR))
            })
            .unzip();
        Normalization { mean, std }
    }

    /// `(x - mean[c]) / std[c]` for every value of every image in `images`
    /// (N, C, H, W layout), returned as a new buffer.
    ///
    /// # Panics
    /// If the statistics are not for `channels` channels, or `images` is not a
    /// whole number of `channels * height * width` images.
    pub fn apply(&self, images: &[f32], channels: usize, height: usize, width: usize) -> Vec<f32> {
        let mut out = images.to_vec();
        self.apply_in_place(&mut out, channels, height, width);
        out
    }

    /// Like [`Normalization::apply`], overwriting `images`.
    ///
    /// # Panics
    /// As [`Normalization::apply`].
    pub fn apply_in_place(&self, images: &mut [f32], channels: usize, height: usize, width: usize) {
        assert_eq!(
            self.mean.len(),
            channels,
            "normalization has {} channels, images have {channels}",
            self.mean.len()
        );
        assert_eq!(
            self.std.len(),
            channels,
            "normalization std has {} channels, images have {channels}",
            self.std.len()
        );
        let plane = height * width;
        let image_len = channels * plane;
        if image_len == 0 {
            return;
        }
        assert!(
            images.len().is_multiple_of(image_len),
            "{} values are not a whole number of {channels}x{height}x{width} images",
            images.len()
        );
        // Multiply by the reciprocal: one division per channel, not per pixel.
        let scale: Vec<f32> = self.std.iter().map(|s| 1.0 / s.max(STD_FLOOR)).collect();
        for image in images.chunks_exact_mut(image_len) {
            for (c, values) in image.chunks_exact_mut(plane).enumerate() {
                let (m, k) = (self.mean[c], scale[c]);
                for v in values {
                    *v = (*v - m) * k;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_hand_computation() {
        // Two 2-channel 1x2 images. Channel 0 values: 1,3,5,7 (mean 4,
        // var (9+1+1+9)/4 = 5); channel 1 values: 2,2,2,2 (constant).
        let split = Split::new(vec![1.0, 3.0, 2.0, 2.0, 5.0, 7.0, 2.0, 2.0], vec![0, 1], 4);
        let n = Normalization::from_split(&split, 2, 1, 2);
        assert_eq!(n.mean, vec![4.0, 2.0]);
        assert!((n.std[0] - 5f32.sqrt()).abs() < 1e-6);
        assert_eq!(n.std[1], STD_FLOOR, "constant channel is floored, not zero");

        let out = n.apply(&split.images, 2, 1, 2);
        let ch0: f32 = [out[0], out[1], out[4], out[5]].iter().sum();
        assert!(ch0.abs() < 1e-5, "channel 0 has zero mean after apply");
        assert_eq!([out[2], out[3], out[6], out[7]], [0.0; 4]);
        assert!((out[0] - (1.0 - 4.0) / 5f32.sqrt()).abs() < 1e-6);
    }

    #[test]
    fn empty_split_is_identity_and_json_round_trips() {
        let n = Normalization::from_split(&Split::new(vec![], vec![], 3), 3, 1, 1);
        assert_eq!(n.mean, vec![0.0; 3]);
        assert_eq!(n.std, vec![1.0; 3]);
        let json = serde_json::to_string(&n).unwrap();
        assert_eq!(serde_json::from_str::<Normalization>(&json).unwrap(), n);
    }
}
