//! export: the discretized evaluation network (genotype + trained weights)
//! as a self-describing ONNX model, and the tract runtime that checks it.
//!
//! One ONNX writer ([`onnx::GraphBuilder`] + [`layers::Emitter`]) serves
//! both the deployed model and the latency table's single-op graphs, so the
//! table times exactly the subgraphs that get deployed.

pub mod layers;
pub mod network;
pub mod onnx;
pub mod runtime;

pub use layers::EmitOptions;
pub use network::{INPUT_NAME, OUTPUT_NAME, eval_network_to_onnx};
pub use runtime::{TRACT_VERSION, TractError, TractModel};
pub mod metadata;
pub use metadata::{METADATA_SCHEMA_VERSION, ModelMetadata};
