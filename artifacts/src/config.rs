//! The settings of each stage as they are recorded in the artifacts: the
//! search, retraining and latency-penalty configurations. The command-line
//! flags of every command convert into these once.

use std::path::PathBuf;

use arch::{
    NetworkConfig, NodeOpSets, OpKind, OpSpace, Relaxation, SpaceKind, ZeroConfig, ZeroForm,
};
use datasets::Dataset;
use serde::{Deserialize, Serialize};

/// A configuration that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

/// Which search algorithm drives α.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Algo {
    /// ICDARTS (default): search and evaluation networks trained on `train`,
    /// α on `val` with the KD term towards the evaluation network.
    #[default]
    Icdarts,
    /// First-order DARTS: α on L^S_val, w_S on L^S_train, no evaluation network.
    Darts,
    /// CDARTS (Yu & Peng 2020; dissertation Eq. 3.4–3.6), the baseline
    /// ICDARTS improves on: α and w_E jointly on L^S_val + L^E_val +
    /// λ·KD_val (KD's gradient reaches both S and E), E warmed up on `val`,
    /// w_S on L^S_train alone.
    Cdarts,
    /// Random search: `random_candidates` uniformly random genotypes, each
    /// trained for an equal share of an ICDARTS search's weight steps and
    /// ranked on `val`.
    Random,
}

impl Algo {
    /// Whether the search trains a search-phase evaluation network E.
    pub fn has_eval_network(self) -> bool {
        matches!(self, Algo::Icdarts | Algo::Cdarts)
    }
}

impl std::str::FromStr for Algo {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "icdarts" => Ok(Algo::Icdarts),
            "darts" => Ok(Algo::Darts),
            "cdarts" => Ok(Algo::Cdarts),
            "random" => Ok(Algo::Random),
            _ => Err(format!(
                "unknown algorithm `{s}` (expected icdarts, cdarts, darts or random)"
            )),
        }
    }
}

/// DARTS-ES's stopping rule (docs/algorithms.md §7): with λ̄(i) the mean
/// dominant Hessian eigenvalue over the `window` search epochs ending at
/// i, the search stops after epoch i when λ̄(i − k) / λ̄(i) < `ratio` and
/// returns the architecture of epoch i − k.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EarlyStop {
    pub k: usize,
    pub window: usize,
    pub ratio: f64,
}

impl Default for EarlyStop {
    /// The paper's k = 5 and 0.75, with a window of k epochs.
    fn default() -> Self {
        Self {
            k: 5,
            window: 5,
            ratio: 0.75,
        }
    }
}

/// The compute backend for training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// burn-flex on the CPU (default).
    #[default]
    Flex,
    /// burn-cuda on GPU 0 (needs the `cuda` cargo feature).
    Cuda,
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "flex" | "cpu" => Ok(Backend::Flex),
            "cuda" => Ok(Backend::Cuda),
            _ => Err(format!("unknown backend `{s}` (expected flex or cuda)")),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SearchConfig {
    pub algo: Algo,
    pub relaxation: Relaxation,
    pub zero: ZeroConfig,
    /// The op space (docs/algorithms.md §2.1); absent in configs from
    /// before spaces could be chosen: space 3, DARTS.
    #[serde(default)]
    pub op_space: SpaceKind,
    /// Per-node candidate op sets (a tournament game, docs/algorithms.md
    /// §5); they replace `op_space`. Absent: every node offers the space.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_ops: Option<NodeOpSets>,
    /// C, L, N of the search network S.
    pub channels: usize,
    pub layers: usize,
    pub nodes: usize,
    /// C, L of the search-phase evaluation network E.
    pub eval_channels: usize,
    pub eval_layers: usize,
    pub batch_size: usize,
    /// E: search epochs after pretraining.
    pub epochs: usize,
    /// P: epochs of w_S pretraining with α frozen.
    pub pretrain_epochs: usize,
    /// W: warm-up epochs of each freshly built evaluation network.
    pub warmup_epochs: usize,
    /// S_U: E is rebuilt from the discretized α (fresh weights, warm-up)
    /// every this many search epochs, and keeps training in between
    /// (Algorithm 1; 1 = every epoch, the dissertation's setting).
    #[serde(default = "default_rebuild_interval")]
    pub rebuild_interval: usize,
    /// Adaptive warm-up: after its W epochs E warms up one more epoch at a
    /// time while its val accuracy is below this fraction of S's latest,
    /// at most `warmup_extra_epochs` more. 0 (and absent in configs from
    /// before it): exactly W epochs, the dissertation's rule.
    #[serde(default)]
    pub warmup_target: f64,
    #[serde(default)]
    pub warmup_extra_epochs: usize,
    /// DARTS-ES diagnostic: power-iteration steps per cell type for the
    /// dominant eigenvalue of ∇²_α L_val after every search epoch (0, and
    /// absent in configs from before it: not computed).
    #[serde(default)]
    pub hessian_iterations: usize,
    /// DARTS-ES early stopping on that eigenvalue.
    #[serde(default)]
    pub early_stop: Option<EarlyStop>,
    /// Random search (`algo = random`): genotypes drawn and trained.
    #[serde(default = "default_random_candidates")]
    pub random_candidates: usize,
    /// Random search on an equal wall-clock budget: this many seconds in
    /// all, shared by the candidates (each candidate's steps are set from
    /// the time of its first steps). `None`: an equal share of an ICDARTS
    /// search's weight steps, reproducible bit for bit.
    #[serde(default)]
    pub random_seconds: Option<f64>,
    pub lr_weights: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    /// Adam learning rate of α; `None` scales it to the search's length
    /// ([`SearchConfig::alpha_lr_for`]).
    #[serde(default)]
    pub lr_alpha: Option<f64>,
    pub alpha_beta1: f32,
    pub alpha_beta2: f32,
    pub alpha_weight_decay: f64,
    /// Global-norm clipping of the weight gradients.
    pub grad_clip: f64,
    /// λ and T of the KD term.
    pub kd_lambda: f64,
    pub kd_temperature: f64,
    /// Distillation heads on the search phase's networks S and E (and the
    /// random search's candidates): a head after each reduction cell, the
    /// output the mean of the heads' and the classifier's logits
    /// (docs/algorithms.md §2.3). On by default, as in the dissertation;
    /// absent in configs from before it: off.
    #[serde(default)]
    pub search_aux_heads: bool,
    /// Use only this many training images (seeded sample) for the search.
    pub train_subset: Option<usize>,
    pub seed: u64,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            algo: Algo::Icdarts,
            relaxation: Relaxation::Darts,
            zero: ZeroConfig::V1,
            op_space: SpaceKind::Darts,
            node_ops: None,
            channels: 8,
            layers: 5,
            nodes: 4,
            eval_channels: 8,
            eval_layers: 5,
            batch_size: 32,
            epochs: 4,
            pretrain_epochs: 2,
            warmup_epochs: 2,
            rebuild_interval: 1,
            warmup_target: 0.9,
            warmup_extra_epochs: 2,
            hessian_iterations: 6,
            early_stop: None,
            random_candidates: default_random_candidates(),
            random_seconds: None,
            lr_weights: 0.08,
            momentum: 0.9,
            weight_decay: 3e-4,
            lr_alpha: None,
            alpha_beta1: 0.5,
            alpha_beta2: 0.999,
            alpha_weight_decay: 0.0,
            grad_clip: 5.0,
            kd_lambda: 1.0,
            kd_temperature: 2.0,
            search_aux_heads: true,
            train_subset: None,
            seed: 0,
        }
    }
}

/// The dissertation's α learning rate (Adam, GPU search).
pub const ALPHA_LR_REFERENCE: f64 = 3e-4;
/// About how many α steps the dissertation's GPU search makes with it (30
/// search epochs on CIFAR-10's half split: 8,000–12,000).
pub const ALPHA_STEPS_REFERENCE: f64 = 10_000.0;

impl SearchConfig {
    /// The α learning rate of a search that makes `alpha_steps` α updates:
    /// the configured one, else the reference rate scaled so the search
    /// moves α as far as the reference search does (Adam moves each α by
    /// about its learning rate per step, whatever the gradient's size): 3e-4
    /// × 10,000 / steps, never below 3e-4. The default digits search (about
    /// 90 α steps) gets ≈ 0.033.
    pub fn alpha_lr_for(&self, alpha_steps: usize) -> f64 {
        self.lr_alpha.unwrap_or_else(|| {
            ALPHA_LR_REFERENCE * (ALPHA_STEPS_REFERENCE / alpha_steps.max(1) as f64).max(1.0)
        })
    }

    /// α's columns: the op space, or the union of the node op sets.
    pub fn space(&self) -> OpSpace {
        match &self.node_ops {
            Some(sets) => sets.union(),
            None => OpSpace::of(self.op_space, self.zero),
        }
    }

    pub fn search_network(&self, data: &Dataset) -> NetworkConfig {
        NetworkConfig::new(data.channels, data.height, data.num_classes)
            .with_channels(self.channels)
            .with_layers(self.layers)
            .with_nodes(self.nodes)
    }

    pub fn eval_network(&self, data: &Dataset) -> NetworkConfig {
        NetworkConfig::new(data.channels, data.height, data.num_classes)
            .with_channels(self.eval_channels)
            .with_layers(self.eval_layers)
            .with_nodes(self.nodes)
    }

    /// Rejects configurations that cannot run, before any work starts.
    /// Real-valued knobs must be finite in f32, the precision the kernels
    /// compute in (1e39 is a finite f64 but an infinite f32).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |msg: &str| Err(ConfigError(msg.to_string()));
        if self.batch_size == 0 {
            return bad("batch size must be at least 1");
        }
        if self.channels < 2
            || !self.channels.is_multiple_of(2)
            || !self.eval_channels.is_multiple_of(2)
        {
            return bad(
                "channel counts must be even and at least 2 (FactorizedReduce halves them)",
            );
        }
        if self.nodes == 0 || self.layers == 0 || self.eval_layers == 0 {
            return bad("nodes and layers must be at least 1");
        }
        if self.rebuild_interval == 0 {
            return bad("the evaluation network's rebuild interval must be at least 1 epoch");
        }
        if let Some(sets) = &self.node_ops {
            sets.validate(self.nodes)
                .map_err(|e| ConfigError(format!("node op sets: {e}")))?;
            if sets.union().ops().contains(&OpKind::Zero) {
                return bad("node op sets cannot offer `zero` (zero configurations need a space)");
            }
            if self.algo == Algo::Random {
                return bad("node op sets need an α to rank ops: not with --algo random");
            }
        }
        real(
            "the warm-up target (--warmup-target)",
            self.warmup_target,
            Bound::AtLeast(0.0),
        )?;
        if let Some(es) = &self.early_stop {
            if self.hessian_iterations == 0 {
                return bad("--early-stop hessian needs the eigenvalue: --hessian-iterations ≥ 1");
            }
            if es.k == 0 || es.window == 0 {
                return bad("the early stop's k and window must be at least 1 epoch");
            }
            real("the early stop's ratio", es.ratio, Bound::Positive)?;
        }
        if let Some(lr) = self.lr_alpha {
            real("the α learning rate (--arch-lr)", lr, Bound::AtLeast(0.0))?;
        }
        real(
            "the weights' learning rate",
            self.lr_weights,
            Bound::Positive,
        )?;
        real("the momentum", self.momentum, Bound::Fraction)?;
        real("the weight decay", self.weight_decay, Bound::AtLeast(0.0))?;
        real("α's Adam β1", self.alpha_beta1 as f64, Bound::Fraction)?;
        real("α's Adam β2", self.alpha_beta2 as f64, Bound::Fraction)?;
        real(
            "α's weight decay",
            self.alpha_weight_decay,
            Bound::AtLeast(0.0),
        )?;
        real(
            "the gradient clipping norm",
            self.grad_clip,
            Bound::Positive,
        )?;
        real("the KD weight λ", self.kd_lambda, Bound::AtLeast(0.0))?;
        real("the KD temperature", self.kd_temperature, Bound::Positive)?;
        check_subset(self.train_subset, 2)?;
        Ok(())
    }
}

/// Every knob of a retraining run. Optimizer defaults follow docs/algorithms.md §6; sizes
/// and epochs are CPU-scale.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RetrainConfig {
    pub channels: usize,
    pub layers: usize,
    pub batch_size: usize,
    pub epochs: usize,
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    /// Random translation by up to this many pixels (zero-padded crop; 0 disables it).
    pub crop_padding: usize,
    /// Side of the cutout square in pixels (0 disables it).
    pub cutout: usize,
    /// Final drop-path probability; it grows linearly from 0 over the epochs
    /// as in DARTS.
    pub drop_path: f64,
    /// Weight of the auxiliary head's loss (0 disables the head).
    pub aux_weight: f64,
    pub grad_clip: f64,
    /// Use only this many training images (seeded sample).
    pub train_subset: Option<usize>,
    pub seed: u64,
    /// What the genotype's `zero` edges compute (zero configurations V2–V4,
    /// docs/algorithms.md §2.1): zeros, the edge dropped (also for configs
    /// from before), or noise (V2).
    #[serde(default)]
    pub zero: ZeroForm,
}

impl Default for RetrainConfig {
    fn default() -> Self {
        Self {
            channels: 16,
            layers: 5,
            batch_size: 64,
            epochs: 20,
            lr: 0.025,
            momentum: 0.9,
            weight_decay: 5e-4,
            crop_padding: 0,
            cutout: 0,
            drop_path: 0.1,
            aux_weight: 0.4,
            grad_clip: 5.0,
            train_subset: None,
            seed: 0,
            zero: ZeroForm::Zeros,
        }
    }
}

impl RetrainConfig {
    /// Rejects configurations that cannot run, before any work starts
    /// (real-valued knobs finite in f32, as for [`SearchConfig::validate`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |msg: &str| Err(ConfigError(msg.to_string()));
        if self.batch_size == 0 {
            return bad("batch size must be at least 1");
        }
        if self.channels < 2 || !self.channels.is_multiple_of(2) {
            return bad(
                "the channel count must be even and at least 2 (FactorizedReduce halves it)",
            );
        }
        if self.layers == 0 {
            return bad("layers must be at least 1");
        }
        real("the learning rate", self.lr, Bound::Positive)?;
        real("the momentum", self.momentum, Bound::Fraction)?;
        real("the weight decay", self.weight_decay, Bound::AtLeast(0.0))?;
        real("the drop-path probability", self.drop_path, Bound::Fraction)?;
        real(
            "the auxiliary head's weight",
            self.aux_weight,
            Bound::AtLeast(0.0),
        )?;
        real(
            "the gradient clipping norm",
            self.grad_clip,
            Bound::Positive,
        )?;
        check_subset(self.train_subset, 1)?;
        Ok(())
    }
}

/// The range a real-valued option must lie in.
#[derive(Clone, Copy)]
enum Bound {
    Positive,
    AtLeast(f64),
    /// [0, 1).
    Fraction,
}

/// `value` is finite in f32 and within `bound`.
fn real(what: &str, value: f64, bound: Bound) -> Result<(), ConfigError> {
    let finite = value.is_finite() && value.abs() <= f32::MAX as f64;
    let (ok, wanted) = match bound {
        Bound::Positive => (value > 0.0, "positive".to_string()),
        Bound::AtLeast(lo) => (value >= lo, format!("≥ {lo}")),
        Bound::Fraction => ((0.0..1.0).contains(&value), "in [0, 1)".to_string()),
    };
    if finite && ok {
        Ok(())
    } else {
        Err(ConfigError(format!(
            "{what} must be a finite (f32) number {wanted}, not {value}"
        )))
    }
}

fn check_subset(subset: Option<usize>, least: usize) -> Result<(), ConfigError> {
    match subset {
        Some(n) if n < least => Err(ConfigError(format!(
            "a training subset of {n} image(s) is too small (at least {least})"
        ))),
        _ => Ok(()),
    }
}

/// A retraining configuration whose augmentation sizes may still follow
/// the data: unset, the crop padding is an eighth of the image side
/// (CIFAR's 4 px at 32×32) and the cutout side a quarter.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrainSettings {
    pub config: RetrainConfig,
    pub crop_padding: Option<usize>,
    pub cutout: Option<usize>,
}

impl RetrainSettings {
    /// The configuration for images of side `image_size`.
    pub fn resolve(&self, image_size: usize) -> RetrainConfig {
        RetrainConfig {
            crop_padding: self.crop_padding.unwrap_or(image_size / 8),
            cutout: self.cutout.unwrap_or(image_size / 4),
            ..self.config.clone()
        }
    }
}

/// Width (C) and depth (L) of one network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetSize {
    pub channels: usize,
    pub layers: usize,
}

/// Which P(α) to use (docs/algorithms.md §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PenaltyKind {
    /// Algorithm 3: node latencies accumulate along paths; a softmax over
    /// nodes gives a smooth maximum per cell.
    #[default]
    Algo3,
    /// FBNet/ProxylessNAS: Σ over all mixed edges of Σ_o w_o · lat_o.
    ExpectedSum,
}

impl PenaltyKind {
    pub fn name(self) -> &'static str {
        match self {
            PenaltyKind::Algo3 => "algo3",
            PenaltyKind::ExpectedSum => "expected-sum",
        }
    }
}

impl std::str::FromStr for PenaltyKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "algo3" => Ok(PenaltyKind::Algo3),
            "expected-sum" => Ok(PenaltyKind::ExpectedSum),
            other => Err(format!("unknown penalty {other:?} (algo3 or expected-sum)")),
        }
    }
}

/// The latency penalty δ·P(α) of a search as recorded in `search.json` and
/// `run.json` (the field names are the files' own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PenaltySettings {
    /// δ; P is in milliseconds unless `normalize` is set.
    #[serde(rename = "latency_coef")]
    pub coef: f64,
    #[serde(rename = "penalty")]
    pub kind: PenaltyKind,
    /// P uses the normalized per-op weights (docs/algorithms.md §4.3)
    /// instead of milliseconds.
    #[serde(rename = "normalized")]
    pub normalize: bool,
    /// The table the penalty was built from, when there was one.
    #[serde(default)]
    pub lut_path: Option<PathBuf>,
    #[serde(default)]
    pub lut_fingerprint: Option<String>,
    /// SHA-256 of the table file's bytes as the run read it.
    #[serde(default)]
    pub lut_hash: Option<String>,
    #[serde(default)]
    pub lut_device: Option<String>,
    /// C and L of the deployed network P(α) costs.
    #[serde(default)]
    pub deploy_network: Option<(usize, usize)>,
    /// The latency budget (ms): the deployed network's batch-1 latency as
    /// the calibrated table predicts it. With a budget, P is unitless
    /// (P(α)/budget), δ (`coef`, its starting value) is adjusted by dual
    /// ascent every α step, and the final genotype is repaired into the
    /// budget (docs/algorithms.md §4.4).
    #[serde(default, rename = "latency_budget_ms")]
    pub budget_ms: Option<f64>,
    /// The dual ascent's step: δ ← max(0, δ + rate·(predicted/budget − 1))
    /// after every α step.
    #[serde(default = "default_budget_rate", rename = "budget_rate")]
    pub budget_rate: f64,
    /// Anti-windup: after an α step whose genotype is within budget, δ is
    /// first multiplied by this factor (1 = plain dual ascent).
    #[serde(default = "default_budget_decay", rename = "budget_decay")]
    pub budget_decay: f64,
    /// δ may go below 0 while the genotype is under budget (a target
    /// L = budget rather than L ≤ budget), pulling α back toward the
    /// budget; the final repair still guarantees L ≤ budget. The default
    /// of new settings; files written before it lack the field and were
    /// one-sided (false).
    #[serde(default)]
    pub budget_two_sided: bool,
}

/// The default step of the budget's dual ascent (docs/algorithms.md §4.4).
pub const DEFAULT_BUDGET_RATE: f64 = 0.5;

fn default_budget_rate() -> f64 {
    DEFAULT_BUDGET_RATE
}

/// The default factor δ is multiplied by after an α step within budget
/// (docs/algorithms.md §4.4): δ halves every step the budget is met, so
/// what it integrated while over budget does not keep pushing α to cheaper
/// operations once the budget is met.
pub const DEFAULT_BUDGET_DECAY: f64 = 0.5;

fn default_random_candidates() -> usize {
    8
}

fn default_rebuild_interval() -> usize {
    1
}

fn default_budget_decay() -> f64 {
    DEFAULT_BUDGET_DECAY
}

impl PenaltySettings {
    /// δ = `coef` with P of `kind`, no table recorded yet.
    pub fn new(coef: f64, kind: PenaltyKind, normalize: bool) -> Self {
        Self {
            coef,
            kind,
            normalize,
            lut_path: None,
            lut_fingerprint: None,
            lut_hash: None,
            lut_device: None,
            deploy_network: None,
            budget_ms: None,
            budget_rate: DEFAULT_BUDGET_RATE,
            budget_decay: DEFAULT_BUDGET_DECAY,
            budget_two_sided: true,
        }
    }

    /// The same settings under a latency budget of `budget_ms`.
    pub fn with_budget(mut self, budget_ms: Option<f64>) -> Self {
        self.budget_ms = budget_ms;
        self
    }

    /// Whether the penalty enters the α objective at all.
    pub fn is_active(&self) -> bool {
        self.coef != 0.0 || self.budget_ms.is_some()
    }

    /// P's unit as logs and tables state it next to δ.
    pub fn unit(&self) -> &'static str {
        if self.budget_ms.is_some() {
            "unitless: P(α)/budget"
        } else if self.normalize {
            "normalized per-op weights"
        } else {
            "ms"
        }
    }
}
