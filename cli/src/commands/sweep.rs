//! `edgenas sweep`: one `edgenas run` per latency coefficient δ, latency
//! budget and seed, random genotypes under each budget, then the deployed
//! models timed side by side.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use pipeline::SweepConfig;
use pipeline::executor::{Executor, SlurmOptions};

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Comma-separated latency coefficients δ (P in ms), one search +
    /// retrain per seed each. Default: 0, 0.01, 0.05, 0.1; with
    /// --latency-budget only 0 (the unconstrained reference); `none` for
    /// no δ runs.
    #[arg(long, value_delimiter = ',')]
    pub latency_coef: Option<Vec<Coef>>,
    /// Comma-separated latency budgets (ms), one budget search + retrain per
    /// seed each, plus --random-per-budget random genotypes drawn under each.
    #[arg(long, value_delimiter = ',', value_name = "MS,...")]
    pub latency_budget: Vec<f64>,
    /// Comma-separated seeds of every search (and its retraining).
    #[arg(long, value_delimiter = ',', default_values_t = [0])]
    pub seeds: Vec<u64>,
    /// Random genotypes per budget (seeds 0, 1, …), rejection-sampled to a
    /// predicted latency within [0.8·budget, budget] and retrained exactly
    /// like the searched ones: the baseline the budget search must beat.
    #[arg(long, default_value_t = 3)]
    pub random_per_budget: usize,
    /// Runs at a time (separate processes; --executor local).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Where the runs execute: `local` (child processes, --jobs at a time)
    /// or `slurm` (one `sbatch --array` job; --out, the data, the latency
    /// cache and this binary must be on a filesystem the nodes share; the
    /// latency table is measured here, once, before the array).
    #[arg(long, value_enum, default_value = "local")]
    pub executor: ExecutorKind,
    /// --executor slurm: the partition (`sbatch --partition`).
    #[arg(long)]
    pub slurm_partition: Option<String>,
    /// --executor slurm: each task's time limit (`sbatch --time`, e.g.
    /// 02:00:00).
    #[arg(long)]
    pub slurm_time: Option<String>,
    /// --executor slurm: CPUs per task (`sbatch --cpus-per-task`).
    #[arg(long)]
    pub slurm_cpus: Option<usize>,
    /// --executor slurm: generic resources per task (`sbatch --gres`), e.g.
    /// gpu:1 together with `-- --backend cuda`.
    #[arg(long)]
    pub slurm_gres: Option<String>,
    /// --executor slurm: a further sbatch option, verbatim (repeatable),
    /// e.g. --slurm-extra=--mem=8G --slurm-extra=--account=proj.
    #[arg(long, allow_hyphen_values = true)]
    pub slurm_extra: Vec<String>,
    /// --executor slurm: seconds between two `squeue` polls.
    #[arg(long, default_value_t = 10.0)]
    pub slurm_poll: f64,
    /// Output folder: OUT/delta-<δ>-seed<s>/, OUT/budget-<B>ms-seed<s>/,
    /// OUT/random-<B>ms-seed<s>/ per run, OUT/sweep.json, OUT/sweep.md
    /// (per-run table and, per budget, searched vs random mean ± std),
    /// OUT/pareto.svg (accuracy vs measured latency, budgets drawn).
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
    /// and run only the missing ones; every model is timed again.
    #[arg(long)]
    pub resume: bool,
    /// Options passed to every `edgenas run` (after `--`), e.g.
    /// `-- --data DIR --cell xdarts --normalize --train-subset 2000`
    /// (not --seed, --latency-coef, --latency-budget or --out: the sweep
    /// sets those per run).
    #[arg(last = true)]
    pub run_args: Vec<String>,
}

/// `--executor`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExecutorKind {
    Local,
    Slurm,
}

/// A δ value, or `none`.
#[derive(Debug, Clone, Copy)]
pub struct Coef(Option<f64>);

impl std::str::FromStr for Coef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "none" {
            return Ok(Coef(None));
        }
        s.parse::<f64>()
            .map(|v| Coef(Some(v)))
            .map_err(|e| format!("`{s}` is not a number or `none`: {e}"))
    }
}

pub fn run(args: SweepArgs) -> Result<()> {
    if let Some(b) = args
        .latency_budget
        .iter()
        .find(|b| !(b.is_finite() && **b > 0.0))
    {
        anyhow::bail!("--latency-budget values must be positive milliseconds, not {b}");
    }
    let latency_coef: Option<Vec<f64>> = args
        .latency_coef
        .map(|v| v.into_iter().filter_map(|c| c.0).collect());
    if let Some(c) = latency_coef
        .iter()
        .flatten()
        .find(|c| !(c.is_finite() && **c >= 0.0))
    {
        anyhow::bail!("--latency-coef values must be finite and non-negative, not {c}");
    }
    let config = SweepConfig {
        exe: std::env::current_exe().context("locating the edgenas binary")?,
        latency_coef: latency_coef.unwrap_or_else(|| {
            if args.latency_budget.is_empty() {
                vec![0.0, 0.01, 0.05, 0.1]
            } else {
                vec![0.0]
            }
        }),
        latency_budget: args.latency_budget,
        seeds: args.seeds,
        random_per_budget: args.random_per_budget,
        executor: match args.executor {
            ExecutorKind::Local => Executor::Local { jobs: args.jobs },
            ExecutorKind::Slurm => {
                if !(args.slurm_poll.is_finite() && args.slurm_poll > 0.0) {
                    anyhow::bail!(
                        "--slurm-poll must be positive seconds, not {}",
                        args.slurm_poll
                    );
                }
                Executor::Slurm(SlurmOptions {
                    partition: args.slurm_partition,
                    time: args.slurm_time,
                    cpus: args.slurm_cpus,
                    gres: args.slurm_gres,
                    extra: args.slurm_extra,
                    poll: std::time::Duration::from_secs_f64(args.slurm_poll),
                })
            }
        },
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
