//! Byte-mutation fuzzing of every parser a user's file reaches: IDX and
//! CIFAR-10 datasets, genotype files, latency tables, device-bench reports
//! and ONNX models (protobuf and edgenas metadata). Each starts from a
//! valid file, applies a few random mutations (flip, overwrite, truncate,
//! delete, duplicate, insert) and must return, never panic. Seeded, so a
//! failure names the iteration that reproduces it; each parser gets a fixed
//! time budget (`EDGENAS_FUZZ_SECONDS`, default 1.5 s) so the suite's length
//! does not depend on the machine.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;

mod common;
use rand::{Rng, SeedableRng};

fn budget() -> Duration {
    let seconds = std::env::var("EDGENAS_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(1.5);
    Duration::from_secs_f64(seconds)
}

/// One to four random edits of `bytes`.
fn mutate(rng: &mut StdRng, bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let len = b.len();
        let at = if len == 0 {
            0
        } else {
            rng.random_range(0..len)
        };
        match rng.random_range(0..7) {
            0 if len > 0 => b[at] ^= 1 << rng.random_range(0..8),
            1 if len > 0 => b[at] = [0, 0xff, b'0', b'9', b'-', b'"', b'{'][rng.random_range(0..7)],
            2 => b.truncate(at),
            3 if len > 0 => {
                let end = (at + rng.random_range(1..=16)).min(len);
                b.drain(at..end);
            }
            4 if len > 0 => {
                let end = (at + rng.random_range(1..=64)).min(len);
                let chunk = b[at..end].to_vec();
                let to = rng.random_range(0..=b.len());
                b.splice(to..to, chunk);
            }
            5 => {
                let n = rng.random_range(1..=8);
                let junk: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                b.splice(at..at, junk);
            }
            // A big number where a count or size may be: 4 bytes of 0xff.
            _ if len >= 4 => {
                let at = at.min(len - 4);
                b[at..at + 4].copy_from_slice(&[0xff, 0xff, 0xff, 0x7f]);
            }
            _ => {}
        }
    }
    b
}

/// Writes `files` into a folder with one of them mutated, runs `parse` on
/// the folder, and fails on the first panic; prints how many inputs were
/// tried and how many `parse` rejected.
fn fuzz(name: &str, seed: u64, files: &[(&str, Vec<u8>)], parse: impl Fn(&Path) -> bool) {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut tried, mut rejected) = (0usize, 0usize);
    let dir = tempfile::tempdir().unwrap();
    while started.elapsed() < budget() {
        let target = rng.random_range(0..files.len());
        for (i, (file, bytes)) in files.iter().enumerate() {
            let bytes = if i == target {
                mutate(&mut rng, bytes)
            } else {
                bytes.clone()
            };
            std::fs::write(dir.path().join(file), bytes).unwrap();
        }
        match catch_unwind(AssertUnwindSafe(|| parse(dir.path()))) {
            Ok(ok) => rejected += usize::from(!ok),
            Err(_) => panic!(
                "{name}: the parser panicked on mutation {tried} of seed {seed} (file {})",
                files[target].0
            ),
        }
        tried += 1;
    }
    eprintln!("fuzz {name}: {tried} mutated inputs, {rejected} rejected, no panic");
    assert!(
        tried >= 20,
        "{name}: only {tried} inputs in the time budget"
    );
}

fn idx(magic: u32, dims: &[u32], payload: impl Iterator<Item = u8>) -> Vec<u8> {
    let mut b = magic.to_be_bytes().to_vec();
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend(payload);
    b
}

#[test]
fn idx_folders() {
    let labels = |n: u32| idx(0x0801, &[n], (0..n).map(|i| (i % 3) as u8));
    let images = |n: u32| idx(0x0803, &[n, 4, 4], (0..n * 16).map(|i| i as u8));
    let files = [
        ("train-images-idx3-ubyte", images(6)),
        ("train-labels-idx1-ubyte", labels(6)),
        ("t10k-images-idx3-ubyte", images(3)),
        ("t10k-labels-idx1-ubyte", labels(3)),
    ];
    fuzz("idx", 1, &files, |dir| {
        datasets::load(dir.to_str().unwrap()).is_ok()
    });
}

#[test]
fn cifar_folders() {
    let records = |labels: &[u8]| {
        let mut b = Vec::new();
        for &l in labels {
            b.push(l);
            b.extend((0..3072).map(|i| (i % 251) as u8));
        }
        b
    };
    let files = [
        ("train.bin", records(&[0, 1, 2])),
        ("test.bin", records(&[1])),
        ("batches.meta.txt", b"cat\ndog\nbird\n".to_vec()),
    ];
    fuzz("cifar", 2, &files, |dir| {
        datasets::load(dir.to_str().unwrap()).is_ok()
    });
}

#[test]
fn genotype_files() {
    let genotype = common::genotype_json(arch::Relaxation::Darts, 4, 7);
    let files = [("genotype.json", genotype.into_bytes())];
    fuzz("genotype", 3, &files, |dir| {
        artifacts::GenotypeFile::load(&dir.join("genotype.json")).is_ok()
    });
}

#[test]
fn latency_tables() {
    let config = artifacts::SearchConfig {
        channels: 4,
        layers: 3,
        nodes: 2,
        ..Default::default()
    };
    let template = latency_lut::template_for(
        &config,
        1,
        8,
        10,
        latency_lut::NetSize {
            channels: 4,
            layers: 3,
        },
    );
    let lut = latency_lut::Lut::synthetic(&template, |key| 0.01 * (key.c_in as f64 + 1.0));
    let dir = tempfile::tempdir().unwrap();
    lut.save(&dir.path().join("lut.json")).unwrap();
    let files = [(
        "lut.json",
        std::fs::read(dir.path().join("lut.json")).unwrap(),
    )];
    fuzz("latency table", 4, &files, |dir| {
        latency_lut::Lut::load(&dir.join("lut.json")).is_ok()
    });
}

#[test]
fn device_bench_reports() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../device-bench/golden/baseline.json");
    let files = [("baseline.json", std::fs::read(golden).unwrap())];
    fuzz("device-bench report", 5, &files, |dir| {
        device_bench::read_reference(&dir.join("baseline.json")).is_ok()
    });
}

#[test]
fn onnx_models() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../device-bench/golden/run");
    let dir = tempfile::tempdir().unwrap();
    let onnx = dir.path().join("model.onnx");
    export::export_run(
        &golden,
        &onnx,
        &export::ExportOptions {
            verify_images: None,
            ..Default::default()
        },
    )
    .unwrap();
    let files = [("model.onnx", std::fs::read(&onnx).unwrap())];
    // What `device-bench run` does first: read the file and its
    // metadata, then have tract load it and plan batch 1.
    fuzz("onnx model", 6, &files, |dir| {
        let path = dir.join("model.onnx");
        device_bench::model::ModelFile::read(&path).is_ok()
            && export::TractModel::load(&path)
                .and_then(|m| m.plan(&[vec![1, 1, 8, 8]]))
                .is_ok()
    });
}
