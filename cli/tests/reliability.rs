//! Issue 17's findings as regression tests, each driving the real binary:
//! outputs that would destroy inputs, interruption, non-finite numbers and
//! structures that pass parsing but cannot be built.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn edgenas_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgenas"))
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .output()
        .expect("edgenas runs")
}

/// `edgenas ARGS` in `dir`, logging at warn, stderr captured.
fn edgenas_command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_edgenas"));
    command
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// `epochs_done` of the checkpoint whose `state.json` is `state`; 0 when
/// there is none yet.
fn checkpoint_epochs(state: &Path) -> u64 {
    std::fs::read_to_string(state)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["epochs_done"].as_u64())
        .unwrap_or(0)
}

/// Starts `command`, waits until `reached()` (or until it ended by
/// itself), `delay_ms` more, and kills it with SIGKILL: no handler runs.
fn kill_when(mut command: Command, reached: &dyn Fn() -> bool, delay_ms: u64) {
    let mut child = command.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !reached() {
        assert!(Instant::now() < deadline, "the moment never came");
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(delay_ms));
    let _ = child.kill();
    let _ = child.wait();
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Fails with one `error` line containing `needle`, never a panic (101).
fn assert_refused(out: &Output, needle: &str) {
    let err = stderr(out);
    assert!(!out.status.success(), "expected failure:\n{err}");
    assert_ne!(out.status.code(), Some(101), "panicked:\n{err}");
    assert!(err.contains(needle), "error should say `{needle}`:\n{err}");
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

mod common;
use common::TINY_NETWORK as TINY;

#[test]
fn out_dot_with_force_leaves_the_current_folder_alone() {
    // Finding 1: `--out . --force` emptied the current folder.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("keep.txt"), b"precious").unwrap();
    for out in [".", "..", "/"] {
        let mut args = vec!["search", "--out", out, "--force", "--epochs", "1"];
        args.extend_from_slice(TINY);
        let run = edgenas_in(tmp.path(), &args);
        assert_refused(&run, "refusing output folder");
        assert_eq!(entries(tmp.path()), vec!["keep.txt"]);
    }
    let run = edgenas_in(
        tmp.path(),
        &["run", "--out", ".", "--force", "--epochs", "1"],
    );
    assert_refused(&run, "the current folder");
    assert_eq!(entries(tmp.path()), vec!["keep.txt"]);
}

#[test]
fn an_output_that_contains_the_data_or_the_genotype_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("runs/data");
    std::fs::create_dir_all(&data).unwrap();
    let run = edgenas_in(
        tmp.path(),
        &["search", "--data", "runs/data", "--out", "runs", "--force"],
    );
    assert_refused(&run, "contains the data folder");
    assert!(data.exists());

    let genotype = tmp.path().join("runs/genotype.json");
    std::fs::write(&genotype, b"{}").unwrap();
    let run = edgenas_in(
        tmp.path(),
        &[
            "retrain",
            "--genotype",
            "runs/genotype.json",
            "--out",
            "runs",
            "--force",
        ],
    );
    assert_refused(&run, "contains the genotype file");
    assert!(genotype.exists());
}

#[test]
fn a_file_as_output_is_refused_before_the_search() {
    // Finding 6: `--out FILE --force` was found only after the search.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("out"), b"a file").unwrap();
    let started = Instant::now();
    let mut args = vec!["search", "--out", "out", "--force", "--epochs", "50"];
    args.extend_from_slice(TINY);
    let run = edgenas_in(tmp.path(), &args);
    assert_refused(&run, "not a folder");
    // 50 epochs would take minutes; refused at once. (A bound, not a timing.)
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(std::fs::read(tmp.path().join("out")).unwrap(), b"a file");
}

/// Starts a long search, waits for its staging folder, sends `signal`.
fn interrupt_search(signal: &str) -> (Output, Vec<String>) {
    let tmp = tempfile::tempdir().unwrap();
    let mut args = vec!["search", "--out", "out", "--epochs", "50"];
    args.extend_from_slice(TINY);
    let child = Command::new(env!("CARGO_BIN_EXE_edgenas"))
        .args(&args)
        .current_dir(tmp.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !entries(tmp.path())
        .iter()
        .any(|n| n.starts_with(".out.partial-"))
    {
        assert!(Instant::now() < deadline, "no staging folder appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let it write its first metrics into the staging folder.
    std::thread::sleep(Duration::from_millis(500));
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    (out, entries(tmp.path()))
}

#[test]
fn sigint_and_sigterm_leave_only_the_announced_checkpoint() {
    // Finding 3: interrupted runs left `.NAME.partial-PID/` folders.
    for (signal, code) in [("-INT", 130), ("-TERM", 143)] {
        let (out, left) = interrupt_search(signal);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{err}");
        assert!(err.contains("interrupted"), "{err}");
        // The search finished its step and wrote a checkpoint of where it
        // stood; the staging folder is gone and the message says how to
        // resume.
        assert!(err.contains("finishing the current step"), "{err}");
        assert!(err.contains(".out.checkpoint"), "{err}");
        assert!(err.contains("--resume"), "{err}");
        assert_eq!(left, [".out.checkpoint"], "left behind after {signal}");
    }
}

#[test]
fn sigint_mid_epoch_then_resume_gives_the_uninterrupted_search() {
    let tmp = tempfile::tempdir().unwrap();
    let command = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "search",
            "--out",
            out,
            "--epochs",
            "3",
            "--pretrain-epochs",
            "1",
            "--warmup-epochs",
            "1",
            "--seed",
            "5",
        ];
        args.extend_from_slice(TINY);
        args.extend_from_slice(extra);
        edgenas_command(tmp.path(), &args)
    };
    let whole = command("whole", &[]).output().unwrap();
    assert!(whole.status.success(), "{}", stderr(&whole));
    let state = tmp.path().join(".resumed.checkpoint/state.json");
    let within = || -> Option<String> {
        let text = std::fs::read_to_string(&state).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        Some(v["progress"]["within"]["phase"].as_str()?.to_string())
    };
    // Two interruptions: one early, one after an epoch had finished.
    let mut phases = Vec::new();
    for (round, delay_ms) in [300u64, 0].into_iter().enumerate() {
        let resume: &[&str] = if round == 0 { &[] } else { &["--resume"] };
        let before = checkpoint_epochs(&state);
        let mut child = command("resumed", resume).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        // Round 0: 300 ms into the run; round 1: once it has finished
        // another epoch.
        while round == 1 && checkpoint_epochs(&state) == before {
            assert!(Instant::now() < deadline, "no epoch finished");
            assert!(child.try_wait().unwrap().is_none(), "ended by itself");
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(130), "{err}");
        assert!(err.contains("finishing the current step"), "{err}");
        phases.push(within().unwrap_or_else(|| panic!("no mid-epoch checkpoint: {err}")));
    }
    eprintln!("SIGINT stopped the search in phases {phases:?}");
    let last = command("resumed", &["--resume"]).output().unwrap();
    assert!(last.status.success(), "{}", stderr(&last));
    let read = |dir: &str, file: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join(dir).join(file)).unwrap())
            .unwrap()
    };
    let mut genotypes = ["resumed", "whole"].map(|d| read(d, "genotype.json"));
    for g in &mut genotypes {
        g.as_object_mut().unwrap().remove("tool");
    }
    assert_eq!(genotypes[0], genotypes[1]);
    for cell in ["normal", "reduce"] {
        assert_eq!(
            read("resumed", "alphas.json")[cell],
            read("whole", "alphas.json")[cell]
        );
    }
    assert_eq!(entries(tmp.path()), vec!["resumed", "whole"]);
}

fn genotype_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("genotype.json");
    std::fs::write(&path, common::genotype_json(arch::Relaxation::Darts, 4, 3)).unwrap();
    path
}

/// `edgenas retrain` of `genotype.json` in `dir` (tiny network, digits)
/// into `out`.
fn retrain_command(dir: &Path, out: &str, extra: &[&str]) -> Command {
    let mut args = vec![
        "retrain",
        "--genotype",
        "genotype.json",
        "--data",
        "builtin:digits",
        "--channels",
        "4",
        "--layers",
        "3",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    edgenas_command(dir, &args)
}

fn retrain(dir: &Path, extra: &[&str]) -> Output {
    retrain_command(dir, "out", extra)
        .output()
        .expect("edgenas runs")
}

#[test]
fn a_retraining_that_diverges_stops_and_writes_nothing() {
    // Finding 2: `--lr 1e6` exited 0 with NaN weights, a model.json export
    // could not read and "test accuracy 9.72 %".
    let tmp = tempfile::tempdir().unwrap();
    genotype_file(tmp.path());
    let run = retrain(
        tmp.path(),
        &["--lr", "1e6", "--epochs", "6", "--train-subset", "64"],
    );
    assert_refused(&run, "NaN");
    assert!(stderr(&run).contains("wrote nothing"), "{}", stderr(&run));
    // Only the last good checkpoint is kept, and announced.
    assert!(stderr(&run).contains("--resume"), "{}", stderr(&run));
    assert_eq!(
        entries(tmp.path()),
        vec![".out.checkpoint", "genotype.json"]
    );
}

#[test]
fn options_outside_f32_or_their_range_are_refused_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    genotype_file(tmp.path());
    for (extra, needle) in [
        (&["--lr", "inf"][..], "learning rate"),
        (&["--lr", "1e39"], "learning rate"),
        (&["--lr=-1"], "learning rate"),
        (&["--train-subset", "0"], "subset of 0"),
        (&["--momentum", "1.5"], "momentum"),
    ] {
        let run = retrain(tmp.path(), extra);
        assert_refused(&run, needle);
    }
    // The search: 1e39 is a finite f64 but an infinite f32 (it panicked in
    // a pooling kernel); NaN/inf δ likewise.
    for (extra, needle) in [
        (&["--arch-lr", "1e39"][..], "α learning rate"),
        (&["--nodes", "0"], "at least 1"),
        (&["--batch-size", "0"], "batch size"),
        (
            &["--latency-coef", "NaN"],
            "--latency-coef must be a finite",
        ),
        (
            &["--latency-coef", "inf"],
            "--latency-coef must be a finite",
        ),
    ] {
        let mut args = vec!["search", "--out", "s"];
        args.extend_from_slice(TINY);
        args.extend_from_slice(extra);
        let run = edgenas_in(tmp.path(), &args);
        assert_refused(&run, needle);
    }
    assert_eq!(entries(tmp.path()), vec!["genotype.json"]);
}

#[test]
fn genotypes_that_cannot_be_built_are_refused_with_what_to_fix() {
    // Finding 4: empty, partial and duplicated concat lists panicked in
    // burn's Cat during `retrain`.
    let tmp = tempfile::tempdir().unwrap();
    let path = genotype_file(tmp.path());
    let good: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for concat in [vec![], vec![0], vec![0, 0, 1, 2], vec![0, 1, 2, 9]] {
        let mut g = good.clone();
        g["normal"]["concat"] = serde_json::json!(concat);
        std::fs::write(&path, g.to_string()).unwrap();
        let run = retrain(tmp.path(), &["--epochs", "1"]);
        assert_refused(&run, "must list every intermediate node in order");
    }
}

#[test]
fn sigterm_to_a_sweep_stops_its_runs_and_leaves_no_staging() {
    let tmp = tempfile::tempdir().unwrap();
    let mut args = vec![
        "sweep",
        "--latency-coef",
        "0,0.1",
        "--jobs",
        "2",
        "--out",
        "sw",
        "--",
        "--epochs",
        "50",
        "--lut-cache",
        "cache",
    ];
    args.extend_from_slice(&TINY[2..]);
    let child = Command::new(env!("CARGO_BIN_EXE_edgenas"))
        .args(&args)
        .current_dir(tmp.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sweep_dir = tmp.path().join("sw");
    let staging = |dir: &Path| -> Vec<String> {
        if !dir.exists() {
            return Vec::new();
        }
        entries(dir)
            .into_iter()
            .filter(|n| n.contains(".partial-"))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(300);
    while staging(&sweep_dir).is_empty() {
        assert!(Instant::now() < deadline, "no run started");
        std::thread::sleep(Duration::from_millis(100));
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    assert!(stderr(&out).contains("stopped"), "{}", stderr(&out));
    // The sweep waited for its runs: each finished its step, wrote its
    // checkpoint and removed its staging folder before the sweep exited.
    assert_eq!(staging(&sweep_dir), Vec::<String>::new());
}

/// Every float tensor of a retrained model as bits, in module order (the
/// .bpk bytes differ between runs: burn stores random parameter ids).
fn weight_bits(retrain_dir: &Path) -> Vec<u32> {
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::tensor::Tensor;
    struct Bits(Vec<u32>);
    impl ModuleVisitor for Bits {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let values = param.val().into_data().try_to_vec::<f32>().unwrap();
            self.0.extend(values.iter().map(|v| v.to_bits()));
        }
    }
    let (_, model) = export::load_retrained(retrain_dir, &burn::tensor::Device::flex()).unwrap();
    let mut bits = Bits(Vec::new());
    model.visit(&mut bits);
    bits.0
}

fn test_accuracy(retrain_dir: &Path) -> f64 {
    let model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(retrain_dir.join("model.json")).unwrap())
            .unwrap();
    model["test_accuracy"].as_f64().unwrap()
}

#[test]
fn kill_9_then_resume_gives_the_uninterrupted_retraining() {
    let tmp = tempfile::tempdir().unwrap();
    genotype_file(tmp.path());
    let options = ["--epochs", "8", "--seed", "1"];
    let command = |out: &str, extra: &[&str]| {
        retrain_command(tmp.path(), out, &[&options[..], extra].concat())
    };
    let whole = command("whole", &[]).output().unwrap();
    assert!(whole.status.success(), "{}", stderr(&whole));
    let state = tmp.path().join(".resumed.checkpoint/state.json");
    let epochs_done = || checkpoint_epochs(&state);
    // Killed at three moments: right after a checkpoint, and 20 and 50 ms
    // into the next epoch.
    for (round, delay_ms) in [0u64, 20, 50].into_iter().enumerate() {
        let before = epochs_done();
        let resume: &[&str] = if round == 0 { &[] } else { &["--resume"] };
        kill_when(
            command("resumed", resume),
            &|| epochs_done() > before,
            delay_ms,
        );
    }
    assert!(
        !tmp.path().join("resumed").exists() && epochs_done() < 8,
        "the kills came too late to test anything"
    );
    // The checkpoint is neither ignored nor resumed into another run.
    let fresh = command("resumed", &[]).output().unwrap();
    assert_refused(&fresh, "pass --resume to continue it");
    let other = command("resumed", &["--resume", "--lr", "0.01"])
        .output()
        .unwrap();
    assert_refused(&other, "different retraining");
    let last = command("resumed", &["--resume"]).output().unwrap();
    assert!(
        last.status.success(),
        "{}",
        String::from_utf8_lossy(&last.stderr)
    );
    assert_eq!(
        test_accuracy(&tmp.path().join("resumed")),
        test_accuracy(&tmp.path().join("whole"))
    );
    assert!(weight_bits(&tmp.path().join("resumed")) == weight_bits(&tmp.path().join("whole")));
    // The checkpoint is gone once the output is in place; nothing else is
    // left beside it.
    assert_eq!(
        entries(tmp.path()),
        vec!["genotype.json", "resumed", "whole"]
    );
}

#[test]
fn kill_9_then_resume_gives_the_uninterrupted_search() {
    let tmp = tempfile::tempdir().unwrap();
    let command = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "search",
            "--out",
            out,
            "--epochs",
            "4",
            "--pretrain-epochs",
            "1",
            "--warmup-epochs",
            "1",
            "--seed",
            "2",
        ];
        args.extend_from_slice(TINY);
        args.extend_from_slice(extra);
        edgenas_command(tmp.path(), &args)
    };
    let whole = command("whole", &[]).output().unwrap();
    assert!(whole.status.success(), "{}", stderr(&whole));
    let state = tmp.path().join(".resumed.checkpoint/state.json");
    let epochs_done = || checkpoint_epochs(&state);
    for (round, delay_ms) in [0u64, 60].into_iter().enumerate() {
        let before = epochs_done();
        let resume: &[&str] = if round == 0 { &[] } else { &["--resume"] };
        kill_when(
            command("resumed", resume),
            &|| epochs_done() > before,
            delay_ms,
        );
    }
    assert!(
        !tmp.path().join("resumed").exists() && epochs_done() < 5,
        "the kills came too late to test anything"
    );
    let last = command("resumed", &["--resume"]).output().unwrap();
    assert!(last.status.success(), "{}", stderr(&last));
    let read = |dir: &str, file: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join(dir).join(file)).unwrap())
            .unwrap()
    };
    let genotype = |dir: &str| {
        let mut g = read(dir, "genotype.json");
        g.as_object_mut().unwrap().remove("tool");
        g
    };
    assert_eq!(genotype("resumed"), genotype("whole"));
    for cell in ["normal", "reduce"] {
        assert_eq!(
            read("resumed", "alphas.json")[cell],
            read("whole", "alphas.json")[cell]
        );
    }
    assert_eq!(entries(tmp.path()), vec!["resumed", "whole"]);
}

#[test]
fn kill_9_of_run_at_five_moments_then_resume_gives_the_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let command = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "run",
            "--out",
            out,
            "--lut-cache",
            "cache",
            "--epochs",
            "3",
            "--pretrain-epochs",
            "1",
            "--warmup-epochs",
            "1",
            "--retrain-epochs",
            "4",
            "--retrain-channels",
            "4",
            "--retrain-layers",
            "3",
            "--retrain-subset",
            "512",
            "--seed",
            "3",
        ];
        args.extend_from_slice(TINY);
        args.extend_from_slice(extra);
        edgenas_command(tmp.path(), &args)
    };
    // The uninterrupted run (it also measures the latency table the others
    // reuse).
    let whole = command("whole", &[]).output().unwrap();
    assert!(whole.status.success(), "{}", stderr(&whole));

    let ckpt = tmp.path().join(".resumed.checkpoint");
    let epochs =
        |stage: &str| checkpoint_epochs(&ckpt.join(format!(".{stage}.checkpoint/state.json")));
    let search_done = || ckpt.join("search/search.json").exists();
    // Five moments: after the first and second search epochs, once the
    // search finished, and 20 and 50 ms after the first and second
    // retraining epochs.
    let moments: [(&dyn Fn() -> bool, u64); 5] = [
        (&|| epochs("search") >= 1, 0),
        (&|| epochs("search") >= 2, 30),
        (&|| search_done(), 0),
        (&|| epochs("retrain") >= 1, 20),
        (&|| epochs("retrain") >= 2, 50),
    ];
    for (round, (reached, delay_ms)) in moments.into_iter().enumerate() {
        let resume: &[&str] = if round == 0 { &[] } else { &["--resume"] };
        kill_when(command("resumed", resume), reached, delay_ms);
        assert!(
            !tmp.path().join("resumed").exists(),
            "kill {round} came after the run had finished"
        );
    }
    let last = command("resumed", &["--resume"]).output().unwrap();
    assert!(last.status.success(), "{}", stderr(&last));
    let run = |dir: &str| -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(tmp.path().join(dir).join("run.json")).unwrap(),
        )
        .unwrap()
    };
    let (a, b) = (run("whole"), run("resumed"));
    assert_eq!(a["genotype"], b["genotype"]);
    // The run also drew its cells; the same genotype, the same picture.
    let cells = |dir: &str| std::fs::read(tmp.path().join(dir).join("cells.svg")).unwrap();
    assert_eq!(cells("whole"), cells("resumed"));
    assert_eq!(a["test_accuracy"], b["test_accuracy"]);
    assert_eq!(a["tract_accuracy"], b["tract_accuracy"]);
    assert!(
        weight_bits(&tmp.path().join("whole/retrain"))
            == weight_bits(&tmp.path().join("resumed/retrain"))
    );
    assert_eq!(entries(tmp.path()), vec!["cache", "resumed", "whole"]);
}

#[test]
fn a_read_only_target_is_refused_before_the_search() {
    // Finding 6: found only after the whole search. /proc is read-only
    // even for root (CI runs as root, which ignores permission bits).
    let tmp = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut args = vec!["search", "--out", "/proc/edgenas-out", "--epochs", "50"];
    args.extend_from_slice(TINY);
    let run = edgenas_in(tmp.path(), &args);
    assert_refused(&run, "read-only");
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn a_saturating_alpha_learning_rate_is_reported() {
    // Finding 2: `--arch-lr 1e6` saturated α at ±1e38 without a word.
    let tmp = tempfile::tempdir().unwrap();
    let mut args = vec!["search", "--out", "s", "--epochs", "1", "--arch-lr", "1e6"];
    args.extend_from_slice(TINY);
    let run = edgenas_in(tmp.path(), &args);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(
        stderr(&run).contains("α reached |α|") && stderr(&run).contains("lower --arch-lr"),
        "{}",
        stderr(&run)
    );
}

#[test]
fn a_run_that_fails_before_any_progress_leaves_no_checkpoint() {
    // An impossible budget is refused after the table is measured but
    // before any training: nothing to resume, so nothing is kept.
    let tmp = tempfile::tempdir().unwrap();
    let mut args = vec![
        "run",
        "--out",
        "out",
        "--lut-cache",
        "cache",
        "--latency-budget",
        "0.0001",
    ];
    args.extend_from_slice(TINY);
    let run = edgenas_in(tmp.path(), &args);
    assert_refused(&run, "latency budget");
    assert_eq!(entries(tmp.path()), vec!["cache"]);
}
