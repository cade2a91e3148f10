//! What the edgenas binaries (`edgenas`, `latency-lut`, `device-bench`)
//! share on the terminal: logs on stderr, errors as one line, one
//! progress-bar style for the libraries' progress hooks, and the flags more
//! than one binary takes. No burn and no tract, so the device-side binaries
//! can use it.

use artifacts::progress::{Progress, ProgressBar as Bar};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

/// Logs to stderr at `info` unless RUST_LOG says otherwise.
pub fn init_logging() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_secs()
        .init();
}

/// An error as one line: the chain of causes, outermost first.
pub fn one_line(err: &anyhow::Error) -> String {
    let chain: Vec<String> = err.chain().map(|c| c.to_string()).collect();
    format!("error: {}", chain.join(": "))
}

/// Prints an error as one line on stderr and exits with `code`.
pub fn exit_with(err: anyhow::Error, code: i32) -> ! {
    eprintln!("{}", one_line(&err));
    std::process::exit(code);
}

/// The progress bars of every binary: indicatif on stderr (hidden when
/// stderr is not a terminal).
pub struct Bars;

struct IndicatifBar(ProgressBar);

impl Bar for IndicatifBar {
    fn inc(&self) {
        self.0.inc(1);
    }
    fn set(&self, done: usize, total: usize, item: &str) {
        self.0.set_length(total as u64);
        self.0.set_position(done as u64);
        if !item.is_empty() {
            self.0.set_message(item.to_string());
        }
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bars {
    fn start(&self, label: &str, total: usize) -> Box<dyn Bar> {
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>28} [{bar:30}] {pos}/{len} {per_sec} ETA {eta} {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        Box::new(IndicatifBar(bar))
    }
}

/// The search's networks: the op space and the sizes of the search network
/// S and the search-phase evaluation network E (`edgenas search`/`run`,
/// and `latency-lut profile`, whose table must cover them).
#[derive(Args, Debug, Clone)]
pub struct SearchNetworkArgs {
    /// Zero-op configuration (docs/algorithms.md §2.1, the dissertation's
    /// Table 3.1): v1 (no zero op), v0 (DARTS: zero in the search network,
    /// never kept), v2 (uniform noise in its place in the search, the
    /// search-phase evaluation and the retrained network; kept like any
    /// op), v3 (noise, but the retrained network drops zero edges) or v4
    /// (noise in the search network only).
    #[arg(long, default_value = "v1")]
    pub zero: arch::ZeroConfig,
    /// Op space (docs/algorithms.md §2.1): 3 = DARTS (separable and dilated
    /// convolutions, identity, 3×3 pools), 1 = basic (3×3/5×5 plain and
    /// depthwise convolutions, ReLU, leaky ReLU, sigmoid, tanh, BN,
    /// identity, pools), 2 = simple/NASNet (3×3 and 5×5 convolutions with
    /// and without a ReLU first, 1×7/7×1 and 1×9/9×1 pairs, identity,
    /// pools) or 4 = MBConv (MobileNetV2, EfficientNet with
    /// squeeze-excitation and fused EfficientNetV2 blocks, identity, pools).
    #[arg(long, default_value = "3")]
    pub space: arch::SpaceKind,
    /// C: channels of the search network.
    #[arg(long, default_value_t = artifacts::SearchConfig::default().channels)]
    pub channels: usize,
    /// L: cells of the search network.
    #[arg(long, default_value_t = artifacts::SearchConfig::default().layers)]
    pub layers: usize,
    /// N: intermediate nodes per cell.
    #[arg(long, default_value_t = artifacts::SearchConfig::default().nodes)]
    pub nodes: usize,
    /// C of the search-phase evaluation network.
    #[arg(long, default_value_t = artifacts::SearchConfig::default().eval_channels)]
    pub eval_channels: usize,
    /// L of the search-phase evaluation network.
    #[arg(long, default_value_t = artifacts::SearchConfig::default().eval_layers)]
    pub eval_layers: usize,
}

impl SearchNetworkArgs {
    /// `config` with these networks.
    pub fn apply(&self, config: artifacts::SearchConfig) -> artifacts::SearchConfig {
        artifacts::SearchConfig {
            zero: self.zero,
            op_space: self.space,
            channels: self.channels,
            layers: self.layers,
            nodes: self.nodes,
            eval_channels: self.eval_channels,
            eval_layers: self.eval_layers,
            ..config
        }
    }
}

/// The deployed (retrained) network's size, for commands that do not
/// retrain (`edgenas search`, `latency-lut profile`).
#[derive(Args, Debug, Clone)]
pub struct DeployArgs {
    /// C of the retrained, deployed network (P(α) and `predict` use it).
    #[arg(long, default_value_t = artifacts::RetrainConfig::default().channels)]
    pub deploy_channels: usize,
    /// L of the retrained, deployed network.
    #[arg(long, default_value_t = artifacts::RetrainConfig::default().layers)]
    pub deploy_layers: usize,
}

impl DeployArgs {
    pub fn size(&self) -> artifacts::NetSize {
        artifacts::NetSize {
            channels: self.deploy_channels,
            layers: self.deploy_layers,
        }
    }
}

/// Where latency is measured: on this machine, or on the target device
/// through the `latency-lut serve` running there (`latency-lut profile`,
/// `validate`, `calibrate`, `device-bench run`, `edgenas run`).
#[derive(Args, Debug, Clone, Default)]
pub struct RemoteArgs {
    /// Measure latency on the target device instead of this machine: the
    /// HOST:PORT of `latency-lut serve` running there, usually the local
    /// end of an SSH tunnel (`ssh -N -L 7431:127.0.0.1:7431 DEVICE`, then
    /// `--remote 127.0.0.1:7431`). The device times with its own tract and
    /// describes itself in what is written; everything else runs here.
    #[arg(long, value_name = "HOST:PORT")]
    pub remote: Option<String>,
    /// File holding the server's token (one line). Without it the token is
    /// read from the EDGENAS_TOKEN environment variable.
    #[arg(long, value_name = "FILE", requires = "remote")]
    pub token_file: Option<std::path::PathBuf>,
}
