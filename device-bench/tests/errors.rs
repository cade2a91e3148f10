//! Bad input exits 2 with one line naming the file and the problem, and
//! writes nothing.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;

/// Runs `device-bench run` on `model` and expects exit 2, no report, and
/// one error line containing every fragment.
fn bad_run(model: &Path, extra: &[&str], fragments: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.json");
    let mut args = vec![
        "run",
        "--model",
        model.to_str().unwrap(),
        "--warmup",
        "0",
        "--repeats",
        "1",
    ];
    // Defaults for what `extra` does not set.
    for (flag, value) in [
        ("--data", "builtin:digits"),
        ("--out", out.to_str().unwrap()),
    ] {
        if !extra.contains(&flag) {
            args.extend_from_slice(&[flag, value]);
        }
    }
    args.extend_from_slice(extra);
    let output = device_bench(&args);
    assert_exit(&output, 2);
    assert_one_error_line(&output, fragments);
    assert!(!out.exists(), "no report after a failed run");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(leftovers.is_empty(), "no temporary files: {leftovers:?}");
}

fn assert_one_error_line(output: &std::process::Output, fragments: &[&str]) {
    let err = stderr(output);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(lines.len(), 1, "one error line: {err}");
    for f in fragments {
        assert!(lines[0].contains(f), "{f:?} not in {:?}", lines[0]);
    }
}

#[test]
fn bad_models_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = export_model(dir.path(), "good.onnx", small_config(), 21);
    let bytes = std::fs::read(&good.path).unwrap();
    let p = |name: &str| dir.path().join(name);

    // Missing.
    let missing = p("missing.onnx");
    bad_run(&missing, &[], &["cannot read", "missing.onnx"]);

    // Corrupt: not protobuf at all.
    std::fs::write(
        p("corrupt.onnx"),
        b"\xff\xff\xff\xff this is not an onnx model",
    )
    .unwrap();
    bad_run(
        &p("corrupt.onnx"),
        &[],
        &["corrupt.onnx", "not a valid onnx model"],
    );

    // Truncated: the first half of a real model.
    std::fs::write(p("truncated.onnx"), &bytes[..bytes.len() / 2]).unwrap();
    bad_run(
        &p("truncated.onnx"),
        &[],
        &["truncated.onnx", "not a valid onnx model"],
    );

    // Empty file.
    std::fs::write(p("empty.onnx"), b"").unwrap();
    bad_run(
        &p("empty.onnx"),
        &[],
        &["empty.onnx", "not a valid onnx model"],
    );

    // An ONNX without edgenas metadata (no normalization to apply).
    let plain = model_bytes(&good.config, good.seed, &BTreeMap::new());
    std::fs::write(p("plain.onnx"), plain).unwrap();
    bad_run(
        &p("plain.onnx"),
        &[],
        &["plain.onnx", "no edgenas metadata"],
    );

    // Weights that trained into NaN: the model runs (every prediction the
    // same class, 9.72 %) and used to pass.
    let stem_bias: Vec<u8> = values(good.config.channels, good.seed + 1, 0.1)
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let at = bytes
        .windows(stem_bias.len())
        .position(|w| w == stem_bias.as_slice())
        .expect("the stem bias is stored raw");
    let mut nan = bytes.clone();
    nan[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(p("nan.onnx"), nan).unwrap();
    bad_run(
        &p("nan.onnx"),
        &[],
        &["nan.onnx", "stem/conv/bias", "1 NaN or infinite value"],
    );

    // Metadata that contradicts the graph.
    let mut props = props(&good);
    props.insert("edgenas.input_shape".into(), "[1,9,9]".into());
    let lying = model_bytes(&good.config, good.seed, &props);
    std::fs::write(p("lying.onnx"), lying).unwrap();
    bad_run(
        &p("lying.onnx"),
        &[],
        &["lying.onnx", "metadata says input 1×9×9"],
    );
}

#[test]
fn models_that_do_not_fit_the_data_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    // 9×9 input on the 8×8 digits.
    let wide = export_model(
        dir.path(),
        "wide.onnx",
        NetConfig::new(1, 9, 10).with_channels(4).with_layers(3),
        22,
    );
    bad_run(
        &wide.path,
        &[],
        &[
            "wide.onnx",
            "takes 1×9×9 images",
            "builtin:digits has 1×8×8",
        ],
    );
    // 5 classes on the 10 digits.
    let five = export_model(
        dir.path(),
        "five.onnx",
        NetConfig::new(1, 8, 5).with_channels(4).with_layers(3),
        23,
    );
    bad_run(
        &five.path,
        &[],
        &["five.onnx", "5 classes", "builtin:digits has 10"],
    );
}

#[test]
fn bad_options_and_data_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let model = export_model(dir.path(), "model.onnx", small_config(), 24);
    bad_run(
        &model.path,
        &["--device", "jetson"],
        &["\"jetson\"", "--device cpu"],
    );
    bad_run(
        &model.path,
        &["--data", "/nonexistent/edgenas-data"],
        &["/nonexistent/edgenas-data", "not found"],
    );
    bad_run(&model.path, &["--batch", "0"], &["--batch"]);
    // It grew to 11 GB and ran for 15 minutes.
    bad_run(
        &model.path,
        &["--batch", "100000"],
        &["--batch 100000", "largest supported batch"],
    );
    bad_run(
        &model.path,
        &["--out", "/nonexistent/edgenas/report.json"],
        &["/nonexistent/edgenas/report.json", "does not exist"],
    );
    bad_run(&model.path, &["--inject-slowdown-ms=-1"], &["slowdown"]);
}

#[test]
fn bad_reports_and_baselines_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let model = export_model(dir.path(), "model.onnx", small_config(), 25);
    let p = |name: &str| dir.path().join(name);
    let (good, batch8) = (p("good.json"), p("batch8.json"));
    assert_exit(&run_model(&model.path, &good, &[]), 0);
    let output = device_bench(&[
        "run",
        "--model",
        model.path.to_str().unwrap(),
        "--data",
        "builtin:digits",
        "--out",
        batch8.to_str().unwrap(),
        "--batch",
        "8",
        "--warmup",
        "0",
        "--repeats",
        "3",
    ]);
    assert_exit(&output, 0);

    let text = std::fs::read_to_string(&good).unwrap();
    std::fs::write(p("corrupt.json"), &text[..text.len() / 2]).unwrap();
    std::fs::write(
        p("other.json"),
        r#"{"kind": "edgenas-latency-lut", "schema_version": 1}"#,
    )
    .unwrap();
    std::fs::write(
        p("future.json"),
        text.replace("\"schema_version\": 1,", "\"schema_version\": 99,"),
    )
    .unwrap();

    let check = |report: &Path, baseline: &Path, fragments: &[&str]| {
        let output = device_bench(&[
            "check",
            "--report",
            report.to_str().unwrap(),
            "--baseline",
            baseline.to_str().unwrap(),
        ]);
        assert_exit(&output, 2);
        assert_one_error_line(&output, fragments);
    };
    check(&p("missing.json"), &good, &["cannot read", "missing.json"]);
    check(&good, &p("missing.json"), &["cannot read", "missing.json"]);
    check(
        &p("corrupt.json"),
        &good,
        &["corrupt.json", "not valid JSON"],
    );
    check(
        &good,
        &p("corrupt.json"),
        &["corrupt.json", "not valid JSON"],
    );
    check(
        &good,
        &p("other.json"),
        &["other.json", "not a device-bench report"],
    );
    check(
        &p("future.json"),
        &good,
        &["future.json", "schema_version 99"],
    );
    check(
        &batch8,
        &good,
        &["batch8.json", "good.json", "not comparable", "batch sizes"],
    );

    // Self-contradictory reports: the gate would compare nonsense.
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    for (name, pointer, new, fragment) in [
        (
            "ratio-negative.json",
            "/latency/0/calibration_ratio",
            serde_json::json!(-3.0),
            "calibration ratio -3",
        ),
        (
            "ratio-zero.json",
            "/latency/0/calibration_ratio",
            serde_json::json!(0.0),
            "calibration ratio 0",
        ),
        (
            "too-many-correct.json",
            "/accuracy/correct",
            serde_json::json!(1_000_000),
            "1000000 correct of 360",
        ),
        (
            "unordered.json",
            "/latency/0/stats/p90_ms",
            serde_json::json!(0.0),
            "not finite, ordered",
        ),
    ] {
        let mut edited = value.clone();
        *edited.pointer_mut(pointer).unwrap() = new;
        std::fs::write(p(name), serde_json::to_string(&edited).unwrap()).unwrap();
        check(&p(name), &good, &[name, fragment]);
    }

    // `baseline` reads reports only, and writes nothing on failure.
    let out = p("baseline.json");
    for (report, fragment) in [
        (p("corrupt.json"), "not valid JSON"),
        (p("other.json"), "not a device-bench report"),
    ] {
        let output = device_bench(&[
            "baseline",
            "--report",
            report.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_exit(&output, 2);
        assert_one_error_line(
            &output,
            &[report.file_name().unwrap().to_str().unwrap(), fragment],
        );
        assert!(!out.exists());
    }
}
