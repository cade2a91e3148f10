//! `edgenas`: search, retrain and ship neural networks that are accurate and
//! fast on a target device. The binary only parses arguments and calls the
//! library crates; each subcommand lives in `commands/<name>.rs`.

mod commands;
mod progress;

use clap::{Parser, Subcommand};

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
    /// The main job: search a cell on the data, then retrain the network and
    /// test it. Writes OUT/search/ and OUT/retrain/ and prints a summary.
    Run(commands::run::RunArgs),
    /// Architecture search (ICDARTS or first-order DARTS) on the training
    /// split, halved into train/val. Writes genotype.json, alphas.json,
    /// metrics.jsonl and search.json into --out.
    Search(commands::search::SearchArgs),
    /// Retrain the evaluation network of a genotype from scratch on the full
    /// training split and test it. Writes weights.bpk, model.json and
    /// metrics.jsonl into --out.
    Retrain(commands::retrain::RetrainArgs),
    /// Measure training throughput of a fixed small configuration.
    Bench(commands::bench::BenchArgs),
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_secs()
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::Search(args) => commands::search::run(args),
        Command::Retrain(args) => commands::retrain::run(args),
        Command::Bench(args) => commands::bench::run(args),
    };
    if let Err(err) = result {
        // One line: the chain of causes, outermost first.
        let chain: Vec<String> = err.chain().map(|c| c.to_string()).collect();
        eprintln!("error: {}", chain.join(": "));
        std::process::exit(1);
    }
}
