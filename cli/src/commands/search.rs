//! `edgenas search`: architecture search into an output folder.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use pipeline::run::{SearchJob, SearchLatency};

use super::args::{BackendArgs, DataArgs, OutArgs, PenaltyArgs, SearchOpts};
use ui::Bars;
use ui::DeployArgs;

#[derive(Args, Debug)]
pub struct SearchArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub opts: SearchOpts,
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Latency table (from `latency-lut profile`) that drives δ·P(α).
    #[arg(long)]
    pub lut: Option<PathBuf>,
    #[command(flatten)]
    pub penalty: PenaltyArgs,
    #[command(flatten)]
    pub deploy: DeployArgs,
    #[command(flatten)]
    pub out: OutArgs,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: SearchArgs) -> Result<()> {
    let job = SearchJob {
        data: args.data.data,
        config: args.opts.config(),
        latency: SearchLatency {
            lut: args.lut,
            penalty: args.penalty.settings(0.0),
            deploy: args.deploy.size(),
        },
        backend: args.backend.backend,
        out: args.out.out,
        force: args.out.force,
    };
    let result = pipeline::run::search(&job, &Bars)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        eprintln!(
            "genotype ({}):\n{}",
            result.genotype.relaxation, result.genotype
        );
        eprintln!("wrote {}", result.genotype_path.display());
    }
    Ok(())
}
