//! `edgenas run`: the main job — search, then retrain, into one folder.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use search::RetrainConfig;
use search::artifact::{StagedDir, write_json};
use search::report::{self, tool_version};
use serde_json::json;

use latency_lut::table::fingerprint;
use latency_lut::{Lut, NetSize, PenaltyKind, predict};
use search::AlphaPenalty;
use search::latency::LatencyPenalty;

use super::export::export_model;
use super::lut::{
    calibrate_with_bar, parse_penalty, profile_with_bar, resolve_device, template_for,
};
use super::retrain::RetrainOpts;
use super::search::{DataArgs, SearchOpts};
use crate::progress::Bars;
use search::stage::{retrain_into, search_into};

/// Architectures the cached table's end-to-end calibration is fitted on.
const CALIBRATION_SAMPLES: usize = 30;

/// The main job's default δ: P(α) is in milliseconds.
pub const RUN_LATENCY_COEF: f64 = 0.1;

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
    /// Target device whose latency the search penalizes: `cpu` (tract),
    /// `jetson` (burn-cuda; needs a CUDA build) or a TOML device file.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// δ: weight of the expected latency P(α) (ms) in the α objective
    /// (0 disables the penalty; the table is still measured and used to
    /// predict the result's latency).
    #[arg(long, default_value_t = RUN_LATENCY_COEF)]
    pub latency_coef: f64,
    /// P(α): algo3 (SPEC Algorithm 3) or expected-sum (FBNet).
    #[arg(long, default_value = "algo3", value_parser = parse_penalty)]
    pub penalty: PenaltyKind,
    /// Use the dissertation's normalized per-op weights (Table 4.6 form)
    /// from the table in P(α) instead of milliseconds.
    #[arg(long)]
    pub normalize: bool,
    /// Folder of measured latency tables, reused when the device profile and
    /// the template match (checked by fingerprint).
    #[arg(long, default_value = "runs/lut-cache")]
    pub lut_cache: PathBuf,
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

    // The device's latency table: reused from the cache when one was
    // measured for the same profile and template, else profiled now.
    let profile = resolve_device(&args.device, None)?;
    let deploy = NetSize {
        channels: args.retrain_channels,
        layers: args.retrain_layers,
    };
    let template = template_for(
        &search_config,
        data.channels,
        data.height,
        data.num_classes,
        deploy,
    );
    let lut_path = args.lut_cache.join(format!(
        "lut-{}-{}.json",
        profile.name,
        fingerprint(&profile, &template)
    ));
    let mut lut = match Lut::load(&lut_path) {
        Ok(lut) => {
            log::info!("reusing latency table {}", lut_path.display());
            lut
        }
        Err(_) => {
            std::fs::create_dir_all(&args.lut_cache)
                .with_context(|| format!("--lut-cache {}", args.lut_cache.display()))?;
            profile_with_bar(&template, &profile, &lut_path)?
        }
    };
    // A table cut off between profiling and calibration is complete but
    // uncalibrated: finish it now.
    if lut.calibration.is_none() {
        calibrate_with_bar(&mut lut, &lut_path, CALIBRATION_SAMPLES, 1)?;
    }
    let penalty = LatencyPenalty::new(
        lut.clone(),
        &template,
        args.penalty,
        args.latency_coef,
        args.normalize,
    )
    .with_context(|| format!("latency table {}", lut_path.display()))?;

    let staged = StagedDir::create(&args.out, args.force)?;
    let search_dir = staged.path().join("search");
    let retrain_dir = staged.path().join("retrain");
    let device = search::training_device(args.search.backend)?;
    let searched = search_into(
        &search_config,
        &data,
        &device,
        (args.latency_coef != 0.0).then_some(&penalty as &dyn AlphaPenalty),
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
    let predicted = predict(&lut, &searched.genotype, &template.deploy_network())?;

    // Deployment: export to ONNX (verified against burn) and measure the
    // model with tract on the test split.
    let onnx_path = staged.path().join("model.onnx");
    let exported = export_model(&retrain_dir, &onnx_path, true, Some(64))?;
    let bench = device_bench::run(&onnx_path, &data, &device_bench::RunOptions::default())
        .context("device-bench on the exported model")?;
    bench.save(&staged.path().join("report.json"))?;
    let batch1 = bench
        .latency
        .iter()
        .find(|l| l.batch == 1)
        .expect("device-bench measures batch 1");
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
        "device": profile.name,
        "latency_coef": args.latency_coef,
        "penalty": args.penalty.name(),
        "normalized": args.normalize,
        "predicted_latency_ms": predicted.total_ms,
        "onnx_path": out.join("model.onnx"),
        "onnx_parity_rel_error": exported.max_rel_error,
        "report_path": out.join("report.json"),
        "tract_accuracy": bench.accuracy.percent,
        "tract_latency_ms_p50": batch1.stats.p50_ms,
        "tract_latency_ms_p90": batch1.stats.p90_ms,
        "lut_path": lut_path,
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
        eprintln!(
            "  latency on {}: predicted {:.3} ms per image (δ = {}, P = {}, table {})",
            profile.name,
            predicted.total_ms,
            args.latency_coef,
            args.penalty.name(),
            lut_path.display()
        );
        eprintln!(
            "  deployed: {} — tract accuracy {:.2}% ({} / {}), latency {:.3} ms p50 / {:.3} ms p90 at batch 1, 1 thread",
            out.join("model.onnx").display(),
            bench.accuracy.percent,
            bench.accuracy.correct,
            bench.accuracy.samples,
            batch1.stats.p50_ms,
            batch1.stats.p90_ms
        );
        eprintln!("  artifacts: {}", out.display());
    }
    Ok(())
}
