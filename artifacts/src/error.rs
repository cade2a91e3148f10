//! The one error type of artifact IO: every variant names the file.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("output folder {0} already exists and is not empty (pass --force to replace it)")]
    OutputExists(PathBuf),
    /// An output folder that must not be replaced or created there.
    #[error("refusing output folder {path}: {reason}")]
    UnsafeOutput { path: PathBuf, reason: String },
    /// The file exists but is not what it should be.
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl ArtifactError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// The OS error underneath, for callers whose own error type carries
    /// an `io::Error` (the path is theirs to add).
    pub fn into_io(self) -> std::io::Error {
        match self {
            Self::Io { source, .. } => source,
            other => std::io::Error::other(other.to_string()),
        }
    }

    pub fn invalid(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }
}
