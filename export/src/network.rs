//! A trained evaluation network (inference form: no drop-path, no
//! auxiliary head) as an ONNX graph.

use std::collections::BTreeMap;

use models::genotype::Genotype;
use models::network::{EvalNetwork, NetworkConfig};
use onnx_protobuf::ModelProto;
use runtime::layers::{EmitOptions, network_to_onnx};

pub use runtime::layers::{INPUT_NAME, OUTPUT_NAME, state_label};

/// Builds the ONNX model of `net`, which must have been built from
/// `genotype` with `config` (the op order of each cell follows the genotype's
/// edge list).
pub fn eval_network_to_onnx(
    net: &EvalNetwork,
    genotype: &Genotype,
    config: &NetworkConfig,
    options: EmitOptions,
    metadata: &BTreeMap<String, String>,
) -> ModelProto {
    network_to_onnx(
        &crate::layers::network(net),
        genotype,
        config,
        options,
        metadata,
    )
}
