//! The deployment side of edgenas, without burn: ONNX graphs written with
//! [`onnx::GraphBuilder`] and read back with their edgenas
//! [`metadata::ModelMetadata`], and tract-onnx to run, time and profile
//! them ([`tract`], [`profile`], [`timing`]), with the statistics and host
//! description the measurements are recorded with ([`stats`], [`host`]),
//! the fixed net times are stated as ratios to ([`reference`]), the
//! allocator policy the binaries run models under ([`memory`]),
//! and the same timing on another machine ([`remote`]: the protocol of
//! `latency-lut serve`, its server and its client).
//!
//! `export` (the burn → ONNX writer and its parity check), `latency-lut`
//! (profiling), `pipeline` (the δ sweep's timing) and `device-bench`
//! (validation and the CI gate) all run models through this crate; the
//! device-side binaries link it and not burn.

pub mod error;
pub mod host;
pub mod kernels;
pub mod layers;
pub mod memory;
pub mod metadata;
pub mod onnx;
pub mod profile;
pub mod reference;
pub mod remote;
pub mod stats;
pub mod timing;
pub mod tract;

pub use error::{RuntimeError, TractAction};
pub use host::HostInfo;
pub use metadata::{METADATA_SCHEMA_VERSION, MetadataError, ModelMetadata};
pub use profile::{NodeTime, OpTime, Profile};
pub use stats::{LatencyStats, quantile};
pub use tract::{TRACT_VERSION, TractModel, TractPlan};
