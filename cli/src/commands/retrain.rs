//! `edgenas retrain`: train the evaluation network of a genotype from scratch.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use datasets::Dataset;
use search::report::{self, GenotypeFile, ModelFile};
use search::stage::retrain_into;
use search::{Backend, RetrainConfig};
use serde_json::json;

use super::search::DataArgs;
use crate::progress::Bars;

/// Options of the retraining stage (defaults: SPEC §6 optimizer at CPU scale).
#[derive(Args, Debug, Clone)]
pub struct RetrainOpts {
    /// Training epochs.
    #[arg(long, default_value_t = RetrainConfig::default().epochs)]
    pub epochs: usize,
    /// C of the evaluation network.
    #[arg(long, default_value_t = RetrainConfig::default().channels)]
    pub channels: usize,
    /// L of the evaluation network.
    #[arg(long, default_value_t = RetrainConfig::default().layers)]
    pub layers: usize,
    /// Images per batch.
    #[arg(long, default_value_t = RetrainConfig::default().batch_size)]
    pub batch_size: usize,
    /// Initial SGD learning rate (cosine-annealed to 0).
    #[arg(long, default_value_t = RetrainConfig::default().lr)]
    pub lr: f64,
    /// Random-translation padding in pixels (0 = off; default: an eighth of
    /// the image side, CIFAR's 4 px at 32×32).
    #[arg(long)]
    pub crop_padding: Option<usize>,
    /// Cutout square side in pixels (0 = off; default: a quarter of the image side).
    #[arg(long)]
    pub cutout: Option<usize>,
    /// Final drop-path probability.
    #[arg(long, default_value_t = RetrainConfig::default().drop_path)]
    pub drop_path: f64,
    /// Auxiliary-head loss weight (0 = no head).
    #[arg(long, default_value_t = RetrainConfig::default().aux_weight)]
    pub aux_weight: f64,
    /// Train on a seeded random sample of this many training images.
    #[arg(long)]
    pub train_subset: Option<usize>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Training backend: flex (CPU) or cuda.
    #[arg(long, default_value = "flex")]
    pub backend: Backend,
}

impl RetrainOpts {
    pub fn config(&self, data: &Dataset) -> RetrainConfig {
        let d = RetrainConfig::default();
        RetrainConfig {
            epochs: self.epochs,
            channels: self.channels,
            layers: self.layers,
            batch_size: self.batch_size,
            lr: self.lr,
            crop_padding: self.crop_padding.unwrap_or(data.height / 8),
            cutout: self.cutout.unwrap_or(data.height / 4),
            drop_path: self.drop_path,
            aux_weight: self.aux_weight,
            train_subset: self.train_subset,
            seed: self.seed,
            ..d
        }
    }
}

#[derive(Args, Debug)]
pub struct RetrainArgs {
    /// genotype.json written by `edgenas search`.
    #[arg(long)]
    pub genotype: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub opts: RetrainOpts,
    /// Output folder (created; must not exist or be empty unless --force).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub force: bool,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: RetrainArgs) -> Result<()> {
    let genotype = GenotypeFile::load(&args.genotype)?;
    let data = args.data.load()?;
    let config = args.opts.config(&data);
    let device = search::training_device(args.opts.backend)?;
    let model = retrain_into(
        &config, &genotype, &data, &device, &Bars, &args.out, args.force,
    )?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&retrain_json(&model, &args.out))?
        );
    } else {
        eprintln!(
            "test accuracy {:.2}% on {} images; wrote {}",
            model.test_accuracy,
            model.test_samples,
            args.out.join(report::WEIGHTS_FILE).display()
        );
    }
    Ok(())
}

/// The JSON summary of a retraining printed with --json.
pub fn retrain_json(model: &ModelFile, out: &Path) -> serde_json::Value {
    json!({
        "test_accuracy": model.test_accuracy,
        "test_samples": model.test_samples,
        "weights_path": out.join(report::WEIGHTS_FILE),
        "model_path": out.join(report::MODEL_FILE),
        "metrics_path": out.join(report::METRICS_FILE),
        "seconds": model.seconds,
    })
}
