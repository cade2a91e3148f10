//! latency-lut: measured per-(op, shape) latency tables for a device, the
//! predicted latency of a discretized network, the validation of those
//! predictions against end-to-end measurements, and the inputs of the
//! expected-latency penalty P(α) (docs/algorithms.md §4).

pub mod cache;
pub mod device;
pub mod measure;
pub mod noise;
pub mod penalty;
pub mod predict;
pub mod profile;
pub mod stage;
pub mod stats;
pub mod table;
pub mod template;
pub mod validate;

pub use cache::{Cache, template_for};
pub use device::{DeviceDescription, DeviceProfile, HostInfo, LutBackend};
pub use penalty::{PenaltyInputs, PenaltyKind};
pub use predict::{Prediction, predict};
pub use stats::Stats;
pub use table::{Entry, Lut};
pub use template::{Glue, LutKey, NetSize, Template};

/// Everything that can go wrong with tables, profiles and measurements.
#[derive(Debug, thiserror::Error)]
pub enum LutError {
    #[error("{path}: {message}")]
    Table { path: String, message: String },
    #[error("device profile {path}: {message}")]
    Device { path: String, message: String },
    #[error("the latency table has no entry {0} (profile the template again)")]
    Missing(LutKey),
    #[error("invalid table key {0}")]
    BadKey(LutKey),
    #[error("{0}")]
    Backend(String),
    #[error("measurement failed: {0}")]
    Runtime(String),
    /// tract failed on a measured graph (the message names it).
    #[error("measurement failed: {0}")]
    Tract(#[from] runtime::RuntimeError),
    /// A remote device could not be reached or refused a measurement (the
    /// message names its address).
    #[error(transparent)]
    Remote(#[from] runtime::remote::RemoteError),
    /// `validate` or `calibrate` on a table of schema 1, whose entries are
    /// milliseconds of a past host state, not ratios to the reference.
    #[error(
        "the table was profiled before the reference workload (schema_version 1): its milliseconds are the host's speed at that moment, which nothing measured now can be compared with; profile it again with this version"
    )]
    WithoutReference,
    #[error("interrupted")]
    Interrupted,
}
