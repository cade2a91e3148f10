//! `edgenas retrain`: train the evaluation network of a genotype from scratch.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use pipeline::run::RetrainJob;

use super::args::{BackendArgs, DataArgs, OutArgs, RetrainOpts};
use ui::Bars;

#[derive(Args, Debug)]
pub struct RetrainArgs {
    /// genotype.json written by `edgenas search`.
    #[arg(long)]
    pub genotype: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub opts: RetrainOpts,
    /// Seed of the initialization, batches and augmentation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten)]
    pub out: OutArgs,
    /// Continue an interrupted retraining from its checkpoint
    /// (`.OUT.checkpoint` beside --out, written after every epoch) with the
    /// same options: the result is bit for bit that of an uninterrupted run.
    /// Without a checkpoint, starts from the beginning.
    #[arg(long)]
    pub resume: bool,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: RetrainArgs) -> Result<()> {
    let job = RetrainJob {
        genotype: args.genotype,
        data: args.data.data,
        settings: args.opts.settings(args.seed),
        backend: args.backend.backend,
        out: args.out.out,
        force: args.out.force,
        resume: args.resume,
    };
    let result = pipeline::run::retrain(&job, &Bars)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        eprintln!(
            "test accuracy {:.2}% on {} images; wrote {}",
            result.test_accuracy,
            result.test_samples,
            result.weights_path.display()
        );
    }
    Ok(())
}
