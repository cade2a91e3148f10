//! Atomic artifact writing, typed reading and the staged output folder: an
//! interrupted or failed run never leaves a half-written file or folder
//! behind, and a file that does not parse is reported by name.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ArtifactError;

/// The producing tool, recorded in every artifact.
pub fn tool_version() -> String {
    format!("edgenas {}", env!("CARGO_PKG_VERSION"))
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a
/// rename, so readers see either the old file or the complete new one; the
/// temporary file is removed on failure.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ArtifactError> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|source| ArtifactError::io(path, source))
}

/// Serializes `value` as pretty JSON (with a final newline) and writes it
/// atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), ArtifactError> {
    let mut text = serde_json::to_string_pretty(value).expect("artifact types serialize");
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// Reads a JSON artifact into its type; `what` names the kind of file in
/// the error ("not a model file: …").
pub fn read_json<T: DeserializeOwned>(path: &Path, what: &str) -> Result<T, ArtifactError> {
    let text = fs::read_to_string(path).map_err(|source| ArtifactError::io(path, source))?;
    serde_json::from_str(&text)
        .map_err(|e| ArtifactError::invalid(path, format!("not {what}: {e}")))
}

/// The `kind` and `schema_version` of a JSON file, read before the file is
/// parsed into its type, so a wrong or outdated file gets an error that says
/// so rather than a serde message about a missing field. A field of the
/// wrong type reads as absent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileHeader {
    pub kind: Option<String>,
    pub schema_version: Option<u64>,
}

impl FileHeader {
    /// Peeks at `text`; fails only when it is not JSON at all.
    pub fn peek(text: &str) -> Result<Self, serde_json::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Loose<T> {
            Known(T),
            Other(serde::de::IgnoredAny),
        }
        #[derive(serde::Deserialize)]
        struct Raw {
            #[serde(default)]
            kind: Option<Loose<String>>,
            #[serde(default)]
            schema_version: Option<Loose<u64>>,
        }
        fn known<T>(v: Option<Loose<T>>) -> Option<T> {
            match v {
                Some(Loose::Known(x)) => Some(x),
                _ => None,
            }
        }
        match serde_json::from_str::<Raw>(text) {
            Ok(raw) => Ok(Self {
                kind: known(raw.kind),
                schema_version: known(raw.schema_version),
            }),
            // Valid JSON that is not an object: no header.
            Err(e) if e.is_data() => Ok(Self::default()),
            Err(e) => Err(e),
        }
    }
}

/// An output folder that is filled under a temporary name and renamed into
/// place by [`commit`](Self::commit). Dropped without commit, it is removed.
pub struct StagedDir {
    staging: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl StagedDir {
    /// Prepares a staging folder next to `target`, after
    /// [`check_output`] with no inputs of the caller's: fails if `target`
    /// exists and is not empty, unless `replace` is set, or if replacing it
    /// would remove the current folder or `/`. Staging folders of the same
    /// target left by killed runs are removed first.
    pub fn create(target: &Path, replace: bool) -> Result<Self, ArtifactError> {
        check_output(target, replace, &[])?;
        let parent = parent_of(target);
        fs::create_dir_all(&parent).map_err(|source| ArtifactError::io(&parent, source))?;
        let name = staging_prefix(target);
        remove_stale_staging(&parent, &name);
        let staging = parent.join(format!("{name}{}", std::process::id()));
        if staging.exists() {
            let _ = fs::remove_dir_all(&staging);
        }
        fs::create_dir_all(&staging).map_err(|source| ArtifactError::io(&staging, source))?;
        active_staging().push(staging.clone());
        Ok(Self {
            staging,
            target: target.to_path_buf(),
            committed: false,
        })
    }

    /// Where files go while the run is in progress.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// The final location.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Moves the finished folder into place, replacing an old one.
    pub fn commit(mut self) -> Result<PathBuf, ArtifactError> {
        if self.target.exists() {
            fs::remove_dir_all(&self.target)
                .map_err(|source| ArtifactError::io(&self.target, source))?;
        }
        fs::rename(&self.staging, &self.target)
            .map_err(|source| ArtifactError::io(&self.target, source))?;
        self.committed = true;
        forget_staging(&self.staging);
        Ok(self.target.clone())
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
            forget_staging(&self.staging);
        }
    }
}

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Records that a signal is ending the process (its handler exits it).
pub fn mark_interrupted() {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Whether a signal is ending the process: an error seen meanwhile (a run
/// of a sweep that the handler stopped) is a consequence, not the outcome.
pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
}

static STOP_REQUESTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static STEP_LOOPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Held by a checkpointed training loop while it runs: the loop checks
/// [`stop_requested`] after every step and, when asked, writes a
/// checkpoint of where it stands and returns. A signal handler waits for
/// every such loop to let go before it exits ([`wait_for_step_loops`]).
pub struct StepLoop(());

impl StepLoop {
    pub fn enter() -> Self {
        STEP_LOOPS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        StepLoop(())
    }
}

impl Drop for StepLoop {
    fn drop(&mut self) {
        STEP_LOOPS.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Asks every checkpointed training loop to stop after its current step.
/// Returns whether one is running (and will write a checkpoint).
pub fn request_stop() -> bool {
    STOP_REQUESTED.store(true, std::sync::atomic::Ordering::SeqCst);
    STEP_LOOPS.load(std::sync::atomic::Ordering::SeqCst) > 0
}

/// Whether a signal asked the training loops to stop at the next step.
pub fn stop_requested() -> bool {
    STOP_REQUESTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// Waits until no checkpointed training loop runs, `give_up()` says to stop
/// waiting (a second signal), or `limit` passed. Returns whether the loops
/// all stopped.
pub fn wait_for_step_loops(limit: std::time::Duration, give_up: impl FnMut() -> bool) -> bool {
    wait_until(limit, give_up, || {
        STEP_LOOPS.load(std::sync::atomic::Ordering::SeqCst) == 0
    })
}

/// Polls `done` every 10 ms until it holds (true), or `give_up()` says to
/// stop waiting or `limit` passed (false).
pub fn wait_until(
    limit: std::time::Duration,
    mut give_up: impl FnMut() -> bool,
    mut done: impl FnMut() -> bool,
) -> bool {
    let started = std::time::Instant::now();
    while !done() {
        if give_up() || started.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    true
}

/// Checkpoint folders this process keeps up to date, for a signal handler
/// to announce (they are kept when the process is interrupted).
fn active_checkpoints() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    static ACTIVE: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    ACTIVE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Held while a checkpoint is written, so that a signal handler sees it
/// either complete or not started.
pub fn checkpoint_write_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Records that `dir` holds a resumable checkpoint of this process's work.
pub fn register_checkpoint(dir: &Path) {
    let mut active = active_checkpoints();
    if !active.iter().any(|p| p == dir) {
        active.push(dir.to_path_buf());
    }
}

/// The checkpoint is gone (the work finished) or no longer this process's.
pub fn forget_checkpoint(dir: &Path) {
    active_checkpoints().retain(|p| p != dir);
}

/// For a signal handler about to exit: the checkpoints this process
/// leaves for `--resume`. One interrupted before its first `state.json`
/// holds nothing resumable and is removed.
pub fn settle_checkpoints() -> Vec<PathBuf> {
    // Wait for a checkpoint being written, and let none start after: the
    // process exits holding the lock.
    std::mem::forget(checkpoint_write_lock());
    let active = active_checkpoints();
    let (kept, empty): (Vec<PathBuf>, Vec<PathBuf>) = active
        .iter()
        .cloned()
        .partition(|p| p.join("state.json").exists());
    for dir in empty {
        let _ = fs::remove_dir_all(dir);
    }
    kept
}

/// The staging folders of this process not yet committed or dropped.
fn active_staging() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    static ACTIVE: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    ACTIVE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn forget_staging(staging: &Path) {
    active_staging().retain(|p| p != staging);
}

/// Removes every staging folder this process has open, for a signal
/// handler that is about to exit (destructors do not run then). Returns
/// the folders removed.
pub fn remove_active_staging() -> Vec<PathBuf> {
    let mut active = active_staging();
    let removed: Vec<PathBuf> = active.drain(..).collect();
    for dir in &removed {
        // Files may still be appearing in it: try a few times.
        for _ in 0..5 {
            if fs::remove_dir_all(dir).is_ok() || !dir.exists() {
                break;
            }
        }
    }
    removed
}

fn parent_of(target: &Path) -> PathBuf {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `.NAME.partial-`: staging folders of `target` are this prefix and the
/// PID of the process that made them.
fn staging_prefix(target: &Path) -> String {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    format!(".{name}.partial-")
}

/// Removes the staging folders in `parent` with `prefix` whose process is
/// gone (killed runs: SIGKILL, power loss). Where liveness cannot be told
/// (no `/proc`), nothing is removed.
fn remove_stale_staging(parent: &Path, prefix: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(prefix)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// An absolute form of `path` with symbolic links of its existing part
/// resolved, `.` and `..` folded; `path` need not exist.
pub fn resolve(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("/"))
            .join(path)
    };
    // Fold `.`/`..` lexically, then canonicalize the longest existing
    // ancestor and re-attach the rest.
    let mut folded = PathBuf::new();
    for c in absolute.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                folded.pop();
            }
            other => folded.push(other),
        }
    }
    let mut existing = folded.clone();
    let mut rest = Vec::new();
    while !existing.exists() {
        match existing.file_name() {
            Some(name) => rest.push(name.to_os_string()),
            None => break,
        }
        existing.pop();
    }
    let mut resolved = fs::canonicalize(&existing).unwrap_or(existing);
    for name in rest.into_iter().rev() {
        resolved.push(name);
    }
    resolved
}

/// Checks that `target` can be (re)placed as an output folder before any
/// work starts:
/// - it is not `/`, nor the current folder or one of its ancestors, nor the
///   folder of the running program or one of its ancestors;
/// - it is not, and does not contain, any of `inputs` (`(what, path)`:
///   data, tables, caches, files the run reads);
/// - an existing `target` is a folder, empty unless `replace`, and its
///   parent is writable.
pub fn check_output(
    target: &Path,
    replace: bool,
    inputs: &[(&str, &Path)],
) -> Result<(), ArtifactError> {
    let unsafe_output = |reason: String| ArtifactError::UnsafeOutput {
        path: target.to_path_buf(),
        reason,
    };
    let resolved = resolve(target);
    if resolved.parent().is_none() {
        return Err(unsafe_output("it is the root folder".into()));
    }
    let mut guarded: Vec<(String, PathBuf)> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        guarded.push(("the current folder".into(), cwd));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        guarded.push(("the folder of the edgenas program".into(), dir));
    }
    for (what, path) in inputs {
        guarded.push(((*what).to_string(), path.to_path_buf()));
    }
    for (what, path) in &guarded {
        let guarded_path = resolve(path);
        if guarded_path.starts_with(&resolved) {
            let how = if guarded_path == resolved {
                "is"
            } else {
                "contains"
            };
            return Err(unsafe_output(format!(
                "it {how} {what} ({}); choose a new folder",
                path.display()
            )));
        }
    }
    if let Ok(meta) = fs::symlink_metadata(target) {
        if !meta.is_dir() {
            return Err(unsafe_output(
                "it exists and is not a folder; remove it or choose a new folder".into(),
            ));
        }
        if !replace && !is_empty_dir(target) {
            return Err(ArtifactError::OutputExists(target.to_path_buf()));
        }
    }
    let parent = parent_of(&resolved);
    let mut existing = parent.as_path();
    while !existing.exists() {
        match existing.parent() {
            Some(p) => existing = p,
            None => break,
        }
    }
    if fs::metadata(existing).is_ok_and(|m| m.permissions().readonly()) {
        return Err(unsafe_output(format!(
            "{} is read-only",
            existing.display()
        )));
    }
    Ok(())
}

fn is_empty_dir(path: &Path) -> bool {
    fs::read_dir(path)
        .map(|mut entries| entries.next().is_none())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_dir_is_removed_unless_committed() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("out");
        {
            let staged = StagedDir::create(&target, false).unwrap();
            write_atomic(&staged.path().join("a.json"), b"{}").unwrap();
            assert!(staged.path().exists());
        }
        assert!(!target.exists());
        assert_eq!(
            fs::read_dir(tmp.path()).unwrap().count(),
            0,
            "staging left behind"
        );

        let staged = StagedDir::create(&target, false).unwrap();
        write_atomic(&staged.path().join("a.json"), b"{}").unwrap();
        staged.commit().unwrap();
        assert!(target.join("a.json").exists());
        assert!(matches!(
            StagedDir::create(&target, false),
            Err(ArtifactError::OutputExists(_))
        ));
        assert!(StagedDir::create(&target, true).is_ok());
    }

    #[test]
    fn outputs_that_would_destroy_inputs_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data/fmnist");
        fs::create_dir_all(&data).unwrap();
        let inputs = [("the data folder", data.as_path())];
        let refused = |target: &Path| match check_output(target, true, &inputs) {
            Err(ArtifactError::UnsafeOutput { reason, .. }) => reason,
            other => panic!("{} accepted: {other:?}", target.display()),
        };
        // The input itself, an ancestor, and the same through `..`.
        assert!(refused(&data).contains("is the data folder"));
        assert!(refused(tmp.path()).contains("contains the data folder"));
        assert!(refused(&data.join("../../data")).contains("contains the data folder"));
        // The current folder and `/`, whatever the inputs.
        let cwd = std::env::current_dir().unwrap();
        assert!(refused(&cwd).contains("the current folder"));
        assert!(refused(Path::new(".")).contains("the current folder"));
        assert!(refused(Path::new("/")).contains("root"));
        // An existing file is refused before any work, even with --force.
        let file = tmp.path().join("file");
        fs::write(&file, b"x").unwrap();
        assert!(refused(&file).contains("not a folder"));
        // A sibling of the data is fine.
        check_output(&tmp.path().join("data/out"), true, &inputs).unwrap();
    }

    #[test]
    fn staging_left_by_a_killed_run_is_removed_by_the_next() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("out");
        // PIDs are below 2^22 on Linux: this process does not exist.
        let stale = tmp.path().join(".out.partial-4000000000");
        fs::create_dir_all(&stale).unwrap();
        let other = tmp.path().join(".other.partial-4000000000");
        fs::create_dir_all(&other).unwrap();
        let staged = StagedDir::create(&target, false).unwrap();
        if Path::new("/proc/self").exists() {
            assert!(!stale.exists(), "stale staging kept");
        }
        assert!(other.exists(), "another target's staging removed");
        // Registered for the signal handler until committed or dropped.
        let path = staged.path().to_path_buf();
        assert!(active_staging().contains(&path));
        drop(staged);
        assert!(!active_staging().contains(&path) && !path.exists());
    }

    #[test]
    fn read_json_names_the_file_and_the_kind() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x.json");
        write_atomic(&path, b"{\"a\": ").unwrap();
        let err = read_json::<serde_json::Map<String, serde_json::Value>>(&path, "a model file")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x.json") && err.contains("not a model file"),
            "{err}"
        );
        let missing = read_json::<u32>(&tmp.path().join("nope.json"), "a number").unwrap_err();
        assert!(matches!(missing, ArtifactError::Io { .. }), "{missing}");
    }
}
