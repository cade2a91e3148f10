//! Profiling through `latency-lut serve`: a server on 127.0.0.1 (in this
//! process, or the real binary) measures a small template for a remote
//! `profile`, agrees with local profiling within its own run-to-run noise
//! and describes itself in the table; bad clients (wrong token, oversized
//! prefix, random bytes, half-sent frames, bad requests) each get a clear
//! error frame and the server goes on serving; a second client is told
//! the device is busy; a non-loopback address needs --allow-remote.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use arch::space::{OpSpace, ZeroConfig};
use latency_lut::measure::{Backend, Backends, Remote, Tract, key_workload};
use latency_lut::profile::profile;
use latency_lut::{DeviceProfile, Lut, LutKey, NetSize, Stats, Template};
use runtime::HostInfo;
use runtime::remote::wire::{self, ErrorKind, Hello, Request, Response, TimeRequest};
use runtime::remote::{
    Client, InputUse, PROTOCOL, PROTOCOL_VERSION, RemoteError, Server, ServerOptions, Token,
};

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// Tests that time things hold this, so that they do not time each other.
static TIMING: Mutex<()> = Mutex::new(());

fn timing() -> std::sync::MutexGuard<'static, ()> {
    TIMING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn token() -> Token {
    Token::new(TOKEN, "test").unwrap()
}

/// The host a test server describes: not this machine, so a table that
/// records it was described by the server.
fn test_device() -> HostInfo {
    HostInfo {
        cpu_model: "remote test board".into(),
        cores: 6,
        os: "linux aarch64".into(),
        gpu: None,
    }
}

/// A server on 127.0.0.1, in this process, serving until the test ends.
fn start(options: ServerOptions) -> SocketAddr {
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), token(), options).unwrap();
    let address = server.local_addr().unwrap();
    std::thread::spawn(move || server.run());
    address
}

fn options(timeout: Duration, slowdown: Duration) -> ServerOptions {
    ServerOptions {
        timeout,
        slowdown,
        host: test_device(),
    }
}

fn quick_cpu() -> DeviceProfile {
    DeviceProfile {
        warmup: 3,
        repeats: 20,
        ..DeviceProfile::cpu()
    }
}

fn small_template() -> Template {
    Template {
        in_channels: 1,
        image_size: 8,
        num_classes: 10,
        nodes: 2,
        stem_multiplier: 3,
        ops: OpSpace::darts(ZeroConfig::V1).ops().to_vec(),
        search: NetSize {
            channels: 4,
            layers: 3,
        },
        search_eval: NetSize {
            channels: 4,
            layers: 3,
        },
        deploy: NetSize {
            channels: 8,
            layers: 3,
        },
    }
}

fn profiled(backends: &Backends, dir: &Path, name: &str) -> Lut {
    profile(
        &small_template(),
        &quick_cpu(),
        backends,
        &dir.join(name),
        &mut |_, _, _| {},
    )
    .unwrap()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// (bias, spread) of per-key log ratios: |median|, and the median of |·|.
fn bias_and_spread(mut logs: Vec<f64>) -> (f64, f64) {
    let bias = median(&mut logs).abs();
    let mut absolute: Vec<f64> = logs.iter().map(|l| l.abs()).collect();
    (bias, median(&mut absolute))
}

#[test]
fn a_remote_profile_matches_a_local_one_and_describes_the_device() {
    let _timing = timing();
    let address = start(options(Duration::from_secs(30), Duration::ZERO));
    let remote = Remote::connect(&address.to_string(), &token()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let template = small_template();
    let local = profiled(&Backends::tract_only(), dir.path(), "local.json");
    // The remote profile, with every key also measured here just before
    // and just after the device measures it (profile() calls `on_key`
    // before each key, and once at the end), exactly as a local profile
    // measures it: the two local series bracket the remote one in time,
    // so a change of the machine's load during the test (a build, another
    // test) reaches all three alike.
    let keys = template.keys();
    let mut before = Vec::new();
    let mut after = Vec::new();
    // Per key, the median of the per-round ratios key / reference: the
    // table's unit (docs/algorithms.md §9 item 30).
    let here = |key: &LutKey| {
        let timed = Tract.measure_key(key, &quick_cpu()).unwrap();
        Stats::from_samples(&timed.ratios().expect("timed with the reference"))
    };
    let far = profile(
        &template,
        &quick_cpu(),
        &Backends::remote(&remote),
        &dir.path().join("remote.json"),
        &mut |i, total, _| {
            if i > 0 {
                after.push(here(&keys[i - 1]).median);
            }
            if i < total {
                before.push(here(&keys[i]).median);
            }
        },
    )
    .unwrap();

    let key_list = |lut: &Lut| {
        lut.entries
            .iter()
            .map(|e| e.key.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(key_list(&far), key_list(&local));
    assert_eq!(key_list(&far), keys.to_vec());
    assert!(far.entries.iter().all(|e| e.stats.count == 20));
    // The table is the device's: its host and versions, the same format.
    assert_eq!(far.device.host, test_device());
    assert_eq!(far.device.runtime, local.device.runtime);
    assert_eq!(far.device.runtime_version, runtime::TRACT_VERSION);
    assert_eq!(far.fingerprint, local.fingerprint);
    assert_eq!(local.device.host, HostInfo::detect());
    let loaded = Lut::load(&dir.path().join("remote.json")).unwrap();
    assert!(loaded == far, "the remote table does not round-trip");

    // The criterion, in the table's unit: each key's cost as a ratio to
    // the reference workload timed alternately with it, on the same thread
    // of the same machine. Raw milliseconds are not the criterion: once
    // (CI, stop 16) the server's thread ran every key 2.2× slower than the
    // test's thread on the same host (the cause was not found; the failure
    // message now prints both series), and a slowdown of the whole thread
    // is the host state the ratios exist to cancel. Single keys take microseconds
    // and jump by tens of percent on a shared 2-core machine, so no key is
    // judged alone: per key, the log ratio of the remote median to the
    // local one measured just before it, and of the local one measured
    // just after it to that same one (the machine's own run-to-run noise,
    // measured now). Over all keys, the median log ratio (a systematic
    // offset: another batch, other inputs) and the median absolute log
    // ratio (scatter: times landing on the wrong keys, another model) of
    // the remote series must be within three times the local rerun's — or
    // within 25 % / 30 %, on a run where the two local series happen to
    // agree more closely than that.
    assert_eq!((before.len(), after.len()), (keys.len(), keys.len()));
    let log_ratios =
        |a: &[f64]| -> Vec<f64> { a.iter().zip(&before).map(|(x, y)| (x / y).ln()).collect() };
    let remote: Vec<f64> = far
        .entries
        .iter()
        .map(|e| e.reference.as_ref().expect("a reference").ratio.median)
        .collect();
    let remote_ms: Vec<f64> = far.entries.iter().map(|e| e.stats.median).collect();
    let local_ms: Vec<f64> = local.entries.iter().map(|e| e.stats.median).collect();
    let (remote_bias, remote_spread) = bias_and_spread(log_ratios(&remote));
    let (local_bias, local_spread) = bias_and_spread(log_ratios(&after));
    let bias_limit = (3.0 * local_bias).max(1.25f64.ln());
    let spread_limit = (3.0 * local_spread).max(1.30f64.ln());
    assert!(
        remote_bias <= bias_limit && remote_spread <= spread_limit,
        "remote vs local ratios: offset {remote_bias:.3}, scatter {remote_spread:.3} (ln); \
         local rerun: {local_bias:.3}, {local_spread:.3}; limits {bias_limit:.3}, {spread_limit:.3}; \
         medians in ms, remote {remote_ms:.4?}, local {local_ms:.4?}"
    );
}

#[test]
fn remote_times_are_measured_by_the_server() {
    let _timing = timing();
    // Every run on the server busy-waits 3 ms: a table key that takes
    // microseconds here must come back above that.
    let slow = Duration::from_millis(3);
    let address = start(options(Duration::from_secs(30), slow));
    let remote = Remote::connect(&address.to_string(), &token()).unwrap();
    let profile = DeviceProfile {
        warmup: 1,
        repeats: 5,
        ..DeviceProfile::cpu()
    };
    let key = LutKey::new("sep_conv_3x3", 8, 8, 8, 1);
    let mut here = Tract.measure_key(&key, &profile).unwrap().times_ms;
    let there = remote.measure_key(&key, &profile).unwrap();
    assert_eq!(there.times_ms.len(), 5);
    assert!(
        there.times_ms.iter().all(|t| *t >= 3.0),
        "remote {there:?} (here {here:?})"
    );
    assert!(median(&mut here) < 1.0, "local {here:?}");
    // The reference workload, timed alternately with the key, ran there
    // too: its ratios are the device's.
    let reference = there.reference_ms.as_ref().expect("the reference's times");
    assert_eq!(reference.len(), 5);
    assert!(reference.iter().all(|t| *t >= 3.0), "{reference:?}");
    // Whole networks (validate, calibrate) go through the server too.
    let template = small_template();
    let config = template.deploy_network();
    let genotype = arch::genotype::random_genotype(
        arch::Relaxation::Darts,
        2,
        &OpSpace::from_ops(template.ops.clone()),
        &mut arch::genotype::seeded_picker(3),
    );
    let network = remote
        .measure_network(&genotype, &config, &profile, 4)
        .unwrap();
    let reference = network
        .reference_ms
        .as_ref()
        .expect("the reference's times");
    assert_eq!((network.times_ms.len(), reference.len()), (4, 4));
    assert!(
        network.times_ms.iter().chain(reference).all(|t| *t >= 3.0),
        "{network:?}"
    );
    // The description is the device's.
    assert_eq!(remote.describe(&profile).host, test_device());
    assert_eq!(remote.device().host, test_device());
}

/// A raw connection for sending what a real client never would.
fn raw(address: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
}

fn hello(token: &str, version: u32) -> Vec<u8> {
    serde_json::to_vec(&Hello {
        protocol: PROTOCOL.into(),
        version,
        token: token.into(),
    })
    .unwrap()
}

/// The error frame the server answers on `stream`.
fn error_frame(stream: &mut TcpStream) -> wire::ServerError {
    let frame = wire::read_frame(stream, 1 << 20, None).expect("an answer frame");
    match serde_json::from_slice(&frame).expect("a response") {
        Response::Error(e) => e,
        other => panic!("expected an error frame, got {other:?}"),
    }
}

/// An authenticated raw connection.
fn authenticated(address: SocketAddr) -> TcpStream {
    let mut stream = raw(address);
    wire::write_frame(&mut stream, &hello(TOKEN, PROTOCOL_VERSION)).unwrap();
    let frame = wire::read_frame(&mut stream, 1 << 20, None).unwrap();
    let answer: Response = serde_json::from_slice(&frame).unwrap();
    assert!(matches!(answer, Response::Ready(_)), "{answer:?}");
    stream
}

/// A client, once the previous connection's session has ended (the server
/// frees itself a moment after answering).
fn client_when_free(address: SocketAddr) -> Client {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        match Client::connect(&address.to_string(), &token()) {
            Ok(client) => return client,
            Err(RemoteError::Refused {
                kind: ErrorKind::Busy,
                ..
            }) if Instant::now() < until => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("{e}"),
        }
    }
}

/// The server still times a valid request, on a new connection.
fn still_serves(address: SocketAddr) {
    let mut client = client_when_free(address);
    let workload = key_workload(&LutKey::new("relu", 4, 4, 4, 1), 1).unwrap();
    let measured = client.time(&[workload], 1, 3).unwrap();
    assert_eq!(measured.times_ms[0].len(), 3);
}

/// Every bad client in turn, each followed by a good one.
#[test]
fn bad_clients_get_clear_errors_and_the_server_keeps_serving() {
    let _timing = timing();
    let address = start(options(Duration::from_secs(1), Duration::ZERO));
    still_serves(address);
    let check = |name: &str, error: wire::ServerError, kind: ErrorKind, words: &[&str]| {
        assert_eq!(error.kind, kind, "{name}: {}", error.message);
        for w in words {
            assert!(error.message.contains(w), "{name}: {}", error.message);
        }
        still_serves(address);
    };

    // A wrong token, and one of the right length differing in its last byte.
    for presented in ["not the token at all", &format!("{}0", &TOKEN[..31])] {
        let mut s = raw(address);
        wire::write_frame(&mut s, &hello(presented, PROTOCOL_VERSION)).unwrap();
        check(
            "wrong token",
            error_frame(&mut s),
            ErrorKind::Unauthorized,
            &["wrong token"],
        );
    }
    // Another protocol version.
    let mut s = raw(address);
    wire::write_frame(&mut s, &hello(TOKEN, PROTOCOL_VERSION + 1)).unwrap();
    check(
        "version",
        error_frame(&mut s),
        ErrorKind::Version,
        &["version 2", "same edgenas version"],
    );
    // A 1 GiB length prefix, first and after authentication: refused from
    // the prefix alone, nothing allocated or awaited.
    let gib = (1u32 << 30).to_be_bytes();
    let mut s = raw(address);
    s.write_all(&gib).unwrap();
    check(
        "1 GiB hello",
        error_frame(&mut s),
        ErrorKind::TooLarge,
        &["1073741824", "65536", "hello"],
    );
    let mut s = authenticated(address);
    s.write_all(&gib).unwrap();
    check(
        "1 GiB request",
        error_frame(&mut s),
        ErrorKind::TooLarge,
        &["1073741824", "1048576"],
    );
    let mut s = authenticated(address);
    let request = |label: &str, shape: Vec<usize>| {
        serde_json::to_vec(&Request::Time(TimeRequest {
            label: label.into(),
            warmup: 1,
            repeats: 2,
            workloads: vec![wire::WorkloadHeader {
                label: label.into(),
                inputs: vec![shape],
                inputs_per_run: InputUse::Copied,
                profile_runs: None,
            }],
        }))
        .unwrap()
    };
    wire::write_frame(&mut s, &request("big model", vec![1, 4])).unwrap();
    s.write_all(&gib).unwrap();
    check(
        "1 GiB model",
        error_frame(&mut s),
        ErrorKind::TooLarge,
        &["1073741824", "the model of big model"],
    );
    // Random bytes: a huge prefix, a small one over garbage, garbage after
    // authentication.
    let mut random = arch::genotype::seeded_picker(7);
    let noise: Vec<u8> = (0..200).map(|_| random(256) as u8).collect();
    let mut s = raw(address);
    s.write_all(&[0xfe, 0x13, 0x77, 0x01]).unwrap();
    s.write_all(&noise).unwrap();
    check(
        "random bytes",
        error_frame(&mut s),
        ErrorKind::TooLarge,
        &["hello"],
    );
    let mut s = raw(address);
    wire::write_frame(&mut s, &noise).unwrap();
    check(
        "random hello",
        error_frame(&mut s),
        ErrorKind::Malformed,
        &["not a hello", "\"protocol\""],
    );
    let mut s = authenticated(address);
    wire::write_frame(&mut s, &noise).unwrap();
    check(
        "random request",
        error_frame(&mut s),
        ErrorKind::Malformed,
        &["not a request"],
    );
    // Half-sent frames: the client stalls (the 1 s timeout ends it), or
    // stops sending (the server sees the end of the stream mid-frame).
    for place in ["hello", "request"] {
        let mut s = match place {
            "hello" => raw(address),
            _ => authenticated(address),
        };
        s.write_all(&100u32.to_be_bytes()).unwrap();
        s.write_all(&[b'{'; 10]).unwrap();
        check(
            &format!("stalled {place}"),
            error_frame(&mut s),
            ErrorKind::TimedOut,
            &["10 of 100 bytes", "timeout"],
        );
    }
    let mut s = authenticated(address);
    s.write_all(&100u32.to_be_bytes()).unwrap();
    s.write_all(&[b'{'; 10]).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    check(
        "cut-off request",
        error_frame(&mut s),
        ErrorKind::Truncated,
        &["10 of 100 bytes"],
    );
    // A stalled prefix (2 of its 4 bytes).
    let mut s = raw(address);
    s.write_all(&[0, 0]).unwrap();
    check(
        "stalled prefix",
        error_frame(&mut s),
        ErrorKind::TimedOut,
        &["2 of 4 bytes of its length prefix"],
    );
    // An idle client is dropped after the timeout.
    let mut s = authenticated(address);
    check(
        "idle",
        error_frame(&mut s),
        ErrorKind::TimedOut,
        &["nothing arrived within 1 s", "the next request"],
    );
    // Requests that are well-formed JSON but cannot be run.
    let mut s = authenticated(address);
    wire::write_frame(&mut s, &request("zero", vec![1, 0])).unwrap();
    check(
        "zero dimension",
        error_frame(&mut s),
        ErrorKind::BadRequest,
        &["[1, 0]"],
    );
    let mut s = authenticated(address);
    wire::write_frame(&mut s, &request("short input", vec![1, 4])).unwrap();
    wire::write_frame(&mut s, b"not onnx").unwrap();
    wire::write_frame(&mut s, &[0u8; 12]).unwrap();
    check(
        "short input",
        error_frame(&mut s),
        ErrorKind::BadRequest,
        &["12 bytes", "16"],
    );
    // A model tract cannot read is an answer, not the end of the session.
    let mut s = authenticated(address);
    wire::write_frame(&mut s, &request("not a model", vec![1, 4])).unwrap();
    wire::write_frame(&mut s, b"not onnx").unwrap();
    wire::write_frame(&mut s, &[0u8; 16]).unwrap();
    let error = error_frame(&mut s);
    assert_eq!(error.kind, ErrorKind::Model, "{}", error.message);
    assert!(error.message.contains("not a model"), "{}", error.message);
    wire::write_frame(&mut s, &serde_json::to_vec(&Request::Describe).unwrap()).unwrap();
    let frame = wire::read_frame(&mut s, 1 << 20, None).unwrap();
    match serde_json::from_slice(&frame).unwrap() {
        Response::Device(device) => assert_eq!(device.host, test_device()),
        other => panic!("{other:?}"),
    }
    drop(s);
    still_serves(address);
}

#[test]
fn a_second_client_is_told_the_device_is_busy() {
    let _timing = timing();
    let address = start(options(Duration::from_secs(30), Duration::ZERO));
    let first = Remote::connect(&address.to_string(), &token()).unwrap();
    let err = Client::connect(&address.to_string(), &token())
        .err()
        .expect("a second client is refused while the first is connected");
    assert!(
        matches!(
            err,
            RemoteError::Refused {
                kind: ErrorKind::Busy,
                ..
            }
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&address.to_string()) && text.contains("busy"),
        "{text}"
    );
    // The first client is still served, and once it is gone the next one is.
    let key = LutKey::new("relu", 4, 4, 4, 1);
    let quick = DeviceProfile {
        warmup: 1,
        repeats: 2,
        ..DeviceProfile::cpu()
    };
    assert_eq!(first.measure_key(&key, &quick).unwrap().times_ms.len(), 2);
    drop(first);
    still_serves(address);
}

#[test]
fn bad_addresses_and_tokens_are_clear_errors() {
    // Not while another test of this file times: its load would skew them.
    let _timing = timing();
    // Nothing listens on port 1 of loopback.
    let err = Client::connect("127.0.0.1:1", &token())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("cannot connect to 127.0.0.1:1") && err.contains("latency-lut serve"),
        "{err}"
    );
    let err = Client::connect("no port here", &token())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("--remote no port here"), "{err}");
    // A burn profile cannot be measured remotely, and says so before any
    // measurement.
    let address = start(options(Duration::from_secs(30), Duration::ZERO));
    let remote = Remote::connect(&address.to_string(), &token()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = profile(
        &small_template(),
        &DeviceProfile::jetson(),
        &Backends::remote(&remote),
        &dir.path().join("lut.json"),
        &mut |_, _, _| panic!("measured a jetson profile remotely"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("cannot be measured remotely") && err.contains("burn-cuda"),
        "{err}"
    );
}

fn latency_lut() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_latency-lut"));
    command.env("RUST_LOG", "warn").env_remove("EDGENAS_TOKEN");
    command
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `latency-lut serve` as a child process, and the address it printed.
struct Serving(Child, String);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(args: &[&str]) -> Serving {
    let mut child = latency_lut()
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
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

#[test]
fn serve_listens_on_loopback_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let token_arg = token_file.to_str().unwrap();
    let refused = latency_lut()
        .args(["serve", "--listen", "0.0.0.0:0", "--token-file", token_arg])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let text = stderr(&refused);
    assert!(
        text.contains("0.0.0.0")
            && text.contains("not a loopback address")
            && text.contains("--allow-remote")
            && text.contains("ssh"),
        "{text}"
    );
    // With the flag it serves (on every interface, port 0).
    let open = serve(&[
        "--listen",
        "0.0.0.0:0",
        "--allow-remote",
        "--token-file",
        token_arg,
    ]);
    assert!(open.1.starts_with("0.0.0.0:"), "{}", open.1);
    drop(open);
    // No token at all, and a token too short to guess hard.
    let none = latency_lut()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(1));
    assert!(
        stderr(&none).contains("--token-file") && stderr(&none).contains("EDGENAS_TOKEN"),
        "{}",
        stderr(&none)
    );
    let short = latency_lut()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("EDGENAS_TOKEN", "abc")
        .output()
        .unwrap();
    assert_eq!(short.status.code(), Some(1));
    assert!(stderr(&short).contains("at least 16"), "{}", stderr(&short));
}

/// The binaries end to end: `serve` slowed by 1 ms per run, `profile
/// --remote` (token from a file) and `validate --remote` (token from the
/// environment) against it. (Not `--calibrate`: a fit on times that are
/// all about the injected millisecond means nothing.)
#[test]
fn profile_and_validate_through_the_binaries() {
    let _timing = timing();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let token_arg = token_file.to_str().unwrap();
    let server = serve(&[
        "--listen",
        "127.0.0.1:0",
        "--token-file",
        token_arg,
        "--inject-slowdown-ms",
        "1",
    ]);
    let device = dir.path().join("quick.toml");
    std::fs::write(
        &device,
        "name = \"quick\"\nbackend = \"tract\"\nwarmup = 1\nrepeats = 3\n",
    )
    .unwrap();
    let out = dir.path().join("lut.json");
    let template = [
        "--channels",
        "4",
        "--layers",
        "3",
        "--nodes",
        "2",
        "--eval-channels",
        "4",
        "--eval-layers",
        "3",
        "--deploy-channels",
        "8",
        "--deploy-layers",
        "3",
    ];
    let run = latency_lut()
        .args(["profile", "--device", device.to_str().unwrap()])
        .args(template)
        .args(["--calibrate", "0", "--remote", &server.1])
        .args(["--token-file", token_arg, "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    let lut = Lut::load(&out).unwrap();
    assert_eq!(lut.entries.len(), small_template().keys().len());
    // Every key took the device's injected millisecond: measured there,
    // and so was the reference workload the entries are ratios to.
    assert!(
        lut.entries.iter().all(|e| e.stats.p10 >= 1.0),
        "{:?}",
        lut.entries.iter().map(|e| e.stats.p10).collect::<Vec<_>>()
    );
    let reference = lut.reference.as_ref().expect("a reference workload");
    assert!(reference.noise.reference_min_ms >= 1.0, "{reference:?}");
    let validate = latency_lut()
        .args(["validate", "--lut", out.to_str().unwrap(), "--samples", "3"])
        .args(["--remote", &server.1, "--json"])
        .env("EDGENAS_TOKEN", TOKEN)
        .output()
        .unwrap();
    // Exit 0, or 3 when the (loaded test) host was too noisy to claim the
    // statistics: either way they are printed.
    assert!(
        matches!(validate.status.code(), Some(0 | 3)),
        "{}",
        stderr(&validate)
    );
    let report: serde_json::Value = serde_json::from_slice(&validate.stdout).unwrap();
    assert!(
        report["measured_min_ms"].as_f64().unwrap() >= 1.0
            && report["units"] == "reference"
            && report["noise"]["reference_min_ms"].as_f64().unwrap() >= 1.0,
        "{report}"
    );
    // A wrong token is refused, naming the server's address.
    let wrong = latency_lut()
        .args([
            "calibrate",
            "--lut",
            out.to_str().unwrap(),
            "--samples",
            "3",
        ])
        .args(["--remote", &server.1])
        .env("EDGENAS_TOKEN", "ffffffffffffffffffffffffffffffff")
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        stderr(&wrong).contains(&server.1) && stderr(&wrong).contains("wrong token"),
        "{}",
        stderr(&wrong)
    );
    // --token-file without --remote is a usage error.
    let usage = latency_lut()
        .args([
            "validate",
            "--lut",
            out.to_str().unwrap(),
            "--token-file",
            token_arg,
        ])
        .output()
        .unwrap();
    assert!(!usage.status.success());
    assert!(stderr(&usage).contains("--remote"), "{}", stderr(&usage));
}

/// A valid conversation (hello, a timing job, a describe) with bytes of its
/// hello and request frames flipped, dropped or inserted, many times over:
/// the server answers only with frames of its protocol, never crashes, and
/// serves a valid client afterwards. (The model and input frames are left
/// alone: tract's own parsing of mutated models is fuzzed in cli/tests.)
#[test]
fn mutated_conversations_never_break_the_server() {
    let _timing = timing();
    let address = start(options(Duration::from_secs(2), Duration::ZERO));
    let workload = key_workload(&LutKey::new("relu", 4, 4, 4, 1), 1).unwrap();
    let request = Request::Time(TimeRequest {
        label: "relu".into(),
        warmup: 1,
        repeats: 3,
        workloads: vec![wire::WorkloadHeader {
            label: "relu".into(),
            inputs: vec![workload.inputs[0].shape.clone()],
            inputs_per_run: InputUse::Copied,
            profile_runs: None,
        }],
    });
    let mut head = Vec::new();
    wire::write_frame(&mut head, &hello(TOKEN, PROTOCOL_VERSION)).unwrap();
    wire::write_frame(&mut head, &serde_json::to_vec(&request).unwrap()).unwrap();
    let mut tail = Vec::new();
    wire::write_frame(&mut tail, &workload.onnx).unwrap();
    wire::write_frame(&mut tail, &wire::f32_bytes(&workload.inputs[0].values)).unwrap();
    wire::write_frame(&mut tail, &serde_json::to_vec(&Request::Describe).unwrap()).unwrap();

    let mut pick = arch::genotype::seeded_picker(11);
    let mut kinds = std::collections::BTreeSet::new();
    for _ in 0..120 {
        let mut bytes = head.clone();
        for _ in 0..1 + pick(3) {
            let at = pick(bytes.len());
            match pick(3) {
                0 => bytes[at] ^= 1 << pick(8),
                1 => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, pick(256) as u8),
            }
        }
        bytes.extend_from_slice(&tail);
        let mut s = raw(address);
        // Whatever the server stops reading at, it sees the end of the
        // stream rather than waiting for the rest of a frame.
        let _ = s.write_all(&bytes);
        let _ = s.shutdown(std::net::Shutdown::Write);
        loop {
            match wire::read_frame(&mut s, 1 << 20, None) {
                Ok(frame) => {
                    let answer: Response = serde_json::from_slice(&frame)
                        .unwrap_or_else(|e| panic!("not a response ({e}): {frame:?}"));
                    if let Response::Error(e) = &answer {
                        kinds.insert(format!("{:?}", e.kind));
                        assert!(!e.message.is_empty());
                    }
                }
                Err(wire::FrameError::Closed) => break,
                Err(e) => panic!("the server's answer broke off: {e}"),
            }
        }
    }
    // The mutations reached more than one of the server's checks.
    assert!(kinds.len() >= 3, "{kinds:?}");
    still_serves(address);
}
