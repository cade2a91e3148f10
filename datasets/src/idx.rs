//! IDX (MNIST format) files: `train-*` and `t10k-*`/`test-*` image and label pairs.

use std::path::{Path, PathBuf};

use crate::decompress::read_file;
use crate::{DataError, Dataset, Split};

/// Magic of an IDX file of unsigned bytes with 3 dimensions (N, rows, cols).
pub(crate) const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic of an IDX file of unsigned bytes with 1 dimension (N).
pub(crate) const LABELS_MAGIC: u32 = 0x0000_0801;

/// Class names of Fashion-MNIST, label order (the files carry no names).
pub(crate) const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Which of the four files of an IDX dataset.
#[derive(Clone, Copy, Debug)]
enum Role {
    TrainImages,
    TrainLabels,
    TestImages,
    TestLabels,
}

impl Role {
    const ALL: [Role; 4] = [
        Role::TrainImages,
        Role::TrainLabels,
        Role::TestImages,
        Role::TestLabels,
    ];

    fn describe(self) -> &'static str {
        match self {
            Role::TrainImages => "train images",
            Role::TrainLabels => "train labels",
            Role::TestImages => "test images",
            Role::TestLabels => "test labels",
        }
    }

    /// (accepted prefixes, kind, number of dimensions) of this file's name.
    fn parts(self) -> (&'static [&'static str], &'static str, u8) {
        match self {
            Role::TrainImages => (&["train"], "images", 3),
            Role::TrainLabels => (&["train"], "labels", 1),
            Role::TestImages => (&["t10k", "test"], "images", 3),
            Role::TestLabels => (&["t10k", "test"], "labels", 1),
        }
    }

    /// Accepted file names, preferred first: `{prefix}-{kind}-idxD-ubyte`,
    /// the `{prefix}-{kind}.idxD-ubyte` variant some mirrors use, each with
    /// or without `.gz`.
    fn candidates(self) -> Vec<String> {
        let (prefixes, kind, dims) = self.parts();
        let mut names = Vec::new();
        for p in prefixes {
            for sep in ['-', '.'] {
                for ext in [".gz", ""] {
                    names.push(format!("{p}-{kind}{sep}idx{dims}-ubyte{ext}"));
                }
            }
        }
        names
    }

    /// The canonical names, for error messages.
    fn expected(self) -> String {
        let (prefixes, kind, dims) = self.parts();
        prefixes
            .iter()
            .map(|p| format!("{p}-{kind}-idx{dims}-ubyte[.gz]"))
            .collect::<Vec<_>>()
            .join(" or ")
    }

    fn find(self, dir: &Path) -> Option<PathBuf> {
        self.candidates()
            .into_iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file())
    }
}

/// True when `dir` holds at least one IDX file, i.e. it looks like an IDX
/// dataset (a partial one then gets a "missing file" error, not "unknown layout").
pub(crate) fn detect(dir: &Path) -> bool {
    Role::ALL.iter().any(|r| r.find(dir).is_some())
}

/// Human-readable list of the IDX file names we look for.
pub(crate) const EXPECTED: &str = "train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], \
     t10k-/test-images-idx3-ubyte[.gz], t10k-/test-labels-idx1-ubyte[.gz]";

/// Decoded images of one IDX file.
pub(crate) struct Images {
    pub rows: usize,
    pub cols: usize,
    pub count: usize,
    pub pixels: Vec<u8>,
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Checks the header length and magic; returns the header's u32 fields after the magic.
fn header<const N: usize>(bytes: &[u8], path: &Path, magic: u32) -> Result<[usize; N], DataError> {
    let header_len = 4 * (N + 1);
    // Magic first (when there are 4 bytes): a wrong file is a likelier
    // cause of a short header than a cut-off download.
    if bytes.len() < 4 {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected: header_len,
            found: bytes.len(),
        });
    }
    let found = be_u32(bytes, 0);
    if found != magic {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            expected: magic,
            found,
        });
    }
    if bytes.len() < header_len {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected: header_len,
            found: bytes.len(),
        });
    }
    Ok(std::array::from_fn(|i| be_u32(bytes, 4 * (i + 1)) as usize))
}

/// Checks that the payload after the header has exactly `payload` bytes.
fn check_length(
    bytes: &[u8],
    path: &Path,
    header_len: usize,
    payload: usize,
) -> Result<(), DataError> {
    let expected = header_len.saturating_add(payload);
    match bytes.len().cmp(&expected) {
        std::cmp::Ordering::Less => Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected,
            found: bytes.len(),
        }),
        std::cmp::Ordering::Greater => Err(DataError::TrailingBytes {
            path: path.to_path_buf(),
            expected,
            found: bytes.len(),
        }),
        std::cmp::Ordering::Equal => Ok(()),
    }
}

/// Parses a decompressed IDX images file; `path` names it in errors.
pub(crate) fn parse_images(bytes: &[u8], path: &Path) -> Result<Images, DataError> {
    let [count, rows, cols] = header::<3>(bytes, path, IMAGES_MAGIC)?;
    // checked_mul: a corrupt header could claim absurd sizes that overflow.
    let payload = count
        .checked_mul(rows)
        .and_then(|x| x.checked_mul(cols))
        .unwrap_or(usize::MAX - 16);
    check_length(bytes, path, 16, payload)?;
    if count == 0 || rows == 0 || cols == 0 {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
            what: "images".into(),
        });
    }
    Ok(Images {
        rows,
        cols,
        count,
        pixels: bytes[16..].to_vec(),
    })
}

/// Parses a decompressed IDX labels file; labels must be below `limit`.
pub(crate) fn parse_labels(bytes: &[u8], path: &Path, limit: usize) -> Result<Vec<u8>, DataError> {
    let [count] = header::<1>(bytes, path, LABELS_MAGIC)?;
    check_length(bytes, path, 8, count)?;
    let labels = bytes[8..].to_vec();
    crate::check_labels(&labels, path, limit)?;
    Ok(labels)
}

/// One decompressed file and the name it goes by in error messages.
pub(crate) struct Named {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

/// Builds a dataset from the four decompressed files (train images, train
/// labels, test images, test labels). Shared by folder loading and the
/// embedded digits.
pub(crate) fn build(
    name: String,
    source: String,
    class_names: Option<Vec<String>>,
    files: [Named; 4],
) -> Result<Dataset, DataError> {
    let limit = class_names.as_ref().map_or(crate::MAX_LABELS, Vec::len);
    let [train_img, train_lbl, test_img, test_lbl] = files;
    let train = split(&train_img, &train_lbl, limit)?;
    let test = split(&test_img, &test_lbl, limit)?;
    if (train.0, train.1) != (test.0, test.1) {
        return Err(DataError::SizeMismatch {
            train_path: train_img.path,
            train: format!("1x{}x{}", train.0, train.1),
            test_path: test_img.path,
            test: format!("1x{}x{}", test.0, test.1),
        });
    }
    Dataset::assemble(
        name,
        source,
        (1, train.0, train.1),
        class_names,
        train.2,
        test.2,
        &train_lbl.path,
    )
}

/// Parses one images/labels pair into (rows, cols, split).
fn split(images: &Named, labels: &Named, limit: usize) -> Result<(usize, usize, Split), DataError> {
    let img = parse_images(&images.bytes, &images.path)?;
    let lbl = parse_labels(&labels.bytes, &labels.path, limit)?;
    if img.count != lbl.len() {
        return Err(DataError::CountMismatch {
            images_path: images.path.clone(),
            images: img.count,
            labels_path: labels.path.clone(),
            labels: lbl.len(),
        });
    }
    let pixels = img.pixels.iter().map(|&p| f32::from(p)).collect();
    Ok((
        img.rows,
        img.cols,
        Split::new(pixels, lbl, img.rows * img.cols),
    ))
}

/// Loads an IDX folder. Fashion-MNIST (recognised by a folder name containing
/// "fashion") gets its class names; other folders get "0", "1", ...
pub(crate) fn load_dir(dir: &Path, name: String, source: String) -> Result<Dataset, DataError> {
    let load = |role: Role| -> Result<Named, DataError> {
        let path = role.find(dir).ok_or_else(|| DataError::MissingFile {
            dir: dir.to_path_buf(),
            what: role.describe().into(),
            expected: role.expected(),
        })?;
        let bytes = read_file(&path)?;
        Ok(Named { path, bytes })
    };
    let files = [
        load(Role::TrainImages)?,
        load(Role::TrainLabels)?,
        load(Role::TestImages)?,
        load(Role::TestLabels)?,
    ];
    let class_names = name.to_lowercase().contains("fashion").then(|| {
        FASHION_MNIST_CLASSES
            .iter()
            .map(|s| s.to_string())
            .collect()
    });
    build(name, source, class_names, files)
}
