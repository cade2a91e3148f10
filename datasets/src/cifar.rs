//! CIFAR-10 binary files: `train.bin`/`test.bin` or the official `data_batch_N.bin`/`test_batch.bin`.

use std::path::{Path, PathBuf};

use crate::decompress::read_file;
use crate::{DataError, Dataset, Split};

/// Channels, height and width of every CIFAR-10 image.
pub(crate) const SHAPE: (usize, usize, usize) = (3, 32, 32);
/// Bytes per image: the R, G and B planes, 32x32 each.
const IMAGE_BYTES: usize = 3 * 32 * 32;
/// One label byte followed by the image.
pub(crate) const RECORD_BYTES: usize = 1 + IMAGE_BYTES;
/// Class names file of the official binary distribution, one name per line.
const META_FILE: &str = "batches.meta.txt";

/// Human-readable list of the CIFAR-10 file names we look for.
pub(crate) const EXPECTED: &str = "train.bin[.gz] and test.bin[.gz], \
     or data_batch_1..5.bin[.gz] and test_batch.bin[.gz]";

/// `{stem}.bin.gz` or `{stem}.bin`, whichever exists (gzip preferred).
fn find(dir: &Path, stem: &str) -> Option<PathBuf> {
    [format!("{stem}.bin.gz"), format!("{stem}.bin")]
        .into_iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

/// The official training batches present, in order 1..5.
fn data_batches(dir: &Path) -> Vec<PathBuf> {
    (1..=5)
        .filter_map(|i| find(dir, &format!("data_batch_{i}")))
        .collect()
}

/// True when `dir` holds at least one CIFAR-10 binary file.
pub(crate) fn detect(dir: &Path) -> bool {
    ["train", "test", "test_batch"]
        .iter()
        .any(|s| find(dir, s).is_some())
        || !data_batches(dir).is_empty()
}

/// Non-empty trimmed lines of `batches.meta.txt`, if the file exists.
fn class_names(dir: &Path) -> Result<Option<Vec<String>>, DataError> {
    let path = dir.join(META_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let bytes = read_file(&path)?;
    let names: Vec<String> = String::from_utf8_lossy(&bytes)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if names.is_empty() {
        return Err(DataError::Empty {
            path,
            what: "class names".into(),
        });
    }
    Ok(Some(names))
}

/// Parses decompressed CIFAR-10 records, appending to `images` and `labels`.
pub(crate) fn parse_records(
    bytes: &[u8],
    path: &Path,
    limit: usize,
    images: &mut Vec<f32>,
    labels: &mut Vec<u8>,
) -> Result<(), DataError> {
    if !bytes.len().is_multiple_of(RECORD_BYTES) {
        return Err(DataError::PartialRecord {
            path: path.to_path_buf(),
            len: bytes.len(),
            record: RECORD_BYTES,
        });
    }
    if bytes.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
            what: "records".into(),
        });
    }
    let records = bytes.chunks_exact(RECORD_BYTES);
    let file_labels: Vec<u8> = records.clone().map(|r| r[0]).collect();
    crate::check_labels(&file_labels, path, limit)?;
    labels.extend_from_slice(&file_labels);
    images.reserve(file_labels.len() * IMAGE_BYTES);
    // The record layout already is C, H, W planes: copy pixels as they are.
    for r in records {
        images.extend(r[1..].iter().map(|&p| f32::from(p)));
    }
    Ok(())
}

/// Reads and concatenates `files` into one split.
fn load_split(files: &[PathBuf], limit: usize) -> Result<Split, DataError> {
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for path in files {
        let bytes = read_file(path)?;
        parse_records(&bytes, path, limit, &mut images, &mut labels)?;
    }
    Ok(Split::new(images, labels, IMAGE_BYTES))
}

/// Loads a CIFAR-10 binary folder. `train.bin` wins over `data_batch_*`
/// when both exist, so a folder with a prepared subset is not mixed with
/// the full batches.
pub(crate) fn load_dir(dir: &Path, name: String, source: String) -> Result<Dataset, DataError> {
    let names = class_names(dir)?;
    let limit = names.as_ref().map_or(crate::MAX_LABELS, Vec::len);
    let train_files = match find(dir, "train") {
        Some(p) => vec![p],
        None => data_batches(dir),
    };
    if train_files.is_empty() {
        return Err(DataError::MissingFile {
            dir: dir.to_path_buf(),
            what: "train records".into(),
            expected: "train.bin[.gz] or data_batch_1..5.bin[.gz]".into(),
        });
    }
    let test_file = find(dir, "test")
        .or_else(|| find(dir, "test_batch"))
        .ok_or_else(|| DataError::MissingFile {
            dir: dir.to_path_buf(),
            what: "test records".into(),
            expected: "test.bin[.gz] or test_batch.bin[.gz]".into(),
        })?;
    let train = load_split(&train_files, limit)?;
    let test = load_split(&[test_file], limit)?;
    Dataset::assemble(name, source, SHAPE, names, train, test, dir)
}
