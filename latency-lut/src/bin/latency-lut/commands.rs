//! `latency-lut`: profile a device into a latency table, show it, predict a
//! genotype's latency, validate predictions against end-to-end runs,
//! calibrate a table, and serve timing requests from a host.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use artifacts::SearchConfig;
use clap::{Args, Subcommand};
use latency_lut::measure::{Backends, Remote};
use latency_lut::noise::HostNoise;
use latency_lut::stage::{
    TemplateSource, calibrate_file, predict_file, resolve_template, validate_file,
};
use latency_lut::table::TableReference;
use latency_lut::validate::{MAX_REPEAT_NOISE_PCT, Units, Verdict};
use latency_lut::{DeviceProfile, Lut, PenaltyInputs};
use runtime::remote::{Server, ServerOptions, Token, listen_address};
use serde::Serialize;
use ui::{Bars, DeployArgs, RemoteArgs, SearchNetworkArgs};

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
    #[command(flatten)]
    pub networks: SearchNetworkArgs,
    #[command(flatten)]
    pub deploy: DeployArgs,
}

impl TemplateArgs {
    fn source(&self) -> TemplateSource {
        match &self.config {
            Some(path) => TemplateSource::SearchSummary(path.clone()),
            None => TemplateSource::Data {
                spec: self.data.clone(),
                config: Box::new(self.networks.apply(SearchConfig::default())),
            },
        }
    }
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
    /// Predicted latency of a genotype's deployed network (sum of the
    /// table's costs, docs/algorithms.md §4.2) with a per-cell breakdown.
    Predict(PredictArgs),
    /// Sample random architectures, measure them end to end on the table's
    /// backend and report how well the table predicts them.
    Validate(ValidateArgs),
    /// Fit a linear end-to-end correction (scale · sum + offset) of the
    /// table on sampled architectures and store it in the table; validate
    /// afterwards on other architectures (another --seed).
    Calibrate(CalibrateArgs),
    /// Run on the target device: time, with this machine's tract, the
    /// models a host sends (`profile`, `validate` and `calibrate --remote`,
    /// `device-bench run --remote`, `edgenas run --remote`), one client at
    /// a time. Listens on loopback only unless --allow-remote; reach it
    /// through an SSH tunnel. Runs until killed.
    Serve(ServeArgs),
}

/// `--remote`: the device to measure on, connected; `None` measures here.
fn connect(args: &RemoteArgs) -> Result<Option<Remote>> {
    let Some(address) = &args.remote else {
        return Ok(None);
    };
    let token = Token::resolve(args.token_file.as_deref())?;
    let remote = Remote::connect(address, &token)?;
    let device = remote.device();
    log::info!(
        "measuring on {address}: {} ({} cores, {}), tract {}, edgenas {}",
        device.host.cpu_model,
        device.host.cores,
        device.host.os,
        device.runtime_version,
        device.tool_version
    );
    Ok(Some(remote))
}

/// The backends of a command: tract here, or on the `--remote` device.
fn backends(remote: &Option<Remote>) -> Backends<'_> {
    remote
        .as_ref()
        .map_or_else(Backends::tract_only, Backends::remote)
}

#[derive(Args)]
pub struct ProfileArgs {
    /// `cpu` (tract, 1 thread, batch 1) or a TOML device file (name, backend
    /// = tract, threads, batch, dtype, warmup, repeats). This binary measures
    /// tract only; tables of burn's backends (`jetson` = burn-cuda, flex) are
    /// measured by `edgenas run --device …`.
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
    #[arg(long, default_value_t = latency_lut::cache::CALIBRATION_SAMPLES)]
    pub calibrate: usize,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Output table (JSON, written atomically).
    #[arg(long)]
    pub out: PathBuf,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

/// What `profile --json` prints.
#[derive(Serialize)]
struct ProfileSummary<'a> {
    lut_path: &'a PathBuf,
    entries: usize,
    fingerprint: &'a str,
    device: &'a latency_lut::DeviceDescription,
    /// The reference workload's time in the table (ms) and the host's noise
    /// while the keys were measured.
    reference: Option<&'a TableReference>,
    /// The host's noise while the calibration's networks were measured.
    calibration_noise: Option<&'a HostNoise>,
    seconds: f64,
}

/// The host's noise as one line for stderr.
fn noise_line(noise: &HostNoise) -> String {
    let repeat = noise
        .repeat_noise_pct
        .map(|pct| format!(", ratio repeat noise {pct:.1} %"))
        .unwrap_or_default();
    let shift = noise
        .profile_shift_pct
        .map(|pct| format!(", calibration networks shifted {pct:.1} % since the profile"))
        .unwrap_or_default();
    format!(
        "reference workload {:.3} ms (range {:.3}–{:.3} over {} items, drift {:.1} %, cancelled), per-round ratio spread {:.0} %{repeat}{shift}",
        noise.reference_median_ms,
        noise.reference_min_ms,
        noise.reference_max_ms,
        noise.items,
        noise.drift_pct,
        noise.round_spread_pct,
    )
}

pub fn profile(args: ProfileArgs) -> Result<()> {
    let started = std::time::Instant::now();
    let mut device = DeviceProfile::resolve(&args.device)
        .with_context(|| format!("--device {}", args.device))?;
    if let Some(r) = args.repeats {
        device.repeats = r.max(1);
    }
    let template = resolve_template(&args.template.source(), args.template.deploy.size())?;
    let remote = connect(&args.remote)?;
    let lut = latency_lut::cache::profile_and_calibrate(
        &template,
        &device,
        &backends(&remote),
        &args.out,
        args.calibrate,
        &Bars,
    )
    .with_context(|| format!("profiling device {}", device.name))?;
    let calibration_noise = lut.calibration.as_ref().and_then(|c| c.noise.as_ref());
    match &lut.reference {
        Some(reference) => eprintln!("keys: {}", noise_line(&reference.noise)),
        None => eprintln!("keys: timed without a reference workload (burn's backends)"),
    }
    if let Some(noise) = calibration_noise {
        eprintln!("calibration networks: {}", noise_line(noise));
        if noise
            .repeat_noise_pct
            .is_some_and(|pct| pct > MAX_REPEAT_NOISE_PCT)
        {
            log::warn!(
                "the host was too noisy to trust this table (ratio repeat noise above {MAX_REPEAT_NOISE_PCT} %): profile it again when it is quieter"
            );
        }
    }
    if args.json {
        let summary = ProfileSummary {
            lut_path: &args.out,
            entries: lut.entries.len(),
            fingerprint: &lut.fingerprint,
            device: &lut.device,
            reference: lut.reference.as_ref(),
            calibration_noise,
            seconds: started.elapsed().as_secs_f64(),
        };
        println!("{}", serde_json::to_string_pretty(&summary)?);
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
    /// Print instead the per-op weights `edgenas search --normalize` uses
    /// (docs/algorithms.md §4.3): each op's mean latency over every edge of
    /// the table's deployed network, divided by the sum of those means.
    #[arg(long)]
    pub normalized: bool,
}

pub fn show(args: ShowArgs) -> Result<()> {
    let lut = Lut::load(&args.lut)?;
    if args.normalized {
        let net = lut.template.deploy_network();
        let inputs = PenaltyInputs::from_lut(&lut, &net, &lut.template.ops, false)
            .with_context(|| format!("{}: building the penalty's inputs", args.lut.display()))?;
        let weights = inputs.normalized_weights();
        if args.json {
            let map: serde_json::Map<String, serde_json::Value> = lut
                .template
                .ops
                .iter()
                .zip(&weights)
                .map(|(op, w)| (op.name().to_string(), serde_json::json!(w)))
                .collect();
            println!("{}", serde_json::to_string_pretty(&map)?);
            return Ok(());
        }
        println!(
            "normalized per-op weights of {} (deployed network C={} L={}, {} cells):",
            args.lut.display(),
            net.channels,
            net.layers,
            inputs.cells.len()
        );
        for (op, w) in lut.template.ops.iter().zip(&weights) {
            println!("{:<16} {w:.4}", op.name());
        }
        return Ok(());
    }
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
    match &lut.reference {
        Some(r) => println!(
            "entries are ratios to the reference workload {} ({:.4} ms in this table); keys: {}",
            r.workload,
            r.median_ms,
            noise_line(&r.noise)
        ),
        None => println!("entries are milliseconds (no reference workload)"),
    }
    println!(
        "{:<20} {:>5} {:>5} {:>7} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "op", "c_in", "c_out", "h×w", "stride", "median ms", "p10", "p90", "count", "× ref"
    );
    for e in &lut.entries {
        let k = &e.key;
        let s = &e.stats;
        let ratio = e
            .reference
            .as_ref()
            .map_or_else(|| "-".into(), |r| format!("{:.4}", r.ratio.median));
        println!(
            "{:<20} {:>5} {:>5} {:>7} {:>6} {:>10.4} {:>10.4} {:>10.4} {:>10} {:>10}",
            k.op,
            k.c_in,
            k.c_out,
            format!("{}×{}", k.h_in, k.w_in),
            k.stride,
            s.median,
            s.p10,
            s.p90,
            s.count,
            ratio
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
    let report = predict_file(&args.lut, &args.genotype)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "predicted latency {:.4} ms on {} (deployed network C={}, L={})",
        report.prediction.total_ms, report.device, report.channels, report.layers
    );
    for part in &report.prediction.parts {
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
    // --remote: the networks are measured on the table's device.
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Print the statistics as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// What `validate --json` prints: the statistics without the samples.
#[derive(Serialize)]
struct ValidateSummary<'a> {
    samples: usize,
    spearman: f64,
    kendall: f64,
    rmse_pct: f64,
    within_10pct: f64,
    mean_error_pct: f64,
    measured_min_ms: f64,
    measured_max_ms: f64,
    calibrated: bool,
    units: Units,
    noise: Option<&'a HostNoise>,
    verdict: &'a Verdict,
}

/// `validate` measured, but the host was too noisy for its statistics to
/// be claimed (exit status [`NOT_MEASURABLE`]).
#[derive(Debug, thiserror::Error)]
#[error("the table's accuracy is not measurable on this host now: {0}")]
pub struct NotMeasurable(String);

/// The exit status of [`NotMeasurable`]: not 1 (bad input, a failure) nor
/// 2 (clap's usage errors).
pub const NOT_MEASURABLE: i32 = 3;

pub fn validate_cmd(args: ValidateArgs) -> Result<()> {
    let remote = connect(&args.remote)?;
    let r = validate_file(
        &args.lut,
        &backends(&remote),
        args.samples,
        args.seed,
        args.out.as_deref(),
        &Bars,
    )
    .with_context(|| format!("--lut {}", args.lut.display()))?;
    if args.json {
        let summary = ValidateSummary {
            samples: r.samples,
            spearman: r.spearman,
            kendall: r.kendall,
            rmse_pct: r.rmse_pct,
            within_10pct: r.within_10pct,
            mean_error_pct: r.mean_error_pct,
            measured_min_ms: r.measured_min_ms,
            measured_max_ms: r.measured_max_ms,
            calibrated: r.calibrated,
            units: r.units,
            noise: r.noise.as_ref(),
            verdict: &r.verdict,
        };
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "{} architectures ({:.3}–{:.3} ms): Spearman {:.3}, Kendall {:.3}, RMSE {:.1} %, within ±10 %: {:.0} %, mean error {:+.1} %",
            r.samples,
            r.measured_min_ms,
            r.measured_max_ms,
            r.spearman,
            r.kendall,
            r.rmse_pct,
            r.within_10pct,
            r.mean_error_pct
        );
    }
    if let Some(noise) = &r.noise {
        eprintln!("host noise: {}", noise_line(noise));
    }
    if !r.verdict.measurable {
        return Err(NotMeasurable(r.verdict.reason).into());
    }
    eprintln!("measurable: {}", r.verdict.reason);
    Ok(())
}

#[derive(Args)]
pub struct CalibrateArgs {
    /// The table (rewritten atomically with the calibration).
    #[arg(long)]
    pub lut: PathBuf,
    /// Number of random architectures to fit on.
    #[arg(long, default_value_t = latency_lut::cache::CALIBRATION_SAMPLES)]
    pub samples: usize,
    /// Seed of the sampled architectures (validate's default is 0).
    #[arg(long, default_value_t = latency_lut::cache::CALIBRATION_SEED)]
    pub seed: u64,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Print the calibration as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn calibrate_cmd(args: CalibrateArgs) -> Result<()> {
    let remote = connect(&args.remote)?;
    let calibration = calibrate_file(
        &args.lut,
        &backends(&remote),
        args.samples,
        args.seed,
        &Bars,
    )
    .with_context(|| format!("calibrating {}", args.lut.display()))?;
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

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0: a free port; the address is printed on
    /// stdout). Only a loopback address (127.0.0.1, ::1, localhost) unless
    /// --allow-remote: the host reaches it through an SSH tunnel.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7431")]
    pub listen: String,
    /// File holding the token clients must present (one line of at least 16
    /// characters, e.g. `openssl rand -hex 16 > token`; the same on the
    /// host). Without it the token is read from the EDGENAS_TOKEN
    /// environment variable; one of the two is required.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Also listen on an address that is not loopback (e.g. 0.0.0.0:7431).
    /// Nothing is encrypted and the token travels in clear text: only on a
    /// network you trust.
    #[arg(long)]
    pub allow_remote: bool,
    /// Seconds a client may stay silent, between requests or within a
    /// frame (the first frame must arrive whole within them), before the
    /// server drops it, so a stalled host cannot hold the device.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub timeout: u64,
    /// TEST ONLY: busy-wait this many milliseconds after every timed run,
    /// so tests can tell the device's times from the host's.
    #[arg(long, hide = true)]
    pub inject_slowdown_ms: Option<f64>,
}

pub fn serve(args: ServeArgs) -> Result<()> {
    let address = listen_address(&args.listen, args.allow_remote)?;
    let token = Token::resolve(args.token_file.as_deref())?;
    if args.timeout == 0 {
        bail!("--timeout must be at least 1 second");
    }
    let slowdown = match args.inject_slowdown_ms {
        Some(ms) if !(ms.is_finite() && ms >= 0.0) => {
            bail!("--inject-slowdown-ms must be a non-negative number of milliseconds, not {ms}")
        }
        Some(ms) => std::time::Duration::from_secs_f64(ms / 1e3),
        None => std::time::Duration::ZERO,
    };
    let options = ServerOptions {
        timeout: std::time::Duration::from_secs(args.timeout),
        slowdown,
        ..ServerOptions::default()
    };
    let server = Server::bind(address, token, options)
        .with_context(|| format!("cannot listen on {address}"))?;
    let bound = server.local_addr()?;
    let device = server.device();
    log::info!(
        "timing for clients on {bound}: {} ({} cores, {}), tract {}, one client at a time",
        device.host.cpu_model,
        device.host.cores,
        device.host.os,
        device.runtime_version
    );
    if !slowdown.is_zero() {
        log::warn!("injecting {slowdown:?} of busy-wait per timed run (test only)");
    }
    // The one line on stdout: scripts (and tests) that listen on port 0
    // read the address from it.
    println!("listening on {bound}");
    use std::io::Write;
    std::io::stdout().flush()?;
    Err(server.run()).context("the server stopped accepting connections")
}
