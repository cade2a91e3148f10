//! One split (train or test) of a dataset, and seeded ways to cut it down.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// Images and labels of one split, held in memory.
///
/// `images` holds `len * image_len` raw pixel values as `f32` (not rescaled:
/// 0..255 for Fashion-MNIST and CIFAR-10, 0..16 for the 8x8 digits), image by
/// image, each image as channel planes of row-major rows (N, C, H, W).
///
/// `image_len` (= C*H*W) is stored in the split rather than passed to every
/// helper: the split is then self-describing, and an empty subset still knows
/// its image size.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    pub images: Vec<f32>,
    pub labels: Vec<u8>,
    pub len: usize,
    /// Values per image: channels * height * width.
    pub image_len: usize,
}

impl Split {
    /// Builds a split, deriving `len` from the labels.
    ///
    /// # Panics
    /// If `images.len() != labels.len() * image_len`: the loaders always
    /// produce consistent data, so this is a programming error.
    pub fn new(images: Vec<f32>, labels: Vec<u8>, image_len: usize) -> Self {
        assert_eq!(
            images.len(),
            labels.len() * image_len,
            "split has {} values for {} labels of {} values each",
            images.len(),
            labels.len(),
            image_len
        );
        let len = labels.len();
        Split {
            images,
            labels,
            len,
            image_len,
        }
    }

    /// True when the split holds no image.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The pixels of image `i` (C*H*W values).
    ///
    /// # Panics
    /// If `i >= self.len`.
    pub fn image(&self, i: usize) -> &[f32] {
        &self.images[i * self.image_len..(i + 1) * self.image_len]
    }

    /// Number of images per label, for labels `0..num_classes`.
    ///
    /// Labels `>= num_classes` are not counted (the loaders never produce them).
    pub fn class_counts(&self, num_classes: usize) -> Vec<usize> {
        let mut counts = vec![0; num_classes];
        for &l in &self.labels {
            if let Some(c) = counts.get_mut(l as usize) {
                *c += 1;
            }
        }
        counts
    }

    /// The images at `indices`, in that order (repeats allowed).
    ///
    /// # Panics
    /// If an index is `>= self.len`.
    pub fn subset(&self, indices: &[usize]) -> Split {
        let mut images = Vec::with_capacity(indices.len() * self.image_len);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            images.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }
        Split::new(images, labels, self.image_len)
    }

    /// Seeded shuffle, then the first `ceil(len/2)` images become the first
    /// split (weights) and the rest the second (architecture / validation),
    /// as DARTS-style search needs two disjoint halves of the training set.
    pub fn split_half(&self, seed: u64) -> (Split, Split) {
        let mut order: Vec<usize> = (0..self.len).collect();
        order.shuffle(&mut StdRng::seed_from_u64(seed));
        let (first, second) = order.split_at(self.len.div_ceil(2));
        (self.subset(first), self.subset(second))
    }

    /// A seeded random subset of `n` images, in shuffled order.
    ///
    /// Stratified by label: each label keeps its share of the split (largest
    /// remainder rounding), so a small sample of a balanced set stays
    /// balanced. With `n >= len` the whole split is returned, shuffled.
    pub fn sample(&self, n: usize, seed: u64) -> Split {
        let mut rng = StdRng::seed_from_u64(seed);
        if n >= self.len {
            let mut order: Vec<usize> = (0..self.len).collect();
            order.shuffle(&mut rng);
            return self.subset(&order);
        }

        // Indices per label, in split order, then shuffled within the label.
        let mut groups: Vec<Vec<usize>> = vec![Vec::new(); 256];
        for (i, &l) in self.labels.iter().enumerate() {
            groups[l as usize].push(i);
        }
        for g in &mut groups {
            g.shuffle(&mut rng);
        }

        // quota = floor(n * count / len); the shortfall goes to the labels
        // with the largest remainders (ties: lower label first). Each bonus
        // stays within the group, since a non-zero remainder implies
        // floor(n * count / len) < count when n < len.
        let mut quotas: Vec<usize> = groups.iter().map(|g| n * g.len() / self.len).collect();
        let short = n - quotas.iter().sum::<usize>();
        let mut by_remainder: Vec<usize> = (0..groups.len()).collect();
        by_remainder.sort_by_key(|&c| std::cmp::Reverse(n * groups[c].len() % self.len));
        for &c in by_remainder.iter().take(short) {
            quotas[c] += 1;
        }

        let mut chosen: Vec<usize> = groups
            .iter()
            .zip(&quotas)
            .flat_map(|(g, &q)| g[..q].iter().copied())
            .collect();
        // Mixed order so that consecutive mini-batches see every class.
        chosen.shuffle(&mut rng);
        self.subset(&chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ten 1x1x2 images whose pixels encode their index, labels cycling 0..4.
    fn toy(n: usize) -> Split {
        let images = (0..n).flat_map(|i| [i as f32, -(i as f32)]).collect();
        let labels = (0..n).map(|i| (i % 5) as u8).collect();
        Split::new(images, labels, 2)
    }

    fn ids(s: &Split) -> Vec<usize> {
        (0..s.len).map(|i| s.image(i)[0] as usize).collect()
    }

    #[test]
    fn subset_keeps_pixels_and_labels_together() {
        let s = toy(10).subset(&[7, 2, 2]);
        assert_eq!(s.len, 3);
        assert_eq!(s.images, vec![7.0, -7.0, 2.0, -2.0, 2.0, -2.0]);
        assert_eq!(s.labels, vec![2, 2, 2]);
        let empty = toy(10).subset(&[]);
        assert!(empty.is_empty());
        assert_eq!(empty.image_len, 2);
    }

    #[test]
    fn split_half_is_seeded_disjoint_and_covering() {
        let s = toy(11);
        let (a, b) = s.split_half(42);
        let (a2, b2) = s.split_half(42);
        assert_eq!((&a, &b), (&a2, &b2), "same seed, same split");
        assert_eq!((a.len, b.len), (6, 5), "train gets ceil(N/2)");
        let mut all = ids(&a);
        all.extend(ids(&b));
        all.sort_unstable();
        assert_eq!(all, (0..11).collect::<Vec<_>>(), "disjoint and covering");
        for (x, i) in a.labels.iter().zip(ids(&a)) {
            assert_eq!(*x as usize, i % 5, "labels follow their images");
        }
        let (c, _) = s.split_half(43);
        assert_ne!(ids(&a), ids(&c), "different seeds differ");
    }

    #[test]
    fn sample_is_stratified_seeded_and_distinct() {
        let s = toy(100); // 20 per label
        let a = s.sample(10, 7);
        assert_eq!(a.len, 10);
        assert_eq!(a.class_counts(5), vec![2; 5]);
        assert_eq!(a, s.sample(10, 7));
        assert_ne!(ids(&a), ids(&s.sample(10, 8)));
        let mut seen = ids(&a);
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 10, "no image twice");

        // Uneven shares: 7 of 100 with 5 equal classes -> 2,2,1,1,1.
        let b = s.sample(7, 1);
        assert_eq!(b.len, 7);
        assert_eq!(b.class_counts(5), vec![2, 2, 1, 1, 1]);
    }

    #[test]
    fn sample_of_everything_is_a_permutation() {
        let s = toy(9);
        let a = s.sample(100, 3);
        assert_eq!(a, s.sample(100, 3));
        let mut all = ids(&a);
        all.sort_unstable();
        assert_eq!(all, (0..9).collect::<Vec<_>>());
        assert_eq!(s.sample(0, 3).len, 0);
    }
}
