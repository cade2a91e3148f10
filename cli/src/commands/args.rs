//! Flags shared by several commands, declared once and converted once into
//! the typed configurations of `artifacts` and `pipeline`.

use std::path::PathBuf;

use arch::Relaxation;
use artifacts::{
    Algo, Backend, PenaltyKind, PenaltySettings, RetrainConfig, RetrainSettings, SearchConfig,
};
use clap::Args;
use ui::SearchNetworkArgs;

/// Where the data comes from.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// A dataset folder (MNIST-style IDX or CIFAR-10 binary files, gzipped or
    /// not, detected automatically) or `builtin:digits` (the embedded 8×8
    /// digits set).
    #[arg(long, default_value = "builtin:digits")]
    pub data: String,
}

/// The training backend.
#[derive(Args, Debug, Clone)]
pub struct BackendArgs {
    /// Training backend: flex (CPU) or cuda (needs a build with --features cuda).
    #[arg(long, default_value = "flex")]
    pub backend: Backend,
}

/// Options of the search stage (defaults: the optimizers of
/// docs/algorithms.md §3 at CPU scale).
#[derive(Args, Debug, Clone)]
pub struct SearchOpts {
    /// Cell relaxation / discretization: darts, idarts or xdarts.
    #[arg(long, default_value = "darts")]
    pub cell: Relaxation,
    /// Search algorithm: icdarts, cdarts (the method ICDARTS improves on:
    /// α and E jointly on val with KD into both, S on train), darts
    /// (first-order baseline) or random
    /// (--random-candidates uniformly random genotypes, each trained for an
    /// equal share of the weight steps an ICDARTS search of these settings
    /// makes, the best on val kept; under --latency-budget only genotypes
    /// predicted within it are drawn).
    #[arg(long, default_value = "icdarts")]
    pub algo: Algo,
    /// Random search: how many genotypes to draw and train.
    #[arg(long, default_value_t = SearchConfig::default().random_candidates)]
    pub random_candidates: usize,
    /// Random search on a wall-clock budget of this many seconds in all
    /// (e.g. an ICDARTS search's `seconds` from its search.json), instead
    /// of the default equal share of its weight steps. Not reproducible bit
    /// for bit: the steps each candidate gets depend on the machine.
    #[arg(long)]
    pub random_seconds: Option<f64>,
    #[command(flatten)]
    pub networks: SearchNetworkArgs,
    /// Search epochs after pretraining.
    #[arg(long, default_value_t = SearchConfig::default().epochs)]
    pub epochs: usize,
    /// Epochs of search-weight pretraining with α frozen.
    #[arg(long, default_value_t = SearchConfig::default().pretrain_epochs)]
    pub pretrain_epochs: usize,
    /// Warm-up epochs of each rebuilt evaluation network.
    #[arg(long, default_value_t = SearchConfig::default().warmup_epochs)]
    pub warmup_epochs: usize,
    /// S_U: rebuild the evaluation network E from the discretized α (fresh
    /// weights, then warm-up) every this many search epochs; in between E
    /// keeps training and teaching. Its learning rate anneals over its
    /// whole life (warm-up plus S_U epochs).
    #[arg(long, default_value_t = SearchConfig::default().rebuild_interval)]
    pub rebuild_interval: usize,
    /// Adaptive warm-up: after --warmup-epochs, a rebuilt E keeps warming
    /// up one epoch at a time while its val accuracy is below this fraction
    /// of S's latest (a teacher far behind its student teaches it little).
    /// 0 = exactly --warmup-epochs, the dissertation's rule.
    #[arg(long, default_value_t = SearchConfig::default().warmup_target)]
    pub warmup_target: f64,
    /// At most this many warm-up epochs beyond --warmup-epochs per rebuild.
    /// E's learning rate anneals over its whole life, extensions included.
    #[arg(long, default_value_t = SearchConfig::default().warmup_extra_epochs)]
    pub warmup_extra_epochs: usize,
    /// Images per batch (train and val batches alike).
    #[arg(long, default_value_t = SearchConfig::default().batch_size)]
    pub batch_size: usize,
    /// Search on a seeded random sample of this many training images.
    #[arg(long)]
    pub train_subset: Option<usize>,
    /// Adam learning rate of α. Default: scaled to the search's length,
    /// 3e-4 × 10,000 / (α steps), never below 3e-4 — the dissertation's 3e-4
    /// over its ~10,000 GPU α steps. Adam moves each α by about its rate per
    /// step whatever the gradient's size, so a fixed 3e-4 over the ~90 α
    /// steps of the default CPU search leaves α (and the latency penalty's
    /// effect) where it started; the scaled rate moves it as far.
    #[arg(long)]
    pub arch_lr: Option<f64>,
    /// SGD learning rate of the search-phase weights (S and E), annealed
    /// by a cosine schedule (E's restarts with each rebuild).
    #[arg(long, default_value_t = SearchConfig::default().lr_weights)]
    pub w_lr: f64,
    /// SGD momentum of the search-phase weights.
    #[arg(long, default_value_t = SearchConfig::default().momentum)]
    pub w_momentum: f64,
    /// Weight decay of the search-phase weights.
    #[arg(long, default_value_t = SearchConfig::default().weight_decay)]
    pub w_weight_decay: f64,
    /// Global-norm clipping of the search-phase weight gradients.
    #[arg(long, default_value_t = SearchConfig::default().grad_clip)]
    pub grad_clip: f64,
    /// λ: weight of the knowledge-distillation term KD(S‖E) in S's loss
    /// (ICDARTS; docs/algorithms.md §3).
    #[arg(long, default_value_t = SearchConfig::default().kd_lambda)]
    pub kd_lambda: f64,
    /// T: temperature of the knowledge-distillation softmaxes.
    #[arg(long, default_value_t = SearchConfig::default().kd_temperature)]
    pub kd_temperature: f64,
    /// Distillation heads on the search phase's networks (S, E and random
    /// search's candidates), as in the dissertation: a head after each
    /// reduction cell, the network's output the mean of the heads' logits
    /// and the classifier's (docs/algorithms.md §2.3). `false` searches
    /// with the plain classifier. Retraining's auxiliary head is separate
    /// (--retrain-aux-weight).
    #[arg(long, default_value_t = SearchConfig::default().search_aux_heads, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub search_aux_heads: bool,
    /// DARTS-ES diagnostic: power-iteration steps (each two gradient
    /// evaluations of S on one val batch) for the dominant eigenvalue of the
    /// Hessian of L_val with respect to α, per cell type, after every search
    /// epoch; logged in metrics.jsonl. 0 skips it.
    #[arg(long, default_value_t = SearchConfig::default().hessian_iterations)]
    pub hessian_iterations: usize,
    /// `hessian`: DARTS-ES early stopping — stop after epoch i when the
    /// eigenvalue's mean over --early-stop-window epochs has risen so that
    /// λ̄(i−k)/λ̄(i) < --early-stop-ratio, and return epoch i−k's
    /// architecture.
    #[arg(long, value_parser = ["hessian"])]
    pub early_stop: Option<String>,
    /// k of the early-stopping rule (search epochs).
    #[arg(long, default_value_t = artifacts::EarlyStop::default().k)]
    pub early_stop_k: usize,
    /// Epochs averaged into λ̄ by the early-stopping rule.
    #[arg(long, default_value_t = artifacts::EarlyStop::default().window)]
    pub early_stop_window: usize,
    /// Ratio below which the early-stopping rule stops the search.
    #[arg(long, default_value_t = artifacts::EarlyStop::default().ratio)]
    pub early_stop_ratio: f64,
    /// Seed of every random choice (split, init, batches): the same seed on
    /// the same machine gives the same genotype bit for bit.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl SearchOpts {
    pub fn config(&self) -> SearchConfig {
        let base = SearchConfig {
            algo: self.algo,
            relaxation: self.cell,
            epochs: self.epochs,
            pretrain_epochs: self.pretrain_epochs,
            warmup_epochs: self.warmup_epochs,
            rebuild_interval: self.rebuild_interval,
            warmup_target: self.warmup_target,
            warmup_extra_epochs: self.warmup_extra_epochs,
            batch_size: self.batch_size,
            train_subset: self.train_subset,
            lr_alpha: self.arch_lr,
            lr_weights: self.w_lr,
            momentum: self.w_momentum,
            weight_decay: self.w_weight_decay,
            grad_clip: self.grad_clip,
            kd_lambda: self.kd_lambda,
            kd_temperature: self.kd_temperature,
            search_aux_heads: self.search_aux_heads,
            seed: self.seed,
            hessian_iterations: self.hessian_iterations,
            random_candidates: self.random_candidates,
            random_seconds: self.random_seconds,
            early_stop: self.early_stop.as_ref().map(|_| artifacts::EarlyStop {
                k: self.early_stop_k,
                window: self.early_stop_window,
                ratio: self.early_stop_ratio,
            }),
            ..SearchConfig::default()
        };
        self.networks.apply(base)
    }
}

/// The latency penalty δ·P(α) of a search, or its latency budget.
#[derive(Args, Debug, Clone)]
pub struct PenaltyArgs {
    /// The most accurate network that runs in at most MS milliseconds:
    /// the deployed network's batch-1 latency on the table's device, as the
    /// calibrated table predicts it. δ then adjusts itself every α step
    /// (dual ascent on P(α)/budget, unitless) and the final genotype is
    /// repaired into the budget; the run reports whether tract met it.
    /// A budget below the fastest genotype of the space is refused before
    /// any training.
    #[arg(long, value_name = "MS")]
    pub latency_budget: Option<f64>,
    /// δ: weight of P(α) in the α objective; P is in milliseconds unless
    /// --normalize. 0 disables the penalty. Default: 0.1 for `run`, 0 for
    /// `search`. With --latency-budget: δ's starting value (default 0).
    #[arg(long)]
    pub latency_coef: Option<f64>,
    /// With --latency-budget: the dual ascent's step,
    /// δ ← max(0, δ + rate·(predicted/budget − 1)) after each α step.
    #[arg(long, default_value_t = artifacts::config::DEFAULT_BUDGET_RATE)]
    pub budget_rate: f64,
    /// With --latency-budget: anti-windup. After each α step whose genotype
    /// is within budget, δ is first multiplied by this factor, so δ built up
    /// while over budget stops pushing α to cheaper operations once the
    /// budget is met. 1 = plain dual ascent. In [0, 1].
    #[arg(long, default_value_t = artifacts::config::DEFAULT_BUDGET_DECAY)]
    pub budget_decay: f64,
    /// With --latency-budget: keep δ ≥ 0 (a pure "≤ budget" constraint).
    /// By default δ may go below 0 while under budget (a target "latency =
    /// budget"), pulling α back toward the budget once early pressure made
    /// it cheaper, so the budget is used rather than wasted; the final
    /// repair keeps the genotype within budget either way
    /// (docs/results/latency-budget.md measures both).
    #[arg(long, conflicts_with = "budget_two_sided")]
    pub budget_one_sided: bool,
    /// The default since it was measured on full sweeps; kept so that
    /// recorded commands still run.
    #[arg(long, hide = true)]
    pub budget_two_sided: bool,

    /// P(α): algo3 (Algorithm 3, smooth max over node paths; the default)
    /// or expected-sum (FBNet/ProxylessNAS: Σ over all edges). Needs a
    /// table.
    #[arg(long)]
    pub penalty: Option<PenaltyKind>,
    /// Use the normalized per-op weights (docs/algorithms.md §4.3, summing
    /// to 1) computed from the table instead of milliseconds (`latency-lut
    /// show --normalized` prints them). Needs a table.
    #[arg(long)]
    pub normalize: bool,
}

impl PenaltyArgs {
    /// The settings, with δ = `default_coef` when --latency-coef is absent
    /// (0 under a budget).
    pub fn settings(&self, default_coef: f64) -> PenaltySettings {
        let default_coef = if self.latency_budget.is_some() {
            0.0
        } else {
            default_coef
        };
        let mut settings = PenaltySettings::new(
            self.latency_coef.unwrap_or(default_coef),
            self.penalty.unwrap_or(PenaltyKind::Algo3),
            self.normalize,
        )
        .with_budget(self.latency_budget);
        settings.budget_rate = self.budget_rate;
        settings.budget_decay = self.budget_decay;
        settings.budget_two_sided = !self.budget_one_sided;
        settings
    }

    /// The flags given that only mean something with a latency table.
    pub fn needing_a_table(&self) -> Vec<&'static str> {
        let mut flags = Vec::new();
        if self.latency_budget.is_some() {
            flags.push("--latency-budget");
        }

        if self.latency_coef.is_some_and(|c| c != 0.0) {
            flags.push("--latency-coef");
        }
        if self.penalty.is_some() {
            flags.push("--penalty");
        }
        if self.normalize {
            flags.push("--normalize");
        }
        flags
    }

    /// Errors on a non-positive or non-finite budget or rate.
    pub fn check(&self) -> anyhow::Result<()> {
        if let Some(b) = self.latency_budget
            && !(b.is_finite() && b > 0.0)
        {
            anyhow::bail!("--latency-budget must be a positive number of milliseconds, not {b}");
        }
        if let Some(c) = self.latency_coef
            && !(c.is_finite() && c >= 0.0 && c <= f32::MAX as f64)
        {
            anyhow::bail!("--latency-coef must be a finite, non-negative number, not {c}");
        }
        if !(self.budget_rate.is_finite() && self.budget_rate > 0.0) {
            anyhow::bail!("--budget-rate must be positive, not {}", self.budget_rate);
        }
        if !(0.0..=1.0).contains(&self.budget_decay) {
            anyhow::bail!(
                "--budget-decay must be in [0, 1], not {}",
                self.budget_decay
            );
        }
        Ok(())
    }
}

/// Options of `edgenas retrain` (defaults: docs/algorithms.md §6 at CPU
/// scale). `edgenas run` takes the same options with a `retrain-` prefix
/// ([`RunRetrainOpts`]), since its unprefixed `--epochs` and friends are the
/// search's; both convert into the same `RetrainSettings`.
#[derive(Args, Debug, Clone)]
pub struct RetrainOpts {
    /// Training epochs.
    #[arg(long = "epochs", default_value_t = RetrainConfig::default().epochs)]
    pub epochs: usize,
    /// C of the evaluation network .
    #[arg(long = "channels", default_value_t = RetrainConfig::default().channels)]
    pub channels: usize,
    /// L of the evaluation network.
    #[arg(long = "layers", default_value_t = RetrainConfig::default().layers)]
    pub layers: usize,
    /// Images per batch.
    #[arg(long = "batch-size", default_value_t = RetrainConfig::default().batch_size)]
    pub batch_size: usize,
    /// Initial SGD learning rate (cosine-annealed to 0).
    #[arg(long = "lr", default_value_t = RetrainConfig::default().lr)]
    pub lr: f64,
    /// Random-translation padding in pixels (0 = off; default: an eighth of
    /// the image side, CIFAR's 4 px at 32×32).
    #[arg(long = "crop-padding")]
    pub crop_padding: Option<usize>,
    /// Cutout square side in pixels (0 = off; default: a quarter of the
    /// image side).
    #[arg(long = "cutout")]
    pub cutout: Option<usize>,
    /// Final drop-path probability.
    #[arg(long = "drop-path", default_value_t = RetrainConfig::default().drop_path)]
    pub drop_path: f64,
    /// Auxiliary-head loss weight (0 = no head).
    #[arg(long = "aux-weight", default_value_t = RetrainConfig::default().aux_weight)]
    pub aux_weight: f64,
    /// Train on a seeded random sample of this many training images
    /// (default: all).
    #[arg(long = "train-subset")]
    pub train_subset: Option<usize>,
    /// What the genotype's `zero` edges compute (zero configurations V2–V4
    /// keep them; docs/algorithms.md §2.1): zeros (the edge is dropped;
    /// V3, V4) or noise (uniform in [0, 1) while training, its mean 0.5 at
    /// inference; V2).
    #[arg(long, default_value = "zeros")]
    pub zero_edges: arch::ZeroForm,
}

impl RetrainOpts {
    pub fn settings(&self, seed: u64) -> RetrainSettings {
        RetrainSettings {
            config: RetrainConfig {
                epochs: self.epochs,
                channels: self.channels,
                layers: self.layers,
                batch_size: self.batch_size,
                lr: self.lr,
                drop_path: self.drop_path,
                aux_weight: self.aux_weight,
                train_subset: self.train_subset,
                seed,
                zero: self.zero_edges,
                ..RetrainConfig::default()
            },
            crop_padding: self.crop_padding,
            cutout: self.cutout,
        }
    }
}

/// The retraining options of `edgenas run` ([`RetrainOpts`] with a
/// `retrain-` prefix).
#[derive(Args, Debug, Clone)]
pub struct RunRetrainOpts {
    /// Training epochs.
    #[arg(long = "retrain-epochs", default_value_t = RetrainConfig::default().epochs)]
    pub retrain_epochs: usize,
    /// C of the evaluation network (also the deployed network P(α) costs).
    #[arg(long = "retrain-channels", default_value_t = RetrainConfig::default().channels)]
    pub retrain_channels: usize,
    /// L of the evaluation network.
    #[arg(long = "retrain-layers", default_value_t = RetrainConfig::default().layers)]
    pub retrain_layers: usize,
    /// Images per batch.
    #[arg(long = "retrain-batch-size", default_value_t = RetrainConfig::default().batch_size)]
    pub retrain_batch_size: usize,
    /// Initial SGD learning rate (cosine-annealed to 0).
    #[arg(long = "retrain-lr", default_value_t = RetrainConfig::default().lr)]
    pub retrain_lr: f64,
    /// Random-translation padding in pixels (0 = off; default: an eighth of
    /// the image side, CIFAR's 4 px at 32×32).
    #[arg(long = "retrain-crop-padding")]
    pub retrain_crop_padding: Option<usize>,
    /// Cutout square side in pixels (0 = off; default: a quarter of the
    /// image side).
    #[arg(long = "retrain-cutout")]
    pub retrain_cutout: Option<usize>,
    /// Final drop-path probability.
    #[arg(long = "retrain-drop-path", default_value_t = RetrainConfig::default().drop_path)]
    pub retrain_drop_path: f64,
    /// Auxiliary-head loss weight (0 = no head).
    #[arg(long = "retrain-aux-weight", default_value_t = RetrainConfig::default().aux_weight)]
    pub retrain_aux_weight: f64,
    /// Retrain on a seeded random sample of this many training images
    /// (default: all).
    #[arg(long = "retrain-subset")]
    pub retrain_train_subset: Option<usize>,
}

impl RunRetrainOpts {
    pub fn settings(&self, seed: u64) -> RetrainSettings {
        RetrainSettings {
            config: RetrainConfig {
                epochs: self.retrain_epochs,
                channels: self.retrain_channels,
                layers: self.retrain_layers,
                batch_size: self.retrain_batch_size,
                lr: self.retrain_lr,
                drop_path: self.retrain_drop_path,
                aux_weight: self.retrain_aux_weight,
                train_subset: self.retrain_train_subset,
                seed,
                ..RetrainConfig::default()
            },
            crop_padding: self.retrain_crop_padding,
            cutout: self.retrain_cutout,
        }
    }
}

/// Where a command writes.
#[derive(Args, Debug, Clone)]
pub struct OutArgs {
    /// Output folder (filled under a temporary name and moved into place
    /// when everything succeeded; must not exist or be empty unless --force).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing output folder.
    #[arg(long)]
    pub force: bool,
}
