//! `edgenas-bench`: our search step, retraining step and inference raced
//! against the PyTorch mirror in `bench/reference/edgenas_ref.py`, on the
//! same networks, shapes and optimizers. `edgenas-bench search` times only
//! our search step, in process. A developer tool beside the product binary
//! `edgenas`: `cargo run --release -p edgenas-bench -- …`.

mod fixtures;
mod race;
mod worker;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use search::{Backend, training_device};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::fixtures::{BenchConfig, StepSummary, Workload};

/// Race edgenas against the PyTorch reference (bench/reference/): search
/// step, retraining step and inference per configuration and thread count.
/// `edgenas-bench search` times only our search step.
#[derive(Parser, Debug)]
#[command(
    name = "edgenas-bench",
    version,
    args_conflicts_with_subcommands = true,
    after_help = "Without a subcommand: races edgenas (burn-flex, CPU) against the PyTorch \
mirror bench/reference/edgenas_ref.py on the same networks, shapes and optimizers. For \
each configuration × workload × thread count, edgenas and PyTorch are measured \
alternately for --rounds rounds, each measurement in its own process (so peak RSS is \
per workload). Prints a table (ratio = edgenas images/s ÷ PyTorch images/s), or JSON \
with --json. Needs bench/reference/setup.sh run once, unless --ours-only."
)]
struct Cli {
    #[command(subcommand)]
    target: Option<BenchTarget>,
    #[command(flatten)]
    race: RaceArgs,
}

#[derive(Subcommand, Debug)]
pub enum BenchTarget {
    /// Time only our ICDARTS search step (α, w_S and w_E updates) at C=8,
    /// L=5, N=4, batch 32, 28×28×1 on random data, in this process; no
    /// PyTorch needed.
    Search(SearchArgs),
    /// One measurement of edgenas in this process, printed as one JSON line
    /// on stdout (`edgenas-bench` runs one per child process; the thread
    /// count comes from RAYON_NUM_THREADS).
    #[command(hide = true)]
    Worker(WorkerArgs),
}

/// The sizes of a workload, by name (`config_name` in the worker's JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigName {
    /// C=8, L=5, N=4, batch 32, 28×28×1, 10 classes.
    Default,
    /// C=16, L=5, N=4, batch 32, 32×32×3, 10 classes.
    Large,
    /// C=4, L=3, N=4, batch 4, 8×8×1 (for tests).
    #[value(hide = true)]
    Tiny,
}

impl ConfigName {
    pub(crate) fn config(self) -> BenchConfig {
        match self {
            ConfigName::Default => BenchConfig::small(),
            ConfigName::Large => BenchConfig::large(),
            ConfigName::Tiny => BenchConfig::tiny(),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            ConfigName::Default => "default",
            ConfigName::Large => "large",
            ConfigName::Tiny => "tiny",
        }
    }
}

/// Which configurations `edgenas-bench` measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ConfigSelection {
    /// C=8, L=5, N=4, batch 32, 28×28×1, 10 classes.
    Default,
    /// C=16, L=5, N=4, batch 32, 32×32×3, 10 classes.
    Large,
    /// default, then large.
    All,
    /// C=4, L=3, N=4, batch 4, 8×8×1 (for tests).
    #[value(hide = true)]
    Tiny,
}

impl ConfigSelection {
    pub(crate) fn configs(self) -> Vec<ConfigName> {
        match self {
            ConfigSelection::Default => vec![ConfigName::Default],
            ConfigSelection::Large => vec![ConfigName::Large],
            ConfigSelection::All => vec![ConfigName::Default, ConfigName::Large],
            ConfigSelection::Tiny => vec![ConfigName::Tiny],
        }
    }
}

/// A thread count: a number, or `all` for every core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadCount {
    All,
    Exactly(usize),
}

impl ThreadCount {
    pub(crate) fn resolve(self) -> usize {
        match self {
            ThreadCount::All => cores(),
            ThreadCount::Exactly(n) => n,
        }
    }
}

fn parse_threads(s: &str) -> Result<ThreadCount, String> {
    match s {
        "all" => Ok(ThreadCount::All),
        _ => match s.parse::<usize>() {
            Ok(n) if n > 0 => Ok(ThreadCount::Exactly(n)),
            _ => Err(format!("`{s}` is neither a positive number nor `all`")),
        },
    }
}

pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The race: every configuration × workload × thread count, edgenas and
/// PyTorch measured alternately, each measurement in its own process.
#[derive(Args, Debug)]
pub struct RaceArgs {
    /// Which sizes to measure.
    #[arg(long, value_enum, default_value = "all")]
    pub config: ConfigSelection,
    /// Workloads to measure (comma-separated).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_values_t = Workload::ALL
    )]
    pub what: Vec<Workload>,
    /// Thread counts to measure (comma-separated numbers, `all` = every
    /// core). edgenas gets them as RAYON_NUM_THREADS (burn-flex runs all its
    /// parallel kernels, matmul and convolution included, on rayon's global
    /// pool), PyTorch as torch.set_num_threads (its OpenMP and MKL pools).
    #[arg(long, value_delimiter = ',', value_parser = parse_threads, default_value = "1,all")]
    pub threads: Vec<ThreadCount>,
    /// Rounds: each round measures every cell once per implementation,
    /// edgenas then PyTorch, so drift of the machine's speed hits both
    /// alike. The figures pool the timed steps of all rounds.
    #[arg(long, default_value_t = 2)]
    pub rounds: usize,
    /// Untimed warm-up steps per measurement [default: 1 for search-step
    /// and retrain-step, 2 for infer].
    #[arg(long)]
    pub warmup: Option<usize>,
    /// Timed steps per measurement [default: 3 search-step, 5 retrain-step,
    /// 20 infer].
    #[arg(long)]
    pub steps: Option<usize>,
    /// Measure only edgenas (no PyTorch environment needed).
    #[arg(long)]
    pub ours_only: bool,
    /// Python of the PyTorch environment that bench/reference/setup.sh
    /// creates [default: bench/reference/.venv/bin/python under the current
    /// folder, else in the source tree edgenas was built from].
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// The PyTorch mirror [default: bench/reference/edgenas_ref.py, found
    /// as --python is].
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Run edgenas on burn's own convolution and pooling ops instead of the
    /// custom kernels of models::kernels (to measure what they gain; the
    /// same as EDGENAS_REFERENCE_KERNELS=1).
    #[arg(long)]
    pub reference_kernels: bool,
    /// Print every figure as one JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Timed steps (after warm-up).
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Untimed warm-up steps.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Training backend: flex (burn-flex on the CPU) or cuda (needs a build
    /// with `--features cuda`).
    #[arg(long, default_value = "flex")]
    pub backend: Backend,
    /// Run edgenas on burn's own convolution and pooling ops instead of the
    /// custom kernels of models::kernels (to measure what they gain; the
    /// same as EDGENAS_REFERENCE_KERNELS=1).
    #[arg(long)]
    pub reference_kernels: bool,
    /// Print the figures as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct WorkerArgs {
    #[arg(long, value_enum)]
    pub what: Workload,
    #[arg(long, value_enum, default_value = "default")]
    pub config: ConfigName,
    /// Untimed warm-up steps [default: as `edgenas-bench`].
    #[arg(long)]
    pub warmup: Option<usize>,
    /// Timed steps [default: as `edgenas-bench`].
    #[arg(long)]
    pub steps: Option<usize>,
    #[arg(long)]
    pub reference_kernels: bool,
}

fn main() {
    edgenas::init_logging();
    edgenas::keep_freed_memory();
    let cli = Cli::parse();
    let result = edgenas::on_worker_pool(|| match cli.target {
        Some(BenchTarget::Search(search)) => run_search(search),
        Some(BenchTarget::Worker(worker)) => worker::run(worker),
        None => race::run(cli.race),
    });
    if let Err(err) = result {
        edgenas::exit_with(err, 1);
    }
}

/// `edgenas-bench search`.
fn run_search(args: SearchArgs) -> Result<()> {
    if args.steps == 0 {
        bail!("--steps must be at least 1");
    }
    if args.reference_kernels {
        models::kernels::use_reference_kernels(true);
    }
    let device = training_device(args.backend)?;
    let config = BenchConfig::small();
    let started = Instant::now();
    let times = fixtures::search_step_times(&config, args.warmup, args.steps, &device);
    let summary = StepSummary::of(&times, config.batch_size).context("no timed steps")?;
    let threads = rayon_threads();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "benchmark": "icdarts_search_step",
                "config": config,
                "backend": args.backend,
                "kernels": kernels_name(),
                "threads": threads,
                "steps": args.steps,
                "step_seconds": times,
                "median_step_ms": summary.median_s * 1e3,
                "mean_step_ms": summary.mean_s * 1e3,
                "images_per_s": summary.images_per_s,
            }))?
        );
    } else {
        println!(
            "benchmark                 config                          median ms/step   images/s"
        );
        println!(
            "icdarts search step       C={} L={} N={} b={} {}x{}x{}      {:>10.1}   {:>8.1}",
            config.channels,
            config.layers,
            config.nodes,
            config.batch_size,
            config.size,
            config.size,
            config.in_channels,
            summary.median_s * 1e3,
            summary.images_per_s
        );
        eprintln!(
            "({} timed steps after {} warm-up, {} threads, {:.1} s total)",
            args.steps,
            args.warmup,
            threads,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Which convolution kernels this process runs: `custom` (models::kernels)
/// or `burn` (`--reference-kernels`).
pub(crate) fn kernels_name() -> &'static str {
    if models::kernels::reference_kernels() {
        "burn"
    } else {
        "custom"
    }
}

/// The threads burn-flex runs on: rayon's global pool, sized by
/// RAYON_NUM_THREADS (0 or unset: every core).
pub(crate) fn rayon_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(cores)
}

/// The first number of `field` in /proc/self/status, if /proc has it.
pub(crate) fn proc_status(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Peak resident set size of this process in MiB (VmHWM).
pub(crate) fn peak_rss_mb() -> Option<f64> {
    proc_status("VmHWM:").map(|kib| kib / 1024.0)
}

/// The 1-minute load average, if /proc has it.
pub(crate) fn loadavg_1m() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_counts_parse() {
        assert_eq!(parse_threads("all"), Ok(ThreadCount::All));
        assert_eq!(parse_threads("3"), Ok(ThreadCount::Exactly(3)));
        assert!(parse_threads("0").is_err());
        assert!(parse_threads("two").is_err());
    }

    /// clap's own consistency check: no two flags share an id or a name
    /// (the race's flags are flattened beside the subcommands).
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
