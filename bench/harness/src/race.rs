//! The race (`edgenas-bench` without a subcommand): every configuration ×
//! workload × thread count, edgenas and PyTorch measured alternately, each
//! measurement in its own process, then a table or one JSON object.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::fixtures::{self, StepSummary, Workload};
use crate::worker::WorkerReport;
use crate::{ConfigName, RaceArgs, cores, kernels_name, loadavg_1m};

/// Which implementation a measurement ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Impl {
    Edgenas,
    Pytorch,
}

impl Impl {
    fn name(self) -> &'static str {
        match self {
            Impl::Edgenas => "edgenas",
            Impl::Pytorch => "pytorch",
        }
    }
}

/// One cell of the matrix.
#[derive(Clone, Copy, Debug)]
struct Cell {
    reference_kernels: bool,
    config: ConfigName,
    workload: Workload,
    threads: usize,
    warmup: usize,
    steps: usize,
}

impl Cell {
    fn label(&self) -> String {
        format!(
            "{} {} {} thread{}",
            self.config.name(),
            self.workload.name(),
            self.threads,
            if self.threads == 1 { "" } else { "s" }
        )
    }
}

/// What one child process reported: the figures the race uses, and the
/// whole line as printed (the `runs` of the JSON).
struct Measurement {
    step_seconds: Vec<f64>,
    images_per_s: f64,
    ms_per_step_median: Option<f64>,
    peak_rss_mb: Option<f64>,
    /// Trainable parameters per network, when the line has them.
    params: Option<serde_json::Map<String, Value>>,
    raw: Value,
}

/// Where the PyTorch side lives.
struct Reference {
    python: PathBuf,
    script: PathBuf,
}

/// `rel` under the current folder if it exists there, else in the source
/// tree this binary was built from, else `rel` (for the error message).
fn find_in_tree(rel: &str) -> PathBuf {
    let here = PathBuf::from(rel);
    if here.exists() {
        return here;
    }
    // This crate lives in bench/harness/ of the source tree.
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..")
        .join(rel);
    if source.exists() { source } else { here }
}

impl Reference {
    fn locate(args: &RaceArgs) -> Result<Self> {
        let python = args
            .python
            .clone()
            .unwrap_or_else(|| find_in_tree("bench/reference/.venv/bin/python"));
        let script = args
            .reference
            .clone()
            .unwrap_or_else(|| find_in_tree("bench/reference/edgenas_ref.py"));
        if !python.exists() {
            bail!(
                "{}: no such python; run bench/reference/setup.sh to create the PyTorch environment, \
                 pass --python, or measure only edgenas with --ours-only",
                python.display()
            );
        }
        if !script.is_file() {
            bail!(
                "{}: no such file; pass --reference with the path of bench/reference/edgenas_ref.py",
                script.display()
            );
        }
        Ok(Self { python, script })
    }

    fn command(&self, cell: &Cell) -> Command {
        let c = cell.config.config();
        let mut cmd = Command::new(&self.python);
        cmd.arg(&self.script)
            .args(["--what", cell.workload.name()])
            .args(["--channels", &c.channels.to_string()])
            .args(["--layers", &c.layers.to_string()])
            .args(["--nodes", &c.nodes.to_string()])
            .args(["--batch", &c.batch_size.to_string()])
            .args(["--image-size", &c.size.to_string()])
            .args(["--in-channels", &c.in_channels.to_string()])
            .args(["--classes", &c.classes.to_string()])
            .args(["--threads", &cell.threads.to_string()])
            .args(["--warmup", &cell.warmup.to_string()])
            .args(["--steps", &cell.steps.to_string()]);
        // The step settings are passed from our own code, so a change on
        // this side cannot leave the mirror silently different. Genotypes:
        // the script's defaults are the files our workloads are built from
        // (checked by the tests of crate::fixtures).
        match cell.workload {
            Workload::SearchStep => {
                cmd.args(["--lr", &fixtures::SEARCH_STEP_LR.to_string()]);
            }
            Workload::RetrainStep => {
                let s = fixtures::retrain_step_settings();
                cmd.args(["--lr", &s.lr.to_string()])
                    .args(["--drop-path", &s.drop_path.to_string()])
                    .args(["--aux-weight", &s.aux_weight.to_string()]);
            }
            Workload::Infer => {}
        }
        cmd
    }
}

fn ours_command(cell: &Cell) -> Result<Command> {
    let exe = std::env::current_exe().context("cannot find the edgenas-bench executable")?;
    let mut cmd = Command::new(exe);
    cmd.args(["worker", "--what", cell.workload.name()])
        .args(["--config", cell.config.name()])
        .args(["--warmup", &cell.warmup.to_string()])
        .args(["--steps", &cell.steps.to_string()])
        .env("RAYON_NUM_THREADS", cell.threads.to_string())
        .env("RUST_LOG", "warn");
    if cell.reference_kernels {
        cmd.arg("--reference-kernels");
    }
    Ok(cmd)
}

/// Runs one measurement to completion and reads its JSON line.
fn measure(mut cmd: Command, who: Impl, cell: &Cell) -> Result<Measurement> {
    let what = format!("{} {}", who.name(), cell.label());
    let output = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("{what}: cannot start {:?}", cmd.get_program()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!("{what} failed ({}): {}", output.status, tail.join(" | "));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .with_context(|| format!("{what}: printed nothing on stdout"))?;
    let raw: Value = serde_json::from_str(line)
        .with_context(|| format!("{what}: stdout is not a JSON line: {line}"))?;
    match who {
        // Our own worker's line: its type says what it holds.
        Impl::Edgenas => {
            let report: WorkerReport = serde_json::from_value(raw.clone())
                .with_context(|| format!("{what}: stdout is not a worker report: {line}"))?;
            Ok(Measurement {
                step_seconds: report.step_seconds,
                images_per_s: report.images_per_s,
                ms_per_step_median: Some(report.ms_per_step_median),
                peak_rss_mb: report.peak_rss_mb,
                params: Some(
                    report
                        .params
                        .into_iter()
                        .map(|(name, count)| (name, Value::from(count)))
                        .collect(),
                ),
                raw,
            })
        }
        // The Python mirror's line: only the fields the race needs.
        Impl::Pytorch => {
            let step_seconds: Vec<f64> = raw["step_seconds"]
                .as_array()
                .and_then(|a| a.iter().map(Value::as_f64).collect())
                .with_context(|| format!("{what}: no step_seconds in its output"))?;
            let images_per_s = raw["images_per_s"]
                .as_f64()
                .with_context(|| format!("{what}: no images_per_s in its output"))?;
            Ok(Measurement {
                step_seconds,
                images_per_s,
                ms_per_step_median: raw["ms_per_step_median"].as_f64(),
                peak_rss_mb: raw["peak_rss_mb"].as_f64(),
                params: raw["params"].as_object().cloned(),
                raw,
            })
        }
    }
}

/// Every round's measurements of one implementation in one cell, pooled.
struct Pooled {
    summary: StepSummary,
    peak_rss_mb: Option<f64>,
    rounds: Vec<Measurement>,
}

impl Pooled {
    fn of(rounds: Vec<Measurement>, batch_size: usize) -> Option<Self> {
        let all: Vec<f64> = rounds
            .iter()
            .flat_map(|m| m.step_seconds.iter().copied())
            .collect();
        let summary = StepSummary::of(&all, batch_size)?;
        let peak_rss_mb = rounds
            .iter()
            .filter_map(|m| m.peak_rss_mb)
            .max_by(f64::total_cmp);
        Some(Self {
            summary,
            peak_rss_mb,
            rounds,
        })
    }

    fn to_json(&self) -> Value {
        json!({
            "ms_per_step_median": self.summary.median_s * 1e3,
            "ms_per_step_mean": self.summary.mean_s * 1e3,
            "images_per_s": self.summary.images_per_s,
            "peak_rss_mb": self.peak_rss_mb,
            "runs": self.rounds.iter().map(|m| &m.raw).collect::<Vec<_>>(),
        })
    }
}

/// The figures of one cell.
struct CellResult {
    cell: Cell,
    ours: Pooled,
    torch: Option<Pooled>,
}

impl CellResult {
    /// Our throughput ÷ PyTorch's.
    fn ratio(&self) -> Option<f64> {
        let torch = self.torch.as_ref()?;
        Some(self.ours.summary.images_per_s / torch.summary.images_per_s)
    }

    /// The same ratio per round (each round's own medians), to show noise.
    fn round_ratios(&self) -> Vec<f64> {
        let Some(torch) = &self.torch else {
            return Vec::new();
        };
        self.ours
            .rounds
            .iter()
            .zip(&torch.rounds)
            .map(|(o, t)| o.images_per_s / t.images_per_s)
            .collect()
    }

    fn to_json(&self) -> Value {
        json!({
            "config": self.cell.config.name(),
            "sizes": self.cell.config.config(),
            "workload": self.cell.workload.name(),
            "threads": self.cell.threads,
            "warmup": self.cell.warmup,
            "steps": self.cell.steps,
            "ours": self.ours.to_json(),
            "pytorch": self.torch.as_ref().map(Pooled::to_json),
            "ratio": self.ratio(),
            "round_ratios": self.round_ratios(),
        })
    }
}

/// Warns when the two sides report different parameter counts for a
/// network both should have built identically.
fn check_params(cell: &Cell, ours: &Measurement, torch: &Measurement) {
    let (Some(o), Some(t)) = (&ours.params, &torch.params) else {
        return;
    };
    for (name, count) in o {
        if let Some(theirs) = t.get(name)
            && theirs != count
        {
            log::warn!(
                "{}: {name} has {count} parameters in edgenas but {theirs} in PyTorch: the networks differ",
                cell.label()
            );
        }
    }
}

/// `edgenas-bench`.
pub fn run(args: RaceArgs) -> Result<()> {
    if args.rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    if args.steps == Some(0) {
        bail!("--steps must be at least 1");
    }
    if args.what.is_empty() || args.threads.is_empty() {
        bail!("--what and --threads need at least one value each");
    }
    if args.reference_kernels {
        models::kernels::use_reference_kernels(true);
    }
    let reference = if args.ours_only {
        None
    } else {
        Some(Reference::locate(&args)?)
    };
    let mut threads: Vec<usize> = Vec::new();
    for t in &args.threads {
        let n = t.resolve();
        if !threads.contains(&n) {
            threads.push(n);
        }
    }
    let mut whats: Vec<Workload> = Vec::new();
    for w in &args.what {
        if !whats.contains(w) {
            whats.push(*w);
        }
    }
    let mut cells = Vec::new();
    for config in args.config.configs() {
        for what in &whats {
            let workload = *what;
            let (warmup, steps) = workload.default_steps();
            for &t in &threads {
                cells.push(Cell {
                    reference_kernels: models::kernels::reference_kernels(),
                    config,
                    workload,
                    threads: t,
                    warmup: args.warmup.unwrap_or(warmup),
                    steps: args.steps.unwrap_or(steps),
                });
            }
        }
    }

    let sides = if reference.is_some() { 2 } else { 1 };
    let bar = ProgressBar::new((cells.len() * args.rounds * sides) as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {elapsed_precise} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix("bench");
    let load_before = loadavg_1m();
    let started = Instant::now();
    let mut ours: Vec<Vec<Measurement>> = cells.iter().map(|_| Vec::new()).collect();
    let mut torch: Vec<Vec<Measurement>> = cells.iter().map(|_| Vec::new()).collect();
    for round in 0..args.rounds {
        for (i, cell) in cells.iter().enumerate() {
            let mut sides = vec![(Impl::Edgenas, ours_command(cell)?)];
            if let Some(r) = &reference {
                sides.push((Impl::Pytorch, r.command(cell)));
            }
            for (who, cmd) in sides {
                bar.set_message(format!(
                    "round {}/{}: {} {}",
                    round + 1,
                    args.rounds,
                    who.name(),
                    cell.label()
                ));
                let m = measure(cmd, who, cell)?;
                bar.suspend(|| {
                    log::info!(
                        "round {}/{} {} {}: {:.1} ms/step, {:.1} images/s, peak RSS {}",
                        round + 1,
                        args.rounds,
                        who.name(),
                        cell.label(),
                        m.ms_per_step_median.unwrap_or(f64::NAN),
                        m.images_per_s,
                        m.peak_rss_mb
                            .map_or("unknown".into(), |mb| format!("{mb:.0} MB")),
                    )
                });
                bar.inc(1);
                match who {
                    Impl::Edgenas => ours[i].push(m),
                    Impl::Pytorch => {
                        if round == 0 {
                            bar.suspend(|| check_params(cell, &ours[i][0], &m));
                        }
                        torch[i].push(m)
                    }
                }
            }
        }
    }
    bar.finish_and_clear();
    let load_after = loadavg_1m();
    let elapsed = started.elapsed().as_secs_f64();

    let results: Vec<CellResult> = cells
        .iter()
        .zip(ours.into_iter().zip(torch))
        .map(|(cell, (o, t))| {
            let batch = cell.config.config().batch_size;
            CellResult {
                cell: *cell,
                ours: Pooled::of(o, batch).expect("every cell has timed steps"),
                torch: Pooled::of(t, batch),
            }
        })
        .collect();

    if args.json {
        let headline = |workload: Workload| {
            results
                .iter()
                .find(|r| {
                    r.cell.config == ConfigName::Default
                        && r.cell.workload == workload
                        && r.cell.threads == cores()
                })
                .and_then(CellResult::ratio)
        };
        let torch_version = results.iter().find_map(|r| {
            r.torch
                .as_ref()?
                .rounds
                .first()?
                .raw
                .get("torch_version")
                .cloned()
        });
        let out = json!({
            "benchmark": "edgenas-vs-pytorch",
            "tool_version": env!("CARGO_PKG_VERSION"),
            "edgenas_kernels": kernels_name(),
            "torch_version": torch_version,
            "cpus": cores(),
            "rounds": args.rounds,
            "seconds": elapsed,
            "loadavg_1m": [load_before, load_after],
            "search_step_ratio": headline(Workload::SearchStep),
            "retrain_step_ratio": headline(Workload::RetrainStep),
            "results": results.iter().map(CellResult::to_json).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_table(&results);
        let load = |l: Option<f64>| l.map_or("?".into(), |l| format!("{l:.2}"));
        println!(
            "\nratio = edgenas images/s ÷ PyTorch images/s (above 1: edgenas is faster); \
             ms/step = upper median of the timed steps of {} round{}; {} cpus; \
             1-min load average {} before, {} after; {:.0} s",
            args.rounds,
            if args.rounds == 1 { "" } else { "s" },
            cores(),
            load(load_before),
            load(load_after),
            elapsed,
        );
    }
    Ok(())
}

fn print_table(results: &[CellResult]) {
    let header = [
        "config",
        "workload",
        "threads",
        "ours ms/step",
        "torch ms/step",
        "ours img/s",
        "torch img/s",
        "ratio",
        "peak RSS MB ours/torch",
    ];
    let num = |v: Option<f64>, digits: usize| v.map_or("-".into(), |v| format!("{v:.digits$}"));
    let rows: Vec<[String; 9]> = results
        .iter()
        .map(|r| {
            let t = r.torch.as_ref();
            let rss = |p: Option<&Pooled>| num(p.and_then(|p| p.peak_rss_mb), 0);
            [
                r.cell.config.name().to_string(),
                r.cell.workload.name().to_string(),
                r.cell.threads.to_string(),
                num(Some(r.ours.summary.median_s * 1e3), 1),
                num(t.map(|t| t.summary.median_s * 1e3), 1),
                num(Some(r.ours.summary.images_per_s), 1),
                num(t.map(|t| t.summary.images_per_s), 1),
                num(r.ratio(), 2),
                format!("{} / {}", rss(Some(&r.ours)), rss(t)),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([header[c].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    // Text columns left-aligned, figures right-aligned; a Markdown table.
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(c, s)| {
                if c < 2 {
                    format!("{s:<w$}", w = widths[c])
                } else {
                    format!("{s:>w$}", w = widths[c])
                }
            })
            .collect();
        println!("| {} |", padded.join(" | "));
    };
    line(header.to_vec());
    let rule: Vec<String> = widths
        .iter()
        .enumerate()
        .map(|(c, w)| {
            if c < 2 {
                format!(":{}", "-".repeat(w - 1))
            } else {
                format!("{}:", "-".repeat(w - 1))
            }
        })
        .collect();
    println!("| {} |", rule.join(" | "));
    for r in &rows {
        line(r.iter().map(String::as_str).collect());
    }
}
