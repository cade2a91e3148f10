//! The checkpoint folder of a stage, `.OUT.checkpoint/` beside its output:
//! burn records (weights, optimizer states) in files named by the epoch,
//! and `state.json` — what the stage is (its identity: a checkpoint resumes
//! only the same run), how far it got, the rest of its state — written
//! atomically last. A kill at any moment leaves a `state.json` whose files
//! are complete; older files are removed after it is written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use artifacts::ArtifactError;
use serde::{Deserialize, Serialize};

use crate::SearchError;

const STATE_FILE: &str = "state.json";

/// Checkpoints of a stage whose state is `S`: where it resumes from, where
/// each epoch's state goes, and whether to stop after the current step
/// (asked after every step; when it says yes, the stage saves its state in
/// the middle of the epoch and returns [`SearchError::Interrupted`]).
pub struct Checkpoints<'a, S> {
    pub resume: Option<S>,
    pub save: Box<dyn FnMut(S) -> Result<(), SearchError> + 'a>,
    pub stop: Box<dyn FnMut() -> bool + 'a>,
}

impl<S> Checkpoints<'_, S> {
    /// No resume, states dropped, never stopped: a stage run without
    /// checkpoints.
    pub fn none() -> Self {
        Self {
            resume: None,
            save: Box::new(|_| Ok(())),
            stop: Box::new(|| false),
        }
    }
}

/// One burn record of a checkpoint.
pub enum Record {
    Module(burn::store::ModuleRecord),
    Optimizer(burn::optim::OptimizerRecord),
}

/// `state.json`.
#[derive(Serialize, Deserialize)]
struct StateFile {
    kind: String,
    schema_version: u32,
    tool: String,
    identity: serde_json::Value,
    epochs_done: usize,
    /// The stage's own state (counters, RNG, metrics so far).
    progress: serde_json::Value,
    /// Record role → file name.
    files: BTreeMap<String, String>,
}

/// A loaded checkpoint: the stage's progress and its records' files.
pub struct Loaded {
    pub progress: serde_json::Value,
    files: BTreeMap<String, PathBuf>,
    dir: PathBuf,
}

impl Loaded {
    fn file(&self, role: &str) -> Result<&PathBuf, SearchError> {
        self.files.get(role).ok_or_else(|| {
            SearchError::Artifact(ArtifactError::invalid(
                self.dir.join(STATE_FILE),
                format!("the checkpoint has no {role} record"),
            ))
        })
    }

    fn read_error(path: &Path, e: impl std::fmt::Display) -> SearchError {
        SearchError::Weights {
            path: path.to_path_buf(),
            message: format!("cannot read the checkpoint: {e}"),
        }
    }

    pub fn module(&self, role: &str) -> Result<burn::store::ModuleRecord, SearchError> {
        let path = self.file(role)?;
        burn::store::ModuleRecord::load(path).map_err(|e| Self::read_error(path, e))
    }

    pub fn optimizer(&self, role: &str) -> Result<burn::optim::OptimizerRecord, SearchError> {
        let path = self.file(role)?;
        burn::optim::OptimizerRecord::load(path).map_err(|e| Self::read_error(path, e))
    }

    /// The progress as the stage's own type.
    pub fn progress<T: serde::de::DeserializeOwned>(&self) -> Result<T, SearchError> {
        serde_json::from_value(self.progress.clone()).map_err(|e| {
            SearchError::Artifact(ArtifactError::invalid(
                self.dir.join(STATE_FILE),
                format!("not a checkpoint of this tool: {e}"),
            ))
        })
    }
}

/// The checkpoints of one stage's run into `out`.
pub struct CheckpointStore {
    pub dir: PathBuf,
    kind: &'static str,
    identity: serde_json::Value,
}

/// The checkpoint folder of a stage writing `out`: `.NAME.checkpoint`.
pub fn checkpoint_dir(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    out.with_file_name(format!(".{name}.checkpoint"))
}

impl CheckpointStore {
    /// The store of a `kind` stage ("search", "retraining") into `out`
    /// whose run is `identity`.
    pub fn beside(out: &Path, kind: &'static str, identity: serde_json::Value) -> Self {
        Self {
            dir: checkpoint_dir(out),
            kind,
            identity,
        }
    }

    fn file_kind(&self) -> String {
        format!("edgenas-{}-checkpoint", self.kind.replace(' ', "-"))
    }

    pub fn exists(&self) -> bool {
        self.dir.join(STATE_FILE).exists()
    }

    /// Before a run without `--resume`: a checkpoint there is an error
    /// (`replace` false) or discarded (`replace`).
    pub fn clear_or_refuse(&self, out: &Path, replace: bool) -> Result<(), SearchError> {
        if !self.dir.exists() {
            return Ok(());
        }
        if !replace {
            return Err(SearchError::Config(format!(
                "{} holds the checkpoint of an interrupted {} to {}: pass --resume to continue it, or --force to start again",
                self.dir.display(),
                self.kind,
                out.display()
            )));
        }
        std::fs::remove_dir_all(&self.dir).map_err(|e| ArtifactError::io(&self.dir, e))?;
        Ok(())
    }

    /// Writes the state after `epochs_done` epochs (and part of the next
    /// one when `within_epoch`).
    pub fn save(
        &self,
        epochs_done: usize,
        within_epoch: bool,
        progress: serde_json::Value,
        records: Vec<(&str, Record)>,
    ) -> Result<(), SearchError> {
        let _writing = artifacts::io::checkpoint_write_lock();
        std::fs::create_dir_all(&self.dir).map_err(|e| ArtifactError::io(&self.dir, e))?;
        artifacts::io::register_checkpoint(&self.dir);
        // Names the current state.json does not use, so that the files it
        // names stay intact until the new one replaces it.
        let tag = if within_epoch {
            let taken = |n: usize| {
                records.iter().any(|(role, _)| {
                    self.dir
                        .join(format!("{role}-{epochs_done}.{n}.bpk"))
                        .exists()
                })
            };
            let n = (1..).find(|&n| !taken(n)).expect("a free name");
            format!("{epochs_done}.{n}")
        } else {
            epochs_done.to_string()
        };
        let mut files = BTreeMap::new();
        for (role, record) in records {
            let name = format!("{role}-{tag}.bpk");
            let path = self.dir.join(&name);
            let written = match record {
                Record::Module(r) => r.save(&path),
                Record::Optimizer(r) => r.save(&path),
            };
            written.map_err(|e| SearchError::Weights {
                path: path.clone(),
                message: format!("cannot write the checkpoint: {e}"),
            })?;
            files.insert(role.to_string(), name);
        }
        artifacts::write_json(
            &self.dir.join(STATE_FILE),
            &StateFile {
                kind: self.file_kind(),
                schema_version: 1,
                tool: artifacts::tool_version(),
                identity: self.identity.clone(),
                epochs_done,
                progress,
                files: files.clone(),
            },
        )?;
        // Only the files state.json names are kept.
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".bpk") && !files.values().any(|f| *f == name) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(())
    }

    /// The checkpoint to resume, or `None` (logged) when there is none.
    pub fn load(&self) -> Result<Option<Loaded>, SearchError> {
        let path = self.dir.join(STATE_FILE);
        if !path.exists() {
            log::info!(
                "no checkpoint in {}: the {} starts from the beginning",
                self.dir.display(),
                self.kind
            );
            return Ok(None);
        }
        let invalid =
            |message: String| SearchError::Artifact(ArtifactError::invalid(&path, message));
        let state: StateFile = artifacts::read_json(&path, "a checkpoint")?;
        if state.kind != self.file_kind() || state.schema_version != 1 {
            return Err(invalid(format!(
                "not a {} checkpoint of this tool (kind {:?}, schema_version {})",
                self.kind, state.kind, state.schema_version
            )));
        }
        if state.identity != self.identity {
            return Err(invalid(format!(
                "the checkpoint is of a different {} (configuration, inputs or data differ): resume with the same command, or pass --force without --resume to start again",
                self.kind
            )));
        }
        artifacts::io::register_checkpoint(&self.dir);
        Ok(Some(Loaded {
            progress: state.progress,
            files: state
                .files
                .into_iter()
                .map(|(role, name)| (role, self.dir.join(name)))
                .collect(),
            dir: self.dir.clone(),
        }))
    }

    /// Says where the checkpoint is kept after a failure, if there is one.
    pub fn announce_kept(&self) {
        if self.exists() {
            log::warn!(
                "the {}'s last checkpoint is kept in {}: run the same command with --resume to continue it",
                self.kind,
                self.dir.display()
            );
        }
    }

    /// The run finished and its output is in place.
    pub fn remove(&self) {
        artifacts::io::forget_checkpoint(&self.dir);
        if self.dir.exists() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
