//! Turns an in-memory split into normalized mini-batch tensors, with seeded
//! shuffling and the cutout augmentation used in retraining.

use burn::tensor::{Device, Int, Tensor, TensorData};
use datasets::{Normalization, Split};
use rand::Rng;
/// The data-order and augmentation RNG of search and retraining: ChaCha12,
/// the generator behind rand's `StdRng` (the same stream from the same
/// seed), which unlike `StdRng` serializes, so checkpoints keep its state.
pub type DataRng = rand_chacha::ChaCha12Rng;
use rand::seq::SliceRandom;

/// A normalized split ready for batching.
pub struct Batches {
    images: Vec<f32>, // [N, C, H, W], normalized
    labels: Vec<u8>,
    channels: usize,
    size: usize,
    /// Normalized value of a raw 0 pixel, per channel (crop padding).
    pad_value: Vec<f32>,
}

/// One mini-batch on a device.
pub struct Batch {
    /// `[batch, C, H, W]`
    pub images: Tensor<4>,
    /// `[batch]`
    pub labels: Tensor<1, Int>,
    pub labels_host: Vec<u8>,
}

impl Batches {
    pub fn new(split: &Split, norm: &Normalization, channels: usize, size: usize) -> Self {
        Self {
            images: norm.apply(&split.images, channels, size, size),
            labels: split.labels.clone(),
            channels,
            size,
            pad_value: norm.apply(&vec![0.0; channels], channels, 1, 1),
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    fn image_len(&self) -> usize {
        self.channels * self.size * self.size
    }

    /// A seeded permutation of the sample indices.
    pub fn shuffled(&self, rng: &mut DataRng) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(rng);
        order
    }

    /// Gathers `indices` into a batch, without augmentation.
    pub fn batch(&self, indices: &[usize], device: &Device) -> Batch {
        self.augmented_batch(indices, Augment::default(), None, device)
    }

    /// Gathers `indices` into a batch with the training augmentations of
    /// DARTS' retraining: random crop after zero padding, then cutout.
    pub fn augmented_batch(
        &self,
        indices: &[usize],
        augment: Augment,
        rng: Option<&mut DataRng>,
        device: &Device,
    ) -> Batch {
        let len = self.image_len();
        let mut data = Vec::with_capacity(indices.len() * len);
        for &i in indices {
            data.extend_from_slice(&self.images[i * len..(i + 1) * len]);
        }
        if let Some(rng) = rng {
            for image in data.chunks_mut(len) {
                if augment.crop_padding > 0 {
                    random_crop(image, &self.pad_value, self.size, augment.crop_padding, rng);
                }
                if augment.cutout > 0 {
                    apply_cutout(image, self.channels, self.size, augment.cutout, rng);
                }
            }
        }
        let labels_host: Vec<u8> = indices.iter().map(|&i| self.labels[i]).collect();
        let labels: Vec<i64> = labels_host.iter().map(|&l| l as i64).collect();
        let n = indices.len();
        Batch {
            images: Tensor::from_data(
                TensorData::new(data, [n, self.channels, self.size, self.size]),
                device,
            ),
            labels: Tensor::from_data(TensorData::new(labels, [n]), device),
            labels_host,
        }
    }
}

/// Training-time augmentation (all off by default).
#[derive(Debug, Clone, Copy, Default)]
pub struct Augment {
    /// Zero-pad by this many pixels and crop back at a random offset
    /// (a random translation of up to ±padding pixels).
    pub crop_padding: usize,
    /// Side of the cutout square (0 = off).
    pub cutout: usize,
}

/// Translates the image by (dy, dx) ∈ [-p, p]²: `RandomCrop(size, padding=p)`.
/// DARTS pads the raw image with zeros before normalizing, so the padding is
/// the normalized value of a raw 0 pixel, `fill[c]`, not 0.
fn random_crop(image: &mut [f32], fill: &[f32], size: usize, p: usize, rng: &mut DataRng) {
    let dy = rng.random_range(0..=2 * p) as isize - p as isize;
    let dx = rng.random_range(0..=2 * p) as isize - p as isize;
    if dy == 0 && dx == 0 {
        return;
    }
    let src = image.to_vec();
    let n = size as isize;
    for (c, &fill) in fill.iter().enumerate() {
        let plane = c * size * size;
        for y in 0..n {
            for x in 0..n {
                let (sy, sx) = (y + dy, x + dx);
                let v = if (0..n).contains(&sy) && (0..n).contains(&sx) {
                    src[plane + (sy * n + sx) as usize]
                } else {
                    fill
                };
                image[plane + (y * n + x) as usize] = v;
            }
        }
    }
}

fn apply_cutout(image: &mut [f32], channels: usize, size: usize, side: usize, rng: &mut DataRng) {
    let cy = rng.random_range(0..size) as isize;
    let cx = rng.random_range(0..size) as isize;
    let half = (side / 2) as isize;
    let (y0, y1) = (
        (cy - half).max(0) as usize,
        ((cy + half).min(size as isize)) as usize,
    );
    let (x0, x1) = (
        (cx - half).max(0) as usize,
        ((cx + half).min(size as isize)) as usize,
    );
    for c in 0..channels {
        for y in y0..y1 {
            let row = c * size * size + y * size;
            image[row + x0..row + x1].fill(0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Switching from `StdRng` to `DataRng` changed no data order or
    /// augmentation: the streams are the same.
    #[test]
    fn data_rng_is_std_rng_s_stream() {
        use rand::Rng;
        use rand::seq::SliceRandom;
        let mut a = rand::rngs::StdRng::seed_from_u64(42);
        let mut b = DataRng::seed_from_u64(42);
        let xs: Vec<u64> = (0..64).map(|_| a.random()).collect();
        let ys: Vec<u64> = (0..64).map(|_| b.random()).collect();
        assert_eq!(xs, ys);
        let (mut p, mut q): (Vec<u32>, Vec<u32>) = ((0..100).collect(), (0..100).collect());
        p.shuffle(&mut a);
        q.shuffle(&mut b);
        assert_eq!(p, q);
    }

    #[test]
    fn random_crop_translates_with_zero_fill() {
        let mut rng = DataRng::seed_from_u64(1);
        let original: Vec<f32> = (1..=16).map(|v| v as f32).collect();
        let mut moved = 0;
        for _ in 0..20 {
            let mut image = original.clone();
            random_crop(&mut image, &[0.0], 4, 1, &mut rng);
            let kept: f32 = image.iter().sum();
            if image != original {
                moved += 1;
                assert!(
                    kept < original.iter().sum::<f32>(),
                    "a shift drops a row or column"
                );
                assert!(image.contains(&0.0));
            }
        }
        assert!(moved > 10, "most draws translate the image");
    }

    #[test]
    fn cutout_zeroes_a_clipped_square() {
        let mut rng = DataRng::seed_from_u64(3);
        for _ in 0..50 {
            let mut image = vec![1.0f32; 2 * 8 * 8];
            apply_cutout(&mut image, 2, 8, 4, &mut rng);
            let zeros = image.iter().filter(|v| **v == 0.0).count();
            assert!(zeros > 0 && zeros <= 2 * 16, "{zeros} zeroed");
            assert_eq!(zeros % 2, 0, "both channels get the same square");
        }
    }
}
