//! Whole stages as the CLI runs them: the work, its artifacts, the staged
//! output folder that is renamed into place only when everything
//! succeeded, and the checkpoint folder beside it that `--resume` continues
//! from ([`crate::checkpoint`]).

use std::path::Path;
use std::time::Instant;

use burn::tensor::Device;
use datasets::Dataset;
use models::Genotype;
use serde::{Deserialize, Serialize};

use crate::SearchError;
use crate::batch::DataRng;
use crate::checkpoint::{CheckpointStore, Checkpoints, Loaded, Record};
use crate::icdarts::{
    AlphaPenalty, EpochMetrics, EvalCheckpoint, SearchCheckpoint, SearchConfig, WithinEpoch,
    run_search_resumable,
};
use crate::progress::Progress;
use crate::report;
use crate::retrain::{PartialEpoch, RetrainConfig, RetrainEpoch, RetrainState, retrain_resumable};
use artifacts::StagedDir;
use artifacts::{ModelFile, SearchSummary};

/// Where a checkpointed stage stands, beside its records (`state.json`'s
/// `progress`).
#[derive(Serialize, Deserialize)]
struct SearchProgress {
    step: usize,
    alpha_steps_done: usize,
    /// E's steps since it was rebuilt (kept across epochs when S_U > 1).
    #[serde(default)]
    eval_step: usize,
    /// E's warm-up epochs, adaptive extensions included.
    #[serde(default)]
    eval_warmup_epochs: Option<usize>,
    rng: DataRng,
    metrics: Vec<EpochMetrics>,
    dual_coef: Option<f64>,
    /// Where in the next epoch a signal stopped the search.
    #[serde(default)]
    within: Option<WithinEpoch>,
    /// E's genotype then (its records are `eval` and `opt_eval`).
    #[serde(default)]
    eval_genotype: Option<Genotype>,
}

#[derive(Serialize, Deserialize)]
struct RetrainProgress {
    epochs: Vec<RetrainEpoch>,
    step: usize,
    rng: DataRng,
    /// The epoch a signal stopped between two steps.
    #[serde(default)]
    partial: Option<PartialEpoch>,
}

/// After a failure: where the last checkpoint is, unless a signal stopped
/// the stage (its handler says so as the process exits).
fn announce_kept(store: &CheckpointStore, error: &SearchError) {
    if !matches!(error, SearchError::Interrupted { .. }) {
        store.announce_kept();
    }
}

/// The store of the stage writing `out`, or the refusal of a checkpoint
/// left there when not resuming; with `resume`, the checkpoint to continue.
fn open_store(
    out: &Path,
    kind: &'static str,
    identity: serde_json::Value,
    replace: bool,
    resume: bool,
) -> Result<(CheckpointStore, Option<Loaded>), SearchError> {
    let store = CheckpointStore::beside(out, kind, identity);
    if resume {
        let loaded = store.load()?;
        Ok((store, loaded))
    } else {
        store.clear_or_refuse(out, replace)?;
        Ok((store, None))
    }
}

/// Runs a search and commits its artifacts to `out`. After every epoch
/// (pretraining included) the state goes to the checkpoint folder beside
/// `out`; with `resume`, a checkpoint of the same search found there is
/// continued, bit for bit as if never interrupted. The checkpoint is
/// removed once `out` is committed.
#[allow(clippy::too_many_arguments)]
pub fn search_into(
    config: &SearchConfig,
    data: &Dataset,
    device: &Device,
    penalty: Option<&dyn AlphaPenalty>,
    progress: &dyn Progress,
    out: &Path,
    replace: bool,
    resume: bool,
) -> Result<SearchSummary, SearchError> {
    let staged = StagedDir::create(out, replace)?;
    let identity = serde_json::json!({
        "config": config,
        "data": artifacts::DataInfo::of(data),
        "penalty": penalty.and_then(|p| p.settings()),
    });
    let (store, loaded) = open_store(out, "search", identity, replace, resume)?;
    let resume_state = match loaded {
        Some(l) => {
            let p: SearchProgress = l.progress()?;
            let eval = match p.eval_genotype {
                Some(genotype) => Some(EvalCheckpoint {
                    genotype,
                    net: l.module("eval")?,
                    optimizer: l.optimizer("opt_eval")?,
                }),
                None => None,
            };
            Some(SearchCheckpoint {
                epochs_done: p.metrics.len(),
                step: p.step,
                alpha_steps_done: p.alpha_steps_done,
                eval_step: p.eval_step,
                eval_warmup_epochs: p.eval_warmup_epochs,
                rng: p.rng,
                metrics: p.metrics,
                dual_coef: p.dual_coef,
                within: p.within,
                eval,
                net: l.module("net")?,
                alphas: l.module("alphas")?,
                opt_w: l.optimizer("opt_w")?,
                opt_alpha: l.optimizer("opt_alpha")?,
            })
        }
        None => None,
    };
    let started = Instant::now();
    let mut lines: Vec<EpochMetrics> = resume_state
        .as_ref()
        .map_or_else(Vec::new, |s| s.metrics.clone());
    if !lines.is_empty() {
        report::write_metrics_lines(staged.path(), &lines)?;
    }
    // A signal now lets the current step finish and its state be saved.
    let step_loop = artifacts::io::StepLoop::enter();
    let outcome = run_search_resumable(
        config,
        data,
        device,
        penalty,
        progress,
        &mut |m| {
            lines.push(m.clone());
            report::write_metrics_lines(staged.path(), &lines)
        },
        Checkpoints {
            resume: resume_state,
            save: Box::new(|c| {
                let mut records = vec![
                    ("net", Record::Module(c.net)),
                    ("alphas", Record::Module(c.alphas)),
                    ("opt_w", Record::Optimizer(c.opt_w)),
                    ("opt_alpha", Record::Optimizer(c.opt_alpha)),
                ];
                let eval_genotype = c.eval.map(|e| {
                    records.push(("eval", Record::Module(e.net)));
                    records.push(("opt_eval", Record::Optimizer(e.optimizer)));
                    e.genotype
                });
                let progress = SearchProgress {
                    step: c.step,
                    alpha_steps_done: c.alpha_steps_done,
                    eval_step: c.eval_step,
                    eval_warmup_epochs: c.eval_warmup_epochs,
                    rng: c.rng,
                    metrics: c.metrics,
                    dual_coef: c.dual_coef,
                    within: c.within,
                    eval_genotype,
                };
                store.save(
                    c.epochs_done,
                    progress.within.is_some(),
                    serde_json::to_value(&progress).expect("the progress serializes"),
                    records,
                )
            }),
            stop: Box::new(artifacts::io::stop_requested),
        },
    )
    .inspect_err(|e| announce_kept(&store, e));
    drop(step_loop);
    let outcome = outcome?;
    let seconds = started.elapsed().as_secs_f64();
    let summary = report::write_search(staged.path(), config, data, &outcome, seconds)?;
    staged.commit()?;
    store.remove();
    Ok(summary)
}

/// Retrains the evaluation network of `genotype` and commits its artifacts
/// to `out`, with checkpoints and `resume` as for [`search_into`].
#[allow(clippy::too_many_arguments)]
pub fn retrain_into(
    config: &RetrainConfig,
    genotype: &Genotype,
    data: &Dataset,
    device: &Device,
    progress: &dyn Progress,
    out: &Path,
    replace: bool,
    resume: bool,
) -> Result<ModelFile, SearchError> {
    let staged = StagedDir::create(out, replace)?;
    let identity = serde_json::json!({
        "config": config,
        "genotype": genotype,
        "data": artifacts::DataInfo::of(data),
    });
    let (store, loaded) = open_store(out, "retraining", identity, replace, resume)?;
    let resume_state = match loaded {
        Some(l) => {
            let p: RetrainProgress = l.progress()?;
            Some(RetrainState {
                epochs: p.epochs,
                step: p.step,
                rng: p.rng,
                partial: p.partial,
                weights: l.module("weights")?,
                optimizer: l.optimizer("optimizer")?,
            })
        }
        None => None,
    };
    let started = Instant::now();
    let mut lines: Vec<RetrainEpoch> = resume_state
        .as_ref()
        .map_or_else(Vec::new, |s| s.epochs.clone());
    if !lines.is_empty() {
        report::write_metrics_lines(staged.path(), &lines)?;
    }
    // A signal now lets the current step finish and its state be saved.
    let step_loop = artifacts::io::StepLoop::enter();
    let outcome = retrain_resumable(
        config,
        genotype,
        data,
        device,
        progress,
        &mut |e| {
            lines.push(e.clone());
            report::write_metrics_lines(staged.path(), &lines)
        },
        Checkpoints {
            resume: resume_state,
            save: Box::new(|s| {
                let done = s.epochs.len();
                let progress = RetrainProgress {
                    epochs: s.epochs,
                    step: s.step,
                    rng: s.rng,
                    partial: s.partial,
                };
                store.save(
                    done,
                    progress.partial.is_some(),
                    serde_json::to_value(&progress).expect("the progress serializes"),
                    vec![
                        ("weights", Record::Module(s.weights)),
                        ("optimizer", Record::Optimizer(s.optimizer)),
                    ],
                )
            }),
            stop: Box::new(artifacts::io::stop_requested),
        },
    )
    .inspect_err(|e| announce_kept(&store, e));
    drop(step_loop);
    let outcome = outcome?;
    let seconds = started.elapsed().as_secs_f64();
    let model = report::write_retrain(staged.path(), config, data, genotype, &outcome, seconds)?;
    staged.commit()?;
    store.remove();
    Ok(model)
}
