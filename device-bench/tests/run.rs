//! `device-bench run` on tiny models: the report's fields, the accuracy
//! against the same model run image by image, partial batches, profiling.
//! (Against burn's forward pass: `export/tests/device_bench.rs`.)

mod common;

use common::*;
use device_bench::{BenchReport, RunOptions};
use sha2::{Digest, Sha256};

#[test]
fn run_writes_a_sane_report() {
    let dir = tempfile::tempdir().unwrap();
    let model = export_model(dir.path(), "model.onnx", small_config(), 1);
    let out = dir.path().join("report.json");
    let output = run_model(&model.path, &out, &["--json"]);
    assert_exit(&output, 0);

    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(stdout(&output), text, "--json prints the written report");
    let report: BenchReport = serde_json::from_str(&text).unwrap();
    assert_eq!(report.kind, device_bench::report::REPORT_KIND);
    assert_eq!(
        report.schema_version,
        device_bench::report::REPORT_SCHEMA_VERSION
    );

    let data = digits();
    let acc = &report.accuracy;
    assert_eq!(acc.samples, 360);
    assert_eq!(
        acc.correct,
        model.reference_correct(&data),
        "batched vs image-by-image argmax"
    );
    assert!((acc.percent - 100.0 * acc.correct as f64 / 360.0).abs() < 1e-9);
    assert_eq!(acc.inferences, 12, "11 batches of 32 and one of 8");

    let bytes = std::fs::read(&model.path).unwrap();
    let sha: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(report.model.sha256, sha);
    assert_eq!(report.model.bytes, bytes.len());
    assert_eq!(report.model.input_shape, [1, 8, 8]);
    assert_eq!(report.model.num_classes, 10);
    assert!(report.model.plan_nodes > 0 && report.model.onnx_nodes > 0);
    assert_eq!(report.data.source, "builtin:digits");
    assert_eq!(report.data.test_samples, 360);
    assert_eq!(report.data.test_fingerprint.len(), 64);

    assert_eq!(report.device.device.name(), "cpu");
    assert_eq!(report.device.runtime, "tract");
    assert_eq!(report.device.runtime_version, runtime::TRACT_VERSION);
    assert_eq!(report.device.threads, 1);
    assert!(report.device.host.cores >= 1 && !report.device.host.os.is_empty());
    assert!(report.tool_version.starts_with("edgenas "));
    assert!(report.created_at.ends_with('Z'), "{}", report.created_at);
    assert_eq!(report.settings.batch, 32);
    assert_eq!(report.settings.repeats, 15);
    assert_eq!(report.settings.injected_slowdown_ms, 0.0);

    let batches: Vec<usize> = report.latency.iter().map(|l| l.batch).collect();
    assert_eq!(batches, vec![1, 32]);
    for l in &report.latency {
        for s in [&l.stats, &l.calibration] {
            assert_eq!((s.count, s.warmup, s.batch), (15, 3, l.batch));
            assert!(0.0 < s.min_ms && s.min_ms <= s.p10_ms && s.p10_ms <= s.p50_ms);
            assert!(s.p50_ms <= s.p90_ms && s.p90_ms <= s.p99_ms && s.p99_ms <= s.max_ms);
            assert!((s.throughput_ips - l.batch as f64 * 1e3 / s.p50_ms).abs() < 1e-6);
        }
        // The median of per-round ratios lies within what the two timings'
        // extremes allow, and its spread was recorded.
        let (lo, hi) = (
            l.stats.min_ms / l.calibration.max_ms,
            l.stats.max_ms / l.calibration.min_ms,
        );
        assert!(
            lo <= l.calibration_ratio && l.calibration_ratio <= hi,
            "{lo} ≤ {} ≤ {hi}",
            l.calibration_ratio
        );
        assert!(l.ratio_spread.is_some_and(|s| s >= 0.0));
        assert!(l.profile.is_none());
    }
    assert_eq!(
        report.calibration.workload,
        device_bench::calibration::CALIBRATION_WORKLOAD
    );
}

#[test]
fn accuracy_is_exact_for_every_batch_size() {
    // 360 images: batch 7 leaves a remainder of 3, batch 500 is one partial
    // batch; each gets its own plan and must agree with the model run
    // image by image exactly.
    let dir = tempfile::tempdir().unwrap();
    let model = export_model(dir.path(), "model.onnx", small_config(), 2);
    let data = digits();
    let expected = model.reference_correct(&data);
    for (batch, inferences) in [(7, 52), (360, 1), (500, 1)] {
        let options = RunOptions {
            batch,
            warmup: 0,
            repeats: 1,
            ..RunOptions::default()
        };
        let report = device_bench::run(&model.path, &data, &options).unwrap();
        assert_eq!(report.accuracy.correct, expected, "batch {batch}");
        assert_eq!(report.accuracy.inferences, inferences, "batch {batch}");
    }
}

#[test]
fn profile_adds_per_node_times() {
    let dir = tempfile::tempdir().unwrap();
    let model = export_model(dir.path(), "model.onnx", small_config(), 3);
    let out = dir.path().join("report.json");
    assert_exit(&run_model(&model.path, &out, &["--profile"]), 0);
    let report: BenchReport =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert!(report.settings.profile);
    for l in &report.latency {
        let p = l.profile.as_ref().expect("--profile fills every batch");
        assert_eq!(p.runs, 15);
        assert!(!p.nodes.is_empty() && !p.by_op.is_empty());
        let percent: f64 = p.nodes.iter().map(|n| n.percent).sum();
        assert!((percent - 100.0).abs() < 1e-6, "{percent}");
        let total: f64 = p.by_op.iter().map(|o| o.mean_ms).sum();
        assert!((total - p.nodes_total_ms).abs() < 1e-9);
        assert!(p.nodes.windows(2).all(|w| w[0].mean_ms >= w[1].mean_ms));
        // The node time is the inference time minus tract's per-run overhead.
        assert!(p.nodes_total_ms < 3.0 * l.stats.p99_ms, "{p:?}");
        assert!(
            p.nodes.iter().any(|n| n.name.starts_with("cell")),
            "node names follow the exported graph: {:?}",
            p.nodes.iter().map(|n| &n.name).collect::<Vec<_>>()
        );
    }
}
