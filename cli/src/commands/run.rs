//! `edgenas run`: the main job — latency table, search, retrain, export and
//! the measurement on the device, into one folder.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use pipeline::RunConfig;

use super::args::{BackendArgs, DataArgs, PenaltyArgs, RunRetrainOpts, SearchOpts};
use ui::Bars;

/// The main job's default δ (P(α) in milliseconds).
pub const RUN_LATENCY_COEF: f64 = 0.1;

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub search: SearchOpts,
    #[command(flatten)]
    pub retrain: RunRetrainOpts,
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Target device whose latency the search penalizes: `cpu` (tract),
    /// `jetson` (burn-cuda; needs a CUDA build) or a TOML device file.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    #[command(flatten)]
    pub penalty: PenaltyArgs,
    /// Folder of measured latency tables, reused when the device profile and
    /// the template match (checked by fingerprint; a remote device's tables
    /// also by its host).
    #[arg(long, default_value = "runs/lut-cache")]
    pub lut_cache: PathBuf,
    // --remote: the latency table (tract profiles only) and the deployed
    // model's latency are measured on the device; search, retraining,
    // export and the accuracy run here.
    #[command(flatten)]
    pub remote: ui::RemoteArgs,
    /// Output folder: OUT/search, OUT/retrain, OUT/model.onnx,
    /// OUT/report.json, OUT/cells.svg (the cell diagram) and OUT/run.json.
    #[arg(long, default_value = "runs/default")]
    pub out: PathBuf,
    /// Replace an existing output folder.
    #[arg(long)]
    pub force: bool,
    /// Skip the search and retrain a uniformly random genotype instead
    /// (seeded by --seed); with --latency-budget, one whose predicted
    /// latency lies within [0.8·budget, budget] (rejection sampling): the
    /// baseline a budget search must beat.
    #[arg(long, conflicts_with = "genotype")]
    pub random_genotype: bool,
    /// Skip the search and retrain this genotype (a genotype.json from
    /// `edgenas search`, `run` or `tournament`); the latency table also
    /// covers its ops.
    #[arg(long, value_name = "FILE")]
    pub genotype: Option<PathBuf>,
    /// Continue an interrupted run from its checkpoint (`.OUT.checkpoint`
    /// beside --out) with the same options: finished stages are kept, the
    /// interrupted one continues from its last epoch, and the result is bit
    /// for bit that of an uninterrupted run. Without a checkpoint, starts
    /// from the beginning.
    #[arg(long)]
    pub resume: bool,
    /// Print the summary (run.json) on stdout.
    #[arg(long)]
    pub json: bool,
    /// Only make sure the latency table of this run's device and networks
    /// is in --lut-cache (measuring it now if it is not), print its path
    /// and stop: no training, nothing written to --out. `edgenas sweep
    /// --executor slurm` does this once before its job array.
    #[arg(long)]
    pub table_only: bool,
}

pub fn run(args: RunArgs) -> Result<()> {
    args.penalty.check()?;
    let remote = args.remote.remote.clone();
    let config = RunConfig {
        data: args.data.data,
        search: args.search.config(),
        retrain: args.retrain.settings(args.search.seed),
        backend: args.backend.backend,
        device: args.device,
        penalty: args.penalty.settings(RUN_LATENCY_COEF),
        lut_cache: args.lut_cache,
        out: args.out,
        force: args.force,
        random_genotype: args.random_genotype,
        genotype: match &args.genotype {
            Some(path) => {
                Some(artifacts::GenotypeFile::load(path).map_err(|e| anyhow::anyhow!("{e}"))?)
            }
            None => None,
        },
        resume: args.resume,
        remote: args.remote.remote.map(|address| pipeline::run::RemoteSpec {
            address,
            token_file: args.remote.token_file,
        }),
    };
    if args.table_only {
        let path = pipeline::run::table(&config, &Bars)?;
        if args.json {
            println!("{}", serde_json::json!({ "lut_path": path }));
        }
        eprintln!("latency table: {}", path.display());
        return Ok(());
    }
    let s = pipeline::run(&config, &Bars)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    print_summary(&s, remote.as_deref());
    Ok(())
}

/// The human-readable summary of a run on stderr.
pub fn print_summary(s: &artifacts::RunSummary, remote: Option<&str>) {
    eprintln!();
    eprintln!("edgenas run on {} ({:.0} s)", s.data, s.seconds);
    eprintln!("  cell ({}):", s.cell);
    for line in s.genotype.to_string().lines() {
        eprintln!("    {line}");
    }
    match s.search_val_accuracy {
        Some(acc) => eprintln!(
            "  search: val accuracy S {acc:.2}%{} in {:.0} s",
            s.eval_val_accuracy
                .map(|a| format!(", E {a:.2}%"))
                .unwrap_or_default(),
            s.search_seconds
        ),
        None => eprintln!("  no search: a {} genotype", s.genotype_source),
    }
    eprintln!(
        "  retrain: test accuracy {:.2}% on {} images in {:.0} s",
        s.test_accuracy, s.test_samples, s.retrain_seconds
    );
    let table = s
        .penalty
        .lut_path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    match s.penalty.budget_ms {
        Some(budget) => eprintln!(
            "  latency on {}: budget {budget} ms, predicted {:.3} ms per image (δ by dual ascent, P = {}, {}; table {table})",
            s.device,
            s.predicted_latency_ms,
            s.penalty.kind.name(),
            s.penalty.unit(),
        ),
        None => eprintln!(
            "  latency on {}: predicted {:.3} ms per image (δ = {}, P = {}, {}; table {table})",
            s.device,
            s.predicted_latency_ms,
            s.penalty.coef,
            s.penalty.kind.name(),
            s.penalty.unit(),
        ),
    }
    eprintln!(
        "  deployed: {} — tract accuracy {:.2}% on {} images, latency {:.3} ms p50 / {:.3} ms p90 at batch 1, 1 thread",
        s.onnx_path.display(),
        s.tract_accuracy,
        s.test_samples,
        s.tract_latency_ms_p50,
        s.tract_latency_ms_p90
    );
    if let Some(address) = remote {
        eprintln!("  the table and the deployed latency were measured on the device at {address}");
    }
    if let (Some(budget), Some(met), Some(over)) =
        (s.penalty.budget_ms, s.budget_met, s.budget_over_pct)
    {
        eprintln!(
            "  budget {budget} ms {} on the device: tract p50 {:.3} ms, p90 {:.3} ms ({} by {:.1} %)",
            if met { "MET" } else { "MISSED" },
            s.tract_latency_ms_p50,
            s.tract_latency_ms_p90,
            if met { "under" } else { "over" },
            over.abs()
        );
    }
    let dir = s.run_path.parent().unwrap_or(&s.run_path);
    eprintln!("  artifacts: {}", dir.display());
    eprintln!(
        "  report: {} (open it in a browser)",
        dir.join(pipeline::report::REPORT_HTML).display()
    );
}
