//! Architecture search (ICDARTS, first-order DARTS) and retraining of the
//! discretized evaluation network, on burn.

pub mod batch;
pub mod checkpoint;
pub mod device;
pub mod hessian;
pub mod icdarts;
pub mod latency;
pub mod random;
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
    /// The first non-finite loss or α of a run: it stops there and writes
    /// nothing.
    #[error(
        "{quantity} is {value} at {phase} epoch {epoch}, step {step}: the run stopped and wrote nothing (lower the learning rate, or check the data)"
    )]
    NonFinite {
        quantity: String,
        value: f64,
        phase: &'static str,
        epoch: usize,
        step: usize,
    },
    /// A signal asked the run to stop: it finished the step, wrote a
    /// checkpoint of where it stood and stopped.
    #[error("stopped by a signal in {phase} epoch {epoch} after step {step}; checkpoint written")]
    Interrupted {
        phase: &'static str,
        epoch: usize,
        step: usize,
    },
}

/// Where in a run a number was computed, for [`SearchError::NonFinite`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct At {
    pub phase: &'static str,
    pub epoch: usize,
    pub step: usize,
}

impl At {
    /// The stop of a run interrupted here.
    pub(crate) fn interrupted(self) -> SearchError {
        SearchError::Interrupted {
            phase: self.phase,
            epoch: self.epoch,
            step: self.step,
        }
    }

    /// `value`, or the error naming `quantity` and this place when it is
    /// NaN or infinite.
    pub(crate) fn finite(self, quantity: &str, value: f64) -> Result<f64, SearchError> {
        if value.is_finite() {
            Ok(value)
        } else {
            Err(SearchError::NonFinite {
                quantity: quantity.to_string(),
                value,
                phase: self.phase,
                epoch: self.epoch,
                step: self.step,
            })
        }
    }
}

impl From<ConfigError> for SearchError {
    fn from(e: ConfigError) -> Self {
        SearchError::Config(e.0)
    }
}
