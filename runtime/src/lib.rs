//! The deployment side of edgenas, without burn: ONNX graphs written with
//! [`onnx::GraphBuilder`] and read back with their edgenas
//! [`metadata::ModelMetadata`], and tract-onnx to run, time and profile
//! them ([`tract`]).
//!
//! `export` (the burn → ONNX writer and its parity check), `latency-lut`
//! (profiling) and `device-bench` (validation and the CI gate) all run
//! models through this crate; the device-side binaries link it and not
//! burn.

pub mod layers;
pub mod metadata;
pub mod onnx;
pub mod tract;

pub use metadata::{METADATA_SCHEMA_VERSION, MetadataError, ModelMetadata};
pub use tract::{TRACT_VERSION, TractError, TractModel};
