//! Pieces several of the CLI's test files share.
#![allow(dead_code)] // each test file uses its own subset

use std::path::Path;
use std::process::{Command, Output};

/// The `edgenas` binary under test with `args` (warnings only on stderr).
pub fn edgenas(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgenas"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("edgenas runs")
}

/// A JSON file, or a failure naming it.
pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The data and networks of a deliberately tiny search (the callers add
/// the epochs), so that end-to-end checks run in seconds.
pub const TINY_NETWORK: &[&str] = &[
    "--data",
    "builtin:digits",
    "--channels",
    "4",
    "--layers",
    "3",
    "--eval-channels",
    "4",
    "--eval-layers",
    "3",
    "--train-subset",
    "256",
];

/// The stages of a deliberately tiny `edgenas run` after TINY_NETWORK's
/// data and sizes: one epoch of each, a 4×3 retrained network on 256
/// images.
pub const TINY_RUN: &[&str] = &[
    "--epochs",
    "1",
    "--pretrain-epochs",
    "1",
    "--warmup-epochs",
    "1",
    "--retrain-epochs",
    "1",
    "--retrain-channels",
    "4",
    "--retrain-layers",
    "3",
    "--retrain-subset",
    "256",
];

/// A valid random genotype of `relaxation` with `nodes` nodes, as the JSON
/// of a genotype file.
pub fn genotype_json(relaxation: arch::Relaxation, nodes: usize, seed: u64) -> String {
    arch::genotype::random_genotype(
        relaxation,
        nodes,
        &arch::OpSpace::darts(arch::ZeroConfig::V1),
        &mut arch::genotype::seeded_picker(seed),
    )
    .to_json_pretty()
}
