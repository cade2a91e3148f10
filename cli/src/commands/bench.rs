//! `edgenas bench search`: throughput of one ICDARTS search step on a fixed
//! small configuration, so later changes can track speed.

use std::time::Instant;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use search::{Backend, bench};
use serde_json::json;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum BenchTarget {
    /// One ICDARTS search step (α, w_S and w_E updates) at C=8, L=5, N=4,
    /// batch 32, 28×28×1, on random data.
    Search,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(value_enum, default_value = "search")]
    pub target: BenchTarget,
    /// Timed steps (after warm-up).
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Untimed warm-up steps.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    #[arg(long, default_value = "flex")]
    pub backend: Backend,
    /// Print the figures as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: BenchArgs) -> Result<()> {
    if args.steps == 0 {
        bail!("--steps must be at least 1");
    }
    let device = search::training_device(args.backend)?;
    let config = bench::SearchStepBench::default();
    let started = Instant::now();
    let times = bench::search_step_times(&config, args.warmup, args.steps, &device);
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    let images_per_s = config.batch_size as f64 / median;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "benchmark": "icdarts_search_step",
                "config": config,
                "backend": args.backend,
                "threads": threads,
                "steps": args.steps,
                "step_seconds": times,
                "median_step_ms": median * 1e3,
                "mean_step_ms": mean * 1e3,
                "images_per_s": images_per_s,
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
            median * 1e3,
            images_per_s
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
