//! `run.json`: the summary of `edgenas run` (search, retraining, export and
//! the measurement on the device), which `edgenas sweep` reads back.

use std::path::{Path, PathBuf};

use arch::{Genotype, Relaxation};
use serde::{Deserialize, Serialize};

use crate::config::{Algo, PenaltySettings};
use crate::{ArtifactError, read_json};

/// `run.json`. Paths are as the run was asked to write them (`--out`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    pub schema_version: u32,
    pub tool: String,
    /// The data source (`builtin:digits` or a folder).
    pub data: String,
    pub cell: Relaxation,
    pub algo: Algo,
    pub seed: u64,
    pub genotype: Genotype,
    /// `search`, or `random` for a random genotype drawn under the budget
    /// (`edgenas run --random-genotype`, the baseline of budget sweeps).
    #[serde(default = "searched")]
    pub genotype_source: String,
    /// None for a random genotype (no search).
    pub search_val_accuracy: Option<f64>,
    pub eval_val_accuracy: Option<f64>,
    pub test_accuracy: f64,
    pub test_samples: usize,
    /// The device profile the latency table was measured on.
    pub device: String,
    /// δ, P and the latency table (path, fingerprint) the search used.
    #[serde(flatten)]
    pub penalty: PenaltySettings,
    /// The calibrated table's prediction for the deployed network.
    pub predicted_latency_ms: f64,
    pub onnx_path: PathBuf,
    /// Parity of the exported model with burn (relative max error).
    pub onnx_parity_rel_error: Option<f64>,
    pub report_path: PathBuf,
    /// Accuracy (%) of the exported model in tract on the whole test split.
    pub tract_accuracy: f64,
    /// tract at batch 1, one thread.
    pub tract_latency_ms_p50: f64,
    pub tract_latency_ms_p90: f64,
    /// With a latency budget (`latency_budget_ms`): whether the measured
    /// p50 is within it, and by how much it is over (+) or under (−), in %
    /// of the budget.
    #[serde(default)]
    pub budget_met: Option<bool>,
    #[serde(default)]
    pub budget_over_pct: Option<f64>,
    /// Repair moves the budget needed after discretization.
    #[serde(default)]
    pub budget_repairs: Option<usize>,
    pub search_seconds: f64,
    pub retrain_seconds: f64,
    pub seconds: f64,
    pub genotype_path: PathBuf,
    pub search_metrics_path: PathBuf,
    pub weights_path: PathBuf,
    pub model_path: PathBuf,
    pub run_path: PathBuf,
}

fn searched() -> String {
    "search".into()
}

/// Whether a measured latency met `budget_ms`, and by how much (%) it is
/// over (+) or under (−) it.
pub fn budget_verdict(budget_ms: f64, measured_ms: f64) -> (bool, f64) {
    (
        measured_ms <= budget_ms,
        (measured_ms / budget_ms - 1.0) * 100.0,
    )
}

impl RunSummary {
    pub fn load(path: &Path) -> Result<Self, ArtifactError> {
        read_json(path, "a run summary (run.json)")
    }
}
