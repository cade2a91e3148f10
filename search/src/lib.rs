//! Architecture search (ICDARTS, first-order DARTS) and retraining of the
//! discretized evaluation network, on burn.

pub mod batch;
pub mod device;
pub mod icdarts;
pub mod latency;
/// The progress hook (defined with the artifacts every stage shares).
pub use artifacts::progress;
pub mod report;
pub mod retrain;
pub mod stage;
pub mod train;

use std::path::PathBuf;

use artifacts::{ArtifactError, ConfigError};

pub use artifacts::{
    Algo, EpochMetrics, PenaltyKind, PenaltySettings, RetrainConfig, SearchConfig,
};
pub use device::{Backend, training_device};
pub use icdarts::{AlphaPenalty, DualAscent, PenaltyTerm, SearchOutcome, run_search};
pub use retrain::{RetrainOutcome, retrain};

/// Errors of the search and retraining stages.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// Reading or writing an artifact (the error names the file).
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A latency budget that cannot be met or used.
    #[error("latency budget: {0}")]
    Budget(String),
    /// A weights file that cannot be read, written or loaded into its
    /// network.
    #[error("{path}: {message}")]
    Weights { path: PathBuf, message: String },
}

impl From<ConfigError> for SearchError {
    fn from(e: ConfigError) -> Self {
        SearchError::Config(e.0)
    }
}
