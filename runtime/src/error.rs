//! The one error type of the crate's tract side: every variant names the
//! model (file or label) and what was being done with it.

use std::fmt;
use std::path::PathBuf;

/// What tract was asked to do when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TractAction {
    /// Parse the ONNX bytes into tract's inference model.
    Load,
    /// Fix the input shapes, optimize and make the plan runnable.
    Optimize,
    /// Build the inputs, run the plan or read its output.
    Run,
}

impl fmt::Display for TractAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TractAction::Load => "load",
            TractAction::Optimize => "optimize",
            TractAction::Run => "run",
        })
    }
}

/// Why a model could not be read, planned or run.
///
/// Messages are one line and name the model, so binaries print them as
/// they are.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The OS refused to read the model file.
    #[error("cannot read {}: {source}", model.display())]
    Read {
        model: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// tract failed; `error` is its whole cause chain, printed on one line.
    #[error("{}: tract cannot {action} the model: {}", model.display(), one_line(error))]
    Tract {
        model: PathBuf,
        action: TractAction,
        // Not `#[source]`: the message already carries the chain, and error
        // printers that walk sources would repeat it.
        error: tract_onnx::prelude::TractError,
    },

    /// Input shapes or buffers that do not match the model's inputs.
    #[error("{}: the model has {declared} inputs, {given} were given", model.display())]
    Inputs {
        model: PathBuf,
        declared: usize,
        given: usize,
    },
}

impl RuntimeError {
    pub(crate) fn tract(
        model: &std::path::Path,
        action: TractAction,
        error: tract_onnx::prelude::TractError,
    ) -> Self {
        RuntimeError::Tract {
            model: model.to_path_buf(),
            action,
            error,
        }
    }
}

/// One line of an error chain (`{:#}` joins causes with ": "; a cause may
/// still hold line breaks, which would split a one-line error message).
pub fn one_line(message: impl fmt::Display) -> String {
    format!("{message:#}")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
