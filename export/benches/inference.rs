//! Inference of the network `edgenas run` deploys (random genotype with a
//! fixed seed, C=16, L=5, N=4, 1×8×8 input, 10 classes): tract on the
//! exported ONNX, and burn's flex forward pass of the same network, at
//! batch 1 and 32.
//!
//! `cargo bench -p export -- --quick` for a short run. tract runs on
//! one thread; burn-flex uses its rayon pool (all cores) as it does in
//! training and in `edgenas retrain`'s test pass.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use burn::tensor::{Device, Tensor, TensorData};
use criterion::{Criterion, criterion_group, criterion_main};
use export::{EmitOptions, TractModel, eval_network_to_onnx, onnx};
use models::genotype::random_genotype;
use models::network::{EvalNetwork, EvalNetworkConfig, NetworkConfig};
use models::space::{OpSpace, Relaxation, ZeroConfig};

const BATCHES: [usize; 2] = [1, 32];

/// A deterministic pseudo-random pick (an LCG).
fn picker(seed: u64) -> impl FnMut(usize) -> usize {
    let mut state = seed;
    move |n| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as usize) % n
    }
}

/// The deployed size: C=16, L=5, N=4 on 1×8×8 images, 10 classes.
fn deployed() -> (NetworkConfig, EvalNetwork, Vec<u8>) {
    let config = NetworkConfig::new(1, 8, 10)
        .with_channels(16)
        .with_layers(5)
        .with_nodes(4);
    let genotype = random_genotype(
        Relaxation::Darts,
        config.nodes,
        &OpSpace::darts(ZeroConfig::V1),
        &mut picker(0),
    );
    let device = Device::flex();
    device.seed(0);
    let net = EvalNetworkConfig::new(config.clone(), genotype.clone()).init(&device);
    let model = eval_network_to_onnx(
        &net,
        &genotype,
        &config,
        EmitOptions::default(),
        &BTreeMap::new(),
    );
    (config, net, onnx::to_bytes(&model))
}

/// Deterministic input values in [-1, 1].
fn input(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect()
}

fn inference(c: &mut Criterion) {
    let (config, net, bytes) = deployed();
    let image = config.in_channels * config.image_size * config.image_size;
    let mut group = c.benchmark_group("c16_l5_n4_8x8");
    for batch in BATCHES {
        let shape = vec![
            batch,
            config.in_channels,
            config.image_size,
            config.image_size,
        ];
        let values = input(batch * image);

        let tract = TractModel::from_bytes("c16_l5_n4_8x8.onnx", &bytes)
            .and_then(|m| m.plan(std::slice::from_ref(&shape)))
            .expect("tract loads the exported model");
        group.bench_function(format!("tract/batch{batch}"), |b| {
            b.iter(|| black_box(tract.run(&[black_box(&values)]).expect("tract runs")))
        });

        let device = Device::flex();
        let x = Tensor::<4>::from_data(
            TensorData::new(values.clone(), [shape[0], shape[1], shape[2], shape[3]]),
            &device,
        );
        group.bench_function(format!("burn_flex/batch{batch}"), |b| {
            b.iter(|| {
                let logits = net.logits(black_box(x.clone()));
                black_box(logits.into_data())
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Short enough for a 2-core machine; `--quick` shortens it further.
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = inference
}
criterion_main!(benches);
