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
    /// Prepares a staging folder next to `target`. Fails if `target` exists
    /// and is not empty, unless `replace` is set.
    pub fn create(target: &Path, replace: bool) -> Result<Self, ArtifactError> {
        if target.exists() && !replace && !is_empty_dir(target) {
            return Err(ArtifactError::OutputExists(target.to_path_buf()));
        }
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(|source| ArtifactError::io(&parent, source))?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".into());
        let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
        if staging.exists() {
            let _ = fs::remove_dir_all(&staging);
        }
        fs::create_dir_all(&staging).map_err(|source| ArtifactError::io(&staging, source))?;
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
        Ok(self.target.clone())
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
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
