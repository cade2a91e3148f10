//! `latency-lut`: measured per-op latency tables for a target device. The
//! binary parses arguments, calls the `latency_lut` library and prints;
//! this is the tool a user copies onto the device.

mod commands;

use clap::Parser;
use commands::LutCommand;

/// Measure per-(op, shape) latency tables on a target device, predict the
/// latency of discretized networks from them, and validate the predictions
/// against end-to-end measurements (docs/algorithms.md §4). On the device,
/// `serve` lets a host do all of this from afar (`--remote`).
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
    ui::init_logging();
    runtime::memory::keep_freed_memory();
    let result = match Cli::parse().command {
        LutCommand::Profile(args) => commands::profile(args),
        LutCommand::Show(args) => commands::show(args),
        LutCommand::Predict(args) => commands::predict_cmd(args),
        LutCommand::Validate(args) => commands::validate_cmd(args),
        LutCommand::Calibrate(args) => commands::calibrate_cmd(args),
        LutCommand::Serve(args) => commands::serve(args),
    };
    if let Err(err) = result {
        let code = if err.is::<commands::NotMeasurable>() {
            commands::NOT_MEASURABLE
        } else {
            1
        };
        ui::exit_with(err, code);
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap's own consistency check of every subcommand's flags.
    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
