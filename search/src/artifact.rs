//! Atomic artifact writing and the staged output folder: an interrupted or
//! failed run never leaves a half-written file or folder behind.

use serde::Serialize;
use std::fs;
use std::path::{Path, PathBuf};

use crate::SearchError;

/// Writes `bytes` to `path` through a temporary file in the same folder and a
/// rename, so readers see either the old file or the complete new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SearchError> {
    models::artifact::write_atomic(path, bytes).map_err(|source| SearchError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Serializes `value` as pretty JSON and writes it atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), SearchError> {
    let mut text = serde_json::to_string_pretty(value).expect("artifact types serialize");
    text.push('\n');
    write_atomic(path, text.as_bytes())
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
    pub fn create(target: &Path, replace: bool) -> Result<Self, SearchError> {
        if target.exists() && !replace && !is_empty_dir(target) {
            return Err(SearchError::OutputExists(target.to_path_buf()));
        }
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(|source| SearchError::Io {
            path: parent.clone(),
            source,
        })?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".into());
        let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
        if staging.exists() {
            let _ = fs::remove_dir_all(&staging);
        }
        fs::create_dir_all(&staging).map_err(|source| SearchError::Io {
            path: staging.clone(),
            source,
        })?;
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
    pub fn commit(mut self) -> Result<PathBuf, SearchError> {
        if self.target.exists() {
            fs::remove_dir_all(&self.target).map_err(|source| SearchError::Io {
                path: self.target.clone(),
                source,
            })?;
        }
        fs::rename(&self.staging, &self.target).map_err(|source| SearchError::Io {
            path: self.target.clone(),
            source,
        })?;
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
            Err(SearchError::OutputExists(_))
        ));
        assert!(StagedDir::create(&target, true).is_ok());
    }
}
