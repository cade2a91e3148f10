//! ONNX-vs-burn output parity: random genotypes (every op of the DARTS space,
//! both cell types, odd and even sizes) exported, run by tract, and compared
//! with burn's inference forward pass; folded and unfolded BN agree.

use std::collections::BTreeMap;

use burn::module::Module;
use burn::tensor::{Device, Distribution, Tensor};
use export::{EmitOptions, TractModel, eval_network_to_onnx, onnx};
use models::genotype::{Genotype, random_genotype};
use models::network::{EvalNetwork, EvalNetworkConfig, NetworkConfig};
use models::space::{OpKind, OpSpace, Relaxation, ZeroConfig, ZeroForm};
use runtime::kernels::Kernels;

/// A deterministic pseudo-random pick (an LCG), so failures reproduce.
fn picker(seed: u64) -> impl FnMut(usize) -> usize {
    let mut state = seed;
    move |n| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as usize) % n
    }
}

/// An evaluation network whose BN running statistics are not the identity:
/// a few training-mode forward passes on the autodiff device update them.
fn trained_net(config: &NetworkConfig, genotype: &Genotype, zero: ZeroForm) -> EvalNetwork {
    let device = Device::flex().autodiff();
    let net = EvalNetworkConfig::new(config.clone(), genotype.clone())
        .with_zero(zero)
        .init(&device);
    for _ in 0..3 {
        let x = Tensor::<4>::random(
            [8, config.in_channels, config.image_size, config.image_size],
            Distribution::Normal(0.5, 2.0),
            &device,
        );
        let _ = net.forward(x, 0.0, false);
    }
    net.valid()
}

/// The genotype edge list of `(node, predecessor, op)` triples as JSON.
fn edges(ops: &[(usize, usize, &str)]) -> String {
    ops.iter()
        .map(|(node, pred, op)| format!(r#"{{"node":{node},"predecessor":{pred},"op":"{op}"}}"#))
        .collect::<Vec<_>>()
        .join(",")
}

/// A genotype of `relaxation` whose cells of `nodes` nodes concatenate
/// every node, from two edge lists as [`edges`] writes them.
fn genotype(relaxation: &str, nodes: usize, normal: &str, reduce: &str) -> Genotype {
    let concat: Vec<String> = (0..nodes).map(|n| n.to_string()).collect();
    let concat = concat.join(",");
    let json = format!(
        r#"{{"schema_version":1,"relaxation":"{relaxation}","n_nodes":{nodes},
            "normal":{{"edges":[{normal}],"concat":[{concat}]}},
            "reduce":{{"edges":[{reduce}],"concat":[{concat}]}}}}"#
    );
    Genotype::from_json(&json).expect("a valid genotype")
}

fn max_rel_err(a: &[f32], b: &[f32]) -> f32 {
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

fn check(config: &NetworkConfig, genotype: &Genotype, batch: usize) {
    check_zero(config, genotype, batch, ZeroForm::Zeros)
}

fn check_zero(config: &NetworkConfig, genotype: &Genotype, batch: usize, zero: ZeroForm) {
    let net = trained_net(config, genotype, zero);
    let device = Device::flex();
    let shape = [
        batch,
        config.in_channels,
        config.image_size,
        config.image_size,
    ];
    let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
    let input: Vec<f32> = x.clone().into_data().try_to_vec().unwrap();
    let expected: Vec<f32> = net.logits(x).into_data().try_to_vec().unwrap();

    let mut outputs = Vec::new();
    for fold_bn in [true, false] {
        let model = eval_network_to_onnx(
            &net,
            genotype,
            config,
            EmitOptions { fold_bn },
            &BTreeMap::new(),
        );
        let bytes = onnx::to_bytes(&model);
        let tract = TractModel::from_bytes("parity.onnx", &bytes)
            .and_then(|m| m.plan(&[shape.to_vec()]))
            .expect("tract loads");
        let (out_shape, got) = tract.run(&[&input]).expect("tract runs");
        assert_eq!(out_shape, vec![batch, config.num_classes]);
        let err = max_rel_err(&got, &expected);
        assert!(
            err < 1e-4,
            "fold_bn={fold_bn}: relative error {err} vs burn for {genotype}"
        );
        // The same file on each kernel path explicitly (the default depends
        // on the CPU): edgenas' replace every depthwise convolution and
        // agree with tract's own to float rounding.
        let on = |kernels| {
            let plan = TractModel::from_bytes("parity.onnx", &bytes)
                .and_then(|m| m.plan_with(&[shape.to_vec()], kernels))
                .expect("tract loads");
            let (_, out) = plan.run(&[&input]).expect("tract runs");
            (plan, out)
        };
        let (ours, ours_out) = on(Kernels::Edgenas);
        let (own, own_out) = on(Kernels::Tract);
        let err = max_rel_err(&ours_out, &own_out);
        assert!(err < 1e-5, "edgenas vs tract kernels: {err} for {genotype}");
        let depthwise = model
            .graph
            .node
            .iter()
            .filter(|n| n.op_type == "Conv")
            .filter(|n| n.attribute.iter().any(|a| a.name == "group" && a.i > 1))
            .count();
        assert_eq!(own.count_op("EdgenasDepthwiseConv"), 0);
        assert_eq!(
            ours.count_op("EdgenasDepthwiseConv"),
            depthwise,
            "{genotype}"
        );
        outputs.push(got);
    }
    assert!(
        max_rel_err(&outputs[0], &outputs[1]) < 1e-4,
        "folded vs unfolded"
    );
}

#[test]
fn random_genotypes_match_burn_in_tract() {
    let space = OpSpace::darts(ZeroConfig::V1);
    // 9×9 reaches 5×5 and 3×3 (odd sizes through FactorizedReduce); 8×8 even.
    for (seed, size, relaxation) in [
        (1, 9, Relaxation::Darts),
        (2, 8, Relaxation::IDarts),
        (3, 9, Relaxation::XDarts),
    ] {
        let genotype = random_genotype(relaxation, 3, &space, &mut picker(seed));
        let config = NetworkConfig::new(2, size, 5)
            .with_channels(4)
            .with_layers(4)
            .with_nodes(3);
        check(&config, &genotype, 2);
    }
}

#[test]
fn every_op_exports_in_both_cell_types() {
    // One genotype per op kind: every edge of both cells uses that op.
    let ops: Vec<OpKind> = OpKind::ALL
        .into_iter()
        .filter(|o| *o != OpKind::Zero)
        .collect();
    for op in ops {
        let mut pick = |n: usize| n - 1;
        let mut genotype = random_genotype(
            Relaxation::Darts,
            2,
            &OpSpace::darts(ZeroConfig::V1),
            &mut pick,
        );
        for cell in [&mut genotype.normal, &mut genotype.reduce] {
            for edge in &mut cell.edges {
                edge.op = op;
            }
        }
        let config = NetworkConfig::new(1, 7, 3)
            .with_channels(4)
            .with_layers(3)
            .with_nodes(2);
        check(&config, &genotype, 1);
    }
}

/// XDARTS lets one edge carry several ops, so a node can repeat what an
/// earlier node computes: here node 1 adds the same max and average pools of
/// c_{k-2} as node 0, plus node 0 itself, node 2 the same pools plus nodes 0
/// and 1, and the cell concatenates all three. tract 0.23.9 cannot run that
/// graph as written ("eval() called on a Dummy op"; found on a genotype of a
/// Fashion-MNIST δ sweep); the exporter emits each distinct computation once.
#[test]
fn nodes_repeating_an_earlier_nodes_ops_export_and_run() {
    let repeated = edges(&[
        (0, 0, "max_pool_3x3"),
        (0, 0, "avg_pool_3x3"),
        (1, 0, "max_pool_3x3"),
        (1, 0, "avg_pool_3x3"),
        (1, 2, "identity"),
        (2, 0, "max_pool_3x3"),
        (2, 0, "avg_pool_3x3"),
        (2, 2, "identity"),
        (2, 3, "identity"),
    ]);
    let plain = edges(&[
        (0, 0, "sep_conv_3x3"),
        (0, 1, "identity"),
        (1, 0, "avg_pool_3x3"),
        (1, 1, "dil_conv_3x3"),
        (1, 2, "identity"),
        (2, 0, "identity"),
        (2, 1, "identity"),
        (2, 2, "max_pool_3x3"),
        (2, 3, "sep_conv_3x3"),
    ]);
    for (normal, reduce) in [(&plain, &repeated), (&repeated, &plain)] {
        let genotype = genotype("xdarts", 3, normal, reduce);
        let config = NetworkConfig::new(1, 12, 4)
            .with_channels(4)
            .with_layers(3)
            .with_nodes(3);
        check(&config, &genotype, 1);
    }
}

/// Zero configurations V2–V4 keep `zero` edges: dropped (zeros) or, in
/// V2's retrained network, the noise's mean at inference. Both cell types,
/// stride 1 and 2, and nodes whose only inputs are `zero` edges (the node
/// is then the constant itself).
#[test]
fn zero_edges_export_as_dropped_or_constant() {
    let normal = edges(&[
        (0, 0, "zero"),
        (0, 1, "sep_conv_3x3"),
        (1, 0, "zero"),
        (1, 2, "zero"),
        (2, 1, "identity"),
        (2, 3, "zero"),
    ]);
    let reduce = edges(&[
        (0, 0, "zero"),
        (0, 1, "zero"),
        (1, 0, "max_pool_3x3"),
        (1, 2, "zero"),
        (2, 1, "dil_conv_3x3"),
        (2, 3, "zero"),
    ]);
    // Zero edges are valid genotype edges.
    let genotype = genotype("darts", 3, &normal, &reduce);
    let config = NetworkConfig::new(1, 9, 4)
        .with_channels(4)
        .with_layers(4)
        .with_nodes(3);
    for zero in [ZeroForm::Zeros, ZeroForm::Noise] {
        check_zero(&config, &genotype, 2, zero);
    }
}
