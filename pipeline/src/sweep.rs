//! The δ sweep: one `edgenas run` per latency coefficient (each a separate
//! process, `jobs` at a time), then every deployed model — the `model.onnx`
//! that its run already exported and verified — is timed in tract
//! round-robin, so drift of a shared machine hits all of them alike.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use artifacts::{ModelFile, ONNX_FILE, RUN_FILE, RunSummary, read_json, write_atomic};
use latency_lut::Stats;
use runtime::TractModel;
use runtime::timing::{self, Schedule};
use serde::Serialize;

use crate::PipelineError;
use crate::plot::{mark_pareto, markdown, svg};

/// `edgenas sweep`.
#[derive(Debug, Clone)]
pub struct SweepConfig {
    /// The `edgenas` binary each run is started with.
    pub exe: PathBuf,
    /// δ values, one search + retrain each.
    pub latency_coef: Vec<f64>,
    /// Runs at a time.
    pub jobs: usize,
    /// OUT/delta-<δ>/ per run, OUT/sweep.json, OUT/sweep.md, OUT/pareto.svg.
    pub out: PathBuf,
    /// Timed tract runs per model (batch 1).
    pub repeats: usize,
    /// Keep finished runs made with the same `run_args`.
    pub resume: bool,
    /// Options passed to every `edgenas run`.
    pub run_args: Vec<String>,
}

/// One point of the sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepRow {
    pub latency_coef: f64,
    pub test_accuracy: f64,
    pub predicted_latency_ms: f64,
    /// tract, batch 1, 1 thread, on the exported model.
    pub measured: Stats,
    pub genotype: models::Genotype,
    pub run_dir: PathBuf,
    pub model_path: PathBuf,
    pub pareto: bool,
}

/// The sweep's results and the markdown table written to `sweep.md`.
#[derive(Debug, Clone)]
pub struct SweepSummary {
    pub rows: Vec<SweepRow>,
    pub table: String,
}

fn run_dir(out: &Path, delta: f64) -> PathBuf {
    out.join(format!("delta-{delta}"))
}

/// The run options a finished run was made with, next to its folder.
fn args_path(out: &Path, delta: f64) -> PathBuf {
    out.join(format!("delta-{delta}.args.json"))
}

fn log_path(out: &Path, delta: f64) -> PathBuf {
    out.join(format!("delta-{delta}.log"))
}

fn io_error(path: &Path, source: std::io::Error) -> PipelineError {
    artifacts::ArtifactError::io(path, source).into()
}

/// The summary of a finished run of an earlier sweep with the same run
/// options, if there is one.
fn finished(config: &SweepConfig, delta: f64) -> Option<RunSummary> {
    let recorded: Vec<String> =
        read_json(&args_path(&config.out, delta), "a run-options file").ok()?;
    if recorded != config.run_args {
        return None;
    }
    RunSummary::load(&run_dir(&config.out, delta).join(RUN_FILE)).ok()
}

fn spawn(config: &SweepConfig, delta: f64) -> Result<Child, PipelineError> {
    if config.exe.to_string_lossy().ends_with(" (deleted)") {
        return Err(PipelineError::Sweep(
            "the edgenas binary was replaced while the sweep ran (rebuilt?); start the sweep again with --resume to keep the finished runs".into(),
        ));
    }
    let dir = run_dir(&config.out, delta);
    let args = serde_json::to_string(&config.run_args).expect("strings serialize");
    write_atomic(&args_path(&config.out, delta), args.as_bytes())?;
    let log = log_path(&config.out, delta);
    let log_file = std::fs::File::create(&log).map_err(|e| io_error(&log, e))?;
    log::info!(
        "δ = {delta}: edgenas run → {} (log in {})",
        dir.display(),
        log.display()
    );
    Command::new(&config.exe)
        .arg("run")
        .arg("--force")
        .arg("--latency-coef")
        .arg(delta.to_string())
        .arg("--out")
        .arg(&dir)
        .args(&config.run_args)
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .map_err(|e| io_error(&config.exe, e))
}

fn finish(child: Child, delta: f64, out: &Path) -> Result<RunSummary, PipelineError> {
    let output = child
        .wait_with_output()
        .map_err(|e| io_error(&log_path(out, delta), e))?;
    if !output.status.success() {
        return Err(PipelineError::Sweep(format!(
            "the run for δ = {delta} failed (see {})",
            log_path(out, delta).display()
        )));
    }
    Ok(RunSummary::load(&run_dir(out, delta).join(RUN_FILE))?)
}

/// Runs (or resumes) the sweep and writes `sweep.json`, `sweep.md` and
/// `pareto.svg` into `config.out`.
pub fn sweep(config: &SweepConfig) -> Result<SweepSummary, PipelineError> {
    if config.latency_coef.is_empty() || config.jobs == 0 {
        return Err(PipelineError::Usage(
            "--latency-coef needs at least one value and --jobs at least 1".into(),
        ));
    }
    std::fs::create_dir_all(&config.out).map_err(|e| io_error(&config.out, e))?;

    let mut summaries: Vec<(f64, RunSummary)> = Vec::new();
    let mut pending: Vec<(f64, Child)> = Vec::new();
    let mut first = true;
    for &delta in &config.latency_coef {
        if config.resume
            && let Some(summary) = finished(config, delta)
        {
            log::info!(
                "δ = {delta}: keeping the finished run in {}",
                run_dir(&config.out, delta).display()
            );
            summaries.push((delta, summary));
            continue;
        }
        pending.push((delta, spawn(config, delta)?));
        // The first run spawned may have to measure the latency table (the
        // others reuse it from the cache).
        let limit = if first && summaries.is_empty() {
            1
        } else {
            config.jobs
        };
        first = false;
        while pending.len() >= limit {
            let (d, child) = pending.remove(0);
            summaries.push((d, finish(child, d, &config.out)?));
        }
    }
    for (d, child) in pending {
        summaries.push((d, finish(child, d, &config.out)?));
    }
    summaries.sort_by(|a, b| a.0.total_cmp(&b.0));

    let mut rows = time_models(config, summaries)?;
    mark_pareto(&mut rows);
    let table = markdown(&rows);
    write_atomic(&config.out.join("sweep.md"), table.as_bytes())?;
    write_atomic(&config.out.join("pareto.svg"), svg(&rows).as_bytes())?;
    artifacts::write_json(&config.out.join("sweep.json"), &rows)?;
    Ok(SweepSummary { rows, table })
}

/// Times every run's `model.onnx` at batch 1, round-robin: one warm-up
/// round, then rounds of 20 timed runs per model (each turn after 5 untimed
/// ones) until `repeats`.
fn time_models(
    config: &SweepConfig,
    summaries: Vec<(f64, RunSummary)>,
) -> Result<Vec<SweepRow>, PipelineError> {
    let sweep_error = |e: runtime::RuntimeError| PipelineError::Sweep(e.to_string());
    let mut models = Vec::new();
    for (delta, summary) in summaries {
        let dir = run_dir(&config.out, delta);
        let onnx = dir.join(ONNX_FILE);
        let network = ModelFile::load(&ModelFile::find_dir(&dir)?)?.network;
        let shape = vec![
            1,
            network.in_channels,
            network.image_size,
            network.image_size,
        ];
        let plan = TractModel::load(&onnx)
            .and_then(|m| m.plan(std::slice::from_ref(&shape)))
            .map_err(sweep_error)?;
        let input = vec![0.5f32; shape.iter().product()];
        models.push((delta, summary, dir, onnx, plan, input));
    }
    let schedule = Schedule {
        warmup_rounds: 1,
        rounds: config.repeats.div_ceil(20).max(1),
        turn_warmup: 5,
        turn_timed: 20,
    };
    let mut timers = models
        .iter()
        .map(|(.., plan, input)| plan.copying_timer(&[input]))
        .collect::<Result<Vec<_>, _>>()
        .map_err(sweep_error)?;
    let mut workloads: Vec<&mut dyn FnMut() -> Result<f64, runtime::RuntimeError>> = timers
        .iter_mut()
        .map(|t| t as &mut dyn FnMut() -> Result<f64, runtime::RuntimeError>)
        .collect();
    let times = timing::interleaved(&mut workloads, schedule).map_err(sweep_error)?;
    drop(workloads);
    drop(timers);
    Ok(models
        .into_iter()
        .zip(times)
        .map(|((delta, s, dir, onnx, _, _), times)| SweepRow {
            latency_coef: delta,
            test_accuracy: s.test_accuracy,
            predicted_latency_ms: s.predicted_latency_ms,
            measured: Stats::from_samples(&times),
            genotype: s.genotype,
            run_dir: dir,
            model_path: onnx,
            pareto: false,
        })
        .collect())
}
