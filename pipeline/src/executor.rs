//! Where a sweep's runs execute: local processes (`--jobs K` at a time) or
//! one SLURM job array whose tasks run on the cluster's nodes.
//!
//! Each run is a folder with its own command line. The SLURM executor writes
//! one shell script per task (`OUT/slurm/task-I.sh`: the exact command,
//! quoted, its stderr into the run's log, its exit status written
//! atomically to `OUT/NAME.exit`) and one array script that runs task
//! `$SLURM_ARRAY_TASK_ID`; submits it with `sbatch --parsable`, polls
//! `squeue` until the array has left the queue, and reads each task's exit
//! status from the shared filesystem. It needs no accounting database
//! (`sacct`): the status files are the record. A task without a status
//! file never finished (time limit, node failure, cancelled).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::PipelineError;

/// The cluster options of `--executor slurm`.
#[derive(Debug, Clone, Default)]
pub struct SlurmOptions {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--time` (SLURM's format, e.g. `02:00:00`).
    pub time: Option<String>,
    /// `--cpus-per-task`.
    pub cpus: Option<usize>,
    /// `--gres`, e.g. `gpu:1` (with `--backend cuda` in the run options).
    pub gres: Option<String>,
    /// Further `sbatch` options, verbatim (e.g. `--account=x`, `--mem=8G`).
    pub extra: Vec<String>,
    /// How often `squeue` is asked.
    pub poll: Duration,
}

/// Where runs execute.
#[derive(Debug, Clone)]
pub enum Executor {
    /// Child processes of this one, `jobs` at a time.
    Local { jobs: usize },
    /// One SLURM job array.
    Slurm(SlurmOptions),
}

/// One run to execute.
#[derive(Debug, Clone)]
pub struct Task {
    /// The run's name (its folder's), for messages and file names.
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Where the run's stderr goes.
    pub log: PathBuf,
    /// Where its exit status is written.
    pub status: PathBuf,
}

/// The SLURM jobs this process has submitted and not yet seen finish, for
/// a signal handler ([`cancel_jobs`]).
fn submitted() -> std::sync::MutexGuard<'static, Vec<String>> {
    static JOBS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    JOBS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `scancel`s every job array this process submitted and has not seen
/// finish: SLURM sends the tasks SIGTERM (they write a checkpoint and
/// exit), then SIGKILL after its KillWait. Returns the jobs cancelled.
pub fn cancel_jobs() -> Vec<String> {
    let jobs: Vec<String> = submitted().drain(..).collect();
    for job in &jobs {
        let _ = Command::new("scancel").arg(job).status();
    }
    jobs
}

/// `arg` quoted for a POSIX shell.
pub fn shell_quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

fn io_error(path: &Path, source: std::io::Error) -> PipelineError {
    artifacts::ArtifactError::io(path, source).into()
}

/// The script of one task: the command, its stderr into the log, the exit
/// status written atomically (`.tmp` then `mv`).
fn task_script(task: &Task) -> String {
    let mut command = shell_quote(&task.program.to_string_lossy());
    for a in &task.args {
        command.push(' ');
        command.push_str(&shell_quote(a));
    }
    let status = shell_quote(&task.status.to_string_lossy());
    format!(
        "#!/bin/bash\n# edgenas sweep task {name}\n{command} > /dev/null 2> {log}\ncode=$?\necho \"$code\" > {status}.tmp && mv {status}.tmp {status}\nexit \"$code\"\n",
        name = task.name,
        log = shell_quote(&task.log.to_string_lossy()),
    )
}

/// The `sbatch` options of `options` for an array of `n` tasks.
fn sbatch_args(options: &SlurmOptions, n: usize, dir: &Path) -> Vec<String> {
    let mut args = vec![
        "--parsable".to_string(),
        "--job-name=edgenas-sweep".to_string(),
        format!("--array=0-{}", n - 1),
        format!("--output={}", dir.join("array-%A_%a.out").display()),
    ];
    if let Some(p) = &options.partition {
        args.push(format!("--partition={p}"));
    }
    if let Some(t) = &options.time {
        args.push(format!("--time={t}"));
    }
    if let Some(c) = options.cpus {
        args.push(format!("--cpus-per-task={c}"));
    }
    if let Some(g) = &options.gres {
        args.push(format!("--gres={g}"));
    }
    args.extend(options.extra.iter().cloned());
    args
}

/// The last `n` lines of `path`, or a note that it cannot be read.
pub fn tail(path: &Path, n: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(e) => format!("({}: {e})", path.display()),
    }
}

/// The exit status a finished task wrote, if it wrote one.
pub fn exit_status(task: &Task) -> Option<i32> {
    std::fs::read_to_string(&task.status)
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// Submits `tasks` as one SLURM job array (scripts in `dir`, on the shared
/// filesystem), waits until it has left the queue and returns each task's
/// exit status (`None`: it never finished).
pub fn run_array(
    options: &SlurmOptions,
    dir: &Path,
    tasks: &[Task],
) -> Result<Vec<Option<i32>>, PipelineError> {
    if tasks.is_empty() {
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    for (i, task) in tasks.iter().enumerate() {
        // A status from an earlier attempt must not pass for this one.
        let _ = std::fs::remove_file(&task.status);
        artifacts::write_atomic(
            &dir.join(format!("task-{i}.sh")),
            task_script(task).as_bytes(),
        )?;
    }
    let array = dir.join("array.sh");
    artifacts::write_atomic(
        &array,
        format!(
            "#!/bin/bash\n# One edgenas sweep run per array task; task-I.sh is run I.\nexec bash {}/task-\"$SLURM_ARRAY_TASK_ID\".sh\n",
            shell_quote(&dir.to_string_lossy())
        )
        .as_bytes(),
    )?;
    let args = sbatch_args(options, tasks.len(), dir);
    let out = Command::new("sbatch")
        .args(&args)
        .arg(&array)
        .output()
        .map_err(|e| {
            PipelineError::Sweep(format!(
                "cannot run sbatch ({e}): is SLURM installed and on PATH here?"
            ))
        })?;
    if !out.status.success() {
        return Err(PipelineError::Sweep(format!(
            "sbatch {} {} failed: {}",
            args.join(" "),
            array.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    // `--parsable` prints `JOBID` or `JOBID;CLUSTER`.
    let job = String::from_utf8_lossy(&out.stdout)
        .trim()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    if job.is_empty() {
        return Err(PipelineError::Sweep("sbatch printed no job id".to_string()));
    }
    submitted().push(job.clone());
    // Recorded for a later sweep into the same folder: while this array is
    // queued or running, that sweep waits for it instead of submitting the
    // same runs again (after a `kill -9` of this process, say).
    artifacts::write_atomic(&dir.join(JOB_FILE), job.as_bytes())?;
    log::info!(
        "submitted {} run(s) as SLURM job array {job} ({})",
        tasks.len(),
        array.display()
    );
    wait_for_job(&job, options.poll)?;
    submitted().retain(|j| *j != job);
    Ok(tasks.iter().map(exit_status).collect())
}

/// The id of the last job array submitted from a sweep folder, in
/// `OUT/slurm/`.
const JOB_FILE: &str = "job";

/// Before a sweep into `dir`'s folder submits anything: when the job array
/// an earlier sweep submitted from it is still queued or running (that
/// sweep was killed and its array left on the cluster), waits for it to
/// finish, so that no run is submitted twice; its finished runs are then
/// kept like any others by `--resume`. Returns the job waited for.
pub fn wait_for_earlier_array(dir: &Path, poll: Duration) -> Result<Option<String>, PipelineError> {
    let Ok(job) = std::fs::read_to_string(dir.join(JOB_FILE)) else {
        return Ok(None);
    };
    let job = job.trim().to_string();
    let queued = Command::new("squeue")
        .args(["-h", "-j", &job, "-o", "%i"])
        .output()
        .is_ok_and(|o| o.status.success() && !String::from_utf8_lossy(&o.stdout).trim().is_empty());
    if !queued {
        return Ok(None);
    }
    log::warn!(
        "SLURM job {job}, submitted by an earlier sweep into this folder, is still queued or running: waiting for it before submitting anything (scancel {job} to stop it instead)"
    );
    submitted().push(job.clone());
    wait_for_job(&job, poll)?;
    submitted().retain(|j| *j != job);
    Ok(Some(job))
}

/// Polls `squeue` until job `job` has no task left in the queue.
fn wait_for_job(job: &str, poll: Duration) -> Result<(), PipelineError> {
    let started = Instant::now();
    let mut failures = 0;
    let mut last_report = Instant::now();
    loop {
        let out = Command::new("squeue")
            .args(["-h", "-j", job, "-o", "%i %T"])
            .output();
        match out {
            Ok(o) if o.status.success() => {
                failures = 0;
                let text = String::from_utf8_lossy(&o.stdout);
                let left = text.lines().filter(|l| !l.trim().is_empty()).count();
                if left == 0 {
                    return Ok(());
                }
                if last_report.elapsed() >= Duration::from_secs(60) {
                    log::info!(
                        "SLURM job {job}: {left} task(s) queued or running after {:.0} s",
                        started.elapsed().as_secs_f64()
                    );
                    last_report = Instant::now();
                }
            }
            // A job purged from the controller's memory is finished
            // ("Invalid job id specified").
            Ok(o) if String::from_utf8_lossy(&o.stderr).contains("Invalid job id") => {
                return Ok(());
            }
            other => {
                failures += 1;
                if failures >= 10 {
                    let why = match other {
                        Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
                        Err(e) => e.to_string(),
                    };
                    return Err(PipelineError::Sweep(format!(
                        "squeue failed 10 times in a row while waiting for job {job}: {why}"
                    )));
                }
            }
        }
        std::thread::sleep(poll);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_quoted_for_the_shell() {
        assert_eq!(shell_quote("--seed"), "--seed");
        assert_eq!(shell_quote("/a b/c"), "'/a b/c'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
    }

    #[test]
    fn a_task_script_runs_the_command_and_records_its_status() {
        let tmp = tempfile::tempdir().unwrap();
        let task = Task {
            name: "t".into(),
            program: PathBuf::from("sh"),
            args: vec!["-c".into(), "echo to-log >&2; exit 3".into()],
            log: tmp.path().join("t log.txt"),
            status: tmp.path().join("t.exit"),
        };
        let script = tmp.path().join("task.sh");
        std::fs::write(&script, task_script(&task)).unwrap();
        let status = Command::new("bash").arg(&script).status().unwrap();
        assert_eq!(status.code(), Some(3));
        assert_eq!(exit_status(&task), Some(3));
        assert_eq!(tail(&task.log, 5), "to-log");
    }

    #[test]
    fn sbatch_gets_the_array_and_the_cluster_options() {
        let options = SlurmOptions {
            partition: Some("gpu".into()),
            time: Some("01:00:00".into()),
            cpus: Some(4),
            gres: Some("gpu:1".into()),
            extra: vec!["--mem=8G".into()],
            poll: Duration::from_secs(1),
        };
        let args = sbatch_args(&options, 3, Path::new("/x"));
        assert!(args.contains(&"--array=0-2".to_string()));
        for a in [
            "--partition=gpu",
            "--time=01:00:00",
            "--cpus-per-task=4",
            "--gres=gpu:1",
            "--mem=8G",
        ] {
            assert!(args.contains(&a.to_string()), "{a}");
        }
    }
}
