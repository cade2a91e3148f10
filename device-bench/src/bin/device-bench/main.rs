//! `device-bench`: accuracy and latency of an exported model on the target
//! runtime (tract), and the CI regression gate. The binary parses
//! arguments, calls the `device_bench` library and maps the outcome to an
//! exit code; each subcommand lives in `commands/<name>.rs`.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Accuracy and latency of an exported edgenas model on the target runtime
/// (tract), and a regression gate for CI.
///
/// Typical CI use: `device-bench run` writes a report, `device-bench check`
/// compares it with a committed baseline (exit 1 on a regression), and
/// `device-bench baseline` refreshes that baseline from a report.
///
/// Exit codes: 0 success, 1 regression (check), 2 bad input (missing,
/// corrupt or mismatched files, unsupported device, usage errors). Logs go to
/// stderr (RUST_LOG=debug for more); --json prints the result on stdout.
#[derive(Parser)]
#[command(name = "device-bench", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure a model: accuracy on the whole test split, latency at batch 1
    /// and --batch, and the calibration workload; write a JSON report.
    Run(commands::run::RunArgs),
    /// Compare a report with a baseline: latency ratios to the calibration
    /// workload and accuracy. Exit 0 pass, 1 regression, 2 bad input.
    Check(commands::check::CheckArgs),
    /// Write (or refresh) a baseline file from a report.
    Baseline(commands::baseline::BaselineArgs),
}

/// Exit code of a measured regression.
const EXIT_REGRESSION: u8 = 1;
/// Exit code of every error: bad input, unsupported device, failed write.
const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    ui::init_logging();
    runtime::memory::keep_freed_memory();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => commands::run::run(args).map(|()| true),
        Command::Check(args) => commands::check::run(args),
        Command::Baseline(args) => commands::baseline::run(args).map(|()| true),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(EXIT_REGRESSION),
        Err(err) => {
            eprintln!("{}", ui::one_line(&err));
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}
