//! `latency-lut`: measured per-op latency tables for a target device.

use clap::Parser;
use edgenas::commands::lut::{self, LutCommand};

/// Measure per-(op, shape) latency tables on a target device, predict the
/// latency of discretized networks from them, and validate the predictions
/// against end-to-end measurements (SPEC §4).
///
/// Logs go to stderr (RUST_LOG=debug for more); --json prints results on
/// stdout.
#[derive(Parser)]
#[command(name = "latency-lut", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: LutCommand,
}

fn main() {
    edgenas::init_logging();
    let result = match Cli::parse().command {
        LutCommand::Profile(args) => lut::profile(args),
        LutCommand::Show(args) => lut::show(args),
        LutCommand::Predict(args) => lut::predict_cmd(args),
        LutCommand::Validate(args) => lut::validate_cmd(args),
        LutCommand::Calibrate(args) => lut::calibrate_cmd(args),
    };
    if let Err(err) = result {
        edgenas::exit_with(err, 1);
    }
}
