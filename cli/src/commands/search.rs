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
    /// Continue an interrupted search from its checkpoint (`.OUT.checkpoint`
    /// beside --out, written after every epoch) with the same options: the
    /// genotype, α and weights are bit for bit those of an uninterrupted
    /// search. Without a checkpoint, starts from the beginning.
    #[arg(long)]
    pub resume: bool,
    /// Per-node candidate op sets instead of --space: a JSON file
    /// `{"normal": [[ops of node 0], …], "reduce": [[…], …]}` with op names
    /// as in genotypes (one list per node). Every edge into a node mixes
    /// that node's ops; `edgenas tournament` writes one per game.
    #[arg(long, value_name = "FILE")]
    pub node_ops: Option<PathBuf>,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The node op sets of `path` (`--node-ops`).
pub fn read_node_ops(path: &std::path::Path) -> Result<arch::NodeOpSets> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read the node op sets {}: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{} is not a node op set file: {e}", path.display()))
}

pub fn run(args: SearchArgs) -> Result<()> {
    args.penalty.check()?;
    let flags = args.penalty.needing_a_table();
    if args.lut.is_none() && !flags.is_empty() {
        anyhow::bail!(
            "{} need(s) a latency table: pass --lut (a table from `latency-lut profile`)",
            flags.join(", ")
        );
    }
    let mut config = args.opts.config();
    if let Some(path) = &args.node_ops {
        config.node_ops = Some(read_node_ops(path)?);
    }
    let job = SearchJob {
        data: args.data.data,
        config,
        latency: SearchLatency {
            lut: args.lut,
            penalty: args.penalty.settings(0.0),
            deploy: args.deploy.size(),
        },
        backend: args.backend.backend,
        out: args.out.out,
        force: args.out.force,
        resume: args.resume,
    };
    let result = pipeline::run::search(&job, &Bars)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        eprintln!(
            "genotype ({}):\n{}",
            result.genotype.relaxation, result.genotype
        );
        if let Some(b) = &result.budget {
            eprintln!(
                "latency budget {} ms: predicted {:.3} ms ({} repair(s) after discretization at {:.3} ms)",
                b.budget_ms,
                b.predicted_ms,
                b.repairs.len(),
                b.discretized_ms
            );
        }
        eprintln!("wrote {}", result.genotype_path.display());
    }
    Ok(())
}
