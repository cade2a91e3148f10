//! `edgenas sweep`: the δ sweep. One `edgenas run` per latency coefficient
//! (sequentially or `--jobs K` processes at a time), then every retrained
//! network is exported and its real tract latency measured side by side,
//! and a table plus an SVG plot of test accuracy vs latency (the Pareto
//! front) are written.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail};
use clap::Args;
use export::TractModel;
use latency_lut::Stats;
use serde::Serialize;
use serde_json::Value;

use super::export::export_model;

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Comma-separated latency coefficients δ, one search + retrain each.
    #[arg(long, value_delimiter = ',', default_values_t = [0.0, 0.01, 0.05, 0.1])]
    pub latency_coef: Vec<f64>,
    /// Runs at a time (separate processes).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Output folder: OUT/delta-<δ>/ per run, OUT/sweep.json, OUT/sweep.md,
    /// OUT/pareto.svg.
    #[arg(long)]
    pub out: PathBuf,
    /// Timed tract runs per model (batch 1), interleaved across models.
    #[arg(long, default_value_t = 300)]
    pub repeats: usize,
    /// Print the table as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Keep the finished runs of an earlier, interrupted sweep into the
    /// same --out (those whose recorded run options equal this sweep's)
    /// and run only the missing δ.
    #[arg(long)]
    pub resume: bool,
    /// Options passed to every `edgenas run` (after `--`), e.g.
    /// `-- --data DIR --cell xdarts --normalize --train-subset 2000`.
    #[arg(last = true)]
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
    pub genotype: Value,
    pub run_dir: PathBuf,
    pub model_path: PathBuf,
    pub pareto: bool,
}

fn run_dir(out: &Path, delta: f64) -> PathBuf {
    out.join(format!("delta-{delta}"))
}

/// The run options a finished run was made with, next to its folder.
fn args_path(out: &Path, delta: f64) -> PathBuf {
    out.join(format!("delta-{delta}.args.json"))
}

/// The summary of a finished run of an earlier sweep with the same run
/// options, if there is one.
fn finished(args: &SweepArgs, delta: f64) -> Option<Value> {
    let recorded: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(args_path(&args.out, delta)).ok()?).ok()?;
    if recorded != args.run_args {
        return None;
    }
    let text = std::fs::read_to_string(run_dir(&args.out, delta).join("run.json")).ok()?;
    serde_json::from_str(&text).ok()
}

fn spawn(args: &SweepArgs, delta: f64) -> Result<Child> {
    let exe = std::env::current_exe().context("locating the edgenas binary")?;
    if exe.to_string_lossy().ends_with(" (deleted)") {
        bail!(
            "the edgenas binary was replaced while the sweep ran (rebuilt?); start the sweep again with --resume to keep the finished runs"
        );
    }
    let dir = run_dir(&args.out, delta);
    models::artifact::write_atomic(
        &args_path(&args.out, delta),
        serde_json::to_string(&args.run_args)?.as_bytes(),
    )?;
    let log = std::fs::File::create(args.out.join(format!("delta-{delta}.log")))?;
    log::info!(
        "δ = {delta}: edgenas run → {} (log in {}.log)",
        dir.display(),
        dir.display()
    );
    Command::new(exe)
        .arg("run")
        .arg("--json")
        .arg("--force")
        .arg("--latency-coef")
        .arg(delta.to_string())
        .arg("--out")
        .arg(&dir)
        .args(&args.run_args)
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .context("starting edgenas run")
}

fn finish(child: Child, delta: f64, out: &Path) -> Result<Value> {
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!(
            "the run for δ = {delta} failed (see {})",
            out.join(format!("delta-{delta}.log")).display()
        );
    }
    serde_json::from_slice(&output.stdout).with_context(|| format!("δ = {delta}: run summary"))
}

pub fn run(args: SweepArgs) -> Result<()> {
    if args.latency_coef.is_empty() || args.jobs == 0 {
        bail!("--latency-coef needs at least one value and --jobs at least 1");
    }
    std::fs::create_dir_all(&args.out).with_context(|| format!("--out {}", args.out.display()))?;

    // The first run measures the latency table (cached); the others reuse it.
    let mut summaries: Vec<(f64, Value)> = Vec::new();
    let mut pending: Vec<(f64, Child)> = Vec::new();
    let mut first = true;
    for &delta in &args.latency_coef {
        if args.resume
            && let Some(summary) = finished(&args, delta)
        {
            log::info!(
                "δ = {delta}: keeping the finished run in {}",
                run_dir(&args.out, delta).display()
            );
            summaries.push((delta, summary));
            continue;
        }
        pending.push((delta, spawn(&args, delta)?));
        // The first run spawned may have to measure the latency table.
        let limit = if first && summaries.is_empty() {
            1
        } else {
            args.jobs
        };
        first = false;
        while pending.len() >= limit {
            let (d, child) = pending.remove(0);
            summaries.push((d, finish(child, d, &args.out)?));
        }
    }
    for (d, child) in pending {
        summaries.push((d, finish(child, d, &args.out)?));
    }
    summaries.sort_by(|a, b| a.0.total_cmp(&b.0));

    // Export every network and time them round-robin, so drift on a shared
    // machine hits all of them alike.
    let mut models = Vec::new();
    for (delta, summary) in &summaries {
        let dir = run_dir(&args.out, *delta);
        let onnx = dir.join("model.onnx");
        export_model(&dir, &onnx, true, Some(64))?;
        let shape: Vec<usize> = {
            let meta = export::onnx::metadata(
                &export::onnx::from_bytes(&std::fs::read(&onnx)?).context("reading the export")?,
            );
            let m = export::ModelMetadata::from_props(&meta).map_err(anyhow::Error::msg)?;
            vec![1, m.input_shape[0], m.input_shape[1], m.input_shape[2]]
        };
        let model = TractModel::from_path(&onnx, std::slice::from_ref(&shape))
            .map_err(|e| anyhow::anyhow!("{}: {e}", onnx.display()))?;
        let input = vec![0.5f32; shape.iter().product()];
        models.push((*delta, summary.clone(), dir, onnx, model, input, Vec::new()));
    }
    let rounds = args.repeats.div_ceil(20).max(1);
    for round in 0..=rounds {
        for (_, _, _, _, model, input, times) in &mut models {
            let t = model
                .time_runs(&[input], 5, 20)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if round > 0 {
                times.extend(t); // round 0 is warm-up
            }
        }
    }
    let mut rows: Vec<SweepRow> = models
        .into_iter()
        .map(|(delta, s, dir, onnx, _, _, times)| SweepRow {
            latency_coef: delta,
            test_accuracy: s["test_accuracy"].as_f64().unwrap_or(f64::NAN),
            predicted_latency_ms: s["predicted_latency_ms"].as_f64().unwrap_or(f64::NAN),
            measured: Stats::from_samples(&times),
            genotype: s["genotype"].clone(),
            run_dir: dir,
            model_path: onnx,
            pareto: false,
        })
        .collect();
    mark_pareto(&mut rows);

    let table = markdown(&rows);
    models::artifact::write_atomic(&args.out.join("sweep.md"), table.as_bytes())?;
    models::artifact::write_atomic(&args.out.join("pareto.svg"), svg(&rows).as_bytes())?;
    let json = serde_json::to_string_pretty(&rows)?;
    models::artifact::write_atomic(&args.out.join("sweep.json"), json.as_bytes())?;
    if args.json {
        println!("{json}");
    } else {
        eprintln!("{table}");
        eprintln!(
            "wrote {}/sweep.{{json,md}} and pareto.svg",
            args.out.display()
        );
    }
    Ok(())
}

/// A point is on the front when no other point is at least as accurate and
/// at least as fast, and strictly better in one.
fn mark_pareto(rows: &mut [SweepRow]) {
    let points: Vec<(f64, f64)> = rows
        .iter()
        .map(|r| (r.measured.median, r.test_accuracy))
        .collect();
    for (i, row) in rows.iter_mut().enumerate() {
        let (lat, acc) = points[i];
        row.pareto = !points
            .iter()
            .enumerate()
            .any(|(j, &(l, a))| j != i && l <= lat && a >= acc && (l < lat || a > acc));
    }
}

fn markdown(rows: &[SweepRow]) -> String {
    let mut s = String::from(
        "| δ | test accuracy (%) | predicted (ms) | tract median (ms) | p10–p90 (ms) | Pareto |\n|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {:.2} | {:.3} | {:.3} | {:.3}–{:.3} | {} |",
            r.latency_coef,
            r.test_accuracy,
            r.predicted_latency_ms,
            r.measured.median,
            r.measured.p10,
            r.measured.p90,
            if r.pareto { "yes" } else { "" }
        );
    }
    s
}

/// Test accuracy vs measured latency, the Pareto front joined by a line.
fn svg(rows: &[SweepRow]) -> String {
    let (w, h, m) = (640.0, 420.0, 60.0);
    let lats: Vec<f64> = rows.iter().map(|r| r.measured.median).collect();
    let accs: Vec<f64> = rows.iter().map(|r| r.test_accuracy).collect();
    let span = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let pad = ((hi - lo) * 0.1).max(1e-3);
        (lo - pad, hi + pad)
    };
    let (x0, x1) = span(&lats);
    let (y0, y1) = span(&accs);
    let x = |v: f64| m + (v - x0) / (x1 - x0) * (w - 2.0 * m);
    let y = |v: f64| h - m - (v - y0) / (y1 - y0) * (h - 2.0 * m);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let _ = writeln!(
        s,
        "<line x1=\"{m}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/><line x1=\"{m}\" y1=\"{m}\" x2=\"{m}\" y2=\"{}\" stroke=\"black\"/>",
        h - m,
        w - m,
        h - m,
        h - m
    );
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">tract latency, batch 1 (ms, median)</text>",
        w / 2.0,
        h - 20.0
    );
    let _ = writeln!(
        s,
        "<text x=\"18\" y=\"{}\" transform=\"rotate(-90 18 {})\" text-anchor=\"middle\">test accuracy (%)</text>",
        h / 2.0,
        h / 2.0
    );
    for (v, label) in [(x0, x0), (x1, x1)] {
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{label:.3}</text>",
            x(v),
            h - m + 16.0
        );
    }
    for (v, label) in [(y0, y0), (y1, y1)] {
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{label:.2}</text>",
            m - 6.0,
            y(v) + 4.0
        );
    }
    let mut front: Vec<&SweepRow> = rows.iter().filter(|r| r.pareto).collect();
    front.sort_by(|a, b| a.measured.median.total_cmp(&b.measured.median));
    let points: Vec<String> = front
        .iter()
        .map(|r| format!("{:.1},{:.1}", x(r.measured.median), y(r.test_accuracy)))
        .collect();
    let _ = writeln!(
        s,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#c33\" stroke-width=\"1.5\"/>",
        points.join(" ")
    );
    for r in rows {
        let (cx, cy) = (x(r.measured.median), y(r.test_accuracy));
        let fill = if r.pareto { "#c33" } else { "#555" };
        let _ = writeln!(
            s,
            "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"5\" fill=\"{fill}\"/><text x=\"{:.1}\" y=\"{:.1}\">δ={}</text>",
            cx + 8.0,
            cy - 8.0,
            r.latency_coef
        );
    }
    s.push_str("</svg>\n");
    s
}
