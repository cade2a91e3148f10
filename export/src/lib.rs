//! export: the discretized evaluation network (genotype + trained weights)
//! as a self-describing ONNX model, checked against burn with tract.
//!
//! One ONNX writer ([`onnx::GraphBuilder`] from the `runtime` crate +
//! [`layers::Emitter`]) serves both the deployed model and the latency
//! table's single-op graphs, so the table times exactly the subgraphs that
//! get deployed. [`stage::export_run`] is the whole stage from files.

pub mod layers;
pub mod network;
pub mod stage;

pub use layers::EmitOptions;
pub use network::{INPUT_NAME, OUTPUT_NAME, eval_network_to_onnx};
pub use runtime::{
    METADATA_SCHEMA_VERSION, ModelMetadata, RuntimeError, TRACT_VERSION, TractModel, TractPlan,
    metadata, onnx,
};
pub use stage::{ExportError, ExportOptions, ExportSummary, export_run, load_retrained};
