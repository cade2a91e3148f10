//! The 8x8 digits set embedded in the binary, so `builtin:digits` needs no files.

use std::path::PathBuf;

use crate::Dataset;
use crate::decompress::maybe_gunzip;
use crate::idx::{Named, build};

/// The spec string that selects the embedded digits.
pub const BUILTIN_DIGITS: &str = "builtin:digits";

/// Name of the embedded digits dataset (same as its folder in the shared data).
pub const DIGITS_NAME: &str = "digits8x8";

/// The four gzipped IDX files, copied unchanged from the shared data folder;
/// provenance and license in `datasets/data/digits8x8/`.
const FILES: [(&str, &[u8]); 4] = [
    (
        "train-images-idx3-ubyte.gz",
        include_bytes!("../data/digits8x8/train-images-idx3-ubyte.gz"),
    ),
    (
        "train-labels-idx1-ubyte.gz",
        include_bytes!("../data/digits8x8/train-labels-idx1-ubyte.gz"),
    ),
    (
        "test-images-idx3-ubyte.gz",
        include_bytes!("../data/digits8x8/test-images-idx3-ubyte.gz"),
    ),
    (
        "test-labels-idx1-ubyte.gz",
        include_bytes!("../data/digits8x8/test-labels-idx1-ubyte.gz"),
    ),
];

/// The embedded scikit-learn 8x8 digits: 1,437 train / 360 test images,
/// 1x8x8, 10 classes named "0".."9". Pixels are 0..16, not 0..255.
///
/// Cannot fail: the bytes are fixed at compile time and covered by tests,
/// so a parse error here is a bug in this crate and panics.
pub fn builtin_digits() -> Dataset {
    let files = FILES.map(|(name, gz)| {
        // Named like a path so an (impossible) error still says which file.
        let path = PathBuf::from(format!("{BUILTIN_DIGITS}/{name}"));
        let bytes = maybe_gunzip(gz.to_vec(), &path).expect("embedded digits file is valid gzip");
        Named { path, bytes }
    });
    let names = (0..10).map(|d| d.to_string()).collect();
    build(
        DIGITS_NAME.into(),
        BUILTIN_DIGITS.into(),
        Some(names),
        files,
    )
    .expect("embedded digits files are valid IDX")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_labels_and_pixel_range() {
        let d = builtin_digits();
        assert_eq!(d.name, "digits8x8");
        assert_eq!(d.source, "builtin:digits");
        assert_eq!((d.channels, d.height, d.width), (1, 8, 8));
        assert_eq!(d.image_len(), 64);
        assert_eq!((d.train.len, d.test.len), (1437, 360));
        assert_eq!(d.num_classes, 10);
        assert_eq!(
            d.class_names,
            (0..10).map(|i| i.to_string()).collect::<Vec<_>>()
        );
        assert_eq!(
            d.train.class_counts(10),
            vec![143, 146, 142, 146, 144, 145, 144, 143, 141, 143]
        );
        assert_eq!(
            d.test.class_counts(10),
            vec![35, 36, 35, 37, 37, 37, 37, 36, 33, 37]
        );
        let max = d
            .train
            .images
            .iter()
            .chain(&d.test.images)
            .fold(0f32, |m, &v| m.max(v));
        assert_eq!(max, 16.0, "digits pixels are 0..16");
        assert!(d.train.images.iter().all(|&v| v >= 0.0));
        let mean = d.train.images.iter().sum::<f32>() / d.train.images.len() as f32;
        assert!((mean - 4.89).abs() < 0.01, "train mean {mean}");
    }
}
