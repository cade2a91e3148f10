//! `edgenas-bench worker`: one measurement of edgenas in this process, the
//! unit the race runs in a child process per cell and round.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use search::{Backend, training_device};
use serde::{Deserialize, Serialize};

use crate::fixtures::{self, BenchConfig, StepSummary, Workload};
use crate::{
    ConfigName, WorkerArgs, cores, kernels_name, loadavg_1m, peak_rss_mb, proc_status,
    rayon_threads,
};

/// The one JSON line a worker prints, with the field names of
/// `edgenas_ref.py`'s output (plus edgenas' own: backend, kernels,
/// config_name), so the race reads both sides alike.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerReport {
    /// Always `edgenas` (`pytorch` in the mirror's lines).
    #[serde(rename = "impl")]
    pub implementation: String,
    pub tool_version: String,
    pub backend: Backend,
    /// `custom` (models::kernels) or `burn` (`--reference-kernels`).
    pub kernels: String,
    pub what: Workload,
    pub config_name: ConfigName,
    pub config: BenchConfig,
    pub threads: usize,
    pub warmup: usize,
    pub steps: usize,
    pub step_seconds: Vec<f64>,
    pub ms_per_step_median: f64,
    pub ms_per_step_mean: f64,
    pub images_per_s: f64,
    /// Trainable parameters per network, as the mirror counts them.
    pub params: BTreeMap<String, usize>,
    pub peak_rss_mb: Option<f64>,
    /// OS threads of this process at the end: the main thread plus rayon's
    /// pool, a check that RAYON_NUM_THREADS took effect.
    pub process_threads: Option<u64>,
    /// Before and after the timed steps.
    pub loadavg_1m: [Option<f64>; 2],
    pub cpus: usize,
}

/// Runs the measurement `args` asks for and prints its [`WorkerReport`] as
/// one JSON line on stdout.
pub fn run(args: WorkerArgs) -> Result<()> {
    let workload = args.what;
    let (default_warmup, default_steps) = workload.default_steps();
    let (warmup, steps) = (
        args.warmup.unwrap_or(default_warmup),
        args.steps.unwrap_or(default_steps),
    );
    if steps == 0 {
        bail!("--steps must be at least 1");
    }
    if args.reference_kernels {
        models::kernels::use_reference_kernels(true);
    }
    let config = args.config.config();
    let device = training_device(Backend::Flex)?;
    let load_before = loadavg_1m();
    let times = fixtures::step_times(workload, &config, warmup, steps, &device);
    let load_after = loadavg_1m();
    let summary = StepSummary::of(&times, config.batch_size).context("no timed steps")?;
    let params = fixtures::param_counts(workload, &config)
        .into_iter()
        .map(|(name, count)| (name.to_string(), count))
        .collect();
    let report = WorkerReport {
        implementation: "edgenas".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        backend: Backend::Flex,
        kernels: kernels_name().into(),
        what: workload,
        config_name: args.config,
        config,
        threads: rayon_threads(),
        warmup,
        steps,
        step_seconds: times,
        ms_per_step_median: summary.median_s * 1e3,
        ms_per_step_mean: summary.mean_s * 1e3,
        images_per_s: summary.images_per_s,
        params,
        peak_rss_mb: peak_rss_mb(),
        process_threads: proc_status("Threads:").map(|n| n as u64),
        loadavg_1m: [load_before, load_after],
        cpus: cores(),
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
