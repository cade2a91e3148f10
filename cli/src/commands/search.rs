//! `edgenas search`: architecture search into an output folder.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use datasets::Dataset;
use models::{Relaxation, ZeroConfig};
use search::report::{self, SearchSummary};
use search::stage::search_into;
use search::{Algo, AlphaPenalty, Backend, SearchConfig};
use serde_json::json;

use super::lut::LatencyArgs;
use crate::progress::Bars;

/// Where the data comes from.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// A dataset folder (MNIST-style IDX or CIFAR-10 binary files, gzipped or
    /// not, detected automatically) or `builtin:digits` (the embedded 8×8
    /// digits set).
    #[arg(long, default_value = "builtin:digits")]
    pub data: String,
}

impl DataArgs {
    pub fn load(&self) -> Result<Dataset> {
        let data = datasets::load(&self.data).with_context(|| format!("--data {}", self.data))?;
        log::info!("{}", data.describe());
        Ok(data)
    }
}

/// Options of the search stage (defaults: SPEC §3 optimizers at CPU scale).
#[derive(Args, Debug, Clone)]
pub struct SearchOpts {
    /// Cell relaxation / discretization: darts, idarts or xdarts.
    #[arg(long, default_value = "darts")]
    pub cell: Relaxation,
    /// Search algorithm: icdarts or darts (first-order baseline).
    #[arg(long, default_value = "icdarts")]
    pub algo: Algo,
    /// Zero-op configuration: v1 (no zero op) or v0 (DARTS: zero in the
    /// search, excluded at discretization).
    #[arg(long, default_value = "v1")]
    pub zero: ZeroConfig,
    /// Search epochs after pretraining.
    #[arg(long, default_value_t = SearchConfig::default().epochs)]
    pub epochs: usize,
    /// Epochs of search-weight pretraining with α frozen.
    #[arg(long, default_value_t = SearchConfig::default().pretrain_epochs)]
    pub pretrain_epochs: usize,
    /// Warm-up epochs of each rebuilt evaluation network.
    #[arg(long, default_value_t = SearchConfig::default().warmup_epochs)]
    pub warmup_epochs: usize,
    /// C: channels of the search network.
    #[arg(long, default_value_t = SearchConfig::default().channels)]
    pub channels: usize,
    /// L: cells of the search network.
    #[arg(long, default_value_t = SearchConfig::default().layers)]
    pub layers: usize,
    /// N: intermediate nodes per cell.
    #[arg(long, default_value_t = SearchConfig::default().nodes)]
    pub nodes: usize,
    /// C of the search-phase evaluation network.
    #[arg(long, default_value_t = SearchConfig::default().eval_channels)]
    pub eval_channels: usize,
    /// L of the search-phase evaluation network.
    #[arg(long, default_value_t = SearchConfig::default().eval_layers)]
    pub eval_layers: usize,
    /// Images per batch (train and val batches alike).
    #[arg(long, default_value_t = SearchConfig::default().batch_size)]
    pub batch_size: usize,
    /// Search on a seeded random sample of this many training images.
    #[arg(long)]
    pub train_subset: Option<usize>,
    /// Adam learning rate of α (SPEC §3: 3e-4). Adam moves each α by about
    /// this much per step whatever the gradient's size, so a short CPU
    /// search (a few hundred α steps instead of the paper's ~20,000) leaves
    /// α, and the latency penalty's effect on it, near where it started;
    /// raise it for short searches and δ sweeps.
    #[arg(long, default_value_t = SearchConfig::default().lr_alpha)]
    pub arch_lr: f64,
    /// Seed of every random choice (split, init, batches): the same seed on
    /// the same machine gives the same genotype bit for bit.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Training backend: flex (CPU) or cuda (needs a build with --features cuda).
    #[arg(long, default_value = "flex")]
    pub backend: Backend,
}

impl SearchOpts {
    pub fn config(&self) -> SearchConfig {
        let d = SearchConfig::default();
        SearchConfig {
            algo: self.algo,
            relaxation: self.cell,
            zero: self.zero,
            epochs: self.epochs,
            pretrain_epochs: self.pretrain_epochs,
            warmup_epochs: self.warmup_epochs,
            channels: self.channels,
            layers: self.layers,
            nodes: self.nodes,
            eval_channels: self.eval_channels,
            eval_layers: self.eval_layers,
            batch_size: self.batch_size,
            train_subset: self.train_subset,
            lr_alpha: self.arch_lr,
            seed: self.seed,
            ..d
        }
    }
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub opts: SearchOpts,
    #[command(flatten)]
    pub latency: LatencyArgs,
    /// Output folder (created; must not exist or be empty unless --force).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing output folder.
    #[arg(long)]
    pub force: bool,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: SearchArgs) -> Result<()> {
    let config = args.opts.config();
    config.validate()?;
    let data = args.data.load()?;
    let penalty = args.latency.penalty(&config, &data)?;
    let device = search::training_device(args.opts.backend)?;
    let summary = search_into(
        &config,
        &data,
        &device,
        penalty.as_ref().map(|p| p as &dyn AlphaPenalty),
        &Bars,
        &args.out,
        args.force,
    )?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&search_json(&summary, &args.out))?
        );
    } else {
        eprintln!(
            "genotype ({}):\n{}",
            summary.genotype.relaxation, summary.genotype
        );
        eprintln!("wrote {}", args.out.join(report::GENOTYPE_FILE).display());
    }
    Ok(())
}

/// The JSON summary of a search printed with --json.
pub fn search_json(summary: &SearchSummary, out: &Path) -> serde_json::Value {
    json!({
        "genotype_path": out.join(report::GENOTYPE_FILE),
        "alphas_path": out.join(report::ALPHAS_FILE),
        "metrics_path": out.join(report::METRICS_FILE),
        "search_val_accuracy": summary.final_search_val_accuracy,
        "predicted_latency_ms": summary.predicted_latency_ms,
        "eval_val_accuracy": summary.final_eval_val_accuracy,
        "seconds": summary.seconds,
        "genotype": summary.genotype,
    })
}
