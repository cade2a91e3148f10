//! The regression gate through the binary: `baseline` then `check`, on the
//! same model, a bigger model, and an artificially slowed one.

mod common;

use std::path::Path;

use common::*;

fn baseline(report: &Path, out: &Path) {
    let output = device_bench(&[
        "baseline",
        "--report",
        report.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_exit(&output, 0);
}

fn check(report: &Path, baseline: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "check",
        "--report",
        report.to_str().unwrap(),
        "--baseline",
        baseline.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    device_bench(&args)
}

#[test]
fn check_passes_on_two_runs_of_the_same_model() {
    let _timing = timing_lock();
    let dir = tempfile::tempdir().unwrap();
    let model = export_model(dir.path(), "model.onnx", small_config(), 11);
    let (first, second) = (dir.path().join("a.json"), dir.path().join("b.json"));
    assert_exit(&run_model(&model.path, &first, &[]), 0);
    assert_exit(&run_model(&model.path, &second, &[]), 0);
    let base = dir.path().join("baseline.json");
    baseline(&first, &base);

    let output = check(&second, &base, &[]);
    assert_exit(&output, 0);
    let table = stdout(&output);
    assert!(table.contains("gate: pass"), "{table}");
    assert!(table.contains("latency / calibration, batch 1"), "{table}");
    assert!(table.contains("accuracy %"), "{table}");

    // --json: the same verdict, machine-readable.
    let output = check(&second, &base, &["--json"]);
    assert_exit(&output, 0);
    let outcome: device_bench::GateOutcome = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(outcome.passed);
    assert_eq!(outcome.rows[2].change_pct, 0.0, "identical accuracy");
}

#[test]
fn check_fails_when_the_model_gets_bigger() {
    let _timing = timing_lock();
    let dir = tempfile::tempdir().unwrap();
    let small = export_model(dir.path(), "small.onnx", small_config(), 12);
    // More channels and cells: several times the work on the same input.
    let bigger = export_model(
        dir.path(),
        "bigger.onnx",
        small_config().with_channels(12).with_layers(5),
        12,
    );
    let (small_report, bigger_report) = (dir.path().join("s.json"), dir.path().join("b.json"));
    assert_exit(&run_model(&small.path, &small_report, &[]), 0);
    assert_exit(&run_model(&bigger.path, &bigger_report, &[]), 0);
    let base = dir.path().join("baseline.json");
    baseline(&small_report, &base);

    let output = check(&bigger_report, &base, &[]);
    assert_exit(&output, 1);
    let table = stdout(&output);
    assert!(
        table.contains("REGRESSION") && table.contains("gate: FAIL"),
        "{table}"
    );
    assert!(table.contains("note: another model file"), "{table}");
    for header in [
        "metric",
        "baseline",
        "now",
        "change %",
        "threshold %",
        "verdict",
    ] {
        assert!(table.contains(header), "{table}");
    }
}

#[test]
fn check_fails_with_an_injected_slowdown() {
    let _timing = timing_lock();
    let dir = tempfile::tempdir().unwrap();
    let model = export_model(dir.path(), "model.onnx", small_config(), 13);
    let (normal, slowed) = (dir.path().join("n.json"), dir.path().join("s.json"));
    assert_exit(&run_model(&model.path, &normal, &[]), 0);
    assert_exit(
        &run_model(&model.path, &slowed, &["--inject-slowdown-ms", "20"]),
        0,
    );
    let base = dir.path().join("baseline.json");
    baseline(&normal, &base);

    let output = check(&slowed, &base, &[]);
    assert_exit(&output, 1);
    let table = stdout(&output);
    assert!(table.contains("REGRESSION"), "{table}");
    assert!(table.contains("injected slowdown"), "{table}");

    // The accuracy is untouched: only the latency rows regress.
    let output = check(&slowed, &base, &["--json"]);
    assert_exit(&output, 1);
    let outcome: device_bench::GateOutcome = serde_json::from_str(&stdout(&output)).unwrap();
    let verdicts: Vec<_> = outcome.rows[..3].iter().map(|r| r.verdict).collect();
    use device_bench::Verdict::{Pass, Regression};
    assert_eq!(verdicts, [Regression, Regression, Pass]);

    // A slowed report never becomes a baseline.
    let output = device_bench(&[
        "baseline",
        "--report",
        slowed.to_str().unwrap(),
        "--out",
        dir.path().join("bad.json").to_str().unwrap(),
    ]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("injected slowdown"));
    assert!(!dir.path().join("bad.json").exists());
}

#[test]
fn the_slowdown_can_come_from_the_environment() {
    let _timing = timing_lock();
    let dir = tempfile::tempdir().unwrap();
    let model = export_model(dir.path(), "model.onnx", small_config(), 14);
    let out = dir.path().join("r.json");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_device-bench"))
        .args([
            "run",
            "--model",
            model.path.to_str().unwrap(),
            "--data",
            "builtin:digits",
            "--out",
            out.to_str().unwrap(),
            "--warmup",
            "0",
            "--repeats",
            "2",
        ])
        .env(device_bench::SLOWDOWN_ENV, "2.5")
        .output()
        .unwrap();
    assert_exit(&output, 0);
    let report = device_bench::BenchReport::load(&out).unwrap();
    assert_eq!(report.settings.injected_slowdown_ms, 2.5);
    assert!(report.latency[0].stats.min_ms >= 2.5);
}

#[test]
fn the_committed_baseline_still_reads_and_passes_against_itself() {
    let _timing = timing_lock();
    // The CI gate compares every run with this file: a change of the report
    // types must keep reading it.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/baseline.json");
    let reference = device_bench::read_reference(&path).unwrap();
    let device_bench::Reference::Baseline(baseline) = &reference else {
        panic!("golden/baseline.json is a baseline");
    };
    assert!(!baseline.report.latency.is_empty());
    assert_eq!(baseline.report.device.host.gpu, None);
    let outcome = device_bench::compare(
        &baseline.report,
        &baseline.report,
        &path,
        &path,
        &device_bench::GateSettings::default(),
    )
    .unwrap();
    assert!(outcome.passed);
    // Written again, it reads back equal.
    let again: device_bench::Baseline = serde_json::from_str(&baseline.to_json()).unwrap();
    assert_eq!(&again, baseline.as_ref());
}
