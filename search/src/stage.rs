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

use crate::batch::DataRng;
use crate::report;
use crate::retrain::{Checkpoints, RetrainConfig, RetrainEpoch, RetrainState, retrain_resumable};

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
/// to `out`. After every epoch the state goes to the checkpoint folder
/// beside `out` ([`checkpoint_dir`]); with `resume`, a checkpoint of the
/// same retraining found there is continued (bit for bit as if never
/// interrupted). The checkpoint is removed once `out` is committed.
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
    let store = CheckpointStore::beside(out, config, genotype, data);
    let state = if resume {
        store.load()?
    } else {
        if store.dir.exists() {
            if !replace {
                return Err(SearchError::Config(format!(
                    "{} holds the checkpoint of an interrupted retraining to {}: pass --resume to continue it, or --force to start again",
                    store.dir.display(),
                    out.display()
                )));
            }
            std::fs::remove_dir_all(&store.dir)
                .map_err(|e| artifacts::ArtifactError::io(&store.dir, e))?;
        }
        None
    };
    let started = Instant::now();
    let mut lines: Vec<RetrainEpoch> = state.as_ref().map_or_else(Vec::new, |s| s.epochs.clone());
    if !lines.is_empty() {
        report::write_metrics_lines(staged.path(), &lines)?;
    }
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
            resume: state,
            save: &mut |s| store.save(s),
        },
    );
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) => {
            if store.dir.join(STATE_FILE).exists() {
                log::warn!(
                    "the retraining's last checkpoint is kept in {}: run the same command with --resume to continue it",
                    store.dir.display()
                );
            }
            return Err(e);
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let model = report::write_retrain(staged.path(), config, data, genotype, &outcome, seconds)?;
    staged.commit()?;
    store.remove();
    Ok(model)
}

const STATE_FILE: &str = "state.json";
const CHECKPOINT_KIND: &str = "edgenas-retrain-checkpoint";

/// The checkpoint folder of a retraining into `out`: `.NAME.checkpoint`
/// beside it.
pub fn checkpoint_dir(out: &Path) -> std::path::PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    out.with_file_name(format!(".{name}.checkpoint"))
}

/// `state.json` of a checkpoint: what it belongs to, where the run stood,
/// and the files holding its weights and optimizer state.
#[derive(serde::Serialize, serde::Deserialize)]
struct CheckpointState {
    kind: String,
    schema_version: u32,
    tool: String,
    /// What was being retrained: a checkpoint resumes only the same run.
    identity: serde_json::Value,
    epochs: Vec<RetrainEpoch>,
    step: usize,
    rng: DataRng,
    weights: String,
    optimizer: String,
}

/// Writes and reads the checkpoints of one retraining. Each epoch's weights
/// and optimizer state go to files named by the epoch; `state.json`, written
/// atomically last, points at them; older files are removed after. A kill at
/// any moment leaves a `state.json` whose files are complete.
struct CheckpointStore {
    dir: std::path::PathBuf,
    identity: serde_json::Value,
}

impl CheckpointStore {
    fn beside(out: &Path, config: &RetrainConfig, genotype: &Genotype, data: &Dataset) -> Self {
        Self {
            dir: checkpoint_dir(out),
            identity: serde_json::json!({
                "config": config,
                "genotype": genotype,
                "data": artifacts::DataInfo::of(data),
            }),
        }
    }

    fn error(&self, message: String) -> SearchError {
        SearchError::Artifact(artifacts::ArtifactError::invalid(&self.dir, message))
    }

    fn save(&self, state: RetrainState) -> Result<(), SearchError> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| artifacts::ArtifactError::io(&self.dir, e))?;
        artifacts::io::register_checkpoint(&self.dir);
        let n = state.epochs.len();
        let (weights, optimizer) = (format!("weights-{n}.bpk"), format!("optimizer-{n}.bpk"));
        let record_error = |file: &str, e: String| SearchError::Weights {
            path: self.dir.join(file),
            message: format!("cannot write the checkpoint: {e}"),
        };
        state
            .weights
            .save(self.dir.join(&weights))
            .map_err(|e| record_error(&weights, e.to_string()))?;
        state
            .optimizer
            .save(self.dir.join(&optimizer))
            .map_err(|e| record_error(&optimizer, e.to_string()))?;
        artifacts::write_json(
            &self.dir.join(STATE_FILE),
            &CheckpointState {
                kind: CHECKPOINT_KIND.into(),
                schema_version: 1,
                tool: artifacts::tool_version(),
                identity: self.identity.clone(),
                epochs: state.epochs,
                step: state.step,
                rng: state.rng,
                weights: weights.clone(),
                optimizer: optimizer.clone(),
            },
        )?;
        // Only the files state.json names are kept.
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".bpk") && name != weights && name != optimizer {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(())
    }

    /// The checkpoint to resume, or `None` (logged) when there is none.
    fn load(&self) -> Result<Option<RetrainState>, SearchError> {
        let path = self.dir.join(STATE_FILE);
        if !path.exists() {
            log::info!(
                "no checkpoint in {}: retraining from the start",
                self.dir.display()
            );
            return Ok(None);
        }
        let state: CheckpointState = artifacts::read_json(&path, "a retraining checkpoint")?;
        if state.kind != CHECKPOINT_KIND || state.schema_version != 1 {
            return Err(self.error(format!(
                "not a retraining checkpoint of this tool (kind {:?}, schema_version {})",
                state.kind, state.schema_version
            )));
        }
        if state.identity != self.identity {
            return Err(self.error(
                "the checkpoint is of a different retraining (configuration, genotype or data differ): resume with the same command, or pass --force without --resume to start again".into(),
            ));
        }
        let read_error = |file: &str, e: String| SearchError::Weights {
            path: self.dir.join(file),
            message: format!("cannot read the checkpoint: {e}"),
        };
        let weights = burn::store::ModuleRecord::load(self.dir.join(&state.weights))
            .map_err(|e| read_error(&state.weights, e.to_string()))?;
        let optimizer = burn::optim::OptimizerRecord::load(self.dir.join(&state.optimizer))
            .map_err(|e| read_error(&state.optimizer, e.to_string()))?;
        artifacts::io::register_checkpoint(&self.dir);
        Ok(Some(RetrainState {
            epochs: state.epochs,
            step: state.step,
            rng: state.rng,
            weights,
            optimizer,
        }))
    }

    fn remove(&self) {
        artifacts::io::forget_checkpoint(&self.dir);
        if self.dir.exists() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
