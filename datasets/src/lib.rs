//! In-memory image-classification datasets: IDX (MNIST-style), CIFAR-10 binary, and embedded 8x8 digits.
//!
//! [`load`] takes a spec — `builtin:digits` or a folder path — detects the
//! format from the files present, and returns a [`Dataset`] whose splits
//! hold raw pixel values as `f32` in (N, C, H, W) order. Nothing is rescaled
//! here: per-channel [`Normalization`] is computed from whichever training
//! images a stage uses and recorded with its results.
//!
//! Accepted folder layouts (every file gzipped or not; gzip is detected by
//! content, not by name):
//! * IDX: `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, and
//!   `t10k-` or `test-` versions of both (the `train-images.idx3-ubyte`
//!   spelling also works). 1 channel.
//! * CIFAR-10 binary: `train.bin` + `test.bin`, or the official
//!   `data_batch_1.bin`..`data_batch_5.bin` (any subset, concatenated in
//!   order) + `test_batch.bin`; class names from `batches.meta.txt`. 3x32x32.

mod builtin;
mod cifar;
mod decompress;
mod error;
mod idx;
mod normalize;
mod shared_data;
mod split;

use std::path::Path;

pub use builtin::{BUILTIN_DIGITS, DIGITS_NAME, builtin_digits};
pub use error::DataError;
pub use normalize::{Normalization, STD_FLOOR};
pub use shared_data::{SHARED_DATA_ENV, shared_data_dir};
pub use split::Split;

/// Labels must be below this when a dataset has no class names: 255 is
/// rejected because it usually marks "ignore"/corrupt, and it keeps
/// `num_classes` within a `u8`.
pub(crate) const MAX_LABELS: usize = 255;

/// Errors unless every label `0..n` has a training image; the labels above
/// the first class without one are reported as stray, with their counts.
fn check_contiguous(
    train: &Split,
    test: &Split,
    n: usize,
    labels_path: &std::path::Path,
) -> Result<(), DataError> {
    let counts = train.class_counts(n);
    let Some(missing) = counts.iter().position(|&c| c == 0) else {
        return Ok(());
    };
    let mut stray = std::collections::BTreeMap::<u8, usize>::new();
    for &l in train.labels.iter().chain(&test.labels) {
        if usize::from(l) > missing {
            *stray.entry(l).or_default() += 1;
        }
    }
    Err(DataError::StrayLabels {
        path: labels_path.to_path_buf(),
        missing,
        count: stray.values().sum(),
        labels: stray
            .iter()
            .map(|(l, c)| format!("{l} (×{c})"))
            .collect::<Vec<_>>()
            .join(", "),
        classes: n,
    })
}

/// A dataset with its train and test splits, all in memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Short name: "digits8x8", or the folder's name (e.g. "fashion-mnist").
    pub name: String,
    /// Where it came from: "builtin:digits" or the folder path as given.
    pub source: String,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// Number of class names when the data names its classes (CIFAR-10
    /// `batches.meta.txt`, Fashion-MNIST, digits), else max label + 1 over
    /// train and test.
    pub num_classes: usize,
    /// One name per class, label order; "0", "1", ... when unknown.
    pub class_names: Vec<String>,
    pub train: Split,
    pub test: Split,
}

impl Dataset {
    /// Builds the dataset and derives `num_classes` / `class_names`.
    /// Labels were already checked against `class_names` by the parsers.
    /// Without class names the labels must be 0..n with every class
    /// present in the training split: a stray label (200 among 0–9) would
    /// otherwise silently make a 201-class problem. `labels_path` names the
    /// training labels in that error.
    pub(crate) fn assemble(
        name: String,
        source: String,
        (channels, height, width): (usize, usize, usize),
        class_names: Option<Vec<String>>,
        train: Split,
        test: Split,
        labels_path: &std::path::Path,
    ) -> Result<Dataset, DataError> {
        let class_names = match class_names {
            Some(names) => names,
            None => {
                let max = train.labels.iter().chain(&test.labels).max().copied();
                let n = max.map_or(0, |m| usize::from(m) + 1);
                check_contiguous(&train, &test, n, labels_path)?;
                (0..n).map(|i| i.to_string()).collect()
            }
        };
        Ok(Dataset {
            name,
            source,
            channels,
            height,
            width,
            num_classes: class_names.len(),
            class_names,
            train,
            test,
        })
    }

    /// Values per image: channels * height * width.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Normalization statistics of the training split.
    pub fn train_normalization(&self) -> Normalization {
        Normalization::from_split(&self.train, self.channels, self.height, self.width)
    }

    /// One line: name, source, split sizes, image shape, class count.
    pub fn describe(&self) -> String {
        format!(
            "{} ({}): {} train / {} test images, {}x{}x{}, {} classes",
            self.name,
            self.source,
            self.train.len,
            self.test.len,
            self.channels,
            self.height,
            self.width,
            self.num_classes
        )
    }
}

/// Loads `builtin:digits` or the dataset in folder `spec` (format auto-detected).
///
/// # Errors
/// A [`DataError`] naming the folder or file when the folder is missing,
/// its layout is unknown, a file is missing, unreadable, truncated, not
/// valid gzip, has the wrong magic number, or disagrees with its partner
/// file (counts, image size), or a label is out of range.
pub fn load(spec: &str) -> Result<Dataset, DataError> {
    if spec == BUILTIN_DIGITS {
        return Ok(builtin_digits());
    }
    if spec.starts_with("builtin:") {
        return Err(DataError::UnknownBuiltin { spec: spec.into() });
    }
    let dir = Path::new(spec);
    if !dir.exists() {
        return Err(DataError::MissingFolder {
            path: dir.to_path_buf(),
        });
    }
    if !dir.is_dir() {
        return Err(DataError::NotAFolder {
            path: dir.to_path_buf(),
        });
    }
    let name = folder_name(dir);
    if idx::detect(dir) {
        idx::load_dir(dir, name, spec.into())
    } else if cifar::detect(dir) {
        cifar::load_dir(dir, name, spec.into())
    } else {
        Err(DataError::UnknownLayout {
            dir: dir.to_path_buf(),
            expected: format!(
                "idx files ({}) or cifar-10 binary files ({})",
                idx::EXPECTED,
                cifar::EXPECTED
            ),
        })
    }
}

/// The folder's own name; for "." or ".." resolve it first so the dataset
/// still gets a meaningful name.
fn folder_name(dir: &Path) -> String {
    let named = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    named(dir)
        .filter(|n| n != "." && n != "..")
        .or_else(|| dir.canonicalize().ok().as_deref().and_then(named))
        .unwrap_or_else(|| dir.display().to_string())
}

/// Rejects labels `>= limit` (the number of classes, or [`MAX_LABELS`]).
pub(crate) fn check_labels(labels: &[u8], path: &Path, limit: usize) -> Result<(), DataError> {
    match labels.iter().position(|&l| usize::from(l) >= limit) {
        Some(index) => Err(DataError::LabelOutOfRange {
            path: path.to_path_buf(),
            index,
            label: labels[index],
            limit,
        }),
        None => Ok(()),
    }
}
