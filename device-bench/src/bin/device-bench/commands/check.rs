//! `device-bench check`: the regression gate.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use device_bench::{GateSettings, gate, read_reference};

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The report of the run under test (`device-bench run --out`).
    #[arg(long)]
    pub report: PathBuf,
    /// The baseline (`device-bench baseline --out`), or another report.
    #[arg(long)]
    pub baseline: PathBuf,
    /// Smallest latency threshold in percent: a latency ratio may grow by
    /// max(FLOOR, K × noise) before the gate fails.
    #[arg(long, value_name = "FLOOR", default_value_t = GateSettings::default().floor_pct)]
    pub tolerance_floor: f64,
    /// K: the latency threshold is at least K times the measured noise (the
    /// (p90 − p10) / p50 spreads of model and calibration, report and
    /// baseline, added in quadrature).
    #[arg(long, value_name = "K", default_value_t = GateSettings::default().noise_factor)]
    pub noise_factor: f64,
    /// Test samples the accuracy may lose (0: the same model on the same data
    /// must be exactly as accurate).
    #[arg(long, value_name = "SAMPLES", default_value_t = 0)]
    pub accuracy_tolerance: usize,
    /// Print the outcome as JSON on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Ok(true) on pass, Ok(false) on a regression.
pub fn run(args: CheckArgs) -> Result<bool> {
    if !(args.tolerance_floor >= 0.0 && args.noise_factor >= 0.0) {
        bail!("--tolerance-floor and --noise-factor must be non-negative numbers");
    }
    let settings = GateSettings {
        floor_pct: args.tolerance_floor,
        noise_factor: args.noise_factor,
        accuracy_tolerance: args.accuracy_tolerance,
    };
    let report = read_reference(&args.report)?;
    let device_bench::Reference::Report(report) = report else {
        bail!(
            "{}: this is a baseline, --report takes a report of `device-bench run`",
            args.report.display()
        );
    };
    let baseline = read_reference(&args.baseline)?;
    let outcome = gate::compare(
        &report,
        baseline.report(),
        &args.report,
        &args.baseline,
        &settings,
    )?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&outcome).expect("the outcome serializes")
        );
    } else {
        print!("{}", gate::render_table(&outcome));
    }
    if !outcome.passed {
        log::error!(
            "{} regressed against {}",
            args.report.display(),
            args.baseline.display()
        );
    }
    Ok(outcome.passed)
}
