//! `device-bench run`: measure a model and write its report.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use artifacts::progress::Progress;
use clap::Args;
use device_bench::{BenchDevice, RunOptions, SLOWDOWN_ENV};
use runtime::remote::{RemoteTarget, Token};
use ui::RemoteArgs;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The ONNX model written by `edgenas export` (its metadata gives the
    /// input normalization and class names).
    #[arg(long)]
    pub model: PathBuf,
    /// The data whose test split is measured: a dataset folder (MNIST-style
    /// IDX or CIFAR-10 binary) or `builtin:digits`.
    #[arg(long)]
    pub data: String,
    /// Where the model runs. Only `cpu` (tract on a CPU) runs in this build;
    /// to measure a Jetson's CPU, run device-bench on the Jetson, or here
    /// with --remote.
    #[arg(long, default_value = "cpu", value_parser = parse_device)]
    pub device: BenchDevice,
    // --remote: the model and the calibration workload are timed on the
    // device exactly as they would be here, and the report names the
    // device's host. The accuracy is still computed here: tract's results
    // do not depend on the machine.
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The report to write (JSON, atomically, only when the run succeeded).
    #[arg(long)]
    pub out: PathBuf,
    /// Batch of the accuracy pass and of the second latency measurement
    /// (latency is always measured at batch 1 too).
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Untimed runs of each workload before timing.
    #[arg(long, default_value_t = 10)]
    pub warmup: usize,
    /// Timed runs of each workload: the model at each batch size, and the
    /// calibration workload at the same batch, alternating run by run.
    #[arg(long, default_value_t = 50)]
    pub repeats: usize,
    /// Add a per-node time breakdown of tract's optimized plan to the report
    /// (and print the slowest nodes).
    #[arg(long)]
    pub profile: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// TEST ONLY: busy-wait this many milliseconds after every model
    /// inference, to show that `check` catches a slower model. Also read
    /// from DEVICE_BENCH_INJECT_SLOWDOWN_MS. `baseline` refuses such reports.
    #[arg(long, hide = true)]
    pub inject_slowdown_ms: Option<f64>,
}

fn parse_device(s: &str) -> Result<BenchDevice, String> {
    s.parse()
        .map_err(|e: device_bench::BenchError| e.to_string())
}

/// The test-only slowdown from the flag, else from the environment.
fn slowdown(flag: Option<f64>) -> Result<Duration> {
    let ms = match flag {
        Some(ms) => ms,
        None => match std::env::var(SLOWDOWN_ENV) {
            Ok(text) => text
                .trim()
                .parse()
                .with_context(|| format!("{SLOWDOWN_ENV}={text:?} is not a number"))?,
            Err(_) => 0.0,
        },
    };
    if !ms.is_finite() || ms < 0.0 {
        bail!("the injected slowdown must be a non-negative number of milliseconds, not {ms}");
    }
    Ok(Duration::from_secs_f64(ms / 1e3))
}

pub fn run(args: RunArgs) -> Result<()> {
    let options = RunOptions {
        device: args.device,
        batch: args.batch,
        warmup: args.warmup,
        repeats: args.repeats,
        profile: args.profile,
        inject_slowdown: slowdown(args.inject_slowdown_ms)?,
        remote: match args.remote.remote {
            Some(address) => Some(RemoteTarget {
                address,
                token: Token::resolve(args.remote.token_file.as_deref())?,
            }),
            None => None,
        },
    };
    // Fail before minutes of measuring, not when writing the report.
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        bail!(
            "--out {}: the folder {} does not exist",
            args.out.display(),
            parent.display()
        );
    }
    let data = datasets::load(&args.data)?;
    log::info!("{}", data.describe());

    let bar = ui::Bars.start("accuracy (images)", data.test.len);
    let result =
        device_bench::run_with_progress(&args.model, &data, &options, &mut |done, total| {
            bar.set(done, total, "")
        });
    bar.finish();
    let report = result?;
    report.save(&args.out)?;

    if args.profile {
        for latency in &report.latency {
            if let Some(profile) = &latency.profile {
                log::info!(
                    "profile, batch {}: {:.3} ms in nodes over {} runs; slowest:",
                    latency.batch,
                    profile.nodes_total_ms,
                    profile.runs
                );
                for node in profile.nodes.iter().take(10) {
                    log::info!(
                        "  {:>8.4} ms {:>5.1}%  {:<14} {}",
                        node.mean_ms,
                        node.percent,
                        node.op,
                        node.name
                    );
                }
            }
        }
    }
    log::info!("report written to {}", args.out.display());
    if args.json {
        print!("{}", report.to_json());
    }
    Ok(())
}
