//! The one error type of this crate: every variant names the file or folder at fault.

use std::path::PathBuf;

/// Why a dataset could not be loaded.
///
/// Messages are lower case, without a trailing period, and always name the
/// file or folder involved, so a CLI can print them as they are.
#[derive(thiserror::Error, Debug)]
pub enum DataError {
    /// The spec names a folder that does not exist.
    #[error("dataset folder {} not found", path.display())]
    MissingFolder { path: PathBuf },

    /// The spec names something that exists but is not a folder.
    #[error("dataset path {} is not a folder", path.display())]
    NotAFolder { path: PathBuf },

    /// `builtin:<name>` with a name we do not embed.
    #[error("unknown builtin dataset {spec:?}: the only builtin is \"builtin:digits\"")]
    UnknownBuiltin { spec: String },

    /// The folder holds neither IDX nor CIFAR-10 files.
    #[error("unknown dataset layout in {}: expected {expected}", dir.display())]
    UnknownLayout { dir: PathBuf, expected: String },

    /// The layout was recognised but one of its files is absent.
    #[error("missing {what} in {}: expected {expected}", dir.display())]
    MissingFile {
        dir: PathBuf,
        what: String,
        expected: String,
    },

    /// The OS refused to read a file.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The file starts with the gzip magic but does not decompress.
    #[error("bad gzip stream in {}: {source}", path.display())]
    Gzip {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Fewer bytes than the header (or the fixed header size) requires.
    #[error("truncated file {}: expected {expected} bytes, found {found}", path.display())]
    Truncated {
        path: PathBuf,
        expected: usize,
        found: usize,
    },

    /// More bytes than the IDX header says: most likely not the file we think.
    #[error("file {} is longer than its header says: expected {expected} bytes, found {found}", path.display())]
    TrailingBytes {
        path: PathBuf,
        expected: usize,
        found: usize,
    },

    /// IDX magic number is not the one for this kind of file.
    #[error("wrong magic number in {}: expected {expected:#010x}, found {found:#010x}", path.display())]
    BadMagic {
        path: PathBuf,
        expected: u32,
        found: u32,
    },

    /// CIFAR-10 binary length is not a whole number of records.
    #[error("truncated file {}: {len} bytes is not a multiple of the {record}-byte cifar-10 record", path.display())]
    PartialRecord {
        path: PathBuf,
        len: usize,
        record: usize,
    },

    /// A file with a valid header but no images (or no class names).
    #[error("no {what} in {}", path.display())]
    Empty { path: PathBuf, what: String },

    /// The images and labels files of one split disagree on the count.
    #[error("count mismatch: {} has {images} images but {} has {labels} labels", images_path.display(), labels_path.display())]
    CountMismatch {
        images_path: PathBuf,
        images: usize,
        labels_path: PathBuf,
        labels: usize,
    },

    /// A label outside the known classes (or 255, which we reserve).
    #[error("label {label} of record {index} in {} is out of range: must be below {limit}", path.display())]
    LabelOutOfRange {
        path: PathBuf,
        index: usize,
        label: u8,
        limit: usize,
    },

    /// Labels with a gap: no training image of class `missing`, images of
    /// classes above it.
    #[error("{} has no training image of class {missing} but {count} image(s) with higher labels: {labels}; these look stray and would make a {classes}-class problem (fix or drop them)", path.display())]
    StrayLabels {
        path: PathBuf,
        missing: usize,
        count: usize,
        labels: String,
        classes: usize,
    },

    /// Train and test images must have the same shape to share a network.
    #[error("image size differs between {} ({train}) and {} ({test})", train_path.display(), test_path.display())]
    SizeMismatch {
        train_path: PathBuf,
        train: String,
        test_path: PathBuf,
        test: String,
    },
}
