//! The files a search or a retraining run leaves in its output folder, each
//! versioned and self-describing (SPEC §1): what produced it, from which
//! inputs, and everything a later stage needs to rebuild the network.

use std::path::Path;

use burn::module::Module;
use datasets::{Dataset, Normalization};
use models::{EvalNetwork, EvalNetworkConfig, Genotype, NetworkConfig};
use serde::{Deserialize, Serialize};

use crate::SearchError;
use crate::artifact::{write_atomic, write_json};
use crate::icdarts::{EpochMetrics, SearchConfig, SearchOutcome};
use crate::retrain::{RetrainConfig, RetrainEpoch, RetrainOutcome};

/// Version of the JSON artifacts written here.
pub const ARTIFACT_SCHEMA_VERSION: u32 = 1;

pub const GENOTYPE_FILE: &str = "genotype.json";
pub const ALPHAS_FILE: &str = "alphas.json";
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const SEARCH_FILE: &str = "search.json";
pub const WEIGHTS_FILE: &str = "weights.bpk";
pub const MODEL_FILE: &str = "model.json";

/// The producing tool, recorded in every artifact.
pub fn tool_version() -> String {
    format!("edgenas {}", env!("CARGO_PKG_VERSION"))
}

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
    pub fn load(path: &Path) -> Result<Genotype, SearchError> {
        let text = std::fs::read_to_string(path).map_err(|source| SearchError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let file: GenotypeFile =
            serde_json::from_str(&text).map_err(|e| SearchError::Artifact {
                path: path.to_path_buf(),
                message: format!("not a genotype file: {e}"),
            })?;
        file.genotype
            .validate()
            .map_err(|e| SearchError::Artifact {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
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
    /// The latency penalty's settings (δ, P, table), when there was one.
    #[serde(default)]
    pub latency: Option<serde_json::Value>,
    /// Predicted latency (ms) of the final genotype's deployed network.
    #[serde(default)]
    pub predicted_latency_ms: Option<f64>,
    pub seconds: f64,
}

/// `alphas.json`: the final architecture parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlphasFile {
    pub schema_version: u32,
    pub tool: String,
    pub relaxation: models::Relaxation,
    pub ops: Vec<models::OpKind>,
    /// `[node, predecessor]` of each α row.
    pub edges: Vec<(usize, usize)>,
    pub normal: Vec<Vec<f32>>,
    pub reduce: Vec<Vec<f32>>,
}

/// Rewrites `metrics.jsonl` atomically with every line so far, so the log is
/// complete after each epoch and never half-written.
pub fn write_metrics_lines<T: Serialize>(dir: &Path, lines: &[T]) -> Result<(), SearchError> {
    let mut text = String::new();
    for line in lines {
        text.push_str(&serde_json::to_string(line).expect("metrics serialize"));
        text.push('\n');
    }
    write_atomic(&dir.join(METRICS_FILE), text.as_bytes())
}

/// Writes `genotype.json`, `alphas.json` and `search.json` of a finished search.
pub fn write_search(
    dir: &Path,
    config: &SearchConfig,
    data: &Dataset,
    outcome: &SearchOutcome,
    seconds: f64,
) -> Result<SearchSummary, SearchError> {
    write_json(
        &dir.join(GENOTYPE_FILE),
        &GenotypeFile {
            genotype: outcome.genotype.clone(),
            tool: Some(tool_version()),
            data: Some(data.source.clone()),
            seed: Some(config.seed),
        },
    )?;
    let [_, n_ops] = outcome.alpha_shape;
    let rows = |v: &[f32]| v.chunks(n_ops).map(|r| r.to_vec()).collect::<Vec<_>>();
    write_json(
        &dir.join(ALPHAS_FILE),
        &AlphasFile {
            schema_version: ARTIFACT_SCHEMA_VERSION,
            tool: tool_version(),
            relaxation: config.relaxation,
            ops: config.space().ops().to_vec(),
            edges: models::space::cell_edges(config.nodes),
            normal: rows(&outcome.alpha_normal),
            reduce: rows(&outcome.alpha_reduce),
        },
    )?;
    let last: Option<&EpochMetrics> = outcome.metrics.last();
    let summary = SearchSummary {
        schema_version: ARTIFACT_SCHEMA_VERSION,
        tool: tool_version(),
        data: DataInfo::of(data),
        config: config.clone(),
        normalization: outcome.normalization.clone(),
        search_network: outcome.search_network.clone(),
        eval_network: outcome.eval_network.clone(),
        genotype: outcome.genotype.clone(),
        final_search_val_accuracy: last.map_or(0.0, |m| m.search_val_accuracy),
        final_eval_val_accuracy: last.and_then(|m| m.eval_val_accuracy),
        latency: outcome.latency.clone(),
        predicted_latency_ms: last.and_then(|m| m.predicted_latency_ms),
        seconds,
    };
    write_json(&dir.join(SEARCH_FILE), &summary)?;
    Ok(summary)
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
    pub weights: String,
    /// Final-epoch accuracy (%) on the test split.
    pub test_accuracy: f64,
    pub test_samples: usize,
    pub epochs: Vec<RetrainEpoch>,
    pub seconds: f64,
}

impl ModelFile {
    /// Reads `model.json` and the weights next to it into a ready network.
    pub fn load_model(
        dir: &Path,
        device: &burn::tensor::Device,
    ) -> Result<(ModelFile, EvalNetwork), SearchError> {
        let path = dir.join(MODEL_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| SearchError::Io {
            path: path.clone(),
            source,
        })?;
        let file: ModelFile = serde_json::from_str(&text).map_err(|e| SearchError::Artifact {
            path: path.clone(),
            message: format!("not a model file: {e}"),
        })?;
        let weights = dir.join(&file.weights);
        let record =
            burn::store::ModuleRecord::load(&weights).map_err(|e| SearchError::Artifact {
                path: weights.clone(),
                message: format!("cannot read weights: {e}"),
            })?;
        let model = EvalNetworkConfig::new(file.network.clone(), file.genotype.clone())
            .with_auxiliary(file.config.aux_weight > 0.0)
            .init(device)
            .try_load_record(record)
            .map_err(|e| SearchError::Artifact {
                path: weights,
                message: format!("weights do not fit the network in model.json: {e}"),
            })?;
        Ok((file, model))
    }
}

/// Writes `weights.bpk` and `model.json` of a finished retraining.
pub fn write_retrain(
    dir: &Path,
    config: &RetrainConfig,
    data: &Dataset,
    genotype: &Genotype,
    outcome: &RetrainOutcome,
    seconds: f64,
) -> Result<ModelFile, SearchError> {
    let weights_path = dir.join(WEIGHTS_FILE);
    let bytes = outcome
        .model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| SearchError::Artifact {
            path: weights_path.clone(),
            message: format!("cannot serialize weights: {e}"),
        })?;
    write_atomic(&weights_path, &bytes)?;
    let file = ModelFile {
        schema_version: ARTIFACT_SCHEMA_VERSION,
        tool: tool_version(),
        data: DataInfo::of(data),
        network: outcome.network.clone(),
        genotype: genotype.clone(),
        normalization: outcome.normalization.clone(),
        config: config.clone(),
        weights: WEIGHTS_FILE.into(),
        test_accuracy: outcome.test_accuracy,
        test_samples: outcome.test_samples,
        epochs: outcome.epochs.clone(),
        seconds,
    };
    write_json(&dir.join(MODEL_FILE), &file)?;
    Ok(file)
}
