//! `edgenas bench`: our search step, retraining step and inference raced
//! against the PyTorch mirror in `bench/reference/edgenas_ref.py`, on the
//! same networks, shapes and optimizers. `edgenas bench search` times only
//! our search step, in process.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use search::bench::{self, BenchConfig, StepSummary, Workload};
use search::{Backend, training_device};
use serde_json::{Value, json};

#[derive(Args, Debug)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Without a subcommand: races edgenas (burn-flex, CPU) against the PyTorch \
mirror bench/reference/edgenas_ref.py on the same networks, shapes and optimizers. For \
each configuration × workload × thread count, edgenas and PyTorch are measured \
alternately for --rounds rounds, each measurement in its own process (so peak RSS is \
per workload). Prints a table (ratio = edgenas images/s ÷ PyTorch images/s), or JSON \
with --json. Needs bench/reference/setup.sh run once, unless --ours-only."
)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub target: Option<BenchTarget>,
    #[command(flatten)]
    pub race: RaceArgs,
}

#[derive(Subcommand, Debug)]
pub enum BenchTarget {
    /// Time only our ICDARTS search step (α, w_S and w_E updates) at C=8,
    /// L=5, N=4, batch 32, 28×28×1 on random data, in this process; no
    /// PyTorch needed.
    Search(SearchArgs),
    /// One measurement of edgenas in this process, printed as one JSON line
    /// on stdout (`edgenas bench` runs one per child process; the thread
    /// count comes from RAYON_NUM_THREADS).
    #[command(hide = true)]
    Worker(WorkerArgs),
}

/// The sizes of a workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ConfigName {
    /// C=8, L=5, N=4, batch 32, 28×28×1, 10 classes.
    Default,
    /// C=16, L=5, N=4, batch 32, 32×32×3, 10 classes.
    Large,
    /// C=4, L=3, N=4, batch 4, 8×8×1 (for tests).
    #[value(hide = true)]
    Tiny,
}

impl ConfigName {
    fn config(self) -> BenchConfig {
        match self {
            ConfigName::Default => BenchConfig::small(),
            ConfigName::Large => BenchConfig::large(),
            ConfigName::Tiny => BenchConfig::tiny(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            ConfigName::Default => "default",
            ConfigName::Large => "large",
            ConfigName::Tiny => "tiny",
        }
    }
}

/// Which configurations `edgenas bench` measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ConfigSelection {
    /// C=8, L=5, N=4, batch 32, 28×28×1, 10 classes.
    Default,
    /// C=16, L=5, N=4, batch 32, 32×32×3, 10 classes.
    Large,
    /// default, then large.
    All,
    /// C=4, L=3, N=4, batch 4, 8×8×1 (for tests).
    #[value(hide = true)]
    Tiny,
}

impl ConfigSelection {
    fn configs(self) -> Vec<ConfigName> {
        match self {
            ConfigSelection::Default => vec![ConfigName::Default],
            ConfigSelection::Large => vec![ConfigName::Large],
            ConfigSelection::All => vec![ConfigName::Default, ConfigName::Large],
            ConfigSelection::Tiny => vec![ConfigName::Tiny],
        }
    }
}

/// A workload, as named on the command line and by `edgenas_ref.py --what`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum What {
    /// One ICDARTS search step: α update (Adam) on a val batch, then w_S and
    /// w_E updates (SGD lr 0.05) on a train batch; E built from the
    /// discretized initial α.
    SearchStep,
    /// One retraining step of the evaluation network of
    /// bench/reference/default_genotype.json: auxiliary head (weight 0.4),
    /// drop-path 0.1, backward, clipping at 5, SGD lr 0.025.
    RetrainStep,
    /// Logits of the same evaluation network in inference mode (no
    /// auxiliary head, no drop-path).
    Infer,
}

impl What {
    fn workload(self) -> Workload {
        match self {
            What::SearchStep => Workload::SearchStep,
            What::RetrainStep => Workload::RetrainStep,
            What::Infer => Workload::Infer,
        }
    }
}

/// Warm-up and timed steps when none are given: about half a minute of
/// timed work per measurement at the default configuration on two cores,
/// more steps where a step is short and the median needs them.
fn default_steps(workload: Workload) -> (usize, usize) {
    match workload {
        Workload::SearchStep => (1, 3),
        Workload::RetrainStep => (1, 5),
        Workload::Infer => (2, 20),
    }
}

/// A thread count: a number, or `all` for every core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadCount {
    All,
    Exactly(usize),
}

impl ThreadCount {
    fn resolve(self) -> usize {
        match self {
            ThreadCount::All => cores(),
            ThreadCount::Exactly(n) => n,
        }
    }
}

fn parse_threads(s: &str) -> Result<ThreadCount, String> {
    match s {
        "all" => Ok(ThreadCount::All),
        _ => match s.parse::<usize>() {
            Ok(n) if n > 0 => Ok(ThreadCount::Exactly(n)),
            _ => Err(format!("`{s}` is neither a positive number nor `all`")),
        },
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The race: every configuration × workload × thread count, edgenas and
/// PyTorch measured alternately, each measurement in its own process.
#[derive(Args, Debug)]
pub struct RaceArgs {
    /// Which sizes to measure.
    #[arg(long, value_enum, default_value = "all")]
    pub config: ConfigSelection,
    /// Workloads to measure (comma-separated).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_values_t = [What::SearchStep, What::RetrainStep, What::Infer]
    )]
    pub what: Vec<What>,
    /// Thread counts to measure (comma-separated numbers, `all` = every
    /// core). edgenas gets them as RAYON_NUM_THREADS (burn-flex runs all its
    /// parallel kernels, matmul and convolution included, on rayon's global
    /// pool), PyTorch as torch.set_num_threads (its OpenMP and MKL pools).
    #[arg(long, value_delimiter = ',', value_parser = parse_threads, default_value = "1,all")]
    pub threads: Vec<ThreadCount>,
    /// Rounds: each round measures every cell once per implementation,
    /// edgenas then PyTorch, so drift of the machine's speed hits both
    /// alike. The figures pool the timed steps of all rounds.
    #[arg(long, default_value_t = 2)]
    pub rounds: usize,
    /// Untimed warm-up steps per measurement [default: 1 for search-step
    /// and retrain-step, 2 for infer].
    #[arg(long)]
    pub warmup: Option<usize>,
    /// Timed steps per measurement [default: 3 search-step, 5 retrain-step,
    /// 20 infer].
    #[arg(long)]
    pub steps: Option<usize>,
    /// Measure only edgenas (no PyTorch environment needed).
    #[arg(long)]
    pub ours_only: bool,
    /// Python of the PyTorch environment that bench/reference/setup.sh
    /// creates [default: bench/reference/.venv/bin/python under the current
    /// folder, else in the source tree edgenas was built from].
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// The PyTorch mirror [default: bench/reference/edgenas_ref.py, found
    /// as --python is].
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Run edgenas on burn's own convolution and pooling ops instead of the
    /// custom kernels of models::kernels (to measure what they gain; the
    /// same as EDGENAS_REFERENCE_KERNELS=1).
    #[arg(long)]
    pub reference_kernels: bool,
    /// Print every figure as one JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Timed steps (after warm-up).
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Untimed warm-up steps.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Training backend: flex (burn-flex on the CPU) or cuda (needs a build
    /// with `--features cuda`).
    #[arg(long, default_value = "flex")]
    pub backend: Backend,
    /// Run edgenas on burn's own convolution and pooling ops instead of the
    /// custom kernels of models::kernels (to measure what they gain; the
    /// same as EDGENAS_REFERENCE_KERNELS=1).
    #[arg(long)]
    pub reference_kernels: bool,
    /// Print the figures as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct WorkerArgs {
    #[arg(long, value_enum)]
    pub what: What,
    #[arg(long, value_enum, default_value = "default")]
    pub config: ConfigName,
    /// Untimed warm-up steps [default: as `edgenas bench`].
    #[arg(long)]
    pub warmup: Option<usize>,
    /// Timed steps [default: as `edgenas bench`].
    #[arg(long)]
    pub steps: Option<usize>,
    #[arg(long)]
    pub reference_kernels: bool,
}

pub fn run(args: BenchArgs) -> Result<()> {
    match args.target {
        Some(BenchTarget::Search(search)) => run_search(search),
        Some(BenchTarget::Worker(worker)) => run_worker(worker),
        None => run_race(args.race),
    }
}

/// `edgenas bench search`.
fn run_search(args: SearchArgs) -> Result<()> {
    if args.steps == 0 {
        bail!("--steps must be at least 1");
    }
    if args.reference_kernels {
        models::kernels::use_reference_kernels(true);
    }
    let device = training_device(args.backend)?;
    let config = BenchConfig::small();
    let started = Instant::now();
    let times = bench::search_step_times(&config, args.warmup, args.steps, &device);
    let summary = StepSummary::of(&times, config.batch_size).context("no timed steps")?;
    let threads = rayon_threads();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "benchmark": "icdarts_search_step",
                "config": config,
                "backend": args.backend,
                "kernels": kernels_name(),
                "threads": threads,
                "steps": args.steps,
                "step_seconds": times,
                "median_step_ms": summary.median_s * 1e3,
                "mean_step_ms": summary.mean_s * 1e3,
                "images_per_s": summary.images_per_s,
            }))?
        );
    } else {
        println!(
            "benchmark                 config                          median ms/step   images/s"
        );
        println!(
            "icdarts search step       C={} L={} N={} b={} {}x{}x{}      {:>10.1}   {:>8.1}",
            config.channels,
            config.layers,
            config.nodes,
            config.batch_size,
            config.size,
            config.size,
            config.in_channels,
            summary.median_s * 1e3,
            summary.images_per_s
        );
        eprintln!(
            "({} timed steps after {} warm-up, {} threads, {:.1} s total)",
            args.steps,
            args.warmup,
            threads,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Which convolution kernels this process runs: `custom` (models::kernels)
/// or `burn` (`--reference-kernels`).
fn kernels_name() -> &'static str {
    if models::kernels::reference_kernels() {
        "burn"
    } else {
        "custom"
    }
}

/// The threads burn-flex runs on: rayon's global pool, sized by
/// RAYON_NUM_THREADS (0 or unset: every core).
fn rayon_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(cores)
}

/// The first number of `field` in /proc/self/status, if /proc has it.
fn proc_status(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Peak resident set size of this process in MiB (VmHWM).
fn peak_rss_mb() -> Option<f64> {
    proc_status("VmHWM:").map(|kib| kib / 1024.0)
}

/// The 1-minute load average, if /proc has it.
fn loadavg_1m() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `edgenas bench worker`: one measurement, one JSON line, the field names
/// of `edgenas_ref.py`'s output.
fn run_worker(args: WorkerArgs) -> Result<()> {
    let workload = args.what.workload();
    let (default_warmup, default_steps) = default_steps(workload);
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
    let times = bench::step_times(workload, &config, warmup, steps, &device);
    let load_after = loadavg_1m();
    let summary = StepSummary::of(&times, config.batch_size).context("no timed steps")?;
    let out = json!({
        "impl": "edgenas",
        "tool_version": env!("CARGO_PKG_VERSION"),
        "backend": Backend::Flex,
        "kernels": kernels_name(),
        "what": workload.name(),
        "config_name": args.config.name(),
        "config": config,
        "threads": rayon_threads(),
        "warmup": warmup,
        "steps": steps,
        "step_seconds": times,
        "ms_per_step_median": summary.median_s * 1e3,
        "ms_per_step_mean": summary.mean_s * 1e3,
        "images_per_s": summary.images_per_s,
        "params": bench::param_counts(workload, &config),
        "peak_rss_mb": peak_rss_mb(),
        // OS threads of this process at the end: the main thread plus
        // rayon's pool, a check that RAYON_NUM_THREADS took effect.
        "process_threads": proc_status("Threads:").map(|n| n as u64),
        "loadavg_1m": [load_before, load_after],
        "cpus": cores(),
    });
    println!("{out}");
    Ok(())
}

/// Which implementation a measurement ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Impl {
    Edgenas,
    Pytorch,
}

impl Impl {
    fn name(self) -> &'static str {
        match self {
            Impl::Edgenas => "edgenas",
            Impl::Pytorch => "pytorch",
        }
    }
}

/// One cell of the matrix.
#[derive(Clone, Copy, Debug)]
struct Cell {
    reference_kernels: bool,
    config: ConfigName,
    workload: Workload,
    threads: usize,
    warmup: usize,
    steps: usize,
}

impl Cell {
    fn label(&self) -> String {
        format!(
            "{} {} {} thread{}",
            self.config.name(),
            self.workload.name(),
            self.threads,
            if self.threads == 1 { "" } else { "s" }
        )
    }
}

/// What one child process reported.
struct Measurement {
    step_seconds: Vec<f64>,
    images_per_s: f64,
    peak_rss_mb: Option<f64>,
    raw: Value,
}

/// Where the PyTorch side lives.
struct Reference {
    python: PathBuf,
    script: PathBuf,
}

/// `rel` under the current folder if it exists there, else in the source
/// tree this binary was built from, else `rel` (for the error message).
fn find_in_tree(rel: &str) -> PathBuf {
    let here = PathBuf::from(rel);
    if here.exists() {
        return here;
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
    if source.exists() { source } else { here }
}

impl Reference {
    fn locate(args: &RaceArgs) -> Result<Self> {
        let python = args
            .python
            .clone()
            .unwrap_or_else(|| find_in_tree("bench/reference/.venv/bin/python"));
        let script = args
            .reference
            .clone()
            .unwrap_or_else(|| find_in_tree("bench/reference/edgenas_ref.py"));
        if !python.exists() {
            bail!(
                "{}: no such python; run bench/reference/setup.sh to create the PyTorch environment, \
                 pass --python, or measure only edgenas with --ours-only",
                python.display()
            );
        }
        if !script.is_file() {
            bail!(
                "{}: no such file; pass --reference with the path of bench/reference/edgenas_ref.py",
                script.display()
            );
        }
        Ok(Self { python, script })
    }

    fn command(&self, cell: &Cell) -> Command {
        let c = cell.config.config();
        let mut cmd = Command::new(&self.python);
        cmd.arg(&self.script)
            .args(["--what", cell.workload.name()])
            .args(["--channels", &c.channels.to_string()])
            .args(["--layers", &c.layers.to_string()])
            .args(["--nodes", &c.nodes.to_string()])
            .args(["--batch", &c.batch_size.to_string()])
            .args(["--image-size", &c.size.to_string()])
            .args(["--in-channels", &c.in_channels.to_string()])
            .args(["--classes", &c.classes.to_string()])
            .args(["--threads", &cell.threads.to_string()])
            .args(["--warmup", &cell.warmup.to_string()])
            .args(["--steps", &cell.steps.to_string()]);
        // The step settings are passed from our own code, so a change on
        // this side cannot leave the mirror silently different. Genotypes:
        // the script's defaults are the files our workloads are built from
        // (checked by search::bench's tests).
        match cell.workload {
            Workload::SearchStep => {
                cmd.args(["--lr", &bench::SEARCH_STEP_LR.to_string()]);
            }
            Workload::RetrainStep => {
                let s = bench::retrain_step_settings();
                cmd.args(["--lr", &s.lr.to_string()])
                    .args(["--drop-path", &s.drop_path.to_string()])
                    .args(["--aux-weight", &s.aux_weight.to_string()]);
            }
            Workload::Infer => {}
        }
        cmd
    }
}

fn ours_command(cell: &Cell) -> Result<Command> {
    let exe = std::env::current_exe().context("cannot find the edgenas executable")?;
    let mut cmd = Command::new(exe);
    cmd.args(["bench", "worker", "--what", cell.workload.name()])
        .args(["--config", cell.config.name()])
        .args(["--warmup", &cell.warmup.to_string()])
        .args(["--steps", &cell.steps.to_string()])
        .env("RAYON_NUM_THREADS", cell.threads.to_string())
        .env("RUST_LOG", "warn");
    if cell.reference_kernels {
        cmd.arg("--reference-kernels");
    }
    Ok(cmd)
}

/// Runs one measurement to completion and reads its JSON line.
fn measure(mut cmd: Command, who: Impl, cell: &Cell) -> Result<Measurement> {
    let what = format!("{} {}", who.name(), cell.label());
    let output = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("{what}: cannot start {:?}", cmd.get_program()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!("{what} failed ({}): {}", output.status, tail.join(" | "));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .with_context(|| format!("{what}: printed nothing on stdout"))?;
    let raw: Value = serde_json::from_str(line)
        .with_context(|| format!("{what}: stdout is not a JSON line: {line}"))?;
    let step_seconds: Vec<f64> = raw["step_seconds"]
        .as_array()
        .and_then(|a| a.iter().map(Value::as_f64).collect())
        .with_context(|| format!("{what}: no step_seconds in its output"))?;
    let images_per_s = raw["images_per_s"]
        .as_f64()
        .with_context(|| format!("{what}: no images_per_s in its output"))?;
    Ok(Measurement {
        step_seconds,
        images_per_s,
        peak_rss_mb: raw["peak_rss_mb"].as_f64(),
        raw,
    })
}

/// Every round's measurements of one implementation in one cell, pooled.
struct Pooled {
    summary: StepSummary,
    peak_rss_mb: Option<f64>,
    rounds: Vec<Measurement>,
}

impl Pooled {
    fn of(rounds: Vec<Measurement>, batch_size: usize) -> Option<Self> {
        let all: Vec<f64> = rounds
            .iter()
            .flat_map(|m| m.step_seconds.iter().copied())
            .collect();
        let summary = StepSummary::of(&all, batch_size)?;
        let peak_rss_mb = rounds
            .iter()
            .filter_map(|m| m.peak_rss_mb)
            .max_by(f64::total_cmp);
        Some(Self {
            summary,
            peak_rss_mb,
            rounds,
        })
    }

    fn to_json(&self) -> Value {
        json!({
            "ms_per_step_median": self.summary.median_s * 1e3,
            "ms_per_step_mean": self.summary.mean_s * 1e3,
            "images_per_s": self.summary.images_per_s,
            "peak_rss_mb": self.peak_rss_mb,
            "runs": self.rounds.iter().map(|m| &m.raw).collect::<Vec<_>>(),
        })
    }
}

/// The figures of one cell.
struct CellResult {
    cell: Cell,
    ours: Pooled,
    torch: Option<Pooled>,
}

impl CellResult {
    /// Our throughput ÷ PyTorch's.
    fn ratio(&self) -> Option<f64> {
        let torch = self.torch.as_ref()?;
        Some(self.ours.summary.images_per_s / torch.summary.images_per_s)
    }

    /// The same ratio per round (each round's own medians), to show noise.
    fn round_ratios(&self) -> Vec<f64> {
        let Some(torch) = &self.torch else {
            return Vec::new();
        };
        self.ours
            .rounds
            .iter()
            .zip(&torch.rounds)
            .map(|(o, t)| o.images_per_s / t.images_per_s)
            .collect()
    }

    fn to_json(&self) -> Value {
        json!({
            "config": self.cell.config.name(),
            "sizes": self.cell.config.config(),
            "workload": self.cell.workload.name(),
            "threads": self.cell.threads,
            "warmup": self.cell.warmup,
            "steps": self.cell.steps,
            "ours": self.ours.to_json(),
            "pytorch": self.torch.as_ref().map(Pooled::to_json),
            "ratio": self.ratio(),
            "round_ratios": self.round_ratios(),
        })
    }
}

/// Warns when the two sides report different parameter counts for a
/// network both should have built identically.
fn check_params(cell: &Cell, ours: &Measurement, torch: &Measurement) {
    let (Some(o), Some(t)) = (
        ours.raw["params"].as_object(),
        torch.raw["params"].as_object(),
    ) else {
        return;
    };
    for (name, count) in o {
        if let Some(theirs) = t.get(name)
            && theirs != count
        {
            log::warn!(
                "{}: {name} has {count} parameters in edgenas but {theirs} in PyTorch: the networks differ",
                cell.label()
            );
        }
    }
}

/// `edgenas bench`.
fn run_race(args: RaceArgs) -> Result<()> {
    if args.rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    if args.steps == Some(0) {
        bail!("--steps must be at least 1");
    }
    if args.what.is_empty() || args.threads.is_empty() {
        bail!("--what and --threads need at least one value each");
    }
    if args.reference_kernels {
        models::kernels::use_reference_kernels(true);
    }
    let reference = if args.ours_only {
        None
    } else {
        Some(Reference::locate(&args)?)
    };
    let mut threads: Vec<usize> = Vec::new();
    for t in &args.threads {
        let n = t.resolve();
        if !threads.contains(&n) {
            threads.push(n);
        }
    }
    let mut whats: Vec<What> = Vec::new();
    for w in &args.what {
        if !whats.contains(w) {
            whats.push(*w);
        }
    }
    let mut cells = Vec::new();
    for config in args.config.configs() {
        for what in &whats {
            let workload = what.workload();
            let (warmup, steps) = default_steps(workload);
            for &t in &threads {
                cells.push(Cell {
                    reference_kernels: models::kernels::reference_kernels(),
                    config,
                    workload,
                    threads: t,
                    warmup: args.warmup.unwrap_or(warmup),
                    steps: args.steps.unwrap_or(steps),
                });
            }
        }
    }

    let sides = if reference.is_some() { 2 } else { 1 };
    let bar = ProgressBar::new((cells.len() * args.rounds * sides) as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {elapsed_precise} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix("bench");
    let load_before = loadavg_1m();
    let started = Instant::now();
    let mut ours: Vec<Vec<Measurement>> = cells.iter().map(|_| Vec::new()).collect();
    let mut torch: Vec<Vec<Measurement>> = cells.iter().map(|_| Vec::new()).collect();
    for round in 0..args.rounds {
        for (i, cell) in cells.iter().enumerate() {
            let mut sides = vec![(Impl::Edgenas, ours_command(cell)?)];
            if let Some(r) = &reference {
                sides.push((Impl::Pytorch, r.command(cell)));
            }
            for (who, cmd) in sides {
                bar.set_message(format!(
                    "round {}/{}: {} {}",
                    round + 1,
                    args.rounds,
                    who.name(),
                    cell.label()
                ));
                let m = measure(cmd, who, cell)?;
                bar.suspend(|| {
                    log::info!(
                        "round {}/{} {} {}: {:.1} ms/step, {:.1} images/s, peak RSS {}",
                        round + 1,
                        args.rounds,
                        who.name(),
                        cell.label(),
                        m.raw["ms_per_step_median"].as_f64().unwrap_or(f64::NAN),
                        m.images_per_s,
                        m.peak_rss_mb
                            .map_or("unknown".into(), |mb| format!("{mb:.0} MB")),
                    )
                });
                bar.inc(1);
                match who {
                    Impl::Edgenas => ours[i].push(m),
                    Impl::Pytorch => {
                        if round == 0 {
                            bar.suspend(|| check_params(cell, &ours[i][0], &m));
                        }
                        torch[i].push(m)
                    }
                }
            }
        }
    }
    bar.finish_and_clear();
    let load_after = loadavg_1m();
    let elapsed = started.elapsed().as_secs_f64();

    let results: Vec<CellResult> = cells
        .iter()
        .zip(ours.into_iter().zip(torch))
        .map(|(cell, (o, t))| {
            let batch = cell.config.config().batch_size;
            CellResult {
                cell: *cell,
                ours: Pooled::of(o, batch).expect("every cell has timed steps"),
                torch: Pooled::of(t, batch),
            }
        })
        .collect();

    if args.json {
        let headline = |workload: Workload| {
            results
                .iter()
                .find(|r| {
                    r.cell.config == ConfigName::Default
                        && r.cell.workload == workload
                        && r.cell.threads == cores()
                })
                .and_then(CellResult::ratio)
        };
        let torch_version = results.iter().find_map(|r| {
            r.torch
                .as_ref()?
                .rounds
                .first()?
                .raw
                .get("torch_version")
                .cloned()
        });
        let out = json!({
            "benchmark": "edgenas-vs-pytorch",
            "tool_version": env!("CARGO_PKG_VERSION"),
            "edgenas_kernels": kernels_name(),
            "torch_version": torch_version,
            "cpus": cores(),
            "rounds": args.rounds,
            "seconds": elapsed,
            "loadavg_1m": [load_before, load_after],
            "search_step_ratio": headline(Workload::SearchStep),
            "retrain_step_ratio": headline(Workload::RetrainStep),
            "results": results.iter().map(CellResult::to_json).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_table(&results);
        let load = |l: Option<f64>| l.map_or("?".into(), |l| format!("{l:.2}"));
        println!(
            "\nratio = edgenas images/s ÷ PyTorch images/s (above 1: edgenas is faster); \
             ms/step = upper median of the timed steps of {} round{}; {} cpus; \
             1-min load average {} before, {} after; {:.0} s",
            args.rounds,
            if args.rounds == 1 { "" } else { "s" },
            cores(),
            load(load_before),
            load(load_after),
            elapsed,
        );
    }
    Ok(())
}

fn print_table(results: &[CellResult]) {
    let header = [
        "config",
        "workload",
        "threads",
        "ours ms/step",
        "torch ms/step",
        "ours img/s",
        "torch img/s",
        "ratio",
        "peak RSS MB ours/torch",
    ];
    let num = |v: Option<f64>, digits: usize| v.map_or("-".into(), |v| format!("{v:.digits$}"));
    let rows: Vec<[String; 9]> = results
        .iter()
        .map(|r| {
            let t = r.torch.as_ref();
            let rss = |p: Option<&Pooled>| num(p.and_then(|p| p.peak_rss_mb), 0);
            [
                r.cell.config.name().to_string(),
                r.cell.workload.name().to_string(),
                r.cell.threads.to_string(),
                num(Some(r.ours.summary.median_s * 1e3), 1),
                num(t.map(|t| t.summary.median_s * 1e3), 1),
                num(Some(r.ours.summary.images_per_s), 1),
                num(t.map(|t| t.summary.images_per_s), 1),
                num(r.ratio(), 2),
                format!("{} / {}", rss(Some(&r.ours)), rss(t)),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([header[c].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    // Text columns left-aligned, figures right-aligned; a Markdown table.
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(c, s)| {
                if c < 2 {
                    format!("{s:<w$}", w = widths[c])
                } else {
                    format!("{s:>w$}", w = widths[c])
                }
            })
            .collect();
        println!("| {} |", padded.join(" | "));
    };
    line(header.to_vec());
    let rule: Vec<String> = widths
        .iter()
        .enumerate()
        .map(|(c, w)| {
            if c < 2 {
                format!(":{}", "-".repeat(w - 1))
            } else {
                format!("{}:", "-".repeat(w - 1))
            }
        })
        .collect();
    println!("| {} |", rule.join(" | "));
    for r in &rows {
        line(r.iter().map(String::as_str).collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_counts_parse() {
        assert_eq!(parse_threads("all"), Ok(ThreadCount::All));
        assert_eq!(parse_threads("3"), Ok(ThreadCount::Exactly(3)));
        assert!(parse_threads("0").is_err());
        assert!(parse_threads("two").is_err());
    }
}
