//! export: the discretized evaluation network (genotype + trained weights)
//! as a self-describing ONNX model, checked against burn with tract.
//!
//! The ONNX writer itself is burn-free and lives in `runtime::layers`: the
//! deployed model and the latency table's single-op graphs are emitted by
//! the same code, so the table times exactly the subgraphs that get
//! deployed. This crate reads the trained burn modules into those plain
//! layers ([`layers`]) and runs the whole stage from files
//! ([`stage::export_run`], with the parity check against burn).

pub mod layers;
pub mod network;
pub mod stage;

pub use network::{INPUT_NAME, OUTPUT_NAME, eval_network_to_onnx};
pub use runtime::layers::EmitOptions;
pub use runtime::{
    METADATA_SCHEMA_VERSION, ModelMetadata, RuntimeError, TRACT_VERSION, TractModel, TractPlan,
    metadata, onnx,
};
pub use stage::{ExportError, ExportOptions, ExportSummary, export_run, load_retrained};
