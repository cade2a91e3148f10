//! The stages as the commands run them — `search`, `retrain` and the main
//! job `run` — each from a typed configuration to a typed summary.

use std::path::{Path, PathBuf};
use std::time::Instant;

use artifacts::progress::Progress;
use artifacts::run::budget_verdict;
use artifacts::{
    ALPHAS_FILE, ARTIFACT_SCHEMA_VERSION, Backend, GENOTYPE_FILE, GenotypeFile, METRICS_FILE,
    MODEL_FILE, ONNX_FILE, PenaltySettings, REPORT_FILE, RUN_FILE, RetrainSettings, RunSummary,
    SEARCH_FILE, SearchConfig, SearchSummary, StagedDir, WEIGHTS_FILE, tool_version, write_json,
};
use datasets::Dataset;
use latency_lut::measure::{Backends, Remote};
use latency_lut::{
    Cache, DeviceProfile, Lut, LutBackend, NetSize, Template, predict, template_for,
};
use runtime::remote::{RemoteTarget, Token};
use search::AlphaPenalty;
use search::latency::LatencyPenalty;
use search::stage::{retrain_into, search_into};
use serde::Serialize;

use crate::PipelineError;

/// The data folder of a `--data` spec; `None` for a built-in dataset.
fn data_folder(spec: &str) -> Option<&Path> {
    (!spec.starts_with("builtin:")).then(|| Path::new(spec))
}

/// Refuses `out` before any work when writing it could destroy an input
/// or the current folder (artifacts::io::check_output).
fn check_out(
    out: &Path,
    force: bool,
    inputs: &[(&str, Option<&Path>)],
) -> Result<(), PipelineError> {
    let inputs: Vec<(&str, &Path)> = inputs
        .iter()
        .filter_map(|(what, path)| path.map(|p| (*what, p)))
        .collect();
    artifacts::io::check_output(out, force, &inputs)?;
    Ok(())
}

fn load_data(spec: &str) -> Result<Dataset, PipelineError> {
    let data = datasets::load(spec).map_err(|source| PipelineError::Data {
        spec: spec.to_string(),
        source,
    })?;
    log::info!("{}", data.describe());
    Ok(data)
}

/// The latency penalty of `edgenas search`: a table given by path.
#[derive(Debug, Clone)]
pub struct SearchLatency {
    /// The table (from `latency-lut profile`); None: no penalty.
    pub lut: Option<PathBuf>,
    pub penalty: PenaltySettings,
    /// The deployed network P(α) costs.
    pub deploy: NetSize,
}

/// `edgenas search`.
#[derive(Debug, Clone)]
pub struct SearchJob {
    pub data: String,
    pub config: SearchConfig,
    pub latency: SearchLatency,
    pub backend: Backend,
    pub out: PathBuf,
    pub force: bool,
    /// Continue the interrupted search whose checkpoint is beside `out`.
    pub resume: bool,
}

/// What `edgenas search --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    pub genotype_path: PathBuf,
    pub alphas_path: PathBuf,
    pub metrics_path: PathBuf,
    pub search_val_accuracy: f64,
    pub predicted_latency_ms: Option<f64>,
    pub eval_val_accuracy: Option<f64>,
    pub seconds: f64,
    pub genotype: models::Genotype,
    /// How the latency budget was met (with --latency-budget).
    pub budget: Option<artifacts::BudgetOutcome>,
}

/// Runs a search into `job.out`.
pub fn search(job: &SearchJob, progress: &dyn Progress) -> Result<SearchResult, PipelineError> {
    job.config.validate()?;
    check_out(
        &job.out,
        job.force,
        &[
            ("the data folder", data_folder(&job.data)),
            ("the latency table", job.latency.lut.as_deref()),
        ],
    )?;
    let data = load_data(&job.data)?;
    let penalty = search_penalty(&job.latency, &job.config, &data)?;
    let device = search::training_device(job.backend)?;
    let summary: SearchSummary = search_into(
        &job.config,
        &data,
        &device,
        penalty.as_ref().map(|p| p as &dyn AlphaPenalty),
        progress,
        &job.out,
        job.force,
        job.resume,
    )?;
    let out = &job.out;
    Ok(SearchResult {
        genotype_path: out.join(GENOTYPE_FILE),
        alphas_path: out.join(ALPHAS_FILE),
        metrics_path: out.join(METRICS_FILE),
        search_val_accuracy: summary.final_search_val_accuracy,
        predicted_latency_ms: summary.predicted_latency_ms,
        eval_val_accuracy: summary.final_eval_val_accuracy,
        seconds: summary.seconds,
        genotype: summary.genotype,
        budget: summary.budget,
    })
}

/// The penalty of a search with `config` on data of this shape, checked
/// against the table before any training; `None` without a table.
fn search_penalty(
    latency: &SearchLatency,
    config: &SearchConfig,
    data: &Dataset,
) -> Result<Option<LatencyPenalty>, PipelineError> {
    let Some(path) = &latency.lut else {
        if latency.penalty.is_active() {
            return Err(PipelineError::Usage(
                "--latency-coef and --latency-budget need --lut (a table from `latency-lut profile`)"
                    .into(),
            ));
        }
        return Ok(None);
    };
    let lut_error = |source| PipelineError::Lut {
        path: path.clone(),
        source,
    };
    let lut = Lut::load(path).map_err(lut_error)?;
    let template = template_for(
        config,
        data.channels,
        data.height,
        data.num_classes,
        latency.deploy,
    );
    let mut settings = latency.penalty.clone();
    settings.lut_path = Some(path.clone());
    let penalty = LatencyPenalty::new(lut, &template, &settings).map_err(lut_error)?;
    log_penalty(&settings, path);
    Ok(Some(penalty))
}

fn log_penalty(settings: &PenaltySettings, table: &Path) {
    match settings.budget_ms {
        Some(budget) => log::info!(
            "latency budget {budget} ms: δ from {} by dual ascent (rate {}, decay {} within budget), P = {} ({}), table {}",
            settings.coef,
            settings.budget_rate,
            settings.budget_decay,
            settings.kind.name(),
            settings.unit(),
            table.display()
        ),
        None => log::info!(
            "latency penalty: δ = {}, P = {} ({}), table {}",
            settings.coef,
            settings.kind.name(),
            settings.unit(),
            table.display()
        ),
    }
}

/// `edgenas retrain`.
#[derive(Debug, Clone)]
pub struct RetrainJob {
    /// `genotype.json` written by a search.
    pub genotype: PathBuf,
    pub data: String,
    pub settings: RetrainSettings,
    pub backend: Backend,
    pub out: PathBuf,
    pub force: bool,
    /// Continue the interrupted retraining whose checkpoint is beside `out`.
    pub resume: bool,
}

/// What `edgenas retrain --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct RetrainResult {
    pub test_accuracy: f64,
    pub test_samples: usize,
    pub weights_path: PathBuf,
    pub model_path: PathBuf,
    pub metrics_path: PathBuf,
    pub seconds: f64,
}

/// Retrains the evaluation network of a genotype file into `job.out`.
pub fn retrain(job: &RetrainJob, progress: &dyn Progress) -> Result<RetrainResult, PipelineError> {
    check_out(
        &job.out,
        job.force,
        &[
            ("the data folder", data_folder(&job.data)),
            ("the genotype file", Some(&job.genotype)),
        ],
    )?;
    let genotype = GenotypeFile::load(&job.genotype)?;
    let data = load_data(&job.data)?;
    let config = job.settings.resolve(data.height);
    let device = search::training_device(job.backend)?;
    let model = retrain_into(
        &config, &genotype, &data, &device, progress, &job.out, job.force, job.resume,
    )?;
    Ok(retrain_result(&model, &job.out))
}

fn retrain_result(model: &artifacts::ModelFile, out: &Path) -> RetrainResult {
    RetrainResult {
        test_accuracy: model.test_accuracy,
        test_samples: model.test_samples,
        weights_path: out.join(WEIGHTS_FILE),
        model_path: out.join(MODEL_FILE),
        metrics_path: out.join(METRICS_FILE),
        seconds: model.seconds,
    }
}

/// The main job, `edgenas run`.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub data: String,
    pub search: SearchConfig,
    /// The retrained, deployed network (its C and L are also the network
    /// P(α) costs).
    pub retrain: RetrainSettings,
    pub backend: Backend,
    /// Device profile: `cpu`, `jetson` or a TOML file.
    pub device: String,
    /// δ and P; the table is the cached one of `device`.
    pub penalty: PenaltySettings,
    /// Folder of measured latency tables.
    pub lut_cache: PathBuf,
    /// OUT/search, OUT/retrain, OUT/model.onnx, OUT/report.json,
    /// OUT/run.json.
    pub out: PathBuf,
    pub force: bool,
    /// Skip the search: retrain a uniformly random genotype (under the
    /// budget when there is one; seeded by the search seed).
    pub random_genotype: bool,
    /// Skip the search: retrain this genotype (`edgenas run --genotype`,
    /// or a tournament's result). The latency table then also covers its
    /// ops.
    pub genotype: Option<models::Genotype>,
    /// Continue an interrupted run from `.OUT.checkpoint` (finished stages
    /// are kept, the unfinished one resumes from its last epoch).
    pub resume: bool,
    /// Measure on this device instead of here: the latency table (tract
    /// profiles only) and the deployed model's latency.
    pub remote: Option<RemoteSpec>,
}

/// A target device reached through the `latency-lut serve` running there
/// (`edgenas run --remote`).
#[derive(Debug, Clone)]
pub struct RemoteSpec {
    /// HOST:PORT, usually the local end of an SSH tunnel.
    pub address: String,
    /// The token's file; `None` reads `EDGENAS_TOKEN`.
    pub token_file: Option<PathBuf>,
}

/// The cell diagram `edgenas run` writes beside run.json.
pub const CELLS_FILE: &str = "cells.svg";

/// The checkpoint folder of a run: `.OUT.checkpoint/` holding `state.json`
/// (what the run is), the stages that finished (`search/`, `retrain/`) and
/// the checkpoints of the one in progress (`.search.checkpoint/`, …).
struct RunCheckpoint {
    dir: PathBuf,
}

const RUN_CHECKPOINT_KIND: &str = "edgenas-run-checkpoint";

impl RunCheckpoint {
    /// Opens the run's checkpoint: with `resume`, one of the same run is
    /// continued (another is an error); without, one left there is refused
    /// unless `force` discards it.
    fn open(
        out: &Path,
        identity: serde_json::Value,
        resume: bool,
        force: bool,
    ) -> Result<Self, PipelineError> {
        let dir = search::checkpoint::checkpoint_dir(out);
        let state = dir.join("state.json");
        if dir.exists() && !resume {
            if !force && !Self::holds_nothing(&dir) {
                return Err(PipelineError::Usage(format!(
                    "{} holds the checkpoint of an interrupted run to {}: pass --resume to continue it, or --force to start again",
                    dir.display(),
                    out.display()
                )));
            }
            std::fs::remove_dir_all(&dir).map_err(|e| artifacts::ArtifactError::io(&dir, e))?;
        }
        if resume && state.exists() {
            let found: serde_json::Value = artifacts::read_json(&state, "a run checkpoint")?;
            if found["kind"] != RUN_CHECKPOINT_KIND || found["identity"] != identity {
                return Err(artifacts::ArtifactError::invalid(
                    &state,
                    "the checkpoint is of a different run (options, data or latency table differ): resume with the same command, or pass --force without --resume to start again",
                )
                .into());
            }
            log::info!("resuming the run from {}", dir.display());
        } else {
            std::fs::create_dir_all(&dir).map_err(|e| artifacts::ArtifactError::io(&dir, e))?;
            write_json(
                &state,
                &serde_json::json!({
                    "kind": RUN_CHECKPOINT_KIND,
                    "schema_version": 1,
                    "tool": tool_version(),
                    "identity": identity,
                }),
            )?;
        }
        artifacts::io::register_checkpoint(&dir);
        Ok(Self { dir })
    }

    /// Where stage `name` writes its output (and, beside it, its staging
    /// and checkpoints).
    fn stage(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Moves the finished stage `name` into the run's staging folder.
    fn hand_over(&self, name: &str, staged: &Path) -> Result<(), PipelineError> {
        let from = self.stage(name);
        let to = staged.join(name);
        std::fs::rename(&from, &to).map_err(|e| artifacts::ArtifactError::io(&to, e))?;
        Ok(())
    }

    fn remove(self) {
        artifacts::io::forget_checkpoint(&self.dir);
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Whether `dir` holds no stage's progress (only its `state.json`): a
    /// run stopped before its first checkpoint.
    fn holds_nothing(dir: &Path) -> bool {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.flatten().all(|e| {
                e.file_name() == "state.json"
                    || e.file_name().to_string_lossy().contains(".partial-")
            })
        })
    }
}

impl Drop for RunCheckpoint {
    /// A run that failed before any stage made progress leaves nothing to
    /// resume: its checkpoint goes too.
    fn drop(&mut self) {
        if self.dir.exists() && Self::holds_nothing(&self.dir) {
            artifacts::io::forget_checkpoint(&self.dir);
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Random genotypes under a budget are drawn with a predicted latency in
/// [RANDOM_BAND·budget, budget], so that they use the budget as a search
/// does (docs/algorithms.md §4.4).
pub const RANDOM_BAND: f64 = 0.8;

/// Uniform random draws tried before giving up on the band.
const RANDOM_DRAWS: usize = 200_000;

/// `search/random.json`: how a random genotype was drawn.
#[derive(Debug, Clone, Serialize)]
pub struct RandomDraw {
    pub seed: u64,
    pub budget_ms: Option<f64>,
    /// The accepted band of predicted latency (ms).
    pub band_ms: Option<(f64, f64)>,
    /// Uniform draws until one landed in the band.
    pub draws: usize,
    pub predicted_ms: f64,
    pub genotype: models::Genotype,
}

/// Rejection sampling: uniformly random genotypes of the search space until
/// one's predicted latency lies in the band under `budget_ms` (any
/// genotype without a budget).
pub fn random_genotype(
    lut: &Lut,
    config: &SearchConfig,
    deploy: &models::NetworkConfig,
    budget_ms: Option<f64>,
) -> Result<RandomDraw, PipelineError> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed);
    let space = config.space();
    let band = budget_ms.map(|b| (RANDOM_BAND * b, b));
    for draws in 1..=RANDOM_DRAWS {
        let g =
            models::genotype::random_genotype(config.relaxation, config.nodes, &space, &mut |n| {
                rng.random_range(0..n)
            });
        let ms = predict(lut, &g, deploy)
            .map_err(|source| {
                PipelineError::Usage(format!("predicting a random genotype: {source}"))
            })?
            .total_ms;
        if band.is_none_or(|(lo, hi)| (lo..=hi).contains(&ms)) {
            return Ok(RandomDraw {
                seed: config.seed,
                budget_ms,
                band_ms: band,
                draws,
                predicted_ms: ms,
                genotype: g,
            });
        }
    }
    let (lo, hi) = band.expect("only a band can reject");
    Err(PipelineError::Usage(format!(
        "none of {RANDOM_DRAWS} uniformly random genotypes has a predicted latency in [{lo:.3}, {hi:.3}] ms: the budget is out of the random genotypes' range"
    )))
}

/// The device of `--remote`, its token read, refused for a profile that
/// only this machine can measure (burn's backends).
fn remote_target(
    spec: Option<&RemoteSpec>,
    profile: &DeviceProfile,
) -> Result<Option<RemoteTarget>, PipelineError> {
    let Some(spec) = spec else {
        return Ok(None);
    };
    if profile.backend != LutBackend::Tract {
        return Err(PipelineError::Usage(format!(
            "--remote measures with tract on the device (`latency-lut serve`), but --device {} \
             measures burn-{} ops, which cannot be measured remotely: use a tract profile \
             (--device cpu, or a device file with backend = \"tract\"), or run edgenas on \
             the device itself without --remote",
            profile.name,
            profile.backend.name()
        )));
    }
    Ok(Some(RemoteTarget {
        address: spec.address.clone(),
        token: Token::resolve(spec.token_file.as_deref())?,
    }))
}

/// The device's latency table of a run, and what it was measured for.
struct DeviceTable {
    profile: DeviceProfile,
    template: Template,
    remote: Option<RemoteTarget>,
    lut: Lut,
    path: PathBuf,
}

/// The device's latency table: reused from the cache when one was measured
/// for the same profile and template, else profiled now (on the `--remote`
/// device when there is one).
fn device_table(
    config: &RunConfig,
    data: &Dataset,
    progress: &dyn Progress,
) -> Result<DeviceTable, PipelineError> {
    let profile =
        DeviceProfile::resolve(&config.device).map_err(|source| PipelineError::Device {
            spec: config.device.clone(),
            source,
        })?;
    let mut template = template_for(
        &config.search,
        data.channels,
        data.height,
        data.num_classes,
        config.deploy(),
    );
    if let Some(genotype) = &config.genotype {
        // A given genotype may use ops outside the search's space.
        for edge in genotype.normal.edges.iter().chain(&genotype.reduce.edges) {
            if !template.ops.contains(&edge.op) {
                template.ops.push(edge.op);
            }
        }
        template.ops.sort_unstable();
    }
    let cache = Cache::new(&config.lut_cache);
    let remote = remote_target(config.remote.as_ref(), &profile)?;
    let (lut, path) = {
        // The device serves one client at a time: the connection lasts as
        // long as the table's profiling, not through the training.
        let device = match &remote {
            Some(target) => Some(Remote::connect(&target.address, &target.token)?),
            None => None,
        };
        let backends = match &device {
            Some(device) => Backends::remote(device),
            None => crate::burn_backend::all_backends(),
        };
        cache
            .get_or_profile(&profile, &template, &backends, progress)
            .map_err(|source| PipelineError::Lut {
                path: cache.path_for(&profile, &template, &backends),
                source,
            })?
    };
    Ok(DeviceTable {
        profile,
        template,
        remote,
        lut,
        path,
    })
}

/// `edgenas run --table-only`: the run's latency table, measured into the
/// cache now unless it is there already; nothing else is trained or
/// written. A sweep on a cluster calls it once before its job array, so
/// the table comes from this machine (or the `--remote` device), never
/// from the cluster's nodes. Returns the table's path.
pub fn table(config: &RunConfig, progress: &dyn Progress) -> Result<PathBuf, PipelineError> {
    config.search.validate()?;
    let data = load_data(&config.data)?;
    Ok(device_table(config, &data, progress)?.path)
}

impl RunConfig {
    /// The deployed network's size.
    pub fn deploy(&self) -> NetSize {
        NetSize {
            channels: self.retrain.config.channels,
            layers: self.retrain.config.layers,
        }
    }
}

/// Runs the main job: the device's latency table (cached), search, retrain,
/// export (checked against burn), and the exported model measured with
/// tract on the test split. Everything lands in `config.out` at once when
/// every stage succeeded.
pub fn run(config: &RunConfig, progress: &dyn Progress) -> Result<RunSummary, PipelineError> {
    let started = Instant::now();
    let search_config = &config.search;
    search_config.validate()?;
    if let Some(given) = &config.genotype
        && given.n_nodes != search_config.nodes
    {
        return Err(PipelineError::Usage(format!(
            "the given genotype has {} nodes per cell, --nodes is {}",
            given.n_nodes, search_config.nodes
        )));
    }
    // The output is checked, and its staging folder made, before the
    // table is profiled: a bad --out fails in a second, not after minutes.
    check_out(
        &config.out,
        config.force,
        &[
            ("the data folder", data_folder(&config.data)),
            ("the latency cache", Some(&config.lut_cache)),
        ],
    )?;
    let staged = StagedDir::create(&config.out, config.force)?;
    let data = load_data(&config.data)?;
    let mut retrain_config = config.retrain.resolve(data.height);
    // The zero configuration decides what a kept `zero` edge computes in
    // the retrained network (V2: noise; otherwise it is dropped).
    retrain_config.zero = search_config.zero.in_retrain();
    retrain_config.validate()?;
    let DeviceTable {
        profile,
        template,
        remote,
        lut,
        path: lut_path,
    } = device_table(config, &data, progress)?;
    // The deployed model is measured where the table was.
    let bench_options = device_bench::RunOptions {
        remote,
        ..device_bench::RunOptions::default()
    };
    let mut settings = config.penalty.clone();
    settings.lut_path = Some(lut_path.clone());
    let penalty = LatencyPenalty::new(lut.clone(), &template, &settings).map_err(|source| {
        PipelineError::Lut {
            path: lut_path.clone(),
            source,
        }
    })?;
    log_penalty(&settings, &lut_path);

    // The stages run inside the run's checkpoint folder, so that an
    // interrupted run keeps the finished ones and the unfinished one's last
    // epoch; they move into the output when everything succeeded.
    let checkpoint = RunCheckpoint::open(
        &config.out,
        serde_json::json!({
            "data": artifacts::DataInfo::of(&data),
            "search": search_config,
            "retrain": retrain_config,
            "penalty": settings,
            "random_genotype": config.random_genotype,
            "genotype": config.genotype,
        }),
        config.resume,
        config.force,
    )?;
    let search_dir = staged.path().join("search");
    let retrain_dir = staged.path().join("retrain");
    let device = search::training_device(config.backend)?;
    let (genotype, searched) = if let Some(given) = &config.genotype {
        log::info!("no search: retraining the given genotype");
        std::fs::create_dir_all(&search_dir)
            .map_err(|e| artifacts::ArtifactError::io(&search_dir, e))?;
        write_json(
            &search_dir.join(GENOTYPE_FILE),
            &GenotypeFile {
                genotype: given.clone(),
                tool: Some(tool_version()),
                data: Some(data.source.clone()),
                seed: None,
            },
        )?;
        (given.clone(), None)
    } else if config.random_genotype {
        let draw = random_genotype(
            &lut,
            search_config,
            &template.deploy_network(),
            settings.budget_ms,
        )?;
        log::info!(
            "random genotype (seed {}): predicted {:.3} ms after {} draw(s)",
            draw.seed,
            draw.predicted_ms,
            draw.draws
        );
        std::fs::create_dir_all(&search_dir)
            .map_err(|e| artifacts::ArtifactError::io(&search_dir, e))?;
        write_json(
            &search_dir.join(GENOTYPE_FILE),
            &GenotypeFile {
                genotype: draw.genotype.clone(),
                tool: Some(tool_version()),
                data: Some(data.source.clone()),
                seed: Some(draw.seed),
            },
        )?;
        write_json(&search_dir.join("random.json"), &draw)?;
        (draw.genotype, None)
    } else {
        let stage = checkpoint.stage("search");
        let searched = if config.resume && stage.join(SEARCH_FILE).exists() {
            log::info!("the search had finished: {}", stage.display());
            SearchSummary::load(&stage.join(SEARCH_FILE))?
        } else {
            search_into(
                search_config,
                &data,
                &device,
                settings
                    .is_active()
                    .then_some(&penalty as &dyn AlphaPenalty),
                progress,
                &stage,
                false,
                config.resume,
            )?
        };
        (searched.genotype.clone(), Some(searched))
    };
    let stage = checkpoint.stage("retrain");
    let model = if config.resume && stage.join(MODEL_FILE).exists() {
        log::info!("the retraining had finished: {}", stage.display());
        artifacts::ModelFile::load(&stage)?
    } else {
        retrain_into(
            &retrain_config,
            &genotype,
            &data,
            &device,
            progress,
            &stage,
            false,
            config.resume,
        )?
    };
    // Both stages are done: they move into the output only now, so that an
    // interruption before this point keeps them for --resume.
    if searched.is_some() {
        checkpoint.hand_over("search", staged.path())?;
    }
    checkpoint.hand_over("retrain", staged.path())?;
    let predicted = predict(&lut, &genotype, &template.deploy_network()).map_err(|source| {
        PipelineError::Lut {
            path: lut_path.clone(),
            source,
        }
    })?;

    // Deployment: export to ONNX (verified against burn) and measure the
    // model with tract on the test split.
    let onnx_path = staged.path().join(ONNX_FILE);
    let exported = export::export_run(&retrain_dir, &onnx_path, &export::ExportOptions::default())?;
    let bench = device_bench::run(&onnx_path, &data, &bench_options)?;
    bench.save(&staged.path().join(REPORT_FILE))?;
    let batch1 = bench
        .latency
        .iter()
        .find(|l| l.batch == 1)
        .expect("device-bench measures batch 1");
    let out = &config.out;
    let verdict = settings
        .budget_ms
        .map(|b| budget_verdict(b, batch1.stats.p50_ms));
    if let (Some(budget), Some((met, over))) = (settings.budget_ms, verdict) {
        log::info!(
            "latency budget {budget} ms {} on the device: tract p50 {:.3} ms ({over:+.1} %), predicted {:.3} ms",
            if met { "met" } else { "missed" },
            batch1.stats.p50_ms,
            predicted.total_ms
        );
    }
    let summary = RunSummary {
        schema_version: ARTIFACT_SCHEMA_VERSION,
        tool: tool_version(),
        data: data.source.clone(),
        cell: search_config.relaxation,
        algo: search_config.algo,
        seed: search_config.seed,
        genotype: genotype.clone(),
        genotype_source: if searched.is_some() {
            "search"
        } else if config.genotype.is_some() {
            "given"
        } else {
            "random"
        }
        .into(),
        search_val_accuracy: searched.as_ref().map(|s| s.final_search_val_accuracy),
        eval_val_accuracy: searched.as_ref().and_then(|s| s.final_eval_val_accuracy),
        test_accuracy: model.test_accuracy,
        test_samples: model.test_samples,
        device: profile.name.clone(),
        penalty: settings.clone(),
        predicted_latency_ms: predicted.total_ms,
        onnx_path: out.join(ONNX_FILE),
        onnx_parity_rel_error: exported.max_rel_error,
        report_path: out.join(REPORT_FILE),
        tract_accuracy: bench.accuracy.percent,
        tract_latency_ms_p50: batch1.stats.p50_ms,
        tract_latency_ms_p90: batch1.stats.p90_ms,
        budget_met: verdict.map(|v| v.0),
        budget_over_pct: verdict.map(|v| v.1),
        budget_repairs: searched
            .as_ref()
            .and_then(|s| s.budget.as_ref())
            .map(|b| b.repairs.len()),
        search_seconds: searched.as_ref().map_or(0.0, |s| s.seconds),
        retrain_seconds: model.seconds,
        seconds: started.elapsed().as_secs_f64(),
        genotype_path: out.join("search").join(GENOTYPE_FILE),
        search_metrics_path: out.join("search").join(METRICS_FILE),
        weights_path: out.join("retrain").join(WEIGHTS_FILE),
        model_path: out.join("retrain").join(MODEL_FILE),
        run_path: out.join(RUN_FILE),
    };
    write_json(&staged.path().join(RUN_FILE), &summary)?;
    artifacts::write_atomic(
        &staged.path().join(CELLS_FILE),
        crate::draw::cells_svg(&genotype).as_bytes(),
    )?;
    crate::report::write(staged.path())?;
    staged.commit()?;
    checkpoint.remove();
    Ok(summary)
}
