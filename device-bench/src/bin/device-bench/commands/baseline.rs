//! `device-bench baseline`: freeze a report as the gate's baseline.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use device_bench::{Baseline, BenchReport};

#[derive(Args, Debug)]
pub struct BaselineArgs {
    /// The report to freeze (`device-bench run --out`).
    #[arg(long)]
    pub report: PathBuf,
    /// The baseline file to write or replace (atomically); commit it.
    #[arg(long)]
    pub out: PathBuf,
    /// Print the baseline as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: BaselineArgs) -> Result<()> {
    let report = BenchReport::load(&args.report)?;
    if report.settings.injected_slowdown_ms > 0.0 {
        bail!(
            "{}: measured with a test-only injected slowdown ({} ms per inference); not usable as a baseline",
            args.report.display(),
            report.settings.injected_slowdown_ms
        );
    }
    let baseline = Baseline::new(report, &args.report);
    baseline.save(&args.out)?;
    let r = &baseline.report;
    log::info!(
        "baseline {} from {}: accuracy {:.2}%, {}",
        args.out.display(),
        args.report.display(),
        r.accuracy.percent,
        r.latency
            .iter()
            .map(|l| format!(
                "batch {} at {:.3}× the calibration workload",
                l.batch, l.calibration_ratio
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if args.json {
        print!("{}", baseline.to_json());
    }
    Ok(())
}
