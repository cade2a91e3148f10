//! `device-bench baseline`: freeze a report as the gate's baseline.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use device_bench::{Baseline, BenchReport};

#[derive(Args, Debug)]
pub struct BaselineArgs {
    /// The report to freeze (`device-bench run --out`). Repeat it with
    /// reports of several runs of the same model: the baseline then holds
    /// the median ratio per batch size and their run-to-run range, below
    /// which the gate never fails.
    #[arg(long, required = true)]
    pub report: Vec<PathBuf>,
    /// The baseline file to write or replace (atomically); commit it.
    #[arg(long)]
    pub out: PathBuf,
    /// Print the baseline as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: BaselineArgs) -> Result<()> {
    let mut runs = Vec::new();
    for path in &args.report {
        let report = BenchReport::load(path)?;
        if report.settings.injected_slowdown_ms > 0.0 {
            bail!(
                "{}: measured with a test-only injected slowdown ({} ms per inference); not usable as a baseline",
                path.display(),
                report.settings.injected_slowdown_ms
            );
        }
        runs.push((report, path.clone()));
    }
    let baseline = Baseline::from_runs(&runs)?;
    baseline.save(&args.out)?;
    let r = &baseline.report;
    log::info!(
        "baseline {} from {}: accuracy {:.2}%, {}",
        args.out.display(),
        baseline.source_report,
        r.accuracy.percent,
        r.latency
            .iter()
            .map(|l| format!(
                "batch {} at {:.3}× the calibration workload (run to run {})",
                l.batch,
                l.calibration_ratio,
                l.run_to_run_pct
                    .map_or("not measured".into(), |p| format!("{p:.1} %"))
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if args.json {
        print!("{}", baseline.to_json());
    }
    Ok(())
}
