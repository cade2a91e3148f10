//! The latency table times single-op graphs and whole networks built by
//! `runtime::layers::Synthetic` from shapes alone (so the device-side
//! `latency-lut` needs no burn). They must be exactly the graphs export
//! writes from trained burn modules: same nodes, names, inputs, attributes
//! and weight shapes — only the weight values differ.

use std::collections::BTreeMap;

use burn::tensor::Device;
use export::{EmitOptions, eval_network_to_onnx};
use models::genotype::{Genotype, random_genotype};
use models::network::{EvalNetworkConfig, NetworkConfig};
use models::space::{OpSpace, Relaxation, SpaceKind, ZeroConfig, ZeroForm};
use onnx_protobuf::ModelProto;
use runtime::layers::{Synthetic, network_to_onnx};

fn picker(seed: u64) -> impl FnMut(usize) -> usize {
    let mut state = seed;
    move |n| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as usize) % n
    }
}

/// Everything of a graph but the weight values: each node's op, name,
/// inputs, outputs and attributes, and each initializer's name and shape.
fn structure(model: &ModelProto) -> (Vec<String>, Vec<(String, Vec<i64>)>) {
    let nodes = model
        .graph
        .node
        .iter()
        .map(|n| {
            let attrs: Vec<String> = n
                .attribute
                .iter()
                .map(|a| format!("{}={:?}/{:?}/{}", a.name, a.ints, a.i, a.f))
                .collect();
            format!(
                "{} {} {:?} -> {:?} [{}]",
                n.op_type,
                n.name,
                n.input,
                n.output,
                attrs.join(", ")
            )
        })
        .collect();
    let weights = model
        .graph
        .initializer
        .iter()
        .map(|t| (t.name.clone(), t.dims.clone()))
        .collect();
    (nodes, weights)
}

fn compare(genotype: &Genotype, config: &NetworkConfig, fold_bn: bool) {
    compare_zero(genotype, config, fold_bn, ZeroForm::Zeros)
}

fn compare_zero(genotype: &Genotype, config: &NetworkConfig, fold_bn: bool, zero: ZeroForm) {
    let options = EmitOptions { fold_bn };
    let net = EvalNetworkConfig::new(config.clone(), genotype.clone())
        .with_zero(zero)
        .init(&Device::flex());
    let from_burn = eval_network_to_onnx(&net, genotype, config, options, &BTreeMap::new());
    let synthetic = Synthetic::new(3)
        .with_zero(zero)
        .network(genotype, config)
        .expect("no zero op in an evaluation genotype");
    let from_shapes = network_to_onnx(&synthetic, genotype, config, options, &BTreeMap::new());
    let (a, b) = (structure(&from_burn), structure(&from_shapes));
    assert_eq!(a.0.len(), b.0.len(), "node count for {genotype}");
    for (x, y) in a.0.iter().zip(&b.0) {
        assert_eq!(x, y, "{genotype}");
    }
    assert_eq!(a.1, b.1, "initializers of {genotype}");
}

#[test]
fn synthetic_networks_are_the_exported_graphs() {
    let mut pick = picker(11);
    let mut checked = 0;
    for (in_channels, size, channels, layers, kind) in [
        (1, 8, 8, 5, SpaceKind::Darts),
        (3, 9, 6, 4, SpaceKind::Darts),
        (1, 7, 4, 3, SpaceKind::Darts),
        (1, 9, 4, 4, SpaceKind::Simple),
        (1, 9, 4, 4, SpaceKind::Basic),
        (3, 8, 4, 3, SpaceKind::Mbconv),
    ] {
        let space = OpSpace::of(kind, ZeroConfig::V1);
        let config = NetworkConfig::new(in_channels, size, 10)
            .with_channels(channels)
            .with_layers(layers);
        for relaxation in [Relaxation::Darts, Relaxation::IDarts, Relaxation::XDarts] {
            let genotype = random_genotype(relaxation, config.nodes, &space, &mut pick);
            for fold_bn in [true, false] {
                compare(&genotype, &config, fold_bn);
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 36);
}

/// Genotypes with `zero` edges (zero configurations V2–V4 keep them), as
/// dropped edges and as V2's constant.
#[test]
fn synthetic_networks_with_zero_edges_are_the_exported_graphs() {
    let mut pick = picker(5);
    let space = OpSpace::of(SpaceKind::Darts, ZeroConfig::V2);
    let config = NetworkConfig::new(1, 9, 10).with_channels(4).with_layers(4);
    let mut with_zero = 0;
    for relaxation in [Relaxation::Darts, Relaxation::XDarts] {
        for _ in 0..6 {
            let mut genotype = random_genotype(relaxation, config.nodes, &space, &mut pick);
            // Random genotypes never draw `zero`: make every third edge one.
            for cell in [&mut genotype.normal, &mut genotype.reduce] {
                for (k, edge) in cell.edges.iter_mut().enumerate() {
                    if (k + pick(3)).is_multiple_of(3) {
                        edge.op = models::space::OpKind::Zero;
                        with_zero += 1;
                    }
                }
            }
            genotype.validate().expect("zero edges are valid");
            for zero in [ZeroForm::Zeros, ZeroForm::Noise] {
                compare_zero(&genotype, &config, true, zero);
            }
        }
    }
    assert!(with_zero > 20, "{with_zero} zero edges");
}
