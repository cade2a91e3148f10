//! `edgenas run`: the main job — search, then retrain, into one folder.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use search::RetrainConfig;
use search::artifact::{StagedDir, write_json};
use search::report::{self, tool_version};
use serde_json::json;

use super::retrain::RetrainOpts;
use super::search::{DataArgs, SearchOpts};
use crate::progress::Bars;
use search::stage::{retrain_into, search_into};

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub search: SearchOpts,
    /// Retraining epochs.
    #[arg(long, default_value_t = RetrainConfig::default().epochs)]
    pub retrain_epochs: usize,
    /// C of the retrained evaluation network.
    #[arg(long, default_value_t = RetrainConfig::default().channels)]
    pub retrain_channels: usize,
    /// L of the retrained evaluation network.
    #[arg(long, default_value_t = RetrainConfig::default().layers)]
    pub retrain_layers: usize,
    /// Images per retraining batch.
    #[arg(long, default_value_t = RetrainConfig::default().batch_size)]
    pub retrain_batch_size: usize,
    /// Retrain on a seeded sample of this many training images (default: all).
    #[arg(long)]
    pub retrain_subset: Option<usize>,
    /// Output folder: OUT/search, OUT/retrain and OUT/run.json.
    #[arg(long, default_value = "runs/default")]
    pub out: PathBuf,
    /// Replace an existing output folder.
    #[arg(long)]
    pub force: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: RunArgs) -> Result<()> {
    let started = Instant::now();
    let search_config = args.search.config();
    search_config.validate()?;
    let data = args.data.load()?;
    let defaults = RetrainConfig::default();
    let retrain_opts = RetrainOpts {
        epochs: args.retrain_epochs,
        channels: args.retrain_channels,
        layers: args.retrain_layers,
        batch_size: args.retrain_batch_size,
        lr: defaults.lr,
        crop_padding: None,
        cutout: None,
        drop_path: defaults.drop_path,
        aux_weight: defaults.aux_weight,
        train_subset: args.retrain_subset,
        seed: args.search.seed,
        backend: args.search.backend,
    };
    let retrain_config = retrain_opts.config(&data);

    let staged = StagedDir::create(&args.out, args.force)?;
    let search_dir = staged.path().join("search");
    let retrain_dir = staged.path().join("retrain");
    let device = search::training_device(args.search.backend)?;
    let searched = search_into(
        &search_config,
        &data,
        &device,
        None,
        &Bars,
        &search_dir,
        false,
    )?;
    let model = retrain_into(
        &retrain_config,
        &searched.genotype,
        &data,
        &device,
        &Bars,
        &retrain_dir,
        false,
    )?;
    let seconds = started.elapsed().as_secs_f64();
    let out = &args.out;
    let summary = json!({
        "schema_version": report::ARTIFACT_SCHEMA_VERSION,
        "tool": tool_version(),
        "data": data.source,
        "cell": search_config.relaxation,
        "algo": search_config.algo,
        "seed": search_config.seed,
        "genotype": searched.genotype,
        "search_val_accuracy": searched.final_search_val_accuracy,
        "eval_val_accuracy": searched.final_eval_val_accuracy,
        "test_accuracy": model.test_accuracy,
        "test_samples": model.test_samples,
        "search_seconds": searched.seconds,
        "retrain_seconds": model.seconds,
        "seconds": seconds,
        "genotype_path": out.join("search").join(report::GENOTYPE_FILE),
        "search_metrics_path": out.join("search").join(report::METRICS_FILE),
        "weights_path": out.join("retrain").join(report::WEIGHTS_FILE),
        "model_path": out.join("retrain").join(report::MODEL_FILE),
        "run_path": out.join("run.json"),
    });
    write_json(&staged.path().join("run.json"), &summary)?;
    staged.commit()?;

    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        eprintln!();
        eprintln!("edgenas run on {} ({:.0} s)", data.source, seconds);
        eprintln!("  cell ({}):", search_config.relaxation);
        for line in searched.genotype.to_string().lines() {
            eprintln!("    {line}");
        }
        eprintln!(
            "  search: val accuracy S {:.2}%{} in {:.0} s",
            searched.final_search_val_accuracy,
            searched
                .final_eval_val_accuracy
                .map(|a| format!(", E {a:.2}%"))
                .unwrap_or_default(),
            searched.seconds
        );
        eprintln!(
            "  retrain: test accuracy {:.2}% on {} images in {:.0} s",
            model.test_accuracy, model.test_samples, model.seconds
        );
        eprintln!("  artifacts: {}", out.display());
    }
    Ok(())
}
