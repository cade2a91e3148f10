//! `edgenas-bench` at tiny scale: the hidden worker that each measurement
//! runs in a child process, and the race with `--ours-only` (no PyTorch
//! needed).

use std::process::{Command, Output};

use serde_json::Value;

fn edgenas_bench(args: &[&str], threads: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgenas-bench"))
        .args(args)
        .env("RUST_LOG", "warn")
        .env("RAYON_NUM_THREADS", threads)
        .output()
        .expect("edgenas-bench runs")
}

fn json_stdout(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "edgenas-bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON object")
}

fn positive(v: &Value, field: &str) -> f64 {
    let x = v[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} missing or not a number in {v}"));
    assert!(x > 0.0, "{field} = {x} in {v}");
    x
}

#[test]
fn worker_prints_one_json_line_per_workload() {
    for what in ["search-step", "retrain-step", "infer"] {
        let out = edgenas_bench(
            &[
                "worker", "--what", what, "--config", "tiny", "--warmup", "0", "--steps", "2",
            ],
            "1",
        );
        let v = json_stdout(&out);
        assert_eq!(v["impl"], "edgenas");
        assert_eq!(v["what"], what);
        assert_eq!(v["threads"], 1);
        // The main thread and one rayon worker.
        assert_eq!(v["process_threads"], 2);
        assert_eq!(v["config"]["batch_size"], 4);
        assert_eq!(v["step_seconds"].as_array().unwrap().len(), 2);
        let ms = positive(&v, "ms_per_step_median");
        let images = positive(&v, "images_per_s");
        assert!((images - 4.0 / (ms / 1e3)).abs() < 1e-6 * images);
        positive(&v, "ms_per_step_mean");
        positive(&v, "peak_rss_mb");
        positive(&v["params"], "eval_net");
    }
}

#[test]
fn race_without_pytorch_reports_our_figures_and_null_ratios() {
    let out = edgenas_bench(
        &[
            "--ours-only",
            "--config",
            "tiny",
            "--what",
            "retrain-step,infer",
            "--threads",
            "1",
            "--rounds",
            "2",
            "--warmup",
            "0",
            "--steps",
            "1",
            "--json",
        ],
        "",
    );
    let v = json_stdout(&out);
    assert_eq!(v["rounds"], 2);
    // Only the default configuration at all cores feeds these.
    assert!(v["search_step_ratio"].is_null());
    assert!(v["retrain_step_ratio"].is_null());
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    for r in results {
        assert_eq!(r["threads"], 1);
        assert!(r["pytorch"].is_null());
        assert!(r["ratio"].is_null());
        assert_eq!(r["ours"]["runs"].as_array().unwrap().len(), 2);
        positive(&r["ours"], "ms_per_step_median");
        positive(&r["ours"], "images_per_s");
        positive(&r["ours"], "peak_rss_mb");
    }
}

#[test]
fn race_names_the_setup_script_when_python_is_missing() {
    let out = edgenas_bench(&["--config", "tiny", "--python", "/nonexistent/python"], "");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bench/reference/setup.sh"), "{err}");
    assert!(err.contains("--ours-only"), "{err}");
}

#[test]
fn search_alias_still_times_the_search_step() {
    let out = edgenas_bench(&["search", "--help"], "");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--steps"), "{help}");
    // The worker is an implementation detail.
    let out = edgenas_bench(&["--help"], "");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("worker"));
}
