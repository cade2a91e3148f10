//! The edgenas main job and the δ sweep as library calls, each from a typed
//! configuration to a typed summary: the latency table (cached per device
//! and template), the search, retraining, export with its parity check,
//! and the measurement of the exported model on the device.
//!
//! The `edgenas` binary only parses flags into these configurations, calls
//! one function and prints its summary.

pub mod burn_backend;
pub mod draw;
pub mod error;
pub mod executor;
pub mod experiment;
pub mod plot;
pub mod report;
pub mod run;
pub mod sweep;
pub mod tournament;

pub use error::PipelineError;
pub use run::{RunConfig, run};
pub use sweep::{Point, SweepConfig, SweepRow, SweepSummary, sweep};
