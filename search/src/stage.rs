//! Whole stages as the CLI runs them: the work, its artifacts, and the staged
//! output folder that is renamed into place only when everything succeeded.

use std::path::Path;
use std::time::Instant;

use burn::tensor::Device;
use datasets::Dataset;
use models::Genotype;

use crate::SearchError;
use crate::icdarts::{AlphaPenalty, SearchConfig, run_search};
use crate::progress::Progress;
use artifacts::StagedDir;
use artifacts::{ModelFile, SearchSummary};

use crate::report;
use crate::retrain::{RetrainConfig, retrain};

/// Runs a search and commits its artifacts to `out`.
pub fn search_into(
    config: &SearchConfig,
    data: &Dataset,
    device: &Device,
    penalty: Option<&dyn AlphaPenalty>,
    progress: &dyn Progress,
    out: &Path,
    replace: bool,
) -> Result<SearchSummary, SearchError> {
    let staged = StagedDir::create(out, replace)?;
    let started = Instant::now();
    let mut lines = Vec::new();
    let outcome = run_search(config, data, device, penalty, progress, &mut |m| {
        lines.push(m.clone());
        report::write_metrics_lines(staged.path(), &lines)
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let summary = report::write_search(staged.path(), config, data, &outcome, seconds)?;
    staged.commit()?;
    Ok(summary)
}

/// Retrains the evaluation network of `genotype` and commits its artifacts
/// to `out`.
pub fn retrain_into(
    config: &RetrainConfig,
    genotype: &Genotype,
    data: &Dataset,
    device: &Device,
    progress: &dyn Progress,
    out: &Path,
    replace: bool,
) -> Result<ModelFile, SearchError> {
    let staged = StagedDir::create(out, replace)?;
    let started = Instant::now();
    let mut lines = Vec::new();
    let outcome = retrain(config, genotype, data, device, progress, &mut |e| {
        lines.push(e.clone());
        report::write_metrics_lines(staged.path(), &lines)
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let model = report::write_retrain(staged.path(), config, data, genotype, &outcome, seconds)?;
    staged.commit()?;
    Ok(model)
}
