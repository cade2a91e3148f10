//! `edgenas`: search, retrain and ship neural networks that are accurate and
//! fast on a target device. The binary only parses arguments and calls the
//! library crates; each subcommand lives in `commands/<name>.rs`.

use clap::{Parser, Subcommand};
use edgenas::commands;

/// Find, retrain and ship neural networks that are accurate and fast on a
/// target device (ICDARTS/XDARTS differentiable architecture search on burn).
///
/// Logs go to stderr (set RUST_LOG=debug for more); with --json the final
/// summary is printed on stdout as one JSON object.
#[derive(Parser)]
#[command(name = "edgenas", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The main job: measure (or reuse) the device's latency table, search a
    /// cell with the latency penalty, retrain and test the network, export
    /// it to ONNX (checked against burn) and measure it with tract. Writes
    /// OUT/search/, OUT/retrain/, OUT/model.onnx, OUT/report.json,
    /// OUT/cells.svg and OUT/run.json and prints a summary.
    Run(commands::run::RunArgs),
    /// Architecture search (ICDARTS or first-order DARTS) on the training
    /// split, halved into train/val. Writes genotype.json, alphas.json,
    /// metrics.jsonl and search.json into --out.
    Search(commands::search::SearchArgs),
    /// Retrain the evaluation network of a genotype from scratch on the full
    /// training split and test it. Writes weights.bpk, model.json and
    /// metrics.jsonl into --out.
    Retrain(commands::retrain::RetrainArgs),
    /// Export a retrained network to ONNX (BN folded, metadata for
    /// deployment), verified against burn with tract on test images.
    Export(commands::export::ExportArgs),
    /// Draw a genotype's normal and reduction cells as an SVG diagram
    /// (inputs, layered nodes, op-labelled arrows, the concatenation).
    Draw(commands::draw::DrawArgs),
    /// Write report.html into a run folder: accuracy and latency summary,
    /// cell diagrams, search and retraining curves, α heat maps, predicted
    /// vs measured latency per part, ONNX facts; one self-contained page
    /// (inline SVG, nothing fetched). `edgenas run` writes it at the end
    Report(commands::report::ReportArgs),
    /// Sweeps: one `edgenas run` per latency coefficient δ or latency
    /// budget and seed, plus random genotypes under each budget; then the
    /// deployed models (each run's verified model.onnx) timed in tract side
    /// by side; writes a table (searched vs random per budget) and an SVG of
    /// test accuracy vs measured latency with the budgets drawn.
    Sweep(commands::sweep::SweepArgs),
    /// Time the deployed models of several runs side by side: tract, batch
    /// 1, round-robin in one process, so drift of a shared machine hits
    /// them all alike; a table of p10/p50/p90 and each p50 over the
    /// first's.
    Compare(commands::compare::CompareArgs),
    /// Experiments: a declarative grid (algorithms × cells × δ or budgets ×
    /// … × seeds) from a TOML file, one `edgenas run` each, resumable; one
    /// markdown report with mean ± std per configuration, the per-seed
    /// rows, σ_α, the discretization gap and the Hessian eigenvalue, failed
    /// runs with their logs, and SVG plots.
    Experiment(commands::experiment::ExperimentArgs),
    /// The tournament-style dynamic search space (Algorithm 2): tiers of
    /// independent ICDARTS games on ops drawn per node from the dynamic
    /// space, each keeping the top half of every node's ops by α, paired
    /// and united tier by tier; the last game's genotype is then retrained,
    /// exported and measured as by `edgenas run`. Resumable game by game.
    Tournament(commands::tournament::TournamentArgs),
    /// One game of a tournament (started by `edgenas tournament`).
    #[command(hide = true)]
    Game(commands::tournament::GameArgs),
}

fn main() {
    edgenas::init_logging();
    edgenas::keep_freed_memory();
    let cli = Cli::parse();
    edgenas::clean_up_on_signals();
    let result = edgenas::on_worker_pool(|| match cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::Search(args) => commands::search::run(args),
        Command::Retrain(args) => commands::retrain::run(args),
        Command::Export(args) => commands::export::run(args),
        Command::Draw(args) => commands::draw::run(args),
        Command::Report(args) => commands::report::run(args),
        Command::Sweep(args) => commands::sweep::run(args),
        Command::Compare(args) => commands::compare::run(args),
        Command::Experiment(args) => commands::experiment::run(args),
        Command::Tournament(args) => commands::tournament::run(args),
        Command::Game(args) => commands::tournament::game(args),
    });
    if let Err(err) = result {
        // A signal's handler is exiting the process with 130/143; an error
        // caused by what it stopped must not win the race with exit 1.
        while artifacts::io::interrupted() {
            std::thread::park();
        }
        edgenas::exit_with(err, 1);
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap's own consistency check: no two flags of a command share an id
    /// or a name (flattened option groups make that easy to break).
    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
