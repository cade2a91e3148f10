//! device-bench on exported burn networks (random genotype, untrained
//! weights): the accuracy tract reaches through device-bench equals burn's
//! own argmax accuracy exactly, for every batch size (full batches, a
//! remainder batch, one partial batch). Here and not in device-bench,
//! which must not build burn.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use datasets::Dataset;
use device_bench::RunOptions;
use export::{EmitOptions, METADATA_SCHEMA_VERSION, ModelMetadata, eval_network_to_onnx, onnx};
use models::genotype::random_genotype;
use models::network::{EvalNetwork, EvalNetworkConfig, NetworkConfig};
use models::space::{OpSpace, Relaxation, ZeroConfig};

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

/// The digits data (1×8×8, 10 classes, 360 test images).
fn digits() -> Dataset {
    datasets::load("builtin:digits").expect("the builtin digits load")
}

/// Exports a C=4, L=3, N=3 network on 1×8×8 digits (random genotype from
/// `seed`, seeded untrained weights) with the metadata of an `edgenas
/// export` whose normalization is the digits' training statistics.
fn export_model(dir: &Path, seed: u64) -> (PathBuf, EvalNetwork, ModelMetadata) {
    let config = NetworkConfig::new(1, 8, 10)
        .with_channels(4)
        .with_layers(3)
        .with_nodes(3);
    let genotype = random_genotype(
        Relaxation::Darts,
        config.nodes,
        &OpSpace::darts(ZeroConfig::V1),
        &mut picker(seed),
    );
    let device = Device::flex();
    device.seed(seed);
    let net = EvalNetworkConfig::new(config.clone(), genotype.clone()).init(&device);
    let normalization = digits().train_normalization();
    let metadata = ModelMetadata {
        schema_version: METADATA_SCHEMA_VERSION,
        tool_version: "edgenas test".into(),
        input_shape: [config.in_channels, config.image_size, config.image_size],
        class_names: (0..config.num_classes).map(|c| c.to_string()).collect(),
        mean: normalization.mean.clone(),
        std: normalization.std.clone(),
        genotype: genotype.clone(),
        dataset: "builtin:digits".into(),
        retrain_test_accuracy: None,
        retrain_test_samples: None,
        bn_folded: true,
    };
    let model = eval_network_to_onnx(
        &net,
        &genotype,
        &config,
        EmitOptions::default(),
        &metadata.to_props(),
    );
    let path = dir.join("model.onnx");
    std::fs::write(&path, onnx::to_bytes(&model)).unwrap();
    (path, net, metadata)
}

/// Correct predictions of burn's forward pass on the whole test split,
/// normalized with the model's metadata, by burn's own `argmax`.
fn burn_correct(net: &EvalNetwork, metadata: &ModelMetadata, data: &Dataset) -> usize {
    let (c, h, w) = (data.channels, data.height, data.width);
    let norm = datasets::Normalization {
        mean: metadata.mean.clone(),
        std: metadata.std.clone(),
    };
    let images = norm.apply(&data.test.images, c, h, w);
    let x = Tensor::<4>::from_data(
        TensorData::new(images, [data.test.len, c, h, w]),
        &Device::flex(),
    );
    let predicted = net
        .logits(x)
        .argmax(1)
        .into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .unwrap();
    predicted
        .iter()
        .zip(&data.test.labels)
        .filter(|(p, l)| **p == i64::from(**l))
        .count()
}

#[test]
fn device_bench_accuracy_equals_burn_for_every_batch_size() {
    // 360 images: batch 32 is 11 full batches and one of 8, batch 7 leaves
    // a remainder of 3, batch 500 is one partial batch; each gets its own
    // plan and must agree with burn exactly.
    for seed in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        let (path, net, metadata) = export_model(dir.path(), seed);
        let data = digits();
        let expected = burn_correct(&net, &metadata, &data);
        for (batch, inferences) in [(32, 12), (7, 52), (360, 1), (500, 1)] {
            let options = RunOptions {
                batch,
                warmup: 0,
                repeats: 1,
                ..RunOptions::default()
            };
            let report = device_bench::run(&path, &data, &options).unwrap();
            let acc = &report.accuracy;
            assert_eq!(acc.samples, 360);
            assert_eq!(
                acc.correct, expected,
                "tract vs burn argmax, seed {seed}, batch {batch}"
            );
            assert_eq!(acc.inferences, inferences, "batch {batch}");
        }
    }
}
