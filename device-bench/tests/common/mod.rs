//! Shared by the integration tests: tiny edgenas-style models written with
//! `runtime::onnx::GraphBuilder` (seeded weights, metadata as `edgenas
//! export` writes it), and the device-bench binary.
//!
//! No burn here: device-bench is a device-side crate and its tests build
//! their models the way the calibration workload is built. That tract's
//! accuracy through device-bench equals burn's own is checked on exported
//! burn networks in `export/tests/device_bench.rs`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use datasets::Dataset;
use runtime::onnx::{self, Attr, GraphBuilder, Port};
pub use runtime::reference::values;
use runtime::{METADATA_SCHEMA_VERSION, ModelMetadata, TractModel};

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

/// The shape of a test network: a 3×3 stem, `layers` cells of two
/// separable convolutions (depthwise 3×3 + 1×1) with a residual add, global
/// pooling and a linear classifier. Node names start with `stem/`,
/// `cell<i>/` and `head/`, as in an exported DARTS network.
#[derive(Debug, Clone, PartialEq)]
pub struct NetConfig {
    pub in_channels: usize,
    pub image_size: usize,
    pub num_classes: usize,
    pub channels: usize,
    pub layers: usize,
}

impl NetConfig {
    pub fn new(in_channels: usize, image_size: usize, num_classes: usize) -> Self {
        Self {
            in_channels,
            image_size,
            num_classes,
            channels: 4,
            layers: 3,
        }
    }

    pub fn with_channels(self, channels: usize) -> Self {
        Self { channels, ..self }
    }

    pub fn with_layers(self, layers: usize) -> Self {
        Self { layers, ..self }
    }
}

/// An exported test model.
pub struct TestModel {
    pub path: PathBuf,
    pub config: NetConfig,
    pub seed: u64,
    pub metadata: ModelMetadata,
}

/// The digits data every test runs on (1×8×8, 10 classes, 360 test images).
pub fn digits() -> Dataset {
    datasets::load("builtin:digits").expect("the builtin digits load")
}

/// The small test network: C=4, 3 cells on 1×8×8 digits.
pub fn small_config() -> NetConfig {
    NetConfig::new(1, 8, 10)
}

/// A 3×3 (padded) or 1×1 convolution with bias: the reference workload's
/// builder, with weights 1.5× its gain.
fn conv(
    g: &mut GraphBuilder,
    name: &str,
    x: &str,
    dims: (usize, usize, usize, usize),
    seed: u64,
) -> String {
    runtime::reference::seeded_conv(g, name, x, dims, seed, 1.5)
}

/// The ONNX bytes of a network of `config` with weights from `seed` and
/// `props` as its metadata.
pub fn model_bytes(config: &NetConfig, seed: u64, props: &BTreeMap<String, String>) -> Vec<u8> {
    let c = config.channels;
    let mut g = GraphBuilder::new();
    let input = g.input_name("input");
    let stem = conv(
        &mut g,
        "stem/conv",
        &input,
        (config.in_channels, c, 3, 1),
        seed,
    );
    let mut x = g.node("Relu", "stem/relu", &[&stem], vec![]);
    for cell in 0..config.layers {
        let mut y = x.clone();
        for sep in 0..2 {
            let name = format!("cell{cell}/sep{sep}");
            let s = seed + 100 * (cell as u64 + 1) + 10 * sep as u64;
            let dw = conv(&mut g, &format!("{name}/dw"), &y, (c, c, 3, c), s);
            let pw = conv(&mut g, &format!("{name}/pw"), &dw, (c, c, 1, 1), s + 5);
            y = g.node("Relu", &format!("{name}/relu"), &[&pw], vec![]);
        }
        x = g.node("Add", &format!("cell{cell}/add"), &[&y, &x], vec![]);
    }
    let pooled = g.node("GlobalAveragePool", "head/gap", &[&x], vec![]);
    let flat = g.node(
        "Flatten",
        "head/flatten",
        &[&pooled],
        vec![("axis", Attr::Int(1))],
    );
    let w = g.weight(
        "head/weight",
        &[c, config.num_classes],
        &values(c * config.num_classes, seed + 7, 1.0),
    );
    let logits = g.node("Gemm", "head/linear", &[&flat, &w], vec![]);
    let model = g.finish(
        "edgenas_test",
        &[Port {
            name: input,
            dims: vec![config.in_channels, config.image_size, config.image_size],
        }],
        &[(
            Port {
                name: "logits".into(),
                dims: vec![config.num_classes],
            },
            logits,
        )],
        props,
    );
    onnx::to_bytes(&model)
}

/// Writes a network of `config` (weights from `seed`) with the metadata of
/// an `edgenas export` whose normalization is the digits' training
/// statistics.
pub fn export_model(dir: &Path, name: &str, config: NetConfig, seed: u64) -> TestModel {
    let genotype = arch::genotype::random_genotype(
        arch::Relaxation::Darts,
        3,
        &arch::OpSpace::darts(arch::ZeroConfig::V1),
        &mut picker(seed),
    );
    let normalization = digits().train_normalization();
    let metadata = ModelMetadata {
        schema_version: METADATA_SCHEMA_VERSION,
        tool_version: "edgenas test".into(),
        input_shape: [config.in_channels, config.image_size, config.image_size],
        class_names: (0..config.num_classes).map(|c| c.to_string()).collect(),
        mean: normalization.mean.clone(),
        std: normalization.std.clone(),
        genotype,
        dataset: "builtin:digits".into(),
        retrain_test_accuracy: None,
        retrain_test_samples: None,
        bn_folded: true,
    };
    let path = dir.join(name);
    std::fs::write(&path, model_bytes(&config, seed, &metadata.to_props())).unwrap();
    TestModel {
        path,
        config,
        seed,
        metadata,
    }
}

impl TestModel {
    /// Correct predictions on the whole test split, normalized with the
    /// model's metadata, one image at a time through `runtime` directly
    /// (no batching, none of device-bench's code), with the first of equal
    /// maxima winning as in burn's `argmax`.
    pub fn reference_correct(&self, data: &Dataset) -> usize {
        let (c, h, w) = (data.channels, data.height, data.width);
        let norm = datasets::Normalization {
            mean: self.metadata.mean.clone(),
            std: self.metadata.std.clone(),
        };
        let images = norm.apply(&data.test.images, c, h, w);
        // 360 inferences keep a core busy: not while another test of this
        // binary is timing.
        let _turn = TIMING.lock().unwrap_or_else(|e| e.into_inner());
        let plan = TractModel::load(&self.path)
            .and_then(|m| m.plan(&[vec![1, c, h, w]]))
            .unwrap();
        images
            .chunks_exact(data.test.image_len)
            .zip(&data.test.labels)
            .filter(|(image, label)| {
                let (_, logits) = plan.run(&[image]).unwrap();
                let best = logits
                    .iter()
                    .enumerate()
                    .fold(0, |best, (i, v)| if *v > logits[best] { i } else { best });
                best == usize::from(**label)
            })
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

/// Serializes the timed runs of one test binary: the tests of a binary run
/// in parallel, and a timed run sharing the 2 cores with another run
/// measures it too (a batch-32 ratio moved 20 % between two runs of one
/// model that way).
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

/// The tests of one binary run in parallel threads. Tests whose verdict
/// rests on timings hold this lock, so their measurements do not compete
/// with each other for the cores (on a 2-core machine they did, and the
/// same model then "regressed" by 24 %).
pub fn timing_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
