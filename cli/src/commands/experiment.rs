//! `edgenas experiment FILE.toml`: a declarative grid of configurations ×
//! seeds, one `edgenas run` each, and one report with mean ± std per
//! configuration.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use pipeline::experiment::{ExperimentFile, ExperimentOptions, experiment};

#[derive(Args, Debug)]
pub struct ExperimentArgs {
    /// The experiment: `name`, `seeds`, `args` (options of every run), a
    /// `[grid]` of options whose every combination is a configuration
    /// (`key = [values]` becomes `--key value`), and/or `[[config]]`
    /// entries with a `name` and `args`. See experiments/claims.toml.
    pub file: PathBuf,
    /// OUT/CONFIG/seed-S/ per run (its log and options beside it), and
    /// OUT/experiment.{md,json}, accuracy-latency.svg, epochs.svg.
    #[arg(long)]
    pub out: PathBuf,
    /// Runs at a time (separate processes). The first run runs alone: it
    /// may measure the latency table the others then reuse.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Keep the runs that finished with the same options; runs that were
    /// interrupted continue from their checkpoints, failed ones run again.
    #[arg(long)]
    pub resume: bool,
    /// Timed tract runs per deployed model for the report's latencies
    /// (batch 1, all models round-robin after the runs).
    #[arg(long, default_value_t = 300)]
    pub repeats: usize,
    /// Print the per-run rows as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ExperimentArgs) -> Result<()> {
    let file = ExperimentFile::load(&args.file)?;
    let options = ExperimentOptions {
        file: args.file.clone(),
        exe: std::env::current_exe().context("locating the edgenas binary")?,
        out: args.out.clone(),
        jobs: args.jobs,
        resume: args.resume,
        repeats: args.repeats,
    };
    let rows = experiment(&file, &options)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    }
    eprintln!(
        "wrote {}/experiment.{{md,json}}, accuracy-latency.svg and epochs.svg",
        args.out.display()
    );
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| r.failure.is_some())
        .map(|r| format!("{} seed {}", r.config, r.seed))
        .collect();
    if !failed.is_empty() {
        anyhow::bail!(
            "{} of {} runs failed ({}); the report lists them with their logs, and --resume runs them again",
            failed.len(),
            rows.len(),
            failed.join(", ")
        );
    }
    Ok(())
}
