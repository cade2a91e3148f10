//! `edgenas run --remote`: a tiny main job whose latency table and deployed
//! model are measured by a `latency-lut serve` (the real binary, on
//! 127.0.0.1), and the options it refuses before any training.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

const TOKEN: &str = "00112233445566778899aabbccddeeff";

fn edgenas(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgenas"))
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("EDGENAS_TOKEN")
        .output()
        .expect("edgenas runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `latency-lut serve` (built beside `edgenas` by `cargo test --workspace`)
/// logging to `log`, and the address it listens on.
struct Serving(Child, String);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(token_file: &Path, log: &Path) -> Serving {
    let exe = Path::new(env!("CARGO_BIN_EXE_edgenas")).with_file_name("latency-lut");
    assert!(
        exe.is_file(),
        "{} is missing: run the tests with --workspace",
        exe.display()
    );
    let mut child = Command::new(exe)
        .args(["serve", "--listen", "127.0.0.1:0", "--token-file"])
        .arg(token_file)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("serve printed {line:?}"))
        .to_string();
    Serving(child, address)
}

/// The tiny run's options, measuring with `device` into `cache` and `out`.
fn tiny_run<'a>(device: &'a str, cache: &'a str, out: &'a str) -> Vec<&'a str> {
    let mut args = vec!["run", "--json"];
    args.extend_from_slice(common::TINY_RUN);
    args.extend_from_slice(&["--device", device, "--lut-cache", cache, "--out", out]);
    args.extend_from_slice(common::TINY_NETWORK);
    args
}

#[test]
fn run_measures_the_table_and_the_deployed_model_on_the_device() {
    let tmp = tempfile::tempdir().unwrap();
    let token_file = tmp.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let log = tmp.path().join("serve.log");
    let server = serve(&token_file, &log);
    let device = tmp.path().join("quick.toml");
    std::fs::write(
        &device,
        "name = \"quick\"\nbackend = \"tract\"\nwarmup = 1\nrepeats = 5\n",
    )
    .unwrap();
    let cache = tmp.path().join("cache");
    let out = tmp.path().join("run");
    let mut args = tiny_run(
        device.to_str().unwrap(),
        cache.to_str().unwrap(),
        out.to_str().unwrap(),
    );
    args.extend_from_slice(&[
        "--remote",
        &server.1,
        "--token-file",
        token_file.to_str().unwrap(),
    ]);
    let run = edgenas(&args);
    assert!(run.status.success(), "{}", stderr(&run));
    let summary: Value = serde_json::from_slice(&run.stdout).unwrap();

    // The table is the device's, kept apart from this machine's tables.
    let lut = Path::new(summary["lut_path"].as_str().unwrap());
    let name = lut.file_name().unwrap().to_string_lossy();
    assert!(name.starts_with("lut-quick-remote-"), "{name}");
    assert_eq!(
        std::fs::read_dir(&cache).unwrap().count(),
        2,
        "the table and its lock"
    );
    let table = read_json(lut);
    assert_eq!(table["device"]["profile"]["repeats"], 5);
    // The deployed model was timed there: the report names the server.
    let report = read_json(&out.join("report.json"));
    assert_eq!(report["device"]["remote"], server.1.as_str());
    assert!(summary["tract_latency_ms_p50"].as_f64().unwrap() > 0.0);
    // Three sessions on the server: the table, device-bench's check of the
    // device before its accuracy pass, and its timing.
    drop(server);
    let log = std::fs::read_to_string(&log).unwrap();
    assert_eq!(log.matches(": authenticated").count(), 3, "{log}");
    assert!(!log.contains("WARN"), "{log}");
}

#[test]
fn run_refuses_what_cannot_be_measured_remotely_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let token_file = tmp.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let cache = tmp.path().join("cache");
    let out = tmp.path().join("run");
    let (cache, out_arg) = (cache.to_str().unwrap(), out.to_str().unwrap());
    let token = token_file.to_str().unwrap();
    for (device, remote, words) in [
        (
            "jetson",
            "127.0.0.1:1",
            &["--device jetson", "cannot be measured remotely"][..],
        ),
        ("cpu", "127.0.0.1:1", &["cannot connect to 127.0.0.1:1"][..]),
    ] {
        let mut args = tiny_run(device, cache, out_arg);
        args.extend_from_slice(&["--remote", remote, "--token-file", token]);
        let run = edgenas(&args);
        assert!(!run.status.success());
        let err = stderr(&run);
        for w in words {
            assert!(err.contains(w), "{device}: {err}");
        }
        assert!(!out.exists(), "{device}: the output was left behind");
    }
    // No token at all.
    let mut args = tiny_run("cpu", cache, out_arg);
    args.extend_from_slice(&["--remote", "127.0.0.1:1"]);
    let run = edgenas(&args);
    assert!(!run.status.success());
    assert!(stderr(&run).contains("EDGENAS_TOKEN"), "{}", stderr(&run));
    assert!(!out.exists());
}
