//! The search stage's files: `genotype.json`, `alphas.json`,
//! `metrics.jsonl` (one [`EpochMetrics`] per line) and `search.json`.

use std::path::Path;

use arch::repair::Repair;
use arch::{Genotype, NetworkConfig, OpKind, Relaxation};
use datasets::{Dataset, Normalization};
use serde::{Deserialize, Serialize};

use crate::config::{PenaltySettings, SearchConfig};
use crate::{ArtifactError, read_json};

/// Where the data came from and what it looks like.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DataInfo {
    pub source: String,
    pub name: String,
    pub channels: usize,
    pub image_size: usize,
    pub num_classes: usize,
    pub class_names: Vec<String>,
    pub train_images: usize,
    pub test_images: usize,
}

impl DataInfo {
    pub fn of(data: &Dataset) -> Self {
        Self {
            source: data.source.clone(),
            name: data.name.clone(),
            channels: data.channels,
            image_size: data.height,
            num_classes: data.num_classes,
            class_names: data.class_names.clone(),
            train_images: data.train.len,
            test_images: data.test.len,
        }
    }
}

/// `genotype.json`: the discretized architecture plus its provenance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenotypeFile {
    #[serde(flatten)]
    pub genotype: Genotype,
    #[serde(default)]
    pub tool: Option<String>,
    #[serde(default)]
    pub data: Option<String>,
    #[serde(default)]
    pub seed: Option<u64>,
}

impl GenotypeFile {
    /// Reads and validates a genotype file.
    pub fn load(path: &Path) -> Result<Genotype, ArtifactError> {
        let file: GenotypeFile = read_json(path, "a genotype file")?;
        file.genotype
            .validate()
            .map_err(|e| ArtifactError::invalid(path, e.to_string()))?;
        Ok(file.genotype)
    }
}

/// `search.json`: the summary of a search run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchSummary {
    pub schema_version: u32,
    pub tool: String,
    pub data: DataInfo,
    pub config: SearchConfig,
    pub normalization: Normalization,
    pub search_network: NetworkConfig,
    pub eval_network: NetworkConfig,
    pub genotype: Genotype,
    pub final_search_val_accuracy: f64,
    pub final_eval_val_accuracy: Option<f64>,
    /// The α learning rate the search ran with (`config.lr_alpha`, or the
    /// one scaled to its length).
    #[serde(default)]
    pub lr_alpha: f64,
    /// σ_α and the smallest edge margin of the final α, per cell type.
    #[serde(default)]
    pub final_alpha_std: (f64, f64),
    #[serde(default)]
    pub final_min_margin: (f64, f64),
    /// The latency penalty's settings (δ, P, table), when there was one.
    #[serde(default)]
    pub latency: Option<PenaltySettings>,
    /// Predicted latency (ms) of the final genotype's deployed network.
    #[serde(default)]
    pub predicted_latency_ms: Option<f64>,
    /// Where DARTS-ES's rule stopped the search, when it did.
    #[serde(default)]
    pub early_stop: Option<EarlyStopOutcome>,
    /// How a latency budget was met, when the search had one.
    #[serde(default)]
    pub budget: Option<BudgetOutcome>,
    pub seconds: f64,
}

/// Where DARTS-ES's rule stopped a search (epochs numbered as in
/// `metrics.jsonl`, pretraining included).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopOutcome {
    /// The last epoch run.
    pub stopped_after_epoch: usize,
    /// The epoch whose α and genotype the search returned.
    pub returned_epoch: usize,
    /// λ̄(returned) / λ̄(stopped after), below the rule's ratio.
    pub eigenvalue_ratio: f64,
}

/// How a budget search ended (docs/algorithms.md §4.4).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BudgetOutcome {
    pub budget_ms: f64,
    /// The predicted latency of the fastest genotype the space allows.
    pub cheapest_ms: f64,
    /// The discretized genotype before any repair, and its prediction.
    pub discretized: Genotype,
    pub discretized_ms: f64,
    /// The final genotype's prediction (≤ budget_ms).
    pub predicted_ms: f64,
    /// Every repair move, in order.
    pub repairs: Vec<Repair>,
    /// True when single-move repairs got stuck above the budget and the
    /// fastest genotype replaced the result.
    pub replaced_by_cheapest: bool,
    /// δ after the last α step.
    pub final_coef: f64,
}

/// One α step of a search with a latency penalty, as `metrics.jsonl` logs
/// it (in its epoch's line).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AlphaStep {
    /// α step index, from 0 at the first search epoch.
    pub step: usize,
    /// δ this step used.
    pub coef: f64,
    /// P(α) before the step, unscaled (ms, normalized weights, or
    /// P(α)/budget under a budget).
    pub penalty: f64,
    /// Predicted latency (ms) of the genotype discretized after the step.
    pub predicted_ms: f64,
}

impl SearchSummary {
    pub fn load(path: &Path) -> Result<Self, ArtifactError> {
        read_json(path, "a search summary (search.json)")
    }
}

/// `alphas.json`: the final architecture parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlphasFile {
    pub schema_version: u32,
    pub tool: String,
    pub relaxation: Relaxation,
    pub ops: Vec<OpKind>,
    /// `[node, predecessor]` of each α row.
    pub edges: Vec<(usize, usize)>,
    pub normal: Vec<Vec<f32>>,
    pub reduce: Vec<Vec<f32>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    /// `pretrain` or `search`.
    pub phase: String,
    pub lr_weights: f64,
    pub loss_alpha: Option<f64>,
    pub loss_search_train: f64,
    pub loss_eval_train: Option<f64>,
    pub kd_train: Option<f64>,
    /// Accuracy (%) on `val` of the search network.
    pub search_val_accuracy: f64,
    /// Accuracy (%) on `val` of the evaluation network built from the
    /// discretized α of this epoch (the discretization gap is the difference).
    pub eval_val_accuracy: Option<f64>,
    /// Accuracy (%) on `val` of that network right after its warm-up, when
    /// it starts teaching: a teacher near chance teaches noise.
    #[serde(default)]
    pub eval_warmup_val_accuracy: Option<f64>,
    /// The warm-up epochs that network got (W, or more under the adaptive
    /// warm-up).
    #[serde(default)]
    pub eval_warmup_epochs: Option<usize>,
    /// DARTS-ES: the dominant eigenvalue of ∇²_α L_val per cell type after
    /// a search epoch (docs/algorithms.md §7).
    #[serde(default)]
    pub hessian_eigenvalue_normal: Option<f64>,
    #[serde(default)]
    pub hessian_eigenvalue_reduce: Option<f64>,
    /// The α learning rate in effect.
    #[serde(default)]
    pub lr_alpha: f64,
    /// Population std of softmax(α) per edge, and overall.
    pub alpha_std_normal: f64,
    pub alpha_std_reduce: f64,
    pub edge_std_normal: Vec<f64>,
    pub edge_std_reduce: Vec<f64>,
    /// The smallest margin between an edge's two strongest ops (softmax of
    /// α), per cell type: near 0, some edge's choice is noise.
    #[serde(default)]
    pub min_margin_normal: f64,
    #[serde(default)]
    pub min_margin_reduce: f64,
    /// Entropy (nats) of each edge's softmax(α).
    pub edge_entropy_normal: Vec<f64>,
    pub edge_entropy_reduce: Vec<f64>,
    pub genotype: Genotype,
    /// α at the end of the epoch, row-major `[edges, ops]` per cell type
    /// (an early stop returns an earlier epoch's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alpha_normal: Vec<f32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alpha_reduce: Vec<f32>,
    /// P(α) (unscaled) and the predicted latency of `genotype` (ms), when
    /// the search has a latency penalty.
    #[serde(default)]
    pub latency_penalty: Option<f64>,
    #[serde(default)]
    pub predicted_latency_ms: Option<f64>,
    /// Every α step of the epoch: δ, P(α) and the predicted latency.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alpha_steps: Vec<AlphaStep>,
    pub seconds: f64,
}
