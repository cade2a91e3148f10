//! `edgenas compare RUN…`: the deployed models of several runs timed side
//! by side in tract, round-robin in one process, so that a shared or
//! throttling machine slows them all alike and their ratios stay
//! meaningful.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;
use serde::Serialize;

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Run folders (each with its `model.onnx` and `model.json` or
    /// `retrain/model.json`, as `edgenas run` and the final run of
    /// `edgenas tournament` write them) or `model.onnx` files beside such a
    /// `model.json`. At least one.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Timed runs per model (batch 1, one thread): rounds of 20 per model,
    /// each turn after 5 untimed runs, after one untimed round.
    #[arg(long, default_value_t = 300)]
    pub repeats: usize,
    /// Print the rows as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Row {
    model: PathBuf,
    p10_ms: f64,
    p50_ms: f64,
    p90_ms: f64,
    /// p50 over the first model's p50.
    ratio_to_first: f64,
    samples: usize,
}

/// `DIR/model.onnx` for a run folder, the path itself for a file.
fn onnx_path(run: &Path) -> Result<PathBuf> {
    let onnx = if run.is_dir() {
        run.join("model.onnx")
    } else {
        run.to_path_buf()
    };
    if !onnx.is_file() {
        bail!(
            "{}: no such ONNX file (give a run folder holding model.onnx, or the file)",
            onnx.display()
        );
    }
    Ok(onnx)
}

pub fn run(args: CompareArgs) -> Result<()> {
    if args.repeats == 0 {
        bail!("--repeats must be at least 1");
    }
    let paths = args
        .runs
        .iter()
        .map(|r| onnx_path(r))
        .collect::<Result<Vec<_>>>()?;
    eprintln!(
        "timing {} models round-robin in tract (batch 1, {} timed runs each)",
        paths.len(),
        args.repeats
    );
    let stats = pipeline::sweep::time_onnx_models(&paths, args.repeats)?;
    let first = stats[0].median;
    let rows: Vec<Row> = paths
        .into_iter()
        .zip(&stats)
        .map(|(model, s)| Row {
            model,
            p10_ms: s.p10,
            p50_ms: s.median,
            p90_ms: s.p90,
            ratio_to_first: s.median / first,
            samples: s.count,
        })
        .collect();
    eprintln!("| model | p10 ms | p50 ms | p90 ms | p50 / first |");
    eprintln!("|---|---|---|---|---|");
    for r in &rows {
        eprintln!(
            "| {} | {:.3} | {:.3} | {:.3} | {:.2} |",
            r.model.display(),
            r.p10_ms,
            r.p50_ms,
            r.p90_ms,
            r.ratio_to_first
        );
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    }
    Ok(())
}
