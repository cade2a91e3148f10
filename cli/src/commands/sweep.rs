//! `edgenas sweep`: the δ sweep — one `edgenas run` per latency
//! coefficient, then the deployed models timed side by side.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use pipeline::SweepConfig;

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

pub fn run(args: SweepArgs) -> Result<()> {
    let config = SweepConfig {
        exe: std::env::current_exe().context("locating the edgenas binary")?,
        latency_coef: args.latency_coef,
        jobs: args.jobs,
        out: args.out,
        repeats: args.repeats,
        resume: args.resume,
        run_args: args.run_args,
    };
    let summary = pipeline::sweep(&config)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary.rows)?);
    } else {
        eprintln!("{}", summary.table);
        eprintln!(
            "wrote {}/sweep.{{json,md}} and pareto.svg",
            config.out.display()
        );
    }
    Ok(())
}
