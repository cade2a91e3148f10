//! The sweeps: one `edgenas run` per point — a latency coefficient δ, a
//! latency budget, or a random genotype drawn under a budget — per seed
//! (each a separate process, `jobs` at a time, or a task of one SLURM job
//! array: [`crate::executor`]), then every deployed model,
//! the `model.onnx` that its run already exported and verified, is timed in
//! tract round-robin, so drift of a shared machine hits all of them alike.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use artifacts::{ModelFile, ONNX_FILE, RUN_FILE, RunSummary, read_json, write_atomic};
use latency_lut::Stats;
use runtime::TractModel;
use runtime::timing::{self, Schedule};
use serde::Serialize;

use crate::PipelineError;
use crate::executor::{self, Executor, Task};
use crate::plot::{mark_pareto, markdown, svg};

/// `edgenas sweep`.
#[derive(Debug, Clone)]
pub struct SweepConfig {
    /// The `edgenas` binary each run is started with.
    pub exe: PathBuf,
    /// δ values, one search + retrain per seed each.
    pub latency_coef: Vec<f64>,
    /// Latency budgets (ms), one budget search + retrain per seed each.
    pub latency_budget: Vec<f64>,
    /// Seeds of every searched point.
    pub seeds: Vec<u64>,
    /// Random genotypes per budget (seeds 0, 1, …), drawn under the budget
    /// and retrained like the searched ones.
    pub random_per_budget: usize,
    /// Where the runs execute: local processes (`jobs` at a time) or a
    /// SLURM job array.
    pub executor: Executor,
    /// OUT/<point>/ per run, OUT/sweep.json, OUT/sweep.md, OUT/pareto.svg.
    pub out: PathBuf,
    /// Timed tract runs per model (batch 1).
    pub repeats: usize,
    /// Keep finished runs made with the same `run_args`.
    pub resume: bool,
    /// Options passed to every `edgenas run`.
    pub run_args: Vec<String>,
}

/// One run of a sweep.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Point {
    /// A search at fixed δ.
    Delta { latency_coef: f64, seed: u64 },
    /// A search under a latency budget.
    Budget { budget_ms: f64, seed: u64 },
    /// A random genotype drawn under a budget (no search).
    Random { budget_ms: f64, seed: u64 },
}

impl Point {
    /// The run's folder name under the sweep's output.
    pub fn name(&self) -> String {
        match self {
            Point::Delta { latency_coef, seed } => format!("delta-{latency_coef}-seed{seed}"),
            Point::Budget { budget_ms, seed } => format!("budget-{budget_ms}ms-seed{seed}"),
            Point::Random { budget_ms, seed } => format!("random-{budget_ms}ms-seed{seed}"),
        }
    }

    /// The options this point adds to `edgenas run`.
    fn args(&self) -> Vec<String> {
        let mut args = match self {
            Point::Delta { latency_coef, .. } => {
                vec!["--latency-coef".to_string(), latency_coef.to_string()]
            }
            Point::Budget { budget_ms, .. } => {
                vec!["--latency-budget".to_string(), budget_ms.to_string()]
            }
            Point::Random { budget_ms, .. } => vec![
                "--latency-budget".to_string(),
                budget_ms.to_string(),
                "--random-genotype".to_string(),
            ],
        };
        args.extend(["--seed".to_string(), self.seed().to_string()]);
        args
    }

    pub fn seed(&self) -> u64 {
        match *self {
            Point::Delta { seed, .. } | Point::Budget { seed, .. } | Point::Random { seed, .. } => {
                seed
            }
        }
    }

    /// The budget of a budget or random point.
    pub fn budget_ms(&self) -> Option<f64> {
        match *self {
            Point::Delta { .. } => None,
            Point::Budget { budget_ms, .. } | Point::Random { budget_ms, .. } => Some(budget_ms),
        }
    }

    /// A short label for tables and plots.
    pub fn label(&self) -> String {
        match self {
            Point::Delta { latency_coef, .. } => format!("δ={latency_coef}"),
            Point::Budget { budget_ms, .. } => format!("budget {budget_ms} ms"),
            Point::Random { budget_ms, .. } => format!("random ≤ {budget_ms} ms"),
        }
    }
}

/// One measured point of the sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepRow {
    #[serde(flatten)]
    pub point: Point,
    pub test_accuracy: f64,
    pub predicted_latency_ms: f64,
    /// tract, batch 1, 1 thread, on the exported model.
    pub measured: Stats,
    /// With a budget: the measured median is within it.
    pub budget_met: Option<bool>,
    pub genotype: models::Genotype,
    pub run_dir: PathBuf,
    pub model_path: PathBuf,
    pub pareto: bool,
}

/// The sweep's results and the markdown written to `sweep.md`.
#[derive(Debug, Clone)]
pub struct SweepSummary {
    pub rows: Vec<SweepRow>,
    pub table: String,
}

impl SweepConfig {
    /// Every point, in run order: δ points, then per budget its searches and
    /// its random genotypes.
    pub fn points(&self) -> Vec<Point> {
        let mut points = Vec::new();
        for &latency_coef in &self.latency_coef {
            for &seed in &self.seeds {
                points.push(Point::Delta { latency_coef, seed });
            }
        }
        for &budget_ms in &self.latency_budget {
            for &seed in &self.seeds {
                points.push(Point::Budget { budget_ms, seed });
            }
            for seed in 0..self.random_per_budget as u64 {
                points.push(Point::Random { budget_ms, seed });
            }
        }
        points
    }
}

fn run_dir(out: &Path, point: &Point) -> PathBuf {
    out.join(point.name())
}

/// The run options a finished run was made with, next to its folder.
fn args_path(out: &Path, point: &Point) -> PathBuf {
    out.join(format!("{}.args.json", point.name()))
}

fn log_path(out: &Path, point: &Point) -> PathBuf {
    out.join(format!("{}.log", point.name()))
}

fn io_error(path: &Path, source: std::io::Error) -> PipelineError {
    artifacts::ArtifactError::io(path, source).into()
}

/// The summary of a finished run of an earlier sweep with the same run
/// options, if there is one.
fn finished(config: &SweepConfig, point: &Point) -> Option<RunSummary> {
    let recorded: Vec<String> =
        read_json(&args_path(&config.out, point), "a run-options file").ok()?;
    if recorded != config.run_args {
        return None;
    }
    RunSummary::load(&run_dir(&config.out, point).join(RUN_FILE)).ok()
}

fn check_exe(config: &SweepConfig) -> Result<(), PipelineError> {
    if config.exe.to_string_lossy().ends_with(" (deleted)") {
        return Err(PipelineError::Sweep(
            "the edgenas binary was replaced while the sweep ran (rebuilt?); start the sweep again with --resume to keep the finished runs".into(),
        ));
    }
    Ok(())
}

/// The `edgenas` arguments of `point`'s run, its options recorded beside
/// its folder (what `--resume` compares).
fn run_command(config: &SweepConfig, point: &Point) -> Result<Vec<String>, PipelineError> {
    let args = serde_json::to_string(&config.run_args).expect("strings serialize");
    write_atomic(&args_path(&config.out, point), args.as_bytes())?;
    let mut command = vec!["run".to_string(), "--force".to_string()];
    // With --resume, a run interrupted with the sweep continues from its
    // checkpoint (or starts over when it has none).
    if config.resume {
        command.push("--resume".into());
    }
    command.extend(point.args());
    command.push("--out".into());
    command.push(run_dir(&config.out, point).to_string_lossy().into_owned());
    command.extend(config.run_args.iter().cloned());
    Ok(command)
}

fn spawn(config: &SweepConfig, point: &Point) -> Result<Child, PipelineError> {
    check_exe(config)?;
    let dir = run_dir(&config.out, point);
    let command = run_command(config, point)?;
    let log = log_path(&config.out, point);
    let log_file = std::fs::File::create(&log).map_err(|e| io_error(&log, e))?;
    log::info!(
        "{} (seed {}): edgenas run → {} (log in {})",
        point.label(),
        point.seed(),
        dir.display(),
        log.display()
    );
    spawn_tracked(&config.exe, &command, log_file)
}

/// Starts `exe args` with stderr to `log`, tracked so that a signal
/// handler can stop it ([`terminate_runs`]); [`reap`] collects it.
pub(crate) fn spawn_tracked(
    exe: &Path,
    args: &[String],
    log: std::fs::File,
) -> Result<Child, PipelineError> {
    let child = Command::new(exe)
        .args(args)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| io_error(exe, e))?;
    running().push(child.id());
    Ok(child)
}

/// Waits for a child of [`spawn_tracked`] and stops tracking it.
pub(crate) fn reap(child: Child, log: &Path) -> Result<std::process::ExitStatus, PipelineError> {
    let pid = child.id();
    let output = child.wait_with_output().map_err(|e| io_error(log, e))?;
    running().retain(|&p| p != pid);
    Ok(output.status)
}

/// The PIDs of the runs this process has started and not yet collected.
fn running() -> std::sync::MutexGuard<'static, Vec<u32>> {
    static RUNNING: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());
    RUNNING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Sends SIGTERM to every run the sweep has in flight, for a signal
/// handler about to exit: each run finishes its step, writes a checkpoint,
/// removes its staging folder and exits; `--resume` later keeps the runs
/// that had finished and resumes the others. Returns the runs signalled.
pub fn terminate_runs() -> Vec<u32> {
    let pids: Vec<u32> = running().drain(..).collect();
    for pid in &pids {
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
    pids
}

/// Waits until the runs `pids` (children of this process) have exited,
/// `give_up()` says to stop waiting, or `limit` passed. Returns whether
/// they all exited.
pub fn wait_for_runs(pids: &[u32], limit: Duration, give_up: impl FnMut() -> bool) -> bool {
    // An exited child stays in /proc as a zombie until it is reaped.
    let alive = |pid: &u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit_once(") ")
                .is_some_and(|(_, rest)| !rest.starts_with('Z'))
        })
    };
    artifacts::io::wait_until(limit, give_up, || !pids.iter().any(alive))
}

fn finish(child: Child, point: &Point, out: &Path) -> Result<RunSummary, PipelineError> {
    if !reap(child, &log_path(out, point))?.success() {
        return Err(PipelineError::Sweep(format!(
            "the run {} failed (see {})",
            point.name(),
            log_path(out, point).display()
        )));
    }
    Ok(RunSummary::load(&run_dir(out, point).join(RUN_FILE))?)
}

/// Runs (or resumes) the sweep and writes `sweep.json`, `sweep.md` and
/// `pareto.svg` into `config.out`.
pub fn sweep(config: &SweepConfig) -> Result<SweepSummary, PipelineError> {
    let points = config.points();
    if points.is_empty() || matches!(config.executor, Executor::Local { jobs: 0 }) {
        return Err(PipelineError::Usage(
            "a sweep needs at least one δ or budget, one seed, and --jobs at least 1".into(),
        ));
    }
    if let Some(bad) = config.run_args.iter().find(|a| {
        [
            "--seed",
            "--latency-coef",
            "--latency-budget",
            "--random-genotype",
            "--out",
        ]
        .iter()
        .any(|flag| a == flag || a.starts_with(&format!("{flag}=")))
    }) {
        return Err(PipelineError::Usage(format!(
            "`{bad}` after `--` is set by the sweep itself for each run (use --seeds, --latency-coef, --latency-budget, --random-per-budget, --out)"
        )));
    }
    std::fs::create_dir_all(&config.out).map_err(|e| io_error(&config.out, e))?;

    if let Executor::Slurm(options) = &config.executor {
        executor::wait_for_earlier_array(&config.out.join("slurm"), options.poll)?;
    }
    let mut summaries: Vec<(Point, RunSummary)> = Vec::new();
    let mut todo = Vec::new();
    for point in points {
        if config.resume
            && let Some(summary) = finished(config, &point)
        {
            log::info!(
                "{}: keeping the finished run in {}",
                point.name(),
                run_dir(&config.out, &point).display()
            );
            summaries.push((point, summary));
        } else {
            todo.push(point);
        }
    }
    match &config.executor {
        Executor::Local { jobs } => run_locally(config, *jobs, todo, &mut summaries)?,
        Executor::Slurm(options) => run_on_slurm(config, options, todo, &mut summaries)?,
    }

    let mut rows = time_models(config, summaries)?;
    mark_pareto(&mut rows);
    let table = markdown(&rows);
    write_atomic(&config.out.join("sweep.md"), table.as_bytes())?;
    write_atomic(&config.out.join("pareto.svg"), svg(&rows).as_bytes())?;
    artifacts::write_json(&config.out.join("sweep.json"), &rows)?;
    Ok(SweepSummary { rows, table })
}

/// Runs `todo` as child processes, `jobs` at a time.
fn run_locally(
    config: &SweepConfig,
    jobs: usize,
    todo: Vec<Point>,
    summaries: &mut Vec<(Point, RunSummary)>,
) -> Result<(), PipelineError> {
    let mut pending: Vec<(Point, Child)> = Vec::new();
    let mut first = true;
    for point in todo {
        pending.push((point, spawn(config, &point)?));
        // The first run spawned may have to measure the latency table (the
        // others reuse it from the cache).
        let limit = if first && summaries.is_empty() {
            1
        } else {
            jobs
        };
        first = false;
        while pending.len() >= limit {
            let (p, child) = pending.remove(0);
            summaries.push((p, finish(child, &p, &config.out)?));
        }
    }
    for (p, child) in pending {
        summaries.push((p, finish(child, &p, &config.out)?));
    }
    Ok(())
}

/// Runs `todo` as one SLURM job array, after measuring the latency table
/// here, once (`edgenas run … --table-only`), into the cache the tasks
/// then read from the shared filesystem. A failed task's log tail is part
/// of the error; `--resume` resubmits only the runs that did not finish.
fn run_on_slurm(
    config: &SweepConfig,
    options: &executor::SlurmOptions,
    todo: Vec<Point>,
    summaries: &mut Vec<(Point, RunSummary)>,
) -> Result<(), PipelineError> {
    let Some(first) = todo.first() else {
        return Ok(());
    };
    check_exe(config)?;
    // The table: measured on this machine (or the --remote device), not on
    // the cluster's nodes, before any task starts.
    let mut table = run_command(config, first)?;
    table.push("--table-only".into());
    log::info!("measuring (or finding) the latency table before the array");
    let out = Command::new(&config.exe)
        .args(&table)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| io_error(&config.exe, e))?;
    if !out.status.success() {
        return Err(PipelineError::Sweep(format!(
            "measuring the latency table before the SLURM array failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let tasks = todo
        .iter()
        .map(|point| {
            Ok(Task {
                name: point.name(),
                program: config.exe.clone(),
                args: run_command(config, point)?,
                log: log_path(&config.out, point),
                status: config.out.join(format!("{}.exit", point.name())),
            })
        })
        .collect::<Result<Vec<_>, PipelineError>>()?;
    let statuses = executor::run_array(options, &config.out.join("slurm"), &tasks)?;
    let mut failed = Vec::new();
    for ((point, task), status) in todo.into_iter().zip(&tasks).zip(statuses) {
        let summary = match status {
            Some(0) => RunSummary::load(&run_dir(&config.out, &point).join(RUN_FILE)).ok(),
            _ => None,
        };
        match summary {
            Some(s) => summaries.push((point, s)),
            None => failed.push(format!(
                "{} ({}); last lines of {}:\n{}",
                task.name,
                match status {
                    Some(code) => format!("exit status {code}"),
                    None => "never finished: time limit, node failure or cancelled".into(),
                },
                task.log.display(),
                executor::tail(&task.log, 12)
            )),
        }
    }
    if !failed.is_empty() {
        return Err(PipelineError::Sweep(format!(
            "{} of {} SLURM task(s) failed (`--resume` keeps the finished runs and resubmits the others):\n{}",
            failed.len(),
            tasks.len(),
            failed.join("\n")
        )));
    }
    Ok(())
}

/// Times every run's `model.onnx` at batch 1, round-robin: one warm-up
/// round, then rounds of 20 timed runs per model (each turn after 5 untimed
/// ones) until `repeats`.
fn time_models(
    config: &SweepConfig,
    summaries: Vec<(Point, RunSummary)>,
) -> Result<Vec<SweepRow>, PipelineError> {
    let mut models = Vec::new();
    for (point, summary) in summaries {
        let dir = run_dir(&config.out, &point);
        let onnx = dir.join(ONNX_FILE);
        models.push((point, summary, dir, onnx));
    }
    let paths: Vec<PathBuf> = models.iter().map(|m| m.3.clone()).collect();
    let times = time_onnx_models(&paths, config.repeats)?;
    Ok(models
        .into_iter()
        .zip(times)
        .map(|((point, s, dir, onnx), measured)| SweepRow {
            budget_met: point.budget_ms().map(|b| measured.median <= b),
            point,
            test_accuracy: s.test_accuracy,
            predicted_latency_ms: s.predicted_latency_ms,
            measured,
            genotype: s.genotype,
            run_dir: dir,
            model_path: onnx,
            pareto: false,
        })
        .collect())
}

/// Times each run folder's `model.onnx` (beside its `model.json`) in
/// tract at batch 1, round-robin: one warm-up round, then rounds of 20
/// timed runs per model (each turn after 5 untimed ones) until `repeats`,
/// so drift of a shared machine hits all of them alike.
pub fn time_onnx_models(paths: &[PathBuf], repeats: usize) -> Result<Vec<Stats>, PipelineError> {
    let sweep_error = |e: runtime::RuntimeError| PipelineError::Sweep(e.to_string());
    let mut models = Vec::new();
    for onnx in paths {
        let dir = onnx.parent().unwrap_or(Path::new("."));
        let network = ModelFile::load(&ModelFile::find_dir(dir)?)?.network;
        let shape = vec![
            1,
            network.in_channels,
            network.image_size,
            network.image_size,
        ];
        let plan = TractModel::load(onnx)
            .and_then(|m| m.plan(std::slice::from_ref(&shape)))
            .map_err(sweep_error)?;
        let input = vec![0.5f32; shape.iter().product()];
        models.push((plan, input));
    }
    let schedule = Schedule {
        warmup_rounds: 1,
        rounds: repeats.div_ceil(20).max(1),
        turn_warmup: 5,
        turn_timed: 20,
    };
    let mut timers = models
        .iter()
        .map(|(plan, input)| plan.copying_timer(&[input]))
        .collect::<Result<Vec<_>, _>>()
        .map_err(sweep_error)?;
    let mut workloads: Vec<&mut dyn FnMut() -> Result<f64, runtime::RuntimeError>> = timers
        .iter_mut()
        .map(|t| t as &mut dyn FnMut() -> Result<f64, runtime::RuntimeError>)
        .collect();
    let times = timing::interleaved(&mut workloads, schedule).map_err(sweep_error)?;
    Ok(times.iter().map(|t| Stats::from_samples(t)).collect())
}
