//! Writing the search and retraining stages' artifacts (their types live in
//! the `artifacts` crate; `export::load_retrained` reads a retrained
//! network back).

use std::path::Path;

use artifacts::{
    ALPHAS_FILE, ARTIFACT_SCHEMA_VERSION, AlphasFile, DataInfo, GENOTYPE_FILE, GenotypeFile,
    METRICS_FILE, MODEL_FILE, ModelFile, SEARCH_FILE, SearchSummary, WEIGHTS_FILE, tool_version,
    write_atomic, write_json,
};
use burn::module::Module;
use datasets::Dataset;
use models::Genotype;
use serde::Serialize;

use crate::SearchError;
use crate::icdarts::{EpochMetrics, SearchConfig, SearchOutcome};
use crate::retrain::{RetrainConfig, RetrainOutcome};

/// Rewrites `metrics.jsonl` atomically with every line so far, so the log is
/// complete after each epoch and never half-written.
pub fn write_metrics_lines<T: Serialize>(dir: &Path, lines: &[T]) -> Result<(), SearchError> {
    let mut text = String::new();
    for line in lines {
        text.push_str(&serde_json::to_string(line).expect("metrics serialize"));
        text.push('\n');
    }
    Ok(write_atomic(&dir.join(METRICS_FILE), text.as_bytes())?)
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
    // The epoch whose architecture the search returned: the last, the one
    // an early stop went back to, or random search's chosen candidate.
    let last: Option<&EpochMetrics> = match (outcome.early_stop, config.algo) {
        (Some(stop), _) => outcome.metrics.get(stop.returned_epoch),
        // Random search: the chosen candidate's line.
        (None, artifacts::Algo::Random) => outcome
            .metrics
            .iter()
            .find(|m| m.genotype == outcome.genotype),
        (None, _) => outcome.metrics.last(),
    };
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
        lr_alpha: outcome.lr_alpha,
        final_alpha_std: last.map_or((0.0, 0.0), |m| (m.alpha_std_normal, m.alpha_std_reduce)),
        final_min_margin: last.map_or((0.0, 0.0), |m| (m.min_margin_normal, m.min_margin_reduce)),
        latency: outcome.latency.clone(),
        predicted_latency_ms: match &outcome.budget {
            Some(b) => Some(b.predicted_ms),
            None => last.and_then(|m| m.predicted_latency_ms),
        },
        early_stop: outcome.early_stop,
        budget: outcome.budget.clone(),
        seconds,
    };
    write_json(&dir.join(SEARCH_FILE), &summary)?;
    Ok(summary)
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
        .map_err(|e| SearchError::Weights {
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
