//! Shared by the integration tests: tiny exported models (random genotype,
//! untrained weights) and the device-bench binary.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use burn::tensor::{Device, Tensor, TensorData};
use datasets::Dataset;
use export::{EmitOptions, METADATA_SCHEMA_VERSION, ModelMetadata, eval_network_to_onnx, onnx};
use models::genotype::{Genotype, random_genotype};
use models::network::{EvalNetwork, EvalNetworkConfig, NetworkConfig};
use models::space::{OpSpace, Relaxation, ZeroConfig};

/// A deterministic pseudo-random pick (an LCG), so failures reproduce.
pub fn picker(seed: u64) -> impl FnMut(usize) -> usize {
    let mut state = seed;
    move |n| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as usize) % n
    }
}

/// An exported test model and the burn network it came from.
pub struct TestModel {
    pub path: PathBuf,
    pub config: NetworkConfig,
    pub genotype: Genotype,
    pub net: EvalNetwork,
    pub metadata: ModelMetadata,
}

/// The digits data every test runs on (1×8×8, 10 classes, 360 test images).
pub fn digits() -> Dataset {
    datasets::load("builtin:digits").expect("the builtin digits load")
}

/// The small test network: C=4, L=3, N=3 on 1×8×8 digits.
pub fn small_config() -> NetworkConfig {
    NetworkConfig::new(1, 8, 10)
        .with_channels(4)
        .with_layers(3)
        .with_nodes(3)
}

/// Exports a network of `config` (random genotype from `seed`, seeded
/// untrained weights) with the metadata of an `edgenas export` whose
/// normalization is the digits' training statistics.
pub fn export_model(dir: &Path, name: &str, config: NetworkConfig, seed: u64) -> TestModel {
    // Building and exporting keeps a core busy: not while another test of
    // this binary is timing.
    let _turn = TIMING.lock().unwrap_or_else(|e| e.into_inner());
    let genotype = random_genotype(
        Relaxation::Darts,
        config.nodes,
        &OpSpace::darts(ZeroConfig::V1),
        &mut picker(seed),
    );
    let device = Device::flex();
    device.seed(seed);
    let net = EvalNetworkConfig::new(config.clone(), genotype.clone()).init(&device);
    let data = digits();
    let normalization = data.train_normalization();
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
    let path = dir.join(name);
    std::fs::write(&path, onnx::to_bytes(&model)).unwrap();
    TestModel {
        path,
        config,
        genotype,
        net,
        metadata,
    }
}

impl TestModel {
    /// Correct predictions of burn's forward pass on the whole test split,
    /// normalized with the model's metadata, by burn's own `argmax`.
    pub fn burn_correct(&self, data: &Dataset) -> usize {
        let (c, h, w) = (data.channels, data.height, data.width);
        let norm = datasets::Normalization {
            mean: self.metadata.mean.clone(),
            std: self.metadata.std.clone(),
        };
        let images = norm.apply(&data.test.images, c, h, w);
        let x = Tensor::<4>::from_data(
            TensorData::new(images, [data.test.len, c, h, w]),
            &Device::flex(),
        );
        let predicted = self
            .net
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
}

/// Runs the device-bench binary with `args`.
pub fn device_bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_device-bench"))
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove(device_bench::SLOWDOWN_ENV)
        .output()
        .expect("the binary starts")
}

/// Serializes the timed runs and the CPU-heavy exports of one test binary:
/// the tests of a binary run in parallel, and a timed run sharing the 2
/// cores with an export or another run measures them too (a batch-32 ratio
/// moved 20 % between two runs of one model that way).
static TIMING: Mutex<()> = Mutex::new(());

/// `device-bench run` on the digits with few repeats; returns the output.
pub fn run_model(model: &Path, out: &Path, extra: &[&str]) -> Output {
    let _turn = TIMING.lock().unwrap_or_else(|e| e.into_inner());
    let mut args = vec![
        "run",
        "--model",
        model.to_str().unwrap(),
        "--data",
        "builtin:digits",
        "--out",
        out.to_str().unwrap(),
        "--batch",
        "32",
        "--warmup",
        "3",
        "--repeats",
        "15",
    ];
    args.extend_from_slice(extra);
    device_bench(&args)
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Asserts the process exited with `code`, showing its output otherwise.
pub fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "exit status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout(output),
        stderr(output)
    );
}

/// Metadata props of a model, for tests that write broken variants.
pub fn props(model: &TestModel) -> BTreeMap<String, String> {
    model.metadata.to_props()
}
