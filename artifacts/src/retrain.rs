//! The retraining stage's files: `model.json` (everything needed to rebuild
//! the network and feed it), next to `weights.bpk` and `metrics.jsonl` (one
//! [`RetrainEpoch`] per line).

use std::path::{Path, PathBuf};

use arch::{Genotype, NetworkConfig};
use datasets::Normalization;
use serde::{Deserialize, Serialize};

use crate::config::RetrainConfig;
use crate::search::DataInfo;
use crate::{ArtifactError, MODEL_FILE, read_json};

/// Per-epoch record of retraining.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RetrainEpoch {
    pub epoch: usize,
    pub lr: f64,
    pub drop_path: f64,
    pub train_loss: f64,
    /// Accuracy (%) on the training batches as they were seen (with
    /// augmentation and drop-path).
    pub train_accuracy: f64,
    pub seconds: f64,
}

/// `model.json`: everything needed to rebuild the retrained network and feed
/// it correctly (export and device-bench read it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelFile {
    pub schema_version: u32,
    pub tool: String,
    pub data: DataInfo,
    pub network: NetworkConfig,
    pub genotype: Genotype,
    /// Per-channel mean/std applied to raw pixel values before the network.
    pub normalization: Normalization,
    pub config: RetrainConfig,
    /// The weights file, relative to this file's folder.
    pub weights: String,
    /// Final-epoch accuracy (%) on the test split.
    pub test_accuracy: f64,
    pub test_samples: usize,
    pub epochs: Vec<RetrainEpoch>,
    pub seconds: f64,
}

impl ModelFile {
    /// Reads `dir/model.json`; the genotype is validated.
    pub fn load(dir: &Path) -> Result<Self, ArtifactError> {
        let path = dir.join(MODEL_FILE);
        let file: ModelFile = read_json(&path, "a model file")?;
        file.genotype
            .validate()
            .map_err(|e| ArtifactError::invalid(&path, e.to_string()))?;
        Ok(file)
    }

    /// The retrain folder inside `run`: `run` itself when it holds
    /// `model.json`, else its `retrain/` (a folder of `edgenas run`).
    pub fn find_dir(run: &Path) -> Result<PathBuf, ArtifactError> {
        if run.join(MODEL_FILE).is_file() {
            return Ok(run.to_path_buf());
        }
        let nested = run.join("retrain");
        if nested.join(MODEL_FILE).is_file() {
            return Ok(nested);
        }
        Err(ArtifactError::invalid(
            run,
            format!(
                "no {MODEL_FILE} here or in retrain/ (run `edgenas retrain` or `edgenas run` first)"
            ),
        ))
    }
}
