//! End-to-end tests of the `edgenas` binary on real (small) data: each test
//! gets its own temporary folder and drives the real CLI.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

mod common;

use common::{edgenas, read_json};

/// A deliberately tiny search so the structure checks run in seconds.
fn tiny_search() -> Vec<&'static str> {
    let mut args = vec![
        "--epochs",
        "1",
        "--pretrain-epochs",
        "1",
        "--warmup-epochs",
        "1",
    ];
    args.extend_from_slice(common::TINY_NETWORK);
    args
}

fn search(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["search"];
    args.extend_from_slice(&tiny_search());
    args.extend_from_slice(extra);
    let out_s = out.to_str().unwrap();
    args.extend_from_slice(&["--out", out_s]);
    edgenas(&args)
}

/// Inputs per node of a genotype cell, and the ops used.
fn node_inputs(cell: &Value, n_nodes: usize) -> (Vec<usize>, Vec<String>) {
    let edges = cell["edges"].as_array().expect("edges");
    let mut counts = vec![0; n_nodes];
    let mut ops = Vec::new();
    for e in edges {
        let node = e["node"].as_u64().unwrap() as usize;
        let pred = e["predecessor"].as_u64().unwrap() as usize;
        assert!(pred < node + 2, "predecessor {pred} of node {node}");
        counts[node] += 1;
        ops.push(e["op"].as_str().unwrap().to_string());
    }
    (counts, ops)
}

#[test]
fn search_writes_genotypes_obeying_each_relaxation() {
    let tmp = tempfile::tempdir().unwrap();
    for cell in ["darts", "idarts", "xdarts"] {
        let out = tmp.path().join(cell);
        let run = search(&out, &["--cell", cell]);
        assert!(run.status.success(), "{cell}: {}", stderr(&run));
        let g = read_json(&out.join("genotype.json"));
        assert_eq!(g["relaxation"], cell);
        assert_eq!(g["schema_version"], 1);
        let n = g["n_nodes"].as_u64().unwrap() as usize;
        assert_eq!(n, 4);
        for kind in ["normal", "reduce"] {
            let (counts, ops) = node_inputs(&g[kind], n);
            for (j, c) in counts.iter().enumerate() {
                let want = if cell == "xdarts" { j + 2 } else { 2 };
                assert_eq!(*c, want, "{cell} {kind} node {j}");
            }
            assert!(
                !ops.iter().any(|o| o == "zero"),
                "{cell} {kind}: zero op kept"
            );
        }
        if cell == "darts" {
            // DARTS keeps two *distinct* predecessors per node.
            for kind in ["normal", "reduce"] {
                let edges = g[kind]["edges"].as_array().unwrap();
                for pair in edges.chunks(2) {
                    assert_ne!(pair[0]["predecessor"], pair[1]["predecessor"]);
                }
            }
        }
        // The other artifacts are there and complete.
        let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
        assert_eq!(metrics.lines().count(), 2, "pretrain + 1 search epoch");
        for line in metrics.lines() {
            let m: Value = serde_json::from_str(line).unwrap();
            assert!(m["search_val_accuracy"].as_f64().unwrap() >= 0.0);
            assert_eq!(m["edge_entropy_normal"].as_array().unwrap().len(), 14);
        }
        let alphas = read_json(&out.join("alphas.json"));
        assert_eq!(alphas["normal"].as_array().unwrap().len(), 14);
        assert!(read_json(&out.join("search.json"))["data"]["source"] == "builtin:digits");
    }
}

#[test]
fn v0_search_excludes_zero_from_the_genotype() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("v0");
    let run = search(&out, &["--zero", "v0", "--algo", "darts"]);
    assert!(run.status.success(), "{}", stderr(&run));
    let alphas = read_json(&out.join("alphas.json"));
    assert_eq!(alphas["ops"][0], "zero");
    assert_eq!(alphas["normal"][0].as_array().unwrap().len(), 8);
    let g = read_json(&out.join("genotype.json"));
    for kind in ["normal", "reduce"] {
        let (_, ops) = node_inputs(&g[kind], 4);
        assert!(!ops.iter().any(|o| o == "zero"));
    }
}

#[test]
fn a_fixed_seed_reproduces_the_run_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    // The second run reuses the first run's latency table (same device and
    // template): the penalty, hence α, depends on the measured values.
    let cache = tmp.path().join("lut-cache");
    let run_once = |name: &str| -> (Value, Vec<Vec<f32>>, Value) {
        let out = tmp.path().join(name);
        let mut args = vec!["run", "--json"];
        args.extend_from_slice(&tiny_search());
        args.extend_from_slice(&[
            "--retrain-epochs",
            "1",
            "--retrain-channels",
            "4",
            "--retrain-layers",
            "3",
            "--retrain-subset",
            "256",
            "--seed",
            "11",
            "--lut-cache",
            cache.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        let run = edgenas(&args);
        assert!(run.status.success(), "{}", stderr(&run));
        let summary: Value = serde_json::from_slice(&run.stdout).expect("--json prints JSON");
        let weights = parameter_values(&out.join("retrain"));
        let alphas = read_json(&out.join("search/alphas.json"));
        (summary, weights, alphas)
    };
    let (a, wa, alpha_a) = run_once("a");
    let (b, wb, alpha_b) = run_once("b");
    assert_eq!(a["genotype"], b["genotype"]);
    assert_eq!(alpha_a["normal"], alpha_b["normal"]);
    assert_eq!(alpha_a["reduce"], alpha_b["reduce"]);
    assert_eq!(a["test_accuracy"], b["test_accuracy"]);
    assert!(!wa.is_empty());
    assert!(
        wa == wb,
        "retrained weights differ between two runs with the same seed"
    );
    let acc = a["test_accuracy"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&acc));
    assert!(Path::new(a["weights_path"].as_str().unwrap()).ends_with("retrain/weights.bpk"));
    assert_eq!(
        a["lut_path"], b["lut_path"],
        "the cached table was not reused"
    );
    assert!(a["predicted_latency_ms"].as_f64().unwrap() > 0.0);

    // The run's genotype predicts from its table, and the run exports to an
    // ONNX model that tract verifies against burn.
    let lut = a["lut_path"].as_str().unwrap();
    let genotype = a["genotype_path"].as_str().unwrap();
    let predicted = latency_lut(&["predict", "--lut", lut, "--genotype", genotype, "--json"]);
    assert!(predicted.status.success(), "{}", stderr(&predicted));
    let p: Value = serde_json::from_slice(&predicted.stdout).unwrap();
    assert_eq!(p["total_ms"], a["predicted_latency_ms"]);
    let onnx = tmp.path().join("model.onnx");
    let run_dir = tmp.path().join("a");
    let export = edgenas(&[
        "export",
        "--run",
        run_dir.to_str().unwrap(),
        "--out",
        onnx.to_str().unwrap(),
        "--json",
    ]);
    assert!(export.status.success(), "{}", stderr(&export));
    let e: Value = serde_json::from_slice(&export.stdout).unwrap();
    assert!(e["max_rel_error"].as_f64().unwrap() < 1e-4);
    assert!(std::fs::metadata(&onnx).unwrap().len() > 1000);
}

#[test]
fn sweep_runs_each_delta_and_writes_table_and_plot() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep");
    let cache = tmp.path().join("cache");
    let mut args = vec![
        "sweep",
        "--latency-coef",
        "0,0.5",
        "--jobs",
        "2",
        "--repeats",
        "20",
        "--json",
        "--out",
        out.to_str().unwrap(),
        "--",
    ];
    args.extend_from_slice(&tiny_search());
    args.extend_from_slice(&[
        "--retrain-epochs",
        "1",
        "--retrain-channels",
        "4",
        "--retrain-layers",
        "3",
        "--retrain-subset",
        "256",
        "--normalize",
        "--lut-cache",
        cache.to_str().unwrap(),
    ]);
    let run = edgenas(&args);
    assert!(run.status.success(), "{}", stderr(&run));
    let rows: Value = serde_json::from_slice(&run.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for (row, delta) in rows.iter().zip([0.0, 0.5]) {
        assert_eq!(row["kind"], "delta");
        assert_eq!(row["latency_coef"].as_f64(), Some(delta));
        assert!(row["measured"]["median"].as_f64().unwrap() > 0.0);
        assert!(Path::new(row["model_path"].as_str().unwrap()).is_file());
    }
    assert!(rows.iter().any(|r| r["pareto"] == true));
    let svg = std::fs::read_to_string(out.join("pareto.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("δ=0.5"));
    assert!(out.join("sweep.md").is_file());
    // `--normalize` reaches the search: P(α) used the normalized weights.
    let search = read_json(
        &out.join("delta-0.5-seed0")
            .join("search")
            .join("search.json"),
    );
    assert_eq!(search["latency"]["normalized"], true, "{search}");

    // --resume keeps both finished runs and runs only the new δ.
    let kept = out.join("delta-0.5-seed0").join("run.json");
    let before = std::fs::metadata(&kept).unwrap().modified().unwrap();
    let mut resumed = args.clone();
    resumed[2] = "0,0.5,1";
    resumed.insert(1, "--resume");
    let run = edgenas(&resumed);
    assert!(run.status.success(), "{}", stderr(&run));
    let rows: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 3);
    assert_eq!(
        std::fs::metadata(&kept).unwrap().modified().unwrap(),
        before
    );
    assert!(out.join("delta-1-seed0").join("run.json").is_file());

    // A budget below the δ = 0 network: the budget search's deployed
    // network is predicted within it, and a random genotype is drawn in
    // [0.8·budget, budget]; both are timed and tabulated next to the δ runs.
    let unconstrained = rows.as_array().unwrap()[0]["predicted_latency_ms"]
        .as_f64()
        .unwrap();
    let budget = format!("{:.4}", 0.9 * unconstrained);
    let budget_ms: f64 = budget.parse().unwrap();
    let mut budgeted = args.clone();
    budgeted[2] = "0";
    budgeted.splice(
        1..1,
        [
            "--resume",
            "--latency-budget",
            budget.as_str(),
            "--random-per-budget",
            "1",
        ],
    );
    let run = edgenas(&budgeted);
    assert!(run.status.success(), "{}", stderr(&run));
    let rows: Value = serde_json::from_slice(&run.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(
        rows.len(),
        3,
        "δ = 0, one budget search, one random genotype"
    );
    let kind = |k: &str| rows.iter().find(|r| r["kind"] == k).unwrap();
    let searched = kind("budget");
    assert_eq!(searched["budget_ms"].as_f64(), Some(budget_ms));
    assert!(searched["predicted_latency_ms"].as_f64().unwrap() <= budget_ms);
    let random = kind("random");
    let predicted = random["predicted_latency_ms"].as_f64().unwrap();
    assert!(
        (0.8 * budget_ms..=budget_ms).contains(&predicted),
        "random genotype predicted at {predicted} ms"
    );
    let dir = out.join(format!("budget-{budget_ms}ms-seed0"));
    let run_json = read_json(&dir.join("run.json"));
    assert_eq!(run_json["latency_budget_ms"].as_f64(), Some(budget_ms));
    assert!(run_json["budget_met"].is_boolean());
    assert!(run_json["budget_over_pct"].is_number());
    let search = read_json(&dir.join("search").join("search.json"));
    assert_eq!(search["budget"]["budget_ms"].as_f64(), Some(budget_ms));
    assert!(search["budget"]["repairs"].is_array());
    let random_dir = out.join(format!("random-{budget_ms}ms-seed0"));
    assert_eq!(
        read_json(&random_dir.join("run.json"))["genotype_source"],
        "random"
    );
    assert!(random_dir.join("search").join("random.json").is_file());
    let table = std::fs::read_to_string(out.join("sweep.md")).unwrap();
    assert!(table.contains("| budget (ms) |"), "{table}");
    let svg = std::fs::read_to_string(out.join("pareto.svg")).unwrap();
    assert!(svg.contains(&format!("budget {budget_ms} ms")));
}

/// The `latency-lut` binary (package latency-lut), built next to `edgenas`
/// by `cargo test --workspace`.
fn latency_lut(args: &[&str]) -> Output {
    let exe = Path::new(env!("CARGO_BIN_EXE_edgenas")).with_file_name("latency-lut");
    assert!(
        exe.is_file(),
        "{} is missing: build it with `cargo build --release -p latency-lut` (or run the tests with --workspace)",
        exe.display()
    );
    Command::new(exe)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("latency-lut runs")
}

#[test]
fn latency_options_are_checked_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    // Every flag that only means something with a table, without one.
    let out = tmp.path().join("s1");
    for flags in [
        &["--latency-coef", "0.1"][..],
        &["--latency-budget", "1"][..],
        &["--normalize"][..],
        &["--penalty", "expected-sum"][..],
    ] {
        let run = search(&out, flags);
        assert_clean_failure(&run, "--lut", &out);
        assert!(stderr(&run).contains(flags[0]), "{}", stderr(&run));
    }
    let run = search(&out, &["--latency-budget", "0"]);
    assert_clean_failure(&run, "--latency-budget must be a positive", &out);
    // A table that does not cover the search's template names the key.
    let lut = tmp.path().join("small.json");
    let prof = latency_lut(&[
        "profile",
        "--channels",
        "4",
        "--layers",
        "3",
        "--eval-channels",
        "4",
        "--eval-layers",
        "3",
        "--deploy-channels",
        "4",
        "--deploy-layers",
        "3",
        "--repeats",
        "3",
        "--out",
        lut.to_str().unwrap(),
    ]);
    assert!(prof.status.success(), "{}", stderr(&prof));
    let out = tmp.path().join("s2");
    let run = search(
        &out,
        &["--lut", lut.to_str().unwrap(), "--latency-coef", "0.1"],
    );
    assert_clean_failure(&run, "no entry", &out);
    // A corrupt table names the file.
    let bad = tmp.path().join("bad.json");
    write_file(&bad, b"{\"kind\": \"edgenas-latency-lut\", ");
    let out = tmp.path().join("s3");
    let run = search(
        &out,
        &["--lut", bad.to_str().unwrap(), "--latency-coef", "0.1"],
    );
    assert_clean_failure(&run, "bad.json", &out);
    // The jetson preset without a CUDA build fails at once, without a table.
    let jetson = tmp.path().join("jetson.json");
    let prof = latency_lut(&[
        "profile",
        "--device",
        "jetson",
        "--out",
        jetson.to_str().unwrap(),
    ]);
    assert!(!prof.status.success());
    assert!(
        stderr(&prof).contains("--features cuda"),
        "{}",
        stderr(&prof)
    );
    assert!(!jetson.exists());
}

/// Every float tensor of a retrained model, in module order. (The .bpk bytes
/// themselves differ between runs: burn stores random parameter ids.)
fn parameter_values(retrain_dir: &Path) -> Vec<Vec<f32>> {
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::tensor::Tensor;
    struct Collect(Vec<Vec<f32>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0
                .push(param.val().into_data().try_to_vec::<f32>().unwrap());
        }
    }
    let (_, model) = export::load_retrained(retrain_dir, &burn::tensor::Device::flex()).unwrap();
    let mut collect = Collect(Vec::new());
    model.visit(&mut collect);
    collect.0
}

// ---------------------------------------------------------------------------
// Bad input: one-line error naming the file or flag, non-zero exit, no output.

fn assert_clean_failure(run: &Output, needle: &str, out: &Path) {
    assert!(!run.status.success(), "expected failure");
    let err = stderr(run);
    let error_lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(error_lines.len(), 1, "one error line expected, got:\n{err}");
    assert!(
        error_lines[0].contains(needle),
        "error should name `{needle}`:\n{err}"
    );
    assert!(
        !out.exists(),
        "output folder {} was left behind",
        out.display()
    );
    let parent = out.parent().unwrap();
    if parent.exists() {
        for entry in std::fs::read_dir(parent).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                !name.contains(".partial-"),
                "staging folder {name} left behind"
            );
        }
    }
}

fn write_file(path: &Path, bytes: &[u8]) {
    std::fs::File::create(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

fn idx_images(n: u32, rows: u32, cols: u32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0x0803u32.to_be_bytes());
    for v in [n, rows, cols] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend((0..n * rows * cols).map(|i| (i % 200) as u8));
    b
}

fn idx_labels(n: u32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0x0801u32.to_be_bytes());
    b.extend_from_slice(&n.to_be_bytes());
    b.extend((0..n).map(|i| (i % 10) as u8));
    b
}

/// A valid uncompressed IDX dataset folder, to be broken by each test.
fn idx_folder(root: &Path) -> PathBuf {
    let dir = root.join("idx");
    std::fs::create_dir_all(&dir).unwrap();
    write_file(&dir.join("train-images-idx3-ubyte"), &idx_images(40, 8, 8));
    write_file(&dir.join("train-labels-idx1-ubyte"), &idx_labels(40));
    write_file(&dir.join("t10k-images-idx3-ubyte"), &idx_images(10, 8, 8));
    write_file(&dir.join("t10k-labels-idx1-ubyte"), &idx_labels(10));
    dir
}

fn search_on(data: &Path, out: &Path) -> Output {
    edgenas(&[
        "search",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--epochs",
        "1",
    ])
}

#[test]
fn missing_data_folder_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let missing = tmp.path().join("no-such-folder");
    let run = search_on(&missing, &out);
    assert_clean_failure(&run, "no-such-folder", &out);
}

#[test]
fn truncated_idx_file_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = idx_folder(tmp.path());
    let bytes = idx_images(40, 8, 8);
    write_file(
        &dir.join("train-images-idx3-ubyte"),
        &bytes[..bytes.len() - 100],
    );
    let out = tmp.path().join("out");
    assert_clean_failure(&search_on(&dir, &out), "train-images-idx3-ubyte", &out);
}

#[test]
fn wrong_magic_number_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = idx_folder(tmp.path());
    let mut bytes = idx_labels(10);
    bytes[3] = 0x99;
    write_file(&dir.join("t10k-labels-idx1-ubyte"), &bytes);
    let out = tmp.path().join("out");
    assert_clean_failure(&search_on(&dir, &out), "t10k-labels-idx1-ubyte", &out);
}

#[test]
fn label_image_count_mismatch_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = idx_folder(tmp.path());
    write_file(&dir.join("train-labels-idx1-ubyte"), &idx_labels(39));
    let out = tmp.path().join("out");
    assert_clean_failure(&search_on(&dir, &out), "train-labels-idx1-ubyte", &out);
}

#[test]
fn truncated_cifar_file_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cifar");
    std::fs::create_dir_all(&dir).unwrap();
    let record = |label: u8| {
        let mut r = vec![label];
        r.extend(std::iter::repeat_n(7u8, 3072));
        r
    };
    let train: Vec<u8> = (0..20).flat_map(|i| record(i % 10)).collect();
    write_file(&dir.join("train.bin"), &train[..train.len() - 5]);
    write_file(&dir.join("test.bin"), &record(1));
    let out = tmp.path().join("out");
    assert_clean_failure(&search_on(&dir, &out), "train.bin", &out);
}

#[test]
fn unknown_cell_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let run = edgenas(&["search", "--cell", "pdarts", "--out", out.to_str().unwrap()]);
    assert!(!run.status.success());
    let err = stderr(&run);
    assert!(err.lines().next().unwrap().contains("--cell"), "{err}");
    assert!(err.contains("pdarts"), "{err}");
    assert!(!out.exists());
}

#[test]
fn existing_output_folder_is_not_overwritten_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    write_file(&out.join("keep.txt"), b"precious");
    let run = search(&out, &[]);
    assert!(!run.status.success());
    assert!(stderr(&run).contains("--force"));
    assert_eq!(std::fs::read(out.join("keep.txt")).unwrap(), b"precious");
}

#[test]
fn retrain_rejects_a_corrupt_genotype_file() {
    let tmp = tempfile::tempdir().unwrap();
    let genotype = tmp.path().join("genotype.json");
    write_file(
        &genotype,
        b"{\"schema_version\": 1, \"relaxation\": \"darts\"",
    );
    let out = tmp.path().join("out");
    let run = edgenas(&[
        "retrain",
        "--genotype",
        genotype.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_clean_failure(&run, "genotype.json", &out);
}

#[test]
fn draw_writes_both_cells_of_a_genotype_as_svg() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("genotype.json");
    std::fs::write(
        &path,
        common::genotype_json(arch::Relaxation::XDarts, 3, 11),
    )
    .unwrap();
    let out = tmp.path().join("cells.svg");
    let run = edgenas(&[
        "draw",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let svg = std::fs::read_to_string(&out).unwrap();
    assert!(svg.contains("normal cell (xdarts)") && svg.contains("reduction cell (xdarts)"));
    // XDARTS keeps 2 + 3 + 4 pairs per cell: one arrow each.
    assert_eq!(svg.matches(r#"class="edge""#).count(), 2 * (2 + 3 + 4));
    // A genotype that does not validate is refused, nothing written.
    std::fs::write(&path, b"{\"schema_version\": 1}").unwrap();
    let bad = tmp.path().join("bad.svg");
    let run = edgenas(&[
        "draw",
        path.to_str().unwrap(),
        "--out",
        bad.to_str().unwrap(),
    ]);
    assert!(!run.status.success());
    assert!(stderr(&run).contains("genotype.json"), "{}", stderr(&run));
    assert!(!bad.exists());
}

/// `edgenas compare` times run folders and ONNX files side by side: one
/// row per model in order, the first's ratio exactly 1, ordered quantiles;
/// a missing model is named.
#[test]
fn compare_times_models_side_by_side() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../device-bench/golden/run");
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    std::fs::create_dir(&run).unwrap();
    for file in ["model.json", "weights.bpk"] {
        std::fs::copy(golden.join(file), run.join(file)).unwrap();
    }
    let onnx = run.join("model.onnx");
    let out = edgenas(&[
        "export",
        "--run",
        run.to_str().unwrap(),
        "--out",
        onnx.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    let out = edgenas(&[
        "compare",
        run.to_str().unwrap(),
        onnx.to_str().unwrap(),
        "--repeats",
        "40",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["model"], onnx.to_str().unwrap());
    assert_eq!(rows[0]["ratio_to_first"], 1.0);
    for row in rows {
        assert_eq!(row["samples"], 40);
        let (p10, p50, p90) = (
            row["p10_ms"].as_f64().unwrap(),
            row["p50_ms"].as_f64().unwrap(),
            row["p90_ms"].as_f64().unwrap(),
        );
        assert!(0.0 < p10 && p10 <= p50 && p50 <= p90, "{row}");
    }
    assert!(stderr(&out).contains("| p50 / first |"));

    let missing = tmp.path().join("nowhere");
    let out = edgenas(&["compare", run.to_str().unwrap(), missing.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("nowhere"), "{}", stderr(&out));
}
