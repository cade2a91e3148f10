//! `edgenas experiment`: a tiny grid (ICDARTS vs random search, two seeds)
//! plus a configuration whose runs fail. The report has mean ± std per
//! configuration and the failed runs with their logs, the command exits
//! non-zero, and `--resume` keeps the finished runs and retries the failed.

mod common;

use std::process::Command;

fn edgenas() -> Command {
    Command::new(env!("CARGO_BIN_EXE_edgenas"))
}

#[test]
fn an_experiment_reports_every_configuration_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let lut = dir.path().join("lut");
    let mut args: Vec<String> = common::TINY_NETWORK
        .iter()
        .chain(common::TINY_RUN)
        .map(|s| s.to_string())
        .collect();
    args.extend(["--lut-cache".into(), lut.display().to_string()]);
    args.extend(["--hessian-iterations".into(), "2".into()]);
    let quoted: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    let file = dir.path().join("tiny.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"tiny\"\nseeds = [0, 1]\nargs = [{}]\n\n[grid]\nalgo = [\"icdarts\", \"random\"]\n\n[[config]]\nname = \"broken\"\nargs = [\"--w-lr\", \"0\"]\n",
            quoted.join(", ")
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let run = |resume: bool| {
        let mut c = edgenas();
        c.arg("experiment").arg(&file).arg("--out").arg(&out);
        c.args(["--jobs", "2", "--repeats", "20"]);
        if resume {
            c.arg("--resume");
        }
        c.output().unwrap()
    };
    let first = run(false);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(!first.status.success(), "failed runs make the command fail");
    assert!(
        stderr.contains("2 of 6 runs failed (broken seed 0, broken seed 1)"),
        "{stderr}"
    );
    let report = std::fs::read_to_string(out.join("experiment.md")).unwrap();
    assert!(
        report.contains("| algo=icdarts | `--algo icdarts` | 2/2 | "),
        "{report}"
    );
    assert!(
        report.contains("| algo=random | `--algo random` | 2/2 | "),
        "{report}"
    );
    assert!(
        report.contains("| broken | `--w-lr 0` | 0/2 | "),
        "{report}"
    );
    assert!(report.contains("## Failed runs (2)"));
    assert!(
        report.contains("the weights' learning rate must be"),
        "the failed run's log tail is in the report: {report}"
    );
    // Mean ± std over the two seeds of each working configuration.
    let line = report
        .lines()
        .find(|l| l.starts_with("| algo=icdarts |"))
        .unwrap();
    assert!(line.matches(" ± ").count() >= 4, "{line}");
    let rows: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("experiment.json")).unwrap())
            .unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 6);
    for r in rows.iter().filter(|r| r["config"] == "algo=icdarts") {
        assert!(r["hessian_eigenvalue"].is_f64(), "{r}");
        assert!(r["measured"]["median"].as_f64().unwrap() > 0.0);
    }
    for svg in ["accuracy-latency.svg", "epochs.svg"] {
        let text = std::fs::read_to_string(out.join(svg)).unwrap();
        assert!(text.starts_with("<svg") && text.contains("circle"), "{svg}");
    }

    let stamp = |p: &str| {
        std::fs::metadata(out.join(p).join("run.json"))
            .unwrap()
            .modified()
            .unwrap()
    };
    let before = stamp("algo=icdarts/seed-1");
    let again = run(true);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.matches("keeping the finished run").count() == 4,
        "{stderr}"
    );
    assert!(
        stderr.contains("broken seed 0: edgenas run"),
        "the failed runs run again: {stderr}"
    );
    assert_eq!(
        stamp("algo=icdarts/seed-1"),
        before,
        "a finished run was not redone"
    );
}
