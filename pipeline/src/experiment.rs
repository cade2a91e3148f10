//! `edgenas experiment FILE.toml`: a declarative grid of configurations ×
//! seeds, one `edgenas run` each (`jobs` at a time), resumable, then every
//! deployed model timed in tract round-robin and one markdown report with
//! mean ± std per configuration, the per-seed rows, σ_α, the
//! discretization gap and the Hessian eigenvalue per run, the failed runs,
//! and SVG plots (accuracy vs latency; σ_α and the eigenvalue over epochs).
//!
//! The file:
//!
//! ```toml
//! name = "searched vs random"          # the report's title
//! seeds = [0, 1, 2]
//! args = ["--epochs", "4"]             # options of every run
//!
//! [grid]                               # every combination, named by its values
//! algo = ["icdarts", "darts"]
//! latency_coef = [0.0, 0.1]            # key k becomes --k (underscores → dashes)
//!
//! [[config]]                           # and/or explicit configurations
//! name = "random"
//! args = ["--algo", "random"]
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use artifacts::{EpochMetrics, RUN_FILE, RunSummary, read_json, write_atomic};
use latency_lut::Stats;
use serde::{Deserialize, Serialize};

use crate::PipelineError;
use crate::sweep::{reap, spawn_tracked, time_onnx_models};

/// The experiment file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentFile {
    pub name: String,
    pub seeds: Vec<u64>,
    /// Options passed to every run.
    #[serde(default)]
    pub args: Vec<String>,
    /// Axes whose every combination is a configuration.
    #[serde(default)]
    pub grid: BTreeMap<String, Vec<toml::Value>>,
    #[serde(default)]
    pub config: Vec<NamedConfig>,
}

/// One configuration: its name (its folder) and its options.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NamedConfig {
    pub name: String,
    #[serde(default)]
    pub args: Vec<String>,
}

/// How to run an experiment.
#[derive(Debug, Clone)]
pub struct ExperimentOptions {
    /// The experiment file (named in the report).
    pub file: PathBuf,
    /// The `edgenas` binary each run is started with.
    pub exe: PathBuf,
    pub out: PathBuf,
    pub jobs: usize,
    /// Keep finished runs made with the same options.
    pub resume: bool,
    /// Timed tract runs per model (batch 1) for the report's latencies.
    pub repeats: usize,
}

/// One run's outcome in the report.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub config: String,
    pub seed: u64,
    pub run_dir: PathBuf,
    /// `None` when the run failed (see `failure`).
    pub test_accuracy: Option<f64>,
    pub tract_accuracy: Option<f64>,
    pub predicted_latency_ms: Option<f64>,
    /// tract, batch 1, timed round-robin with every other model.
    pub measured: Option<Stats>,
    pub alpha_std: Option<(f64, f64)>,
    /// Final S val accuracy − final E val accuracy (percentage points).
    pub discretization_gap: Option<f64>,
    /// The larger block's dominant eigenvalue after the last search epoch.
    pub hessian_eigenvalue: Option<f64>,
    pub search_seconds: Option<f64>,
    pub genotype: Option<String>,
    /// Exit status and the last lines of the log of a failed run.
    pub failure: Option<String>,
    /// Per search epoch: (σ_α normal, eigenvalue).
    #[serde(skip)]
    pub epochs: Vec<EpochPoint>,
}

/// σ_α (normal cell) and the Hessian eigenvalue after one search epoch.
pub type EpochPoint = (f64, Option<f64>);

impl ExperimentFile {
    pub fn load(path: &Path) -> Result<Self, PipelineError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PipelineError::Usage(format!("{}: {e}", path.display())))?;
        let file: Self = toml::from_str(&text)
            .map_err(|e| PipelineError::Usage(format!("{}: {e}", path.display())))?;
        file.check()
            .map_err(|e| PipelineError::Usage(format!("{}: {e}", path.display())))?;
        Ok(file)
    }

    fn check(&self) -> Result<(), String> {
        if self.seeds.is_empty() {
            return Err("`seeds` is empty".into());
        }
        let configs = self.configs()?;
        if configs.is_empty() {
            return Err("no configuration: give a [grid] or [[config]] entries".into());
        }
        let mut names: Vec<&str> = configs.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("two configurations are named `{}`", w[0]));
        }
        for c in &configs {
            if c.name.is_empty()
                || !c
                    .name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "-_.=,".contains(ch))
            {
                return Err(format!(
                    "configuration name `{}`: use letters, digits and - _ . = , only (it is a folder name)",
                    c.name
                ));
            }
            if let Some(bad) = self.args.iter().chain(&c.args).find(|a| {
                ["--seed", "--out", "--force", "--resume"]
                    .iter()
                    .any(|f| *a == f || a.starts_with(&format!("{f}=")))
            }) {
                return Err(format!("`{bad}` is set by the experiment for each run"));
            }
        }
        Ok(())
    }

    /// The grid's combinations (named `key=value,…`), then the explicit
    /// configurations.
    pub fn configs(&self) -> Result<Vec<NamedConfig>, String> {
        let mut combos: Vec<NamedConfig> = Vec::new();
        if !self.grid.is_empty() {
            combos.push(NamedConfig {
                name: String::new(),
                args: Vec::new(),
            });
            for (key, values) in &self.grid {
                if values.is_empty() {
                    return Err(format!("grid axis `{key}` has no values"));
                }
                let flag = format!("--{}", key.replace('_', "-"));
                let mut next = Vec::new();
                for combo in &combos {
                    for value in values {
                        let text = match value {
                            toml::Value::String(s) => s.clone(),
                            toml::Value::Integer(i) => i.to_string(),
                            toml::Value::Float(f) => f.to_string(),
                            toml::Value::Boolean(b) => b.to_string(),
                            other => {
                                return Err(format!(
                                    "grid axis `{key}`: {other} is not a string, number or boolean"
                                ));
                            }
                        };
                        let mut c = combo.clone();
                        if !c.name.is_empty() {
                            c.name.push(',');
                        }
                        c.name.push_str(&format!("{key}={text}"));
                        match value {
                            // `flag = true` passes the bare flag; false omits it.
                            toml::Value::Boolean(true) => c.args.push(flag.clone()),
                            toml::Value::Boolean(false) => {}
                            _ => c.args.extend([flag.clone(), text]),
                        }
                        next.push(c);
                    }
                }
                combos = next;
            }
        }
        combos.extend(self.config.iter().cloned());
        Ok(combos)
    }
}

fn io_error(path: &Path, e: std::io::Error) -> PipelineError {
    PipelineError::Artifact(artifacts::ArtifactError::io(path, e))
}

fn run_dir(out: &Path, config: &str, seed: u64) -> PathBuf {
    out.join(config).join(format!("seed-{seed}"))
}

/// The full options of a run, recorded beside its folder for `--resume`.
fn run_args(file: &ExperimentFile, config: &NamedConfig, seed: u64) -> Vec<String> {
    let mut args = vec!["--seed".to_string(), seed.to_string()];
    args.extend(file.args.iter().cloned());
    args.extend(config.args.iter().cloned());
    args
}

/// Runs (or resumes) the experiment and writes `experiment.md`,
/// `experiment.json`, `accuracy-latency.svg` and `epochs.svg` into `out`.
/// Returns the rows; failed runs are rows with a `failure`, and the caller
/// reports them (non-zero exit) after the report is written.
pub fn experiment(
    file: &ExperimentFile,
    options: &ExperimentOptions,
) -> Result<Vec<RunRow>, PipelineError> {
    if options.jobs == 0 {
        return Err(PipelineError::Usage("--jobs must be at least 1".into()));
    }
    let configs = file.configs().map_err(PipelineError::Usage)?;
    std::fs::create_dir_all(&options.out).map_err(|e| io_error(&options.out, e))?;
    let mut runs: Vec<(NamedConfig, u64)> = Vec::new();
    for c in &configs {
        for &seed in &file.seeds {
            runs.push((c.clone(), seed));
        }
    }
    let mut outcomes: Vec<Option<Result<RunSummary, String>>> = vec![None; runs.len()];
    let mut todo = Vec::new();
    for (i, (c, seed)) in runs.iter().enumerate() {
        let dir = run_dir(&options.out, &c.name, *seed);
        let recorded: Option<Vec<String>> = read_json(&args_file(&dir), "a run-options file").ok();
        let done = RunSummary::load(&dir.join(RUN_FILE)).ok();
        match (options.resume, recorded, done) {
            (true, Some(r), Some(summary)) if r == run_args(file, c, *seed) => {
                log::info!("{} seed {seed}: keeping the finished run", c.name);
                outcomes[i] = Some(Ok(summary));
            }
            _ => todo.push(i),
        }
    }
    log::info!(
        "experiment `{}`: {} configurations × {} seeds, {} to run",
        file.name,
        configs.len(),
        file.seeds.len(),
        todo.len()
    );
    // The first run may measure the latency table that the others reuse.
    let mut pending: Vec<(usize, std::process::Child, PathBuf)> = Vec::new();
    let mut first = outcomes.iter().all(Option::is_none);
    for i in todo {
        let (c, seed) = &runs[i];
        let dir = run_dir(&options.out, &c.name, *seed);
        std::fs::create_dir_all(dir.parent().expect("a config folder"))
            .map_err(|e| io_error(&dir, e))?;
        let args = run_args(file, c, *seed);
        write_atomic(
            &args_file(&dir),
            serde_json::to_string(&args)
                .expect("strings serialize")
                .as_bytes(),
        )?;
        let mut command = vec!["run".to_string(), "--force".to_string()];
        if options.resume {
            command.push("--resume".into());
        }
        command.extend(["--out".to_string(), dir.to_string_lossy().into_owned()]);
        command.extend(args);
        let log = log_file(&dir);
        let log_handle = std::fs::File::create(&log).map_err(|e| io_error(&log, e))?;
        log::info!(
            "{} seed {seed}: edgenas run → {} (log in {})",
            c.name,
            dir.display(),
            log.display()
        );
        pending.push((i, spawn_tracked(&options.exe, &command, log_handle)?, log));
        let limit = if first { 1 } else { options.jobs };
        first = false;
        while pending.len() >= limit {
            let (j, child, log) = pending.remove(0);
            outcomes[j] = Some(collect(child, &log, &runs[j], &options.out)?);
        }
    }
    for (j, child, log) in pending {
        outcomes[j] = Some(collect(child, &log, &runs[j], &options.out)?);
    }

    let mut rows: Vec<RunRow> = runs
        .iter()
        .zip(outcomes)
        .map(|((c, seed), outcome)| row(c, *seed, &options.out, outcome.expect("every run ran")))
        .collect();
    // Latency: every deployed model timed round-robin in this process.
    let timed: Vec<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.failure.is_none())
        .map(|(i, _)| i)
        .collect();
    let paths: Vec<PathBuf> = timed
        .iter()
        .map(|&i| rows[i].run_dir.join(artifacts::ONNX_FILE))
        .collect();
    if !paths.is_empty() {
        log::info!(
            "timing {} deployed models round-robin in tract",
            paths.len()
        );
        for (&i, stats) in timed.iter().zip(time_onnx_models(&paths, options.repeats)?) {
            rows[i].measured = Some(stats);
        }
    }
    let command = format!(
        "edgenas experiment {} --out {} --jobs {}",
        options.file.display(),
        options.out.display(),
        options.jobs
    );
    write_atomic(
        &options.out.join("experiment.md"),
        report(file, &configs, &rows, &command).as_bytes(),
    )?;
    write_atomic(
        &options.out.join("accuracy-latency.svg"),
        scatter_svg(&configs, &rows).as_bytes(),
    )?;
    write_atomic(
        &options.out.join("epochs.svg"),
        epochs_svg(&configs, &rows).as_bytes(),
    )?;
    artifacts::write_json(&options.out.join("experiment.json"), &rows)?;
    Ok(rows)
}

fn args_file(dir: &Path) -> PathBuf {
    dir.with_extension("args.json")
}

fn log_file(dir: &Path) -> PathBuf {
    dir.with_extension("log")
}

fn collect(
    child: std::process::Child,
    log: &Path,
    (config, seed): &(NamedConfig, u64),
    out: &Path,
) -> Result<Result<RunSummary, String>, PipelineError> {
    let (config, seed) = (config.name.as_str(), *seed);
    let status = reap(child, log)?;
    let dir = run_dir(out, config, seed);
    if status.success()
        && let Ok(summary) = RunSummary::load(&dir.join(RUN_FILE))
    {
        return Ok(Ok(summary));
    }
    let tail = crate::executor::tail(log, 8);
    log::warn!(
        "{config} seed {seed} failed ({status}); log: {}",
        log.display()
    );
    Ok(Err(format!(
        "{status}; last lines of {}:\n{tail}",
        log.display()
    )))
}

fn row(c: &NamedConfig, seed: u64, out: &Path, outcome: Result<RunSummary, String>) -> RunRow {
    let run_dir = run_dir(out, &c.name, seed);
    let mut row = RunRow {
        config: c.name.clone(),
        seed,
        run_dir,
        test_accuracy: None,
        tract_accuracy: None,
        predicted_latency_ms: None,
        measured: None,
        alpha_std: None,
        discretization_gap: None,
        hessian_eigenvalue: None,
        search_seconds: None,
        genotype: None,
        failure: None,
        epochs: Vec::new(),
    };
    match outcome {
        Err(failure) => row.failure = Some(failure),
        Ok(s) => {
            row.test_accuracy = Some(s.test_accuracy);
            row.tract_accuracy = Some(s.tract_accuracy);
            row.predicted_latency_ms = Some(s.predicted_latency_ms);
            row.search_seconds = Some(s.search_seconds);
            row.genotype = Some(s.genotype.to_string());
            // Random search has no search network: no gap.
            row.discretization_gap = s
                .search_val_accuracy
                .zip(s.eval_val_accuracy)
                .filter(|_| s.algo != artifacts::Algo::Random)
                .map(|(a, b)| a - b);
            let metrics: Vec<EpochMetrics> = std::fs::read_to_string(&s.search_metrics_path)
                .map(|text| {
                    text.lines()
                        .filter_map(|l| serde_json::from_str(l).ok())
                        .filter(|m: &EpochMetrics| m.phase == "search")
                        .collect()
                })
                .unwrap_or_default();
            if let Some(last) = metrics.last() {
                row.alpha_std = Some((last.alpha_std_normal, last.alpha_std_reduce));
                row.hessian_eigenvalue = largest(last);
            }
            row.epochs = metrics
                .iter()
                .map(|m| (m.alpha_std_normal, largest(m)))
                .collect();
        }
    }
    row
}

fn largest(m: &EpochMetrics) -> Option<f64> {
    match (m.hessian_eigenvalue_normal, m.hessian_eigenvalue_reduce) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Mean and sample standard deviation.
pub fn mean_std(values: &[f64]) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    Some((mean, var.sqrt()))
}

fn cell(values: &[f64], digits: usize) -> String {
    match mean_std(values) {
        Some((m, s)) if values.len() > 1 => format!("{m:.digits$} ± {s:.digits$}"),
        Some((m, _)) => format!("{m:.digits$}"),
        None => "—".into(),
    }
}

fn report(
    file: &ExperimentFile,
    configs: &[NamedConfig],
    rows: &[RunRow],
    command: &str,
) -> String {
    let mut md = format!(
        "# {}\n\nWritten by `{command}` ({}). Every run: `edgenas run --seed S {}` plus its configuration's options. Latency: tract, batch 1, 1 thread, every deployed model timed round-robin in one process after all runs (p50, ms). ± is the sample standard deviation over seeds.\n\n",
        file.name,
        artifacts::tool_version(),
        file.args.join(" ")
    );
    md.push_str("| configuration | options | runs | test accuracy % | tract p50 ms | predicted ms | final σ_α normal / reduce | discretization gap (pp) | final Hessian eigenvalue | search s |\n|---|---|---|---|---|---|---|---|---|---|\n");
    for c in configs {
        let mine: Vec<&RunRow> = rows.iter().filter(|r| r.config == c.name).collect();
        let ok: Vec<&&RunRow> = mine.iter().filter(|r| r.failure.is_none()).collect();
        let pick = |f: &dyn Fn(&RunRow) -> Option<f64>| -> Vec<f64> {
            ok.iter().filter_map(|r| f(r)).collect()
        };
        md.push_str(&format!(
            "| {} | `{}` | {}/{} | {} | {} | {} | {} / {} | {} | {} | {} |\n",
            c.name,
            c.args.join(" "),
            ok.len(),
            mine.len(),
            cell(&pick(&|r| r.test_accuracy), 2),
            cell(&pick(&|r| r.measured.as_ref().map(|m| m.median)), 3),
            cell(&pick(&|r| r.predicted_latency_ms), 3),
            cell(&pick(&|r| r.alpha_std.map(|a| a.0)), 3),
            cell(&pick(&|r| r.alpha_std.map(|a| a.1)), 3),
            cell(&pick(&|r| r.discretization_gap), 2),
            cell(&pick(&|r| r.hessian_eigenvalue), 4),
            cell(&pick(&|r| r.search_seconds), 0),
        ));
    }
    md.push_str("\n![accuracy vs latency](accuracy-latency.svg)\n\n![σ_α and the Hessian eigenvalue over search epochs](epochs.svg)\n\n## Runs\n\n| configuration | seed | test % | tract % | tract p50 ms | σ_α normal / reduce | gap (pp) | eigenvalue | genotype |\n|---|---|---|---|---|---|---|---|---|\n");
    let f = |v: Option<f64>, d: usize| v.map_or("—".into(), |v| format!("{v:.d$}"));
    for r in rows.iter().filter(|r| r.failure.is_none()) {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} / {} | {} | {} | {} |\n",
            r.config,
            r.seed,
            f(r.test_accuracy, 2),
            f(r.tract_accuracy, 2),
            f(r.measured.as_ref().map(|m| m.median), 3),
            f(r.alpha_std.map(|a| a.0), 3),
            f(r.alpha_std.map(|a| a.1), 3),
            f(r.discretization_gap, 2),
            f(r.hessian_eigenvalue, 4),
            r.genotype.as_deref().unwrap_or("—").replace('\n', "<br>"),
        ));
    }
    let failed: Vec<&RunRow> = rows.iter().filter(|r| r.failure.is_some()).collect();
    if !failed.is_empty() {
        md.push_str(&format!(
            "\n## Failed runs ({})\n\nNot in the means above. `--resume` runs them again.\n\n",
            failed.len()
        ));
        for r in failed {
            md.push_str(&format!(
                "- **{} seed {}** ({}): {}\n",
                r.config,
                r.seed,
                r.run_dir.display(),
                r.failure.as_deref().unwrap_or("").replace('\n', "\n  ")
            ));
        }
    }
    md
}

const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
];

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A frame with axes `x` and `y` ranges mapped onto the plot area.
struct Frame {
    left: f64,
    top: f64,
    width: f64,
    height: f64,
    x: (f64, f64),
    y: (f64, f64),
}

impl Frame {
    fn new(left: f64, top: f64, width: f64, height: f64, xs: &[f64], ys: &[f64]) -> Self {
        let range = |v: &[f64]| {
            let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            if !lo.is_finite() {
                (0.0, 1.0)
            } else if hi - lo < 1e-12 {
                (lo - 0.5, hi + 0.5)
            } else {
                let pad = 0.05 * (hi - lo);
                (lo - pad, hi + pad)
            }
        };
        Self {
            left,
            top,
            width,
            height,
            x: range(xs),
            y: range(ys),
        }
    }
    fn px(&self, x: f64) -> f64 {
        self.left + (x - self.x.0) / (self.x.1 - self.x.0) * self.width
    }
    fn py(&self, y: f64) -> f64 {
        self.top + self.height - (y - self.y.0) / (self.y.1 - self.y.0) * self.height
    }
    fn axes(&self, xlabel: &str, ylabel: &str) -> String {
        format!(
            "<rect x='{l}' y='{t}' width='{w}' height='{h}' fill='none' stroke='#888'/>\
             <text x='{cx}' y='{b}' text-anchor='middle' font-size='12'>{xl} ({x0:.3} … {x1:.3})</text>\
             <text x='{lx}' y='{cy}' text-anchor='middle' font-size='12' transform='rotate(-90 {lx} {cy})'>{yl} ({y0:.3} … {y1:.3})</text>",
            l = self.left,
            t = self.top,
            w = self.width,
            h = self.height,
            cx = self.left + self.width / 2.0,
            b = self.top + self.height + 30.0,
            xl = escape(xlabel),
            x0 = self.x.0,
            x1 = self.x.1,
            lx = self.left - 30.0,
            cy = self.top + self.height / 2.0,
            yl = escape(ylabel),
            y0 = self.y.0,
            y1 = self.y.1,
        )
    }
}

fn legend(configs: &[NamedConfig], x: f64, y: f64) -> String {
    configs
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                "<circle cx='{x}' cy='{cy}' r='4' fill='{col}'/><text x='{tx}' y='{ty}' font-size='11'>{name}</text>",
                cy = y + 16.0 * i as f64,
                col = COLORS[i % COLORS.len()],
                tx = x + 8.0,
                ty = y + 16.0 * i as f64 + 4.0,
                name = escape(&c.name)
            )
        })
        .collect()
}

/// Test accuracy against measured latency, one point per run.
fn scatter_svg(configs: &[NamedConfig], rows: &[RunRow]) -> String {
    let points: Vec<(usize, f64, f64)> = rows
        .iter()
        .filter_map(|r| {
            let i = configs.iter().position(|c| c.name == r.config)?;
            Some((i, r.measured.as_ref()?.median, r.test_accuracy?))
        })
        .collect();
    let xs: Vec<f64> = points.iter().map(|p| p.1).collect();
    let ys: Vec<f64> = points.iter().map(|p| p.2).collect();
    let frame = Frame::new(60.0, 20.0, 420.0, 300.0, &xs, &ys);
    let dots: String = points
        .iter()
        .map(|(i, x, y)| {
            format!(
                "<circle cx='{:.1}' cy='{:.1}' r='4' fill='{}' fill-opacity='0.8'/>",
                frame.px(*x),
                frame.py(*y),
                COLORS[i % COLORS.len()]
            )
        })
        .collect();
    format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='720' height='370' font-family='sans-serif'>{}{dots}{}</svg>\n",
        frame.axes("tract p50 latency, ms", "test accuracy, %"),
        legend(configs, 500.0, 30.0)
    )
}

/// σ_α (normal cell) and the Hessian eigenvalue per search epoch, the
/// mean over each configuration's seeds.
fn epochs_svg(configs: &[NamedConfig], rows: &[RunRow]) -> String {
    let series = |pick: &dyn Fn(&EpochPoint) -> Option<f64>| -> Vec<Vec<(f64, f64)>> {
        configs
            .iter()
            .map(|c| {
                let runs: Vec<&RunRow> = rows
                    .iter()
                    .filter(|r| r.config == c.name && r.failure.is_none())
                    .collect();
                let n = runs.iter().map(|r| r.epochs.len()).max().unwrap_or(0);
                (0..n)
                    .filter_map(|e| {
                        let v: Vec<f64> = runs
                            .iter()
                            .filter_map(|r| r.epochs.get(e).and_then(pick))
                            .collect();
                        mean_std(&v).map(|(m, _)| (e as f64, m))
                    })
                    .collect()
            })
            .collect()
    };
    let panel = |lines: Vec<Vec<(f64, f64)>>, left: f64, label: &str| -> String {
        let xs: Vec<f64> = lines.iter().flatten().map(|p| p.0).collect();
        let ys: Vec<f64> = lines.iter().flatten().map(|p| p.1).collect();
        let frame = Frame::new(left, 20.0, 250.0, 250.0, &xs, &ys);
        let paths: String = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.is_empty())
            .map(|(i, l)| {
                let d: Vec<String> = l
                    .iter()
                    .map(|(x, y)| format!("{:.1},{:.1}", frame.px(*x), frame.py(*y)))
                    .collect();
                let color = COLORS[i % COLORS.len()];
                let dots: String = l
                    .iter()
                    .map(|(x, y)| {
                        format!(
                            "<circle cx='{:.1}' cy='{:.1}' r='3' fill='{color}'/>",
                            frame.px(*x),
                            frame.py(*y)
                        )
                    })
                    .collect();
                format!(
                    "<polyline points='{}' fill='none' stroke='{color}' stroke-width='2'/>{dots}",
                    d.join(" ")
                )
            })
            .collect();
        format!("{}{paths}", frame.axes("search epoch", label))
    };
    format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='820' height='320' font-family='sans-serif'>{}{}{}</svg>\n",
        panel(series(&|e| Some(e.0)), 60.0, "σ_α normal"),
        panel(series(&|e| e.1), 380.0, "Hessian eigenvalue"),
        legend(configs, 660.0, 30.0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Result<ExperimentFile, String> {
        let f: ExperimentFile = toml::from_str(text).map_err(|e| e.to_string())?;
        f.check()?;
        Ok(f)
    }

    #[test]
    fn the_grid_expands_into_named_configurations() {
        let f = file(
            "name = 'x'\nseeds = [0, 1]\n[grid]\nalgo = ['icdarts', 'darts']\nlatency_coef = [0.0, 0.1]\n[[config]]\nname = 'random'\nargs = ['--algo', 'random']\n",
        )
        .unwrap();
        let c = f.configs().unwrap();
        let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "algo=icdarts,latency_coef=0",
                "algo=icdarts,latency_coef=0.1",
                "algo=darts,latency_coef=0",
                "algo=darts,latency_coef=0.1",
                "random"
            ]
        );
        assert_eq!(c[1].args, ["--algo", "icdarts", "--latency-coef", "0.1"]);
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        for (text, why) in [
            (
                "name = 'x'\nseeds = []\n[[config]]\nname = 'a'\n",
                "`seeds` is empty",
            ),
            ("name = 'x'\nseeds = [0]\n", "no configuration"),
            (
                "name = 'x'\nseeds = [0]\n[[config]]\nname = 'a'\n[[config]]\nname = 'a'\n",
                "two configurations are named `a`",
            ),
            (
                "name = 'x'\nseeds = [0]\n[[config]]\nname = 'a/b'\n",
                "folder name",
            ),
            (
                "name = 'x'\nseeds = [0]\nargs = ['--seed', '3']\n[[config]]\nname = 'a'\n",
                "`--seed` is set by the experiment",
            ),
            ("name = 'x'\nseeds = [0]\n[grid]\nalgo = []\n", "no values"),
        ] {
            let err = file(text).unwrap_err();
            assert!(err.contains(why), "{text:?}: {err}");
        }
        assert!(
            file("name = 'x'\nseeds = [0]\ntypo = 1\n")
                .unwrap_err()
                .contains("unknown field")
        );
    }

    #[test]
    fn the_shipped_claims_experiment_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../experiments/claims.toml");
        let f = ExperimentFile::load(&path).unwrap();
        assert_eq!(f.seeds, [0, 1, 2]);
        assert_eq!(f.configs().unwrap().len(), 7);
    }

    #[test]
    fn mean_and_sample_std() {
        assert_eq!(mean_std(&[]), None);
        assert_eq!(mean_std(&[2.0]), Some((2.0, 0.0)));
        let (m, s) = mean_std(&[1.0, 2.0, 3.0]).unwrap();
        assert!((m - 2.0).abs() < 1e-12 && (s - 1.0).abs() < 1e-12);
    }
}
