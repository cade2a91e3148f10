//! `device-bench run --remote`: the latency is timed by a `latency-lut
//! serve` server (here in this process, describing a made-up board and
//! slowed by a few milliseconds per run, so its times and description are
//! told apart from this machine's), the accuracy is computed here.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use common::*;
use device_bench::{BenchReport, RunOptions};
use runtime::HostInfo;
use runtime::remote::{RemoteTarget, Server, ServerOptions, Token};

const TOKEN: &str = "fedcba9876543210fedcba9876543210";

fn board() -> HostInfo {
    HostInfo {
        cpu_model: "remote test board".into(),
        cores: 6,
        os: "linux aarch64".into(),
        gpu: None,
    }
}

/// A server on 127.0.0.1 whose every timed run takes `slowdown` more.
fn start(slowdown: Duration) -> SocketAddr {
    let options = ServerOptions {
        timeout: Duration::from_secs(30),
        slowdown,
        host: board(),
    };
    let token = Token::new(TOKEN, "test").unwrap();
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), token, options).unwrap();
    let address = server.local_addr().unwrap();
    std::thread::spawn(move || server.run());
    address
}

#[test]
fn latency_is_timed_on_the_device_and_accuracy_here() {
    let _turn = timing_lock();
    let dir = tempfile::tempdir().unwrap();
    let model = export_model(dir.path(), "model.onnx", small_config(), 4);
    let data = digits();
    let address = start(Duration::from_millis(2));
    let options = RunOptions {
        batch: 32,
        warmup: 1,
        repeats: 5,
        profile: true,
        remote: Some(RemoteTarget {
            address: address.to_string(),
            token: Token::new(TOKEN, "test").unwrap(),
        }),
        ..RunOptions::default()
    };
    let far = device_bench::run(&model.path, &data, &options).unwrap();
    let here = device_bench::run(
        &model.path,
        &data,
        &RunOptions {
            remote: None,
            profile: false,
            ..options.clone()
        },
    )
    .unwrap();

    assert_eq!(far.accuracy, here.accuracy);
    assert_eq!(far.accuracy.correct, model.reference_correct(&data));
    assert_eq!(far.device.host, board());
    assert_eq!(
        far.device.remote.as_deref(),
        Some(address.to_string().as_str())
    );
    assert_eq!(far.device.runtime_version, runtime::TRACT_VERSION);
    assert_eq!(here.device.host, HostInfo::detect());
    assert_eq!(here.device.remote, None);
    let batches = |r: &BenchReport| r.latency.iter().map(|l| l.batch).collect::<Vec<_>>();
    assert_eq!(batches(&far), vec![1, 32]);
    for l in &far.latency {
        // Both workloads ran on the server, each run 2 ms slower there.
        for s in [&l.stats, &l.calibration] {
            assert_eq!((s.count, s.warmup), (5, 1));
            assert!(s.min_ms >= 2.0, "batch {}: {s:?}", l.batch);
        }
        let profile = l.profile.as_ref().expect("the device profiled the model");
        assert_eq!(profile.runs, 5);
        assert!(!profile.nodes.is_empty());
    }
    let local_one = &here.latency[0];
    assert!(
        local_one.stats.p50_ms < 1.0,
        "the model at batch 1 takes {} ms here",
        local_one.stats.p50_ms
    );
    // The report reads back and names the device.
    let out = dir.path().join("report.json");
    far.save(&out).unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("\"remote\"") && text.contains("remote test board"));
    assert_eq!(BenchReport::load(&out).unwrap(), far);
}

#[test]
fn the_binary_times_remotely_and_refuses_what_it_cannot_do() {
    let dir = tempfile::tempdir().unwrap();
    let model = export_model(dir.path(), "model.onnx", small_config(), 5);
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let token = token_file.to_str().unwrap();
    let address = start(Duration::from_millis(1)).to_string();

    let out = dir.path().join("report.json");
    let run = run_model(
        &model.path,
        &out,
        &["--remote", &address, "--token-file", token],
    );
    assert_exit(&run, 0);
    let report: BenchReport =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(report.device.host, board());
    assert_eq!(report.device.remote.as_deref(), Some(address.as_str()));
    assert!(report.latency.iter().all(|l| l.stats.min_ms >= 1.0));

    // The test-only slowdown slows this machine, which does not time.
    let out = dir.path().join("slowed.json");
    let slowed = run_model(
        &model.path,
        &out,
        &[
            "--remote",
            &address,
            "--token-file",
            token,
            "--inject-slowdown-ms",
            "1",
        ],
    );
    assert_exit(&slowed, 2);
    assert!(stderr(&slowed).contains("--remote"), "{}", stderr(&slowed));
    assert!(!out.exists());
    // Nothing listens: the run fails at once, before the accuracy pass.
    let unreachable = run_model(
        &model.path,
        &out,
        &["--remote", "127.0.0.1:1", "--token-file", token],
    );
    assert_exit(&unreachable, 2);
    assert!(
        stderr(&unreachable).contains("cannot connect to 127.0.0.1:1"),
        "{}",
        stderr(&unreachable)
    );
    assert!(!out.exists());
    // No token anywhere, and a token file without --remote.
    let no_token = Command::new(env!("CARGO_BIN_EXE_device-bench"))
        .args(["run", "--model", model.path.to_str().unwrap()])
        .args(["--data", "builtin:digits", "--out", out.to_str().unwrap()])
        .args(["--remote", &address])
        .env_remove("EDGENAS_TOKEN")
        .output()
        .unwrap();
    assert_exit(&no_token, 2);
    assert!(
        stderr(&no_token).contains("EDGENAS_TOKEN"),
        "{}",
        stderr(&no_token)
    );
    let stray = run_model(&model.path, &out, &["--token-file", token]);
    assert_exit(&stray, 2);
    assert!(stderr(&stray).contains("--remote"), "{}", stderr(&stray));
}
