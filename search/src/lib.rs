//! Architecture search (ICDARTS, first-order DARTS) and retraining of the
//! discretized evaluation network, on burn.

pub mod artifact;
pub mod batch;
pub mod bench;
pub mod device;
pub mod icdarts;
pub mod latency;
pub mod progress;
pub mod report;
pub mod retrain;
pub mod stage;
pub mod train;

use std::path::PathBuf;

pub use device::{Backend, training_device};
pub use icdarts::{Algo, AlphaPenalty, EpochMetrics, SearchConfig, SearchOutcome, run_search};
pub use retrain::{RetrainConfig, RetrainOutcome, retrain};

/// Errors of the search and retraining stages.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("output folder {0} already exists and is not empty (pass --force to replace it)")]
    OutputExists(PathBuf),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("{path}: {message}")]
    Artifact { path: PathBuf, message: String },
}
