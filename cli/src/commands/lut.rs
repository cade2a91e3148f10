//! `latency-lut`: profile a device into a latency table, show it, predict a
//! genotype's latency, validate predictions against end-to-end runs. Also
//! the latency options of `edgenas search` / `run`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use latency_lut::profile::profile as profile_table;
use latency_lut::validate::validate;
use latency_lut::{DeviceProfile, Lut, NetSize, PenaltyKind, Template, predict};
use models::{OpSpace, ZeroConfig};
use search::latency::LatencyPenalty;
use search::report::{GenotypeFile, SearchSummary};
use search::{RetrainConfig, SearchConfig};
use serde_json::json;

/// The template of a search: its data shape, its networks and the network
/// that will be retrained and deployed.
pub fn template_for(
    config: &SearchConfig,
    in_channels: usize,
    image_size: usize,
    num_classes: usize,
    deploy: NetSize,
) -> Template {
    Template {
        in_channels,
        image_size,
        num_classes,
        nodes: config.nodes,
        stem_multiplier: 3,
        ops: OpSpace::darts(config.zero).ops().to_vec(),
        search: NetSize {
            channels: config.channels,
            layers: config.layers,
        },
        search_eval: NetSize {
            channels: config.eval_channels,
            layers: config.eval_layers,
        },
        deploy,
    }
}

/// Which networks a table covers (default: those of `edgenas run`).
#[derive(Args, Debug, Clone)]
pub struct TemplateArgs {
    /// Take the template from a search run's search.json (data shape and
    /// network sizes); the flags below are then ignored except --deploy-*.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Dataset whose image shape and class count the networks take.
    #[arg(long, default_value = "builtin:digits")]
    pub data: String,
    /// C of the search network.
    #[arg(long, default_value_t = SearchConfig::default().channels)]
    pub channels: usize,
    /// L of the search network.
    #[arg(long, default_value_t = SearchConfig::default().layers)]
    pub layers: usize,
    /// N: nodes per cell.
    #[arg(long, default_value_t = SearchConfig::default().nodes)]
    pub nodes: usize,
    /// C of the search-phase evaluation network.
    #[arg(long, default_value_t = SearchConfig::default().eval_channels)]
    pub eval_channels: usize,
    /// L of the search-phase evaluation network.
    #[arg(long, default_value_t = SearchConfig::default().eval_layers)]
    pub eval_layers: usize,
    /// Zero-op configuration of the op space (v1 or v0).
    #[arg(long, default_value = "v1")]
    pub zero: ZeroConfig,
    #[command(flatten)]
    pub deploy: DeployArgs,
}

/// The deployed (retrained) network's size.
#[derive(Args, Debug, Clone)]
pub struct DeployArgs {
    /// C of the retrained, deployed network (P(α) and `predict` use it).
    #[arg(long, default_value_t = RetrainConfig::default().channels)]
    pub deploy_channels: usize,
    /// L of the retrained, deployed network.
    #[arg(long, default_value_t = RetrainConfig::default().layers)]
    pub deploy_layers: usize,
}

impl DeployArgs {
    pub fn size(&self) -> NetSize {
        NetSize {
            channels: self.deploy_channels,
            layers: self.deploy_layers,
        }
    }
}

impl TemplateArgs {
    pub fn template(&self) -> Result<Template> {
        if let Some(path) = &self.config {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--config {}", path.display()))?;
            let summary: SearchSummary = serde_json::from_str(&text)
                .with_context(|| format!("{}: not a search.json", path.display()))?;
            return Ok(template_for(
                &summary.config,
                summary.data.channels,
                summary.data.image_size,
                summary.data.num_classes,
                self.deploy.size(),
            ));
        }
        let config = SearchConfig {
            channels: self.channels,
            layers: self.layers,
            nodes: self.nodes,
            eval_channels: self.eval_channels,
            eval_layers: self.eval_layers,
            zero: self.zero,
            ..SearchConfig::default()
        };
        config.validate()?;
        let data = datasets::load(&self.data).with_context(|| format!("--data {}", self.data))?;
        if data.height != data.width {
            bail!("--data {}: images must be square", self.data);
        }
        Ok(template_for(
            &config,
            data.channels,
            data.height,
            data.num_classes,
            self.deploy.size(),
        ))
    }
}

/// The latency options of a search.
#[derive(Args, Debug, Clone)]
pub struct LatencyArgs {
    /// Latency table (from `latency-lut profile`) that drives δ·P(α).
    #[arg(long)]
    pub lut: Option<PathBuf>,
    /// δ: weight of the expected latency P(α) (ms) in the α objective.
    #[arg(long, default_value_t = 0.0)]
    pub latency_coef: f64,
    /// P(α): algo3 (SPEC Algorithm 3, smooth max over node paths) or
    /// expected-sum (FBNet/ProxylessNAS: Σ over all edges).
    #[arg(long, default_value = "algo3", value_parser = parse_penalty)]
    pub penalty: PenaltyKind,
    /// Use the dissertation's normalized per-op weights (Table 4.6 form,
    /// summing to 1) computed from the table instead of milliseconds.
    #[arg(long)]
    pub normalize: bool,
    #[command(flatten)]
    pub deploy: DeployArgs,
}

pub fn parse_penalty(s: &str) -> Result<PenaltyKind, String> {
    match s {
        "algo3" => Ok(PenaltyKind::Algo3),
        "expected-sum" => Ok(PenaltyKind::ExpectedSum),
        other => Err(format!("unknown penalty {other:?} (algo3 or expected-sum)")),
    }
}

impl LatencyArgs {
    /// The penalty of a search with `config` on data of this shape, checked
    /// against the table before any training; `None` without `--lut`.
    pub fn penalty(
        &self,
        config: &SearchConfig,
        data: &datasets::Dataset,
    ) -> Result<Option<LatencyPenalty>> {
        let Some(path) = &self.lut else {
            if self.latency_coef != 0.0 {
                bail!("--latency-coef needs --lut (a table from `latency-lut profile`)");
            }
            return Ok(None);
        };
        let lut = Lut::load(path)?;
        let template = template_for(
            config,
            data.channels,
            data.height,
            data.num_classes,
            self.deploy.size(),
        );
        let penalty = LatencyPenalty::new(
            lut,
            &template,
            self.penalty,
            self.latency_coef,
            self.normalize,
        )
        .with_context(|| format!("--lut {}", path.display()))?;
        log::info!(
            "latency penalty: δ = {}, P = {}{}, table {}",
            self.latency_coef,
            self.penalty.name(),
            if self.normalize {
                " (normalized weights)"
            } else {
                ""
            },
            path.display()
        );
        Ok(Some(penalty))
    }
}

/// A progress bar with an ETA on stderr.
pub fn bar(total: usize, label: &str) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} ETA {eta} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    bar
}

#[derive(Subcommand)]
pub enum LutCommand {
    /// Measure every (op, shape) of a template on a device into a table:
    /// every candidate op on every mixed edge of the search network, the
    /// search-phase and the deployed evaluation networks, plus stem,
    /// preprocessing, ReLUs, node sums, concatenations, classifier and the
    /// per-run overhead. Interrupted runs resume from OUT.partial.
    Profile(ProfileArgs),
    /// Print a table as a human-readable list (or JSON).
    Show(ShowArgs),
    /// Predicted latency of a genotype's deployed network (sum of medians,
    /// SPEC §4.2) with a per-cell breakdown.
    Predict(PredictArgs),
    /// Sample random architectures, measure them end to end on the table's
    /// backend and report how well the table predicts them.
    Validate(ValidateArgs),
    /// Fit a linear end-to-end correction (scale · sum + offset) of the
    /// table on sampled architectures and store it in the table; validate
    /// afterwards on other architectures (another --seed).
    Calibrate(CalibrateArgs),
}

#[derive(Args)]
pub struct CalibrateArgs {
    /// The table (rewritten atomically with the calibration).
    #[arg(long)]
    pub lut: PathBuf,
    /// Number of random architectures to fit on.
    #[arg(long, default_value_t = 30)]
    pub samples: usize,
    /// Seed of the sampled architectures (validate's default is 0).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the calibration as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn calibrate_cmd(args: CalibrateArgs) -> Result<()> {
    let mut lut = Lut::load(&args.lut)?;
    calibrate_with_bar(&mut lut, &args.lut, args.samples, args.seed)?;
    let calibration = lut.calibration.expect("calibrated above");
    if args.json {
        println!("{}", serde_json::to_string_pretty(&calibration)?);
    } else {
        println!(
            "calibration on {} architectures: predicted = {:.4} · sum + {:.4} ms (fit RMSE {:.1} %); written to {}",
            calibration.samples,
            calibration.scale,
            calibration.offset_ms,
            calibration.fit_rmse_pct,
            args.lut.display()
        );
    }
    Ok(())
}

/// Fits the end-to-end calibration of `lut` on `samples` architectures
/// drawn with `seed`, stores it in the table and rewrites `path`
/// atomically.
pub fn calibrate_with_bar(lut: &mut Lut, path: &Path, samples: usize, seed: u64) -> Result<()> {
    let started = Instant::now();
    let bar = bar(samples, "calibrate");
    let calibration = latency_lut::validate::calibrate(lut, samples, seed, &mut |i, _| {
        bar.set_position(i as u64)
    })
    .with_context(|| format!("calibrating {}", path.display()))?;
    bar.finish_and_clear();
    log::info!(
        "calibrated on {samples} architectures in {:.1} s: predicted = {:.4} · sum {:+.4} ms (fit RMSE {:.1} %)",
        started.elapsed().as_secs_f64(),
        calibration.scale,
        calibration.offset_ms,
        calibration.fit_rmse_pct
    );
    lut.calibration = Some(calibration);
    lut.save(path)?;
    Ok(())
}

#[derive(Args)]
pub struct ProfileArgs {
    /// `cpu` (tract, 1 thread, batch 1), `jetson` (burn-cuda, batch 1), or a
    /// TOML device file (name, backend = tract|flex|cuda, threads, batch,
    /// dtype, warmup, repeats).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    #[command(flatten)]
    pub template: TemplateArgs,
    /// Override the profile's repeat count.
    #[arg(long)]
    pub repeats: Option<usize>,
    /// After profiling, fit the end-to-end calibration (`calibrate`) on this
    /// many random architectures (seed 1; `validate` uses seed 0). Summed
    /// isolated-op medians over-predict whole networks by a steady factor;
    /// 0 leaves the table uncalibrated.
    #[arg(long, default_value_t = 30)]
    pub calibrate: usize,
    /// Output table (JSON, written atomically).
    #[arg(long)]
    pub out: PathBuf,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn resolve_device(spec: &str, repeats: Option<usize>) -> Result<DeviceProfile> {
    let mut profile = DeviceProfile::resolve(spec).with_context(|| format!("--device {spec}"))?;
    if let Some(r) = repeats {
        profile.repeats = r.max(1);
    }
    Ok(profile)
}

/// Measures `template` on `profile` into `out` with a progress bar.
pub fn profile_with_bar(template: &Template, profile: &DeviceProfile, out: &Path) -> Result<Lut> {
    let started = Instant::now();
    let bar = bar(0, "profile");
    let lut = profile_table(template, profile, out, &mut |done, total, key| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        bar.set_message(key.to_string());
    })
    .with_context(|| format!("profiling device {}", profile.name))?;
    bar.finish_and_clear();
    log::info!(
        "profiled {} keys on {} ({}) in {:.1} s → {}",
        lut.entries.len(),
        profile.name,
        lut.device.runtime,
        started.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(lut)
}

pub fn profile(args: ProfileArgs) -> Result<()> {
    let profile = resolve_device(&args.device, args.repeats)?;
    let template = args.template.template()?;
    let started = Instant::now();
    let mut lut = profile_with_bar(&template, &profile, &args.out)?;
    if args.calibrate > 0 {
        calibrate_with_bar(&mut lut, &args.out, args.calibrate, 1)?;
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "lut_path": args.out,
                "entries": lut.entries.len(),
                "fingerprint": lut.fingerprint,
                "device": lut.device,
                "seconds": started.elapsed().as_secs_f64(),
            }))?
        );
    } else {
        eprintln!(
            "wrote {} ({} entries)",
            args.out.display(),
            lut.entries.len()
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct ShowArgs {
    /// The table.
    #[arg(long)]
    pub lut: PathBuf,
    /// Print the whole table as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn show(args: ShowArgs) -> Result<()> {
    let lut = Lut::load(&args.lut)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&lut)?);
        return Ok(());
    }
    let d = &lut.device;
    println!(
        "device {} ({} {}, {} thread(s), batch {}), host {} ({} cores), measured {}",
        d.profile.name,
        d.runtime,
        d.runtime_version,
        d.profile.threads,
        d.profile.batch,
        d.host.cpu_model,
        d.host.cores,
        d.measured_at
    );
    println!("template {}", lut.template);
    println!(
        "{:<20} {:>5} {:>5} {:>7} {:>6} {:>10} {:>10} {:>10} {:>10}",
        "op", "c_in", "c_out", "h×w", "stride", "median ms", "p10", "p90", "count"
    );
    for e in &lut.entries {
        let k = &e.key;
        let s = &e.stats;
        println!(
            "{:<20} {:>5} {:>5} {:>7} {:>6} {:>10.4} {:>10.4} {:>10.4} {:>10}",
            k.op,
            k.c_in,
            k.c_out,
            format!("{}×{}", k.h_in, k.w_in),
            k.stride,
            s.median,
            s.p10,
            s.p90,
            s.count
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct PredictArgs {
    /// The table.
    #[arg(long)]
    pub lut: PathBuf,
    /// genotype.json written by `edgenas search`.
    #[arg(long)]
    pub genotype: PathBuf,
    /// Print the prediction and breakdown as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn predict_cmd(args: PredictArgs) -> Result<()> {
    let lut = Lut::load(&args.lut)?;
    let genotype = GenotypeFile::load(&args.genotype)?;
    if genotype.n_nodes != lut.template.nodes {
        bail!(
            "{}: the genotype has {} nodes per cell, the table's template {}",
            args.genotype.display(),
            genotype.n_nodes,
            lut.template.nodes
        );
    }
    let config = lut.template.deploy_network();
    let prediction = predict(&lut, &genotype, &config)
        .with_context(|| format!("--lut {}", args.lut.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&prediction)?);
        return Ok(());
    }
    println!(
        "predicted latency {:.4} ms on {} (deployed network C={}, L={})",
        prediction.total_ms, lut.device.profile.name, config.channels, config.layers
    );
    for part in &prediction.parts {
        println!("  {:<16} {:>9.4} ms", part.part, part.ms);
    }
    Ok(())
}

#[derive(Args)]
pub struct ValidateArgs {
    /// The table.
    #[arg(long)]
    pub lut: PathBuf,
    /// Number of random architectures.
    #[arg(long, default_value_t = 50)]
    pub samples: usize,
    /// Seed of the sampled architectures.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also write every sample (genotype, predicted, measured) as JSON here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the statistics as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn validate_cmd(args: ValidateArgs) -> Result<()> {
    let lut = Lut::load(&args.lut)?;
    let bar = bar(args.samples, "validate");
    let report = validate(&lut, args.samples, args.seed, &mut |i, _| {
        bar.set_position(i as u64)
    })
    .with_context(|| format!("--lut {}", args.lut.display()))?;
    bar.finish_and_clear();
    if let Some(out) = &args.out {
        let text = serde_json::to_string_pretty(&report)?;
        models::artifact::write_atomic(out, text.as_bytes())
            .with_context(|| format!("--out {}", out.display()))?;
    }
    let summary = json!({
        "samples": report.samples,
        "spearman": report.spearman,
        "kendall": report.kendall,
        "rmse_pct": report.rmse_pct,
        "within_10pct": report.within_10pct,
        "mean_error_pct": report.mean_error_pct,
        "measured_min_ms": report.measured_min_ms,
        "measured_max_ms": report.measured_max_ms,
        "device": lut.device.profile.name,
        "calibrated": report.calibrated,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "{} architectures ({:.3}–{:.3} ms): Spearman {:.3}, Kendall {:.3}, RMSE {:.1} %, within ±10 %: {:.0} %, mean error {:+.1} %",
            report.samples,
            report.measured_min_ms,
            report.measured_max_ms,
            report.spearman,
            report.kendall,
            report.rmse_pct,
            report.within_10pct,
            report.mean_error_pct
        );
    }
    Ok(())
}
