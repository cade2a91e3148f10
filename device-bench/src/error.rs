//! The one error type of the crate: every variant names the file at fault.

use std::path::PathBuf;

/// Why a run, a baseline or a gate could not produce its result.
///
/// Messages are lower case, one line, without a trailing period, and name
/// the file involved, so the binary prints them as they are. Every variant
/// is "bad input or broken environment": the binary maps all of them to exit
/// code 2 and keeps exit code 1 for a measured regression.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The OS refused to read a file.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The OS refused to write a file.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The bytes are not an ONNX protobuf (corrupt or truncated file).
    #[error("{}: not a valid onnx model ({message})", path.display())]
    NotOnnx { path: PathBuf, message: String },

    /// The model parses but is not what an edgenas export looks like: no
    /// edgenas metadata, no single float input, inconsistent metadata.
    #[error("{}: {message}", path.display())]
    Model { path: PathBuf, message: String },

    /// The model's image shape differs from the data's.
    #[error(
        "{}: the model takes {model} images but the data {data_source} has {data} images",
        path.display()
    )]
    InputShape {
        path: PathBuf,
        model: String,
        data_source: String,
        data: String,
    },

    /// The model's class count differs from the data's.
    #[error(
        "{}: the model has {model} classes but the data {data_source} has {data}",
        path.display()
    )]
    Classes {
        path: PathBuf,
        model: usize,
        data_source: String,
        data: usize,
    },

    /// tract could not load, optimize or run the model (the message names
    /// the file and the action).
    #[error(transparent)]
    Runtime(#[from] ::runtime::RuntimeError),

    /// A report or baseline file that is not JSON, not ours, or of another
    /// schema version.
    #[error("{}: {message}", path.display())]
    Report { path: PathBuf, message: String },

    /// A report and a baseline that measure different things.
    #[error("{} and {} are not comparable: {message}", report.display(), baseline.display())]
    Incomparable {
        report: PathBuf,
        baseline: PathBuf,
        message: String,
    },

    /// The `--remote` device could not be reached or refused to time the
    /// model (the message names its address).
    #[error(transparent)]
    Remote(#[from] ::runtime::remote::RemoteError),

    /// A device this build cannot run on.
    #[error(
        "device {0:?} is not supported here: device-bench runs tract on the host cpu (--device cpu); run it on the target machine itself, or time there with --remote"
    )]
    UnsupportedDevice(String),

    /// A setting out of range (batch 0, no repeats).
    #[error("invalid option: {0}")]
    Option(String),

    /// The dataset could not be loaded (the message names the folder/file).
    #[error(transparent)]
    Data(#[from] datasets::DataError),
}
