//! device-bench: validation of an exported model on the target runtime
//! (tract): accuracy on the whole test split, latency at batch 1 and at the
//! deployment batch, a per-node profile, and the CI regression gate that
//! compares a report with a committed baseline (docs/algorithms.md §1).
//!
//! [`run`] produces a [`BenchReport`]; [`gate::compare`] judges it against a
//! baseline. The binary `device-bench` is a thin front end over both.

pub mod bench;
pub mod calibration;
pub mod error;
pub mod gate;
pub mod host;
pub mod model;
pub mod noise;
pub mod report;

pub use bench::{RunOptions, SLOWDOWN_ENV, argmax, run, run_with_progress};
pub use error::BenchError;
pub use gate::{GateOutcome, GateSettings, Verdict, compare};
pub use host::BenchDevice;
pub use report::{Baseline, BenchReport, Reference, read_reference};

/// `edgenas <version>`, recorded in reports and baselines.
pub fn tool_version() -> String {
    format!("edgenas {}", env!("CARGO_PKG_VERSION"))
}
