//! The evaluation network (inference form: no drop-path, no auxiliary head)
//! as an ONNX graph with stable, readable node names such as
//! `cell3/node1/from_c_k-1/sep_conv_3x3/first/depthwise`.

use std::collections::BTreeMap;

use models::genotype::Genotype;
use models::network::{EvalNetwork, NetworkConfig, Preprocess};
use onnx_protobuf::ModelProto;

use crate::layers::{EmitOptions, Emitter};
use crate::onnx::{GraphBuilder, Port};

/// Name of the graph input (`[batch, C, H, W]`, normalized images).
pub const INPUT_NAME: &str = "input";
/// Name of the graph output (`[batch, classes]`, logits).
pub const OUTPUT_NAME: &str = "logits";

/// Label of a cell state in node names: the two cell inputs, then nodes.
pub fn state_label(predecessor: usize) -> String {
    match predecessor {
        0 => "c_k-2".into(),
        1 => "c_k-1".into(),
        p => format!("n{}", p - 2),
    }
}

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
    let mut graph = GraphBuilder::new();
    let input = graph.input_name(INPUT_NAME);
    let mut e = Emitter::new(&mut graph, options);
    let stem = e.conv_bn("stem/conv", &input, &net.stem.conv, &net.stem.bn);
    let (mut s0, mut s1) = (stem.clone(), stem);
    for (i, cell) in net.cells.iter().enumerate() {
        let cell_genotype = if config.is_reduction(i) {
            &genotype.reduce
        } else {
            &genotype.normal
        };
        assert_eq!(
            cell_genotype.edges.len(),
            cell.ops.len(),
            "cell {i} was not built from this genotype"
        );
        let p0 = match &cell.pre0 {
            Preprocess::Conv(m) => e.relu_conv_bn(&format!("cell{i}/pre0"), &s0, m),
            Preprocess::Reduce(m) => e.factorized_reduce(&format!("cell{i}/pre0"), &s0, m),
        };
        let p1 = e.relu_conv_bn(&format!("cell{i}/pre1"), &s1, &cell.pre1);
        let mut states = vec![p0, p1];
        for node in 0..cell.nodes {
            let mut terms = Vec::new();
            for ((op, &(n, pred)), edge) in
                cell.ops.iter().zip(&cell.wiring).zip(&cell_genotype.edges)
            {
                if n != node {
                    continue;
                }
                let prefix = format!(
                    "cell{i}/node{node}/from_{}/{}",
                    state_label(pred),
                    edge.op.name()
                );
                let x = states[pred].clone();
                terms.push(e.op(&prefix, &x, op));
            }
            assert!(!terms.is_empty(), "cell {i} node {node} has no input");
            states.push(e.sum(&format!("cell{i}/node{node}"), &terms));
        }
        let parts: Vec<String> = cell.concat.iter().map(|&j| states[j + 2].clone()).collect();
        let out = e.concat(&format!("cell{i}/concat"), &parts);
        (s0, s1) = (s1, out);
    }
    let logits = e.classifier("classifier", &s1, &net.classifier);
    let inputs = [Port {
        name: input,
        dims: vec![config.in_channels, config.image_size, config.image_size],
    }];
    let outputs = [(
        Port {
            name: OUTPUT_NAME.into(),
            dims: vec![config.num_classes],
        },
        logits,
    )];
    graph.finish("edgenas_eval_network", &inputs, &outputs, metadata)
}
