//! `edgenas sweep --executor slurm` on a real single-node SLURM cluster:
//! slurmctld and slurmd (Debian's `slurm-wlm`) with munge, started on
//! localhost from a generated `slurm.conf` and stopped at the end. A
//! 2-task sweep through the cluster must gather the same results as the
//! same sweep run locally (same seeds → same genotypes and accuracies).
//! Where SLURM cannot be started (not installed, not root, daemons that do
//! not come up) the test prints a SKIPPED line; `.ci/run` installs the
//! packages and shows that line.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(name).is_file()))
        || Path::new("/usr/sbin").join(name).is_file()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running single-node cluster; its daemons (and munged, when it
/// started it) are stopped on drop: SIGTERM, then SIGKILL after 10 s.
struct Cluster {
    dir: tempfile::TempDir,
    conf: PathBuf,
    daemons: Vec<Child>,
    /// The tests of this file take turns: one cluster (and munged) at a time.
    _turn: std::sync::MutexGuard<'static, ()>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // slurmd, slurmctld, then munged.
        for d in self.daemons.iter_mut().rev() {
            let _ = Command::new("kill")
                .args(["-TERM", &d.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while d.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = d.kill();
            let _ = d.wait();
        }
    }
}

static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Cluster {
    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", &self.conf);
        c
    }

    /// The daemons' logs, for a failure message.
    fn logs(&self) -> String {
        ["slurmctld.log", "slurmd.log"]
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                format!(
                    "{f}:\n{}",
                    lines[lines.len().saturating_sub(15)..].join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// [`Cluster::start`], or `None` after printing why it could not,
    /// as a SKIPPED line.
    fn start_or_skip() -> Option<Cluster> {
        Cluster::start()
            .map_err(|why| println!("SKIPPED: no SLURM test cluster: {why}"))
            .ok()
    }

    /// Starts munged (when no munge daemon answers), slurmctld and slurmd,
    /// and waits until the node is idle. `Err` says why it cannot.
    fn start() -> Result<Cluster, String> {
        for tool in [
            "slurmctld",
            "slurmd",
            "sbatch",
            "squeue",
            "sinfo",
            "munge",
            "munged",
        ] {
            if !on_path(tool) {
                return Err(format!(
                    "`{tool}` not found (apt-get install slurm-wlm munge)"
                ));
            }
        }
        let uid = Command::new("id")
            .arg("-u")
            .output()
            .map_err(|e| e.to_string())?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Err("not root: the test cluster runs slurmd as root".into());
        }
        let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        let munge_ok = || {
            Command::new("sh")
                .args(["-c", "munge -n | unmunge"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        let mut daemons = Vec::new();
        if !munge_ok() {
            let _ = std::fs::create_dir_all("/run/munge");
            let _ = Command::new("chown")
                .args(["munge:munge", "/run/munge"])
                .status();
            let munged = Command::new("munged")
                .args(["--foreground", "--force"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("munged: {e}"))?;
            daemons.push(munged);
            let deadline = Instant::now() + Duration::from_secs(10);
            while !munge_ok() {
                if Instant::now() > deadline {
                    return Err("munged did not start (is /etc/munge/munge.key there?)".into());
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let d = dir.path();
        for sub in ["state", "spool"] {
            std::fs::create_dir_all(d.join(sub)).map_err(|e| e.to_string())?;
        }
        let host = Command::new("hostname")
            .arg("-s")
            .output()
            .map_err(|e| e.to_string())?;
        let host = String::from_utf8_lossy(&host.stdout).trim().to_string();
        let conf = d.join("slurm.conf");
        let text = format!(
            "ClusterName=edgenastest\nSlurmctldHost={host}(127.0.0.1)\nSlurmUser=root\nSlurmdUser=root\n\
             SlurmctldPort={}\nSlurmdPort={}\nAuthType=auth/munge\n\
             StateSaveLocation={d}/state\nSlurmdSpoolDir={d}/spool\n\
             SlurmctldPidFile={d}/slurmctld.pid\nSlurmdPidFile={d}/slurmd.pid\n\
             SlurmctldLogFile={d}/slurmctld.log\nSlurmdLogFile={d}/slurmd.log\n\
             ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n\
             JobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\n\
             SchedulerType=sched/backfill\nSelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n\
             ReturnToService=2\nMpiDefault=none\nMinJobAge=3600\n\
             NodeName={host} NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN\n\
             PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n",
            free_port(),
            free_port(),
            d = d.display(),
        );
        std::fs::write(&conf, text).map_err(|e| e.to_string())?;
        let mut cluster = Cluster {
            dir,
            conf,
            daemons,
            _turn: turn,
        };
        for daemon in ["slurmctld", "slurmd"] {
            let child = cluster
                .command(daemon)
                .args(["-D", "-f"])
                .arg(&cluster.conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("{daemon}: {e}"))?;
            cluster.daemons.push(child);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let state = cluster.command("sinfo").args(["-h", "-o", "%T"]).output();
            if let Ok(o) = state
                && String::from_utf8_lossy(&o.stdout).trim() == "idle"
            {
                return Ok(cluster);
            }
            if Instant::now() > deadline {
                return Err(format!("the node never became idle\n{}", cluster.logs()));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The command of a 2-seed δ = 0 sweep at tiny settings into `out`.
fn sweep_command(cluster: &Cluster, dir: &Path, out: &str, executor: &[&str]) -> Command {
    let mut args = vec![
        "sweep",
        "--latency-coef",
        "0",
        "--seeds",
        "0,1",
        "--repeats",
        "20",
        "--json",
        "--out",
        out,
    ];
    args.extend_from_slice(executor);
    args.push("--");
    args.extend_from_slice(common::TINY_RUN);
    args.extend_from_slice(&["--lut-cache", "cache"]);
    args.extend_from_slice(common::TINY_NETWORK);
    let mut command = cluster.command(env!("CARGO_BIN_EXE_edgenas"));
    command.args(&args).current_dir(dir).env("RUST_LOG", "info");
    command
}

fn sweep(cluster: &Cluster, dir: &Path, out: &str, executor: &[&str]) -> serde_json::Value {
    let run = sweep_command(cluster, dir, out, executor).output().unwrap();
    assert!(
        run.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&run.stderr),
        cluster.logs()
    );
    serde_json::from_slice(&run.stdout).unwrap()
}

#[test]
fn a_sweep_through_slurm_gathers_what_a_local_sweep_does() {
    let Some(cluster) = Cluster::start_or_skip() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // Local first: it also measures the latency table into the shared
    // cache, which the SLURM sweep's table step then finds.
    let local = sweep(&cluster, tmp.path(), "local", &["--jobs", "2"]);
    let slurm = sweep(
        &cluster,
        tmp.path(),
        "slurm",
        &[
            "--executor",
            "slurm",
            "--slurm-poll",
            "0.5",
            "--slurm-cpus",
            "1",
        ],
    );
    let rows = |v: &serde_json::Value| -> Vec<(u64, serde_json::Value, f64)> {
        let mut r: Vec<_> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                (
                    row["seed"].as_u64().unwrap(),
                    row["genotype"].clone(),
                    row["test_accuracy"].as_f64().unwrap(),
                )
            })
            .collect();
        r.sort_by_key(|x| x.0);
        r
    };
    assert_eq!(rows(&local).len(), 2);
    assert_eq!(rows(&slurm), rows(&local), "same seeds, same results");
    // The runs went through the array: its scripts and each task's status.
    let out = tmp.path().join("slurm");
    assert!(out.join("slurm/array.sh").exists());
    for seed in [0, 1] {
        let status = std::fs::read_to_string(out.join(format!("delta-0-seed{seed}.exit"))).unwrap();
        assert_eq!(status.trim(), "0");
        assert!(out.join(format!("delta-0-seed{seed}/report.html")).exists());
    }
    // Resuming resubmits nothing: both runs are kept.
    let again = sweep_command(
        &cluster,
        tmp.path(),
        "slurm",
        &["--resume", "--executor", "slurm", "--slurm-poll", "0.5"],
    )
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{err}");
    assert_eq!(err.matches("keeping the finished run").count(), 2, "{err}");
    assert!(!err.contains("submitted"), "{err}");

    // The host side killed (SIGKILL: no handler, the array stays on the
    // cluster) right after it submitted, then the same command with
    // --resume: it waits for the array still running instead of submitting
    // the runs again, and gathers the same results.
    let slurm_opts = ["--executor", "slurm", "--slurm-poll", "0.5"];
    let mut host = sweep_command(&cluster, tmp.path(), "killed", &slurm_opts)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let job_file = tmp.path().join("killed/slurm/job");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !job_file.exists() {
        assert!(Instant::now() < deadline, "the array was never submitted");
        assert!(host.try_wait().unwrap().is_none(), "the sweep ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    host.kill().unwrap();
    host.wait().unwrap();
    let mut resume = slurm_opts.to_vec();
    resume.push("--resume");
    let rerun = sweep_command(&cluster, tmp.path(), "killed", &resume)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&rerun.stderr);
    assert!(rerun.status.success(), "{err}\n{}", cluster.logs());
    let gathered: serde_json::Value = serde_json::from_slice(&rerun.stdout).unwrap();
    assert_eq!(rows(&gathered), rows(&local), "{err}");
    // One array ran each run once: every array output file is of one job.
    let jobs: std::collections::BTreeSet<String> =
        std::fs::read_dir(tmp.path().join("killed/slurm"))
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                name.strip_prefix("array-")
                    .and_then(|rest| rest.split('_').next().map(str::to_string))
            })
            .collect();
    assert_eq!(jobs.len(), 1, "runs submitted twice: jobs {jobs:?}\n{err}");
    let waited = err.contains("still queued or running");
    println!(
        "SLURM sweep: 2 tasks through a single-node cluster, same results as local; after a kill -9 of the host the rerun {} and submitted nothing again",
        if waited {
            "waited for the array"
        } else {
            "found it finished"
        }
    );
}

#[test]
fn a_failed_task_shows_its_log_tail() {
    let Some(cluster) = Cluster::start_or_skip() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // A budget below the fastest genotype: the table step before the array
    // succeeds, the task fails at once on the cluster.
    let run = cluster
        .command(env!("CARGO_BIN_EXE_edgenas"))
        .args([
            "sweep",
            "--latency-coef",
            "none",
            "--latency-budget",
            "0.0001",
            "--random-per-budget",
            "0",
            "--out",
            "sw",
            "--executor",
            "slurm",
            "--slurm-poll",
            "0.5",
            "--",
            "--lut-cache",
            "cache",
        ])
        .args(common::TINY_NETWORK)
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{err}");
    assert!(err.contains("1 of 1 SLURM task(s) failed"), "{err}");
    assert!(err.contains("exit status 1"), "{err}");
    // The tail of the run's own log, with its error.
    assert!(err.contains("below"), "{err}");
    assert!(err.contains("--resume"), "{err}");
}
