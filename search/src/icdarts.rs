//! The ICDARTS search phase (docs/algorithms.md §3, Algorithm 1, Eq. 3.9–3.11) and the
//! first-order DARTS baseline.

use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Tensor};
use datasets::{Dataset, Normalization};
use models::diagnostics::{alpha_std, edge_entropy, edge_margins};
use models::space::{MASKED_ALPHA, NodeOpSets};
use models::{
    Alphas, EvalNetwork, EvalNetworkConfig, Genotype, NetworkConfig, OpSpace, Relaxation,
    SearchNetwork, SearchNetworkConfig, discretize,
};
use rand::{Rng, SeedableRng};

use std::convert::Infallible;

use artifacts::{AlphaStep, BudgetOutcome, EarlyStopOutcome};
use models::repair::{Strengths, cheapest, repair};

use crate::batch::{Batch, Batches, DataRng};
use crate::checkpoint::Checkpoints;
use crate::progress::Progress;
use crate::train::{
    clipped_step, correct, cosine_lr, cross_entropy, distillation, mutual_distillation,
};
use crate::{At, SearchError};
pub use artifacts::{Algo, EpochMetrics, PenaltySettings, SearchConfig};

/// An extra term P(α) of the α objective, weighted by δ: the latency
/// penalty (docs/algorithms.md §4.3). It must be differentiable in α.
pub trait AlphaPenalty {
    /// P(α), unscaled (δ multiplies it).
    fn expected(&self, alphas: &Alphas, relaxation: Relaxation) -> Tensor<1>;

    /// Predicted latency (ms) of the deployed network of `genotype`; NaN
    /// when the penalty has no table to predict with.
    fn predicted_ms(&self, _genotype: &Genotype) -> f64 {
        f64::NAN
    }

    /// δ, P's kind and units, the budget and the table, recorded in
    /// `search.json`. A penalty without settings is weighted by δ = 1.
    fn settings(&self) -> Option<PenaltySettings> {
        None
    }
}

/// |α| beyond which the softmax over a node's operations is one-hot in f32
/// (e^1000 overflows long before): the search has stopped moving.
const ALPHA_SATURATED: f32 = 1e3;

/// A penalty with the δ it is weighted by in one α step.
#[derive(Clone, Copy)]
pub struct PenaltyTerm<'a> {
    pub penalty: &'a dyn AlphaPenalty,
    pub coef: f64,
}

/// δ under a latency budget (docs/algorithms.md §4.4): dual ascent on the
/// constraint predicted ≤ budget, δ ← max(0, d·δ + rate·(predicted/budget − 1))
/// after every α step, with `predicted` the calibrated table's latency of
/// the genotype discretized from the updated α, and d = `decay` when that
/// genotype is within budget, 1 otherwise (anti-windup).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DualAscent {
    pub budget_ms: f64,
    pub rate: f64,
    pub decay: f64,
    pub coef: f64,
    /// δ may go negative (a target L = budget); the decay then also applies
    /// to a negative δ once the genotype is over budget.
    pub two_sided: bool,
}

impl DualAscent {
    pub fn update(&mut self, predicted_ms: f64) {
        if predicted_ms.is_finite() {
            let ratio = predicted_ms / self.budget_ms;
            // Anti-windup: δ is decayed when the violation's sign opposes
            // it (under budget with δ > 0, over budget with δ < 0).
            let opposed = (ratio <= 1.0 && self.coef > 0.0) || (ratio > 1.0 && self.coef < 0.0);
            let kept = if opposed { self.decay } else { 1.0 };
            let coef = kept * self.coef + self.rate * (ratio - 1.0);
            self.coef = if self.two_sided { coef } else { coef.max(0.0) };
        }
    }
}

/// What a search produces.
pub struct SearchOutcome {
    pub genotype: Genotype,
    pub alpha_normal: Vec<f32>,
    pub alpha_reduce: Vec<f32>,
    pub alpha_shape: [usize; 2],
    pub normalization: Normalization,
    pub metrics: Vec<EpochMetrics>,
    pub search_network: NetworkConfig,
    pub eval_network: NetworkConfig,
    /// The latency penalty's settings, when there was one.
    pub latency: Option<PenaltySettings>,
    /// The α learning rate the search ran with.
    pub lr_alpha: f64,
    /// How the latency budget was met, when there was one.
    pub budget: Option<BudgetOutcome>,
    /// Where DARTS-ES's rule stopped the search, when it did.
    pub early_stop: Option<EarlyStopOutcome>,
}

/// A search between two epochs (pretraining included), complete enough to
/// continue it bit for bit: S's weights (BatchNorm statistics synced), α,
/// both optimizers' states as burn records, the data RNG, the counters, the
/// metrics so far and the budget's δ. Each epoch also reseeds burn's device
/// RNG (E's fresh weights) from the seed and the epoch.
pub struct SearchCheckpoint {
    /// Epochs done, pretraining included.
    pub epochs_done: usize,
    pub step: usize,
    pub alpha_steps_done: usize,
    /// E's steps since it was rebuilt.
    pub eval_step: usize,
    /// E's warm-up epochs, extensions included (its learning rate's
    /// schedule spans them); `None` in checkpoints from before the
    /// adaptive warm-up: the configured W.
    pub eval_warmup_epochs: Option<usize>,
    pub rng: DataRng,
    pub metrics: Vec<EpochMetrics>,
    /// δ of the budget's dual ascent, under a budget.
    pub dual_coef: Option<f64>,
    /// Where in the next epoch a signal stopped the search, if it did.
    pub within: Option<WithinEpoch>,
    /// E as it stood then (ICDARTS, after pretraining).
    pub eval: Option<EvalCheckpoint>,
    pub net: burn::store::ModuleRecord,
    pub alphas: burn::store::ModuleRecord,
    pub opt_w: burn::optim::OptimizerRecord,
    pub opt_alpha: burn::optim::OptimizerRecord,
}

/// Where in an epoch a signal stopped a search: the phase, its data order,
/// the steps made and the running sums.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "phase", rename_all = "kebab-case")]
pub enum WithinEpoch {
    Pretrain {
        order: Vec<usize>,
        steps_done: usize,
        loss_sum: f64,
        seconds: f64,
    },
    /// E's warm-up epoch `warmup_epoch`.
    WarmUp {
        warmup_epoch: usize,
        order: Vec<usize>,
        steps_done: usize,
        eval_step: usize,
        seconds: f64,
    },
    /// The α/w steps after the warm-up.
    Search {
        train_order: Vec<usize>,
        val_order: Vec<usize>,
        steps_done: usize,
        eval_step: usize,
        /// Sums of L_α, L_S, L_E and the KD term.
        sums: [f64; 4],
        alpha_steps: Vec<AlphaStep>,
        eval_warmup_val_accuracy: Option<f64>,
        seconds: f64,
    },
}

/// The evaluation network E of a search stopped within an epoch.
pub struct EvalCheckpoint {
    pub genotype: Genotype,
    pub net: burn::store::ModuleRecord,
    pub optimizer: burn::optim::OptimizerRecord,
}

/// Runs a search on `data` (its training split, halved into train/val).
///
/// `on_epoch` is called after every epoch (pretraining included) so that the
/// caller can persist metrics as they come.
pub fn run_search(
    config: &SearchConfig,
    data: &Dataset,
    device: &Device,
    penalty: Option<&dyn AlphaPenalty>,
    progress: &dyn Progress,
    on_epoch: &mut dyn FnMut(&EpochMetrics) -> Result<(), SearchError>,
) -> Result<SearchOutcome, SearchError> {
    run_search_resumable(
        config,
        data,
        device,
        penalty,
        progress,
        on_epoch,
        Checkpoints::none(),
    )
}

/// [`run_search`], continuing from `checkpoints.resume` when given and
/// handing the state after every epoch to `checkpoints.save`. A resumed
/// search ends with the same genotype, α and weights, bit for bit, as one
/// never interrupted.
pub fn run_search_resumable(
    config: &SearchConfig,
    data: &Dataset,
    device: &Device,
    penalty: Option<&dyn AlphaPenalty>,
    progress: &dyn Progress,
    on_epoch: &mut dyn FnMut(&EpochMetrics) -> Result<(), SearchError>,
    mut checkpoints: Checkpoints<SearchCheckpoint>,
) -> Result<SearchOutcome, SearchError> {
    config.validate()?;
    let settings = penalty.and_then(|p| p.settings());
    let space = config.space();
    // Checked before any training: a budget below the fastest genotype of
    // the space cannot be met.
    let budget = match (penalty, settings.as_ref().and_then(|s| s.budget_ms)) {
        (Some(p), Some(budget_ms)) => {
            let fastest = cheapest(config.relaxation, config.nodes, &space, &mut |g| {
                Ok::<f64, Infallible>(p.predicted_ms(g))
            })
            .unwrap_or_else(|e| match e {});
            check_budget(budget_ms, fastest.1)?;
            log::info!(
                "latency budget {budget_ms} ms; the fastest genotype of this space is predicted at {:.3} ms",
                fastest.1
            );
            let rate = settings.as_ref().map_or(0.0, |s| s.budget_rate);
            let decay = settings.as_ref().map_or(1.0, |s| s.budget_decay);
            let two_sided = settings.as_ref().is_some_and(|s| s.budget_two_sided);
            let coef = settings.as_ref().map_or(0.0, |s| s.coef);
            Some((
                DualAscent {
                    budget_ms,
                    rate,
                    decay,
                    coef,
                    two_sided,
                },
                fastest,
            ))
        }
        // `settings` come from the penalty: no penalty, no budget.
        _ => None,
    };
    if config.algo == Algo::Random {
        if checkpoints.resume.is_some() {
            log::info!("random search keeps no checkpoint: it starts over");
        }
        return crate::random::run_random_search(
            config,
            data,
            device,
            penalty,
            progress,
            on_epoch,
            &mut *checkpoints.stop,
        );
    }
    let mut dual = budget.as_ref().map(|(d, _)| *d);
    let fixed_coef = settings.as_ref().map_or(1.0, |s| s.coef);
    device.seed(config.seed);
    let mut rng = DataRng::seed_from_u64(config.seed);

    let (train, val, normalization) = search_splits(config, data)?;
    let warmup_data = if config.algo == Algo::Cdarts {
        &val
    } else {
        &train
    };

    let search_cfg = SearchNetworkConfig::new(config.search_network(data), space.clone())
        .with_relaxation(config.relaxation)
        .with_distill_heads(config.search_aux_heads)
        .with_node_ops(config.node_ops.clone());
    let [edges, n_ops] = search_cfg.alpha_shape();
    let net: SearchNetwork = search_cfg.init(device);
    let mut alphas = init_alphas(edges, n_ops, &mut rng, device);
    if let Some(sets) = &config.node_ops {
        alphas = mask_alphas(&alphas, sets, &space, device);
    }
    let mut state = SearchState::new(config, net, alphas, None);

    let steps_per_epoch = train
        .len()
        .div_ceil(config.batch_size)
        .min(val.len().div_ceil(config.batch_size));
    let total_steps = (config.pretrain_epochs + config.epochs) * steps_per_epoch;
    let lr_alpha = config.alpha_lr_for(config.epochs * steps_per_epoch);
    log::info!(
        "α: Adam lr {lr_alpha:.3e} over {} α steps{}",
        config.epochs * steps_per_epoch,
        if config.lr_alpha.is_none() {
            " (scaled to the search's length)"
        } else {
            ""
        }
    );
    // Decision (docs/algorithms.md §9): each rebuilt E gets its own cosine
    // schedule, restarting at lr_weights and annealing to 0 over its own
    // life (warm-up plus the epoch it teaches in). Under the search's
    // global schedule the last epochs' E trained at ≈ 0 and taught from
    // chance level.
    // With the adaptive warm-up (§9) E's life grows by an epoch for every
    // warm-up epoch it is given beyond W.
    let eval_life =
        |warmup_epochs: usize| (warmup_epochs + config.rebuild_interval) * steps_per_epoch;
    let mut step = 0usize;
    let mut alpha_steps_done = 0usize;
    let mut metrics = Vec::new();
    let eval_net_cfg = config.eval_network(data);
    let mut epochs_done = 0usize;
    let bad_checkpoint =
        |what: &str, e: String| SearchError::Config(format!("checkpoint {what}: {e}"));
    let mut within = None;
    let mut resumed_eval = None;
    // E's steps since it was rebuilt (its learning rate's position), and
    // its genotype, discretized from α when it was rebuilt; both live
    // across the S_U epochs between rebuilds.
    let mut eval_step = 0usize;
    let mut eval_warmup_epochs = config.warmup_epochs;
    let mut eval_genotype: Option<Genotype> = None;
    if let Some(c) = checkpoints.resume {
        let bad = bad_checkpoint;
        let SearchState {
            net,
            alphas,
            opt_w,
            opt_alpha,
            eval,
        } = state;
        state = SearchState {
            net: net
                .try_load_record(c.net)
                .map_err(|e| bad("search network", e.to_string()))?,
            alphas: alphas
                .try_load_record(c.alphas)
                .map_err(|e| bad("α", e.to_string()))?,
            opt_w: opt_w.load_record(c.opt_w),
            opt_alpha: opt_alpha.load_record(c.opt_alpha),
            eval,
        };
        if let (Some(d), Some(coef)) = (dual.as_mut(), c.dual_coef) {
            d.coef = coef;
        }
        let total_epochs = config.pretrain_epochs + config.epochs;
        if c.epochs_done > total_epochs || c.metrics.len() != c.epochs_done {
            return Err(bad(
                "state",
                format!(
                    "{} epochs done do not fit this search ({total_epochs} epochs)",
                    c.epochs_done
                ),
            ));
        }
        let in_pretraining = c.epochs_done < config.pretrain_epochs;
        let fits = match &c.within {
            None => true,
            Some(WithinEpoch::Pretrain {
                order, steps_done, ..
            }) => in_pretraining && order.len() == train.len() && *steps_done <= steps_per_epoch,
            Some(WithinEpoch::WarmUp {
                warmup_epoch,
                order,
                steps_done,
                ..
            }) => {
                !in_pretraining
                    && c.epochs_done < total_epochs
                    && c.eval.is_some()
                    && *warmup_epoch < config.warmup_epochs + config.warmup_extra_epochs
                    && order.len() == warmup_data.len()
                    && *steps_done <= steps_per_epoch
            }
            Some(WithinEpoch::Search {
                train_order,
                val_order,
                steps_done,
                ..
            }) => {
                !in_pretraining
                    && c.epochs_done < total_epochs
                    && c.eval.is_some() == config.algo.has_eval_network()
                    && train_order.len() == train.len()
                    && val_order.len() == val.len()
                    && *steps_done <= steps_per_epoch
            }
        };
        if !fits {
            return Err(bad(
                "state",
                format!(
                    "the epoch it stopped in does not fit this search ({total_epochs} epochs of {steps_per_epoch} steps)"
                ),
            ));
        }
        rng = c.rng;
        step = c.step;
        alpha_steps_done = c.alpha_steps_done;
        metrics = c.metrics;
        epochs_done = c.epochs_done;
        log::info!(
            "resuming the search after epoch {epochs_done} of {total_epochs}{}",
            if c.within.is_some() {
                " and part of the next"
            } else {
                ""
            }
        );
        within = c.within;
        resumed_eval = c.eval;
        eval_step = c.eval_step;
        eval_warmup_epochs = c.eval_warmup_epochs.unwrap_or(config.warmup_epochs);
    }
    // The state after an epoch, or after a step when a signal stops the
    // search, handed to `checkpoints.save`.
    let mut checkpoint =
        |state: &SearchState,
         rng: &DataRng,
         done: usize,
         (step, alpha_steps_done, eval_step, eval_warmup_epochs): (usize, usize, usize, usize),
         metrics: &[EpochMetrics],
         dual: Option<&DualAscent>,
         within: Option<WithinEpoch>,
         eval: Option<(&Genotype, &EvalNetwork, &ModuleOptimizer)>|
         -> Result<(), SearchError> {
            // Sync S's BatchNorm running statistics (burn keeps the last
            // update pending per thread; a record taken without the sync lacks
            // it); both paths sync, so resumed and uninterrupted runs agree.
            let _ = state.net.valid();
            let eval = eval.map(|(genotype, e, opt_e)| {
                let _ = e.valid();
                EvalCheckpoint {
                    genotype: genotype.clone(),
                    net: e.clone().into_record(),
                    optimizer: opt_e.to_record(),
                }
            });
            (checkpoints.save)(SearchCheckpoint {
                epochs_done: done,
                step,
                alpha_steps_done,
                eval_step,
                eval_warmup_epochs: Some(eval_warmup_epochs),
                rng: rng.clone(),
                metrics: metrics.to_vec(),
                dual_coef: dual.map(|d| d.coef),
                within,
                eval,
                net: state.net.clone().into_record(),
                alphas: state.alphas.clone().into_record(),
                opt_w: state.opt_w.to_record(),
                opt_alpha: state.opt_alpha.to_record(),
            })
        };
    let mut stop = checkpoints.stop;

    // Pretraining of w_S with α frozen.
    for epoch in epochs_done.min(config.pretrain_epochs)..config.pretrain_epochs {
        device.seed(crate::retrain::epoch_seed(config.seed, epoch));
        let started = Instant::now();
        let (order, skip, mut loss_sum, seconds_before) = match within.take() {
            Some(WithinEpoch::Pretrain {
                order,
                steps_done,
                loss_sum,
                seconds,
            }) => (order, steps_done, loss_sum, seconds),
            _ => (train.shuffled(&mut rng), 0, 0.0, 0.0),
        };
        let bar = progress.start(
            &format!("pretrain {}/{}", epoch + 1, config.pretrain_epochs),
            steps_per_epoch,
        );
        if skip > 0 {
            bar.set(skip, steps_per_epoch, "");
        }
        for (i, chunk) in order
            .chunks(config.batch_size)
            .take(steps_per_epoch)
            .enumerate()
            .skip(skip)
        {
            let lr = cosine_lr(config.lr_weights, step, total_steps);
            let b = train.batch(chunk, device);
            let loss = cross_entropy(state.net.forward(b.images, &state.alphas), b.labels);
            let at = At {
                phase: "pretrain",
                epoch,
                step,
            };
            loss_sum += at.finite(
                "the search network's loss",
                loss.clone().into_scalar::<f32>() as f64,
            )?;
            let mut grads = loss.backward();
            let norm;
            (state.net, norm) = clipped_step(
                &mut state.opt_w,
                lr,
                state.net,
                &mut grads,
                config.grad_clip,
            );
            at.finite("the search network's gradient norm", norm)?;
            step += 1;
            bar.inc();
            if stop() {
                let within = WithinEpoch::Pretrain {
                    order: order.clone(),
                    steps_done: i + 1,
                    loss_sum,
                    seconds: seconds_before + started.elapsed().as_secs_f64(),
                };
                checkpoint(
                    &state,
                    &rng,
                    epoch,
                    (step, alpha_steps_done, eval_step, eval_warmup_epochs),
                    &metrics,
                    dual.as_ref(),
                    Some(within),
                    None,
                )?;
                return Err(at.interrupted());
            }
        }
        bar.finish();
        let m = epoch_metrics(
            EpochCtx {
                epoch,
                phase: "pretrain",
                lr: cosine_lr(config.lr_weights, step, total_steps),
                loss_alpha: None,
                loss_s: loss_sum / steps_per_epoch as f64,
                loss_e: None,
                kd: None,
                started,
                seconds_before,
            },
            config,
            &space,
            &state.net,
            None,
            &state.alphas,
            &val,
            device,
            penalty,
            lr_alpha,
            None,
            Vec::new(),
        );
        on_epoch(&m)?;
        metrics.push(m);
        checkpoint(
            &state,
            &rng,
            epoch + 1,
            (step, alpha_steps_done, eval_step, eval_warmup_epochs),
            &metrics,
            dual.as_ref(),
            None,
            None,
        )?;
    }

    let mut early_stop = None;
    for epoch in epochs_done.saturating_sub(config.pretrain_epochs)..config.epochs {
        // DARTS-ES (§7): checked before each epoch, so that a search
        // resumed after the epoch that triggered it stops there too.
        early_stop = check_early_stop(config, &metrics);
        if early_stop.is_some() {
            break;
        }
        device.seed(crate::retrain::epoch_seed(
            config.seed,
            config.pretrain_epochs + epoch,
        ));
        let started = Instant::now();
        // Where a signal stopped this epoch, when resuming it.
        let resumed = within.take();
        let seconds_before = match &resumed {
            Some(WithinEpoch::WarmUp { seconds, .. } | WithinEpoch::Search { seconds, .. }) => {
                *seconds
            }
            _ => 0.0,
        };
        // Every S_U epochs: ᾱ = discretize(α); E is rebuilt from it with
        // fresh weights and warmed up. In between, E keeps training.
        let rebuild = epoch % config.rebuild_interval == 0;
        let mut eval_warmup_val_accuracy = None;
        let mut search_resumed = None;
        let kept = state.eval.take();
        state.eval = if config.algo.has_eval_network() {
            let (mut e, mut opt_e);
            let fresh;
            match (resumed_eval.take(), kept) {
                // E of a checkpoint: its genotype (α moved since it was
                // discretized), weights and optimizer.
                (Some(c), _) => {
                    (e, opt_e) = build_eval_of(config, &eval_net_cfg, &c.genotype, device);
                    eval_genotype = Some(c.genotype);
                    e = e
                        .try_load_record(c.net)
                        .map_err(|err| bad_checkpoint("evaluation network", err.to_string()))?;
                    opt_e = opt_e.load_record(c.optimizer);
                    fresh = false;
                }
                (None, Some(previous)) if !rebuild => {
                    (e, opt_e) = previous;
                    fresh = false;
                }
                _ => {
                    let genotype = current_genotype(&state.alphas, &space, config);
                    (e, opt_e) = build_eval_of(config, &eval_net_cfg, &genotype, device);
                    eval_genotype = Some(genotype);
                    eval_step = 0;
                    eval_warmup_epochs = config.warmup_epochs;
                    fresh = true;
                }
            }
            // Decision (docs/algorithms.md §3, warm-up data): Algorithm 1 writes the warm-up
            // with L^E_val, but ICDARTS' stated change is that both networks'
            // weights train on `train` only, so E warms up on `train`
            // (`warmup_data`; CDARTS's E warms up on `val`, Eq. 3.5).
            let (first_warmup, mut warmup_resumed) = match resumed {
                Some(WithinEpoch::WarmUp {
                    warmup_epoch,
                    order,
                    steps_done,
                    eval_step: done,
                    ..
                }) => {
                    eval_step = done;
                    (warmup_epoch, Some((order, steps_done)))
                }
                Some(w @ WithinEpoch::Search { .. }) => {
                    search_resumed = Some(w);
                    (eval_warmup_epochs, None)
                }
                // A fresh E warms up; one kept from the last epoch does not.
                _ if fresh => (0, None),
                _ => (eval_warmup_epochs, None),
            };
            let warming_up = first_warmup < eval_warmup_epochs || fresh;
            // Decision (docs/algorithms.md §9, adaptive warm-up): after its
            // W epochs E warms up one more epoch at a time, up to
            // `warmup_extra_epochs`, while its val accuracy is below
            // `warmup_target` × S's accuracy projected to the end of the
            // epoch E teaches in; a teacher far behind its student teaches
            // it little.
            let s_accuracies: Vec<f64> = metrics.iter().map(|m| m.search_val_accuracy).collect();
            let s_latest = projected_student(&s_accuracies);
            let mut w = first_warmup;
            loop {
                if !warming_up {
                    break;
                }
                if w >= eval_warmup_epochs {
                    let teacher = e.valid();
                    let inference = device.clone().inner();
                    let reached = accuracy(&val, config.batch_size.max(64), &inference, |x| {
                        teacher.logits(x)
                    });
                    eval_warmup_val_accuracy = Some(reached);
                    let target = s_latest.map_or(0.0, |s| config.warmup_target * s);
                    if reached >= target || w >= config.warmup_extra_epochs + config.warmup_epochs {
                        if reached < target {
                            log::warn!(
                                "epoch {}: E reached {reached:.2}% of val after {w} warm-up epochs, still below the target {target:.2}% (--warmup-extra-epochs {} spent)",
                                config.pretrain_epochs + epoch,
                                config.warmup_extra_epochs
                            );
                        }
                        break;
                    }
                    log::info!(
                        "epoch {}: E reached {reached:.2}% of val after {w} warm-up epochs, below {target:.2}% ({} × S's projected {:.2}%): one more",
                        config.pretrain_epochs + epoch,
                        config.warmup_target,
                        s_latest.unwrap_or(0.0)
                    );
                    eval_warmup_epochs += 1;
                }
                let (order, skip) = warmup_resumed
                    .take()
                    .unwrap_or_else(|| (warmup_data.shuffled(&mut rng), 0));
                let bar = progress.start(
                    &format!(
                        "epoch {}/{} warm-up E {}/{}",
                        epoch + 1,
                        config.epochs,
                        w + 1,
                        eval_warmup_epochs
                    ),
                    steps_per_epoch,
                );
                if skip > 0 {
                    bar.set(skip, steps_per_epoch, "");
                }
                for (i, chunk) in order
                    .chunks(config.batch_size)
                    .take(steps_per_epoch)
                    .enumerate()
                    .skip(skip)
                {
                    let lr = cosine_lr(config.lr_weights, eval_step, eval_life(eval_warmup_epochs));
                    let b = warmup_data.batch(chunk, device);
                    let loss = cross_entropy(e.logits(b.images), b.labels);
                    let at = At {
                        phase: "warm-up",
                        epoch,
                        step: eval_step,
                    };
                    at.finite(
                        "the evaluation network's loss",
                        loss.clone().into_scalar::<f32>() as f64,
                    )?;
                    let mut grads = loss.backward();
                    let norm;
                    (e, norm) = clipped_step(&mut opt_e, lr, e, &mut grads, config.grad_clip);
                    at.finite("the evaluation network's gradient norm", norm)?;
                    eval_step += 1;
                    bar.inc();
                    if stop() {
                        let within = WithinEpoch::WarmUp {
                            warmup_epoch: w,
                            order: order.clone(),
                            steps_done: i + 1,
                            eval_step,
                            seconds: seconds_before + started.elapsed().as_secs_f64(),
                        };
                        checkpoint(
                            &state,
                            &rng,
                            config.pretrain_epochs + epoch,
                            (step, alpha_steps_done, eval_step, eval_warmup_epochs),
                            &metrics,
                            dual.as_ref(),
                            Some(within),
                            eval_genotype.as_ref().map(|g| (g, &e, &opt_e)),
                        )?;
                        return Err(at.interrupted());
                    }
                }
                bar.finish();
                w += 1;
            }
            Some((e, opt_e))
        } else {
            if let Some(w @ WithinEpoch::Search { .. }) = resumed {
                search_resumed = Some(w);
            }
            None
        };

        let (train_order, val_order, skip, sums, mut alpha_steps) = match search_resumed {
            Some(WithinEpoch::Search {
                train_order,
                val_order,
                steps_done,
                eval_step: done,
                sums,
                alpha_steps,
                eval_warmup_val_accuracy: accuracy,
                ..
            }) => {
                eval_step = done;
                eval_warmup_val_accuracy = accuracy;
                (train_order, val_order, steps_done, sums, alpha_steps)
            }
            _ => {
                let train_order = train.shuffled(&mut rng);
                let val_order = val.shuffled(&mut rng);
                (train_order, val_order, 0, [0.0; 4], Vec::new())
            }
        };
        let bar = progress.start(
            &format!("search {}/{}", epoch + 1, config.epochs),
            steps_per_epoch,
        );
        if skip > 0 {
            bar.set(skip, steps_per_epoch, "");
        }
        let [mut sum_a, mut sum_s, mut sum_e, mut sum_kd] = sums;
        for (i, (tchunk, vchunk)) in train_order
            .chunks(config.batch_size)
            .zip(val_order.chunks(config.batch_size))
            .take(steps_per_epoch)
            .enumerate()
            .skip(skip)
        {
            let rates = StepRates {
                alpha: lr_alpha,
                search: cosine_lr(config.lr_weights, step, total_steps),
                eval: cosine_lr(config.lr_weights, eval_step, eval_life(eval_warmup_epochs)),
            };
            let bt = train.batch(tchunk, device);
            let bv = val.batch(vchunk, device);
            let coef = dual.map_or(fixed_coef, |d| d.coef);
            let term = penalty.map(|penalty| PenaltyTerm { penalty, coef });
            let e;
            (state, e) = state.step(config, term, &rates, &bt, &bv, StepGradients::Needed);
            let at = At {
                phase: "search",
                epoch,
                step: alpha_steps_done,
            };
            check_step(&e, &state.alphas, at)?;
            if let Some(p) = penalty {
                let predicted_ms = p.predicted_ms(&current_genotype(&state.alphas, &space, config));
                alpha_steps.push(AlphaStep {
                    step: alpha_steps_done,
                    coef,
                    penalty: e.penalty.unwrap_or(f64::NAN),
                    predicted_ms,
                });
                if let Some(d) = dual.as_mut() {
                    d.update(predicted_ms);
                }
            }
            alpha_steps_done += 1;
            eval_step += 1;
            sum_a += e.loss_alpha;
            sum_s += e.loss_search;
            sum_e += e.loss_eval.unwrap_or(0.0);
            sum_kd += e.kd.unwrap_or(0.0);
            step += 1;
            bar.inc();
            if stop() {
                let within = WithinEpoch::Search {
                    train_order: train_order.clone(),
                    val_order: val_order.clone(),
                    steps_done: i + 1,
                    eval_step,
                    sums: [sum_a, sum_s, sum_e, sum_kd],
                    alpha_steps: alpha_steps.clone(),
                    eval_warmup_val_accuracy,
                    seconds: seconds_before + started.elapsed().as_secs_f64(),
                };
                checkpoint(
                    &state,
                    &rng,
                    config.pretrain_epochs + epoch,
                    (step, alpha_steps_done, eval_step, eval_warmup_epochs),
                    &metrics,
                    dual.as_ref(),
                    Some(within),
                    state
                        .eval
                        .as_ref()
                        .zip(eval_genotype.as_ref())
                        .map(|((e, opt_e), g)| (g, e, opt_e)),
                )?;
                return Err(at.interrupted());
            }
        }
        bar.finish();
        let n = steps_per_epoch as f64;
        let icd = config.algo.has_eval_network();
        let mut m = epoch_metrics(
            EpochCtx {
                epoch: config.pretrain_epochs + epoch,
                phase: "search",
                lr: cosine_lr(config.lr_weights, step, total_steps),
                loss_alpha: Some(sum_a / n),
                loss_s: sum_s / n,
                loss_e: icd.then_some(sum_e / n),
                kd: icd.then_some(sum_kd / n),
                started,
                seconds_before,
            },
            config,
            &space,
            &state.net,
            state.eval.as_ref().map(|(e, _)| e),
            &state.alphas,
            &val,
            device,
            penalty,
            lr_alpha,
            eval_warmup_val_accuracy.map(|a| (a, eval_warmup_epochs)),
            alpha_steps,
        );
        if config.hessian_iterations > 0 {
            let (normal, reduce) = crate::hessian::epoch_eigenvalues(
                &search_cfg,
                &state.net,
                &state.alphas,
                &val,
                config.batch_size,
                config.hessian_iterations,
                config.seed,
                m.epoch,
                device,
            );
            log::info!(
                "epoch {}: dominant eigenvalue of ∇²_α L_val {normal:.4} (normal) / {reduce:.4} (reduce)",
                m.epoch
            );
            m.hessian_eigenvalue_normal = Some(normal);
            m.hessian_eigenvalue_reduce = Some(reduce);
        }
        on_epoch(&m)?;
        metrics.push(m);
        checkpoint(
            &state,
            &rng,
            config.pretrain_epochs + epoch + 1,
            (step, alpha_steps_done, eval_step, eval_warmup_epochs),
            &metrics,
            dual.as_ref(),
            None,
            // E lives on into the next epoch unless that one rebuilds it.
            state
                .eval
                .as_ref()
                .zip(eval_genotype.as_ref())
                .filter(|_| (epoch + 1) % config.rebuild_interval != 0 && epoch + 1 < config.epochs)
                .map(|((e, opt_e), g)| (g, e, opt_e)),
        )?;
    }

    if early_stop.is_none() {
        early_stop = check_early_stop(config, &metrics);
    }
    // An early stop returns the α (and so the genotype) of an earlier epoch.
    let final_alphas = match early_stop {
        Some(stop) => {
            let m = &metrics[stop.returned_epoch];
            log::info!(
                "DARTS-ES: the eigenvalue rose (λ̄ ratio {:.3} < {}) by epoch {}; the search stops and returns epoch {}'s architecture",
                stop.eigenvalue_ratio,
                config.early_stop.map_or(0.0, |e| e.ratio),
                stop.stopped_after_epoch,
                stop.returned_epoch
            );
            Alphas::from_values(
                m.alpha_normal.clone(),
                m.alpha_reduce.clone(),
                edges,
                n_ops,
                device,
            )
        }
        None => state.alphas.clone(),
    };
    let (alpha_normal, alpha_reduce) = final_alphas.to_values();
    let largest = alpha_normal
        .iter()
        .chain(&alpha_reduce)
        .fold(0.0f32, |m, v| m.max(v.abs()));
    if largest > ALPHA_SATURATED {
        log::warn!(
            "α reached |α| = {largest:.3e}: its softmax is one-hot and the search stopped learning early; lower --arch-lr (it was {lr_alpha})"
        );
    }
    let discretized = current_genotype(&final_alphas, &space, config);
    let (genotype, budget) = match (budget, penalty) {
        (Some((_, fastest)), Some(p)) => {
            let strengths = Strengths::new(
                &alpha_normal,
                &alpha_reduce,
                &space,
                config.nodes,
                config.relaxation,
            );
            let outcome = fit_budget(
                discretized,
                &strengths,
                fastest,
                dual.expect("a budget has its dual ascent"),
                p,
            );
            (outcome.0, Some(outcome.1))
        }
        _ => (discretized, None),
    };
    Ok(SearchOutcome {
        genotype,
        alpha_normal,
        alpha_reduce,
        alpha_shape: [edges, n_ops],
        normalization,
        metrics,
        search_network: config.search_network(data),
        eval_network: eval_net_cfg,
        latency: settings,
        lr_alpha,
        budget,
        early_stop,
    })
}

/// DARTS-ES's rule (docs/algorithms.md §7) on the search epochs of
/// `metrics`, when the search has it: the larger of the two cell types'
/// eigenvalues per epoch.
/// S's val accuracy projected one epoch ahead (docs/algorithms.md §9 item
/// 29): its error shrinks again by the factor of its last epoch (never
/// grows), `100 − e·min(1, e/e_prev)` with e, e_prev its latest two
/// errors. Early in a search S gains tens of points per epoch, so its
/// latest accuracy would understate the student E must teach by the
/// epoch's end. `accuracies`: S's val accuracy per epoch so far (%).
/// `None` before S has been measured; its latest accuracy when measured
/// once.
fn projected_student(accuracies: &[f64]) -> Option<f64> {
    let (latest, previous) = match accuracies {
        [] => return None,
        [latest] => return Some(*latest),
        [.., previous, latest] => (*latest, *previous),
    };
    let (error, error_prev) = (100.0 - latest, 100.0 - previous);
    let shrink = if error_prev > 0.0 {
        (error / error_prev).min(1.0)
    } else {
        1.0
    };
    Some(100.0 - error * shrink)
}

fn check_early_stop(config: &SearchConfig, metrics: &[EpochMetrics]) -> Option<EarlyStopOutcome> {
    let rule = config.early_stop?;
    let first = config.pretrain_epochs;
    let eigenvalues: Vec<f64> = metrics
        .get(first..)?
        .iter()
        .map(|m| {
            m.hessian_eigenvalue_normal
                .unwrap_or(f64::NAN)
                .max(m.hessian_eigenvalue_reduce.unwrap_or(f64::NAN))
        })
        .collect();
    let returned = crate::hessian::early_stop(&eigenvalues, rule.k, rule.window, rule.ratio)?;
    let mean = |end: usize| {
        eigenvalues[end + 1 - rule.window..=end].iter().sum::<f64>() / rule.window as f64
    };
    let last = eigenvalues.len() - 1;
    Some(EarlyStopOutcome {
        stopped_after_epoch: first + last,
        returned_epoch: first + returned,
        eigenvalue_ratio: mean(returned) / mean(last),
    })
}

/// The search's data: the training split (or its seeded `train_subset`)
/// halved into train and val, normalized with the statistics of the images
/// the search sees.
pub fn search_splits(
    config: &SearchConfig,
    data: &Dataset,
) -> Result<(Batches, Batches, Normalization), SearchError> {
    let pool = match config.train_subset {
        Some(n) => data.train.sample(n, config.seed),
        None => data.train.clone(),
    };
    let (train, val) = pool.split_half(config.seed);
    if train.len == 0 || val.len == 0 {
        return Err(SearchError::Config(format!(
            "the training split of {} is too small to halve into train and val",
            data.source
        )));
    }
    let size = data.height;
    // Normalization statistics come from the images the search trains on.
    let normalization = Normalization::from_split(&pool, data.channels, size, size);
    let train = Batches::new(&train, &normalization, data.channels, size);
    let val = Batches::new(&val, &normalization, data.channels, size);
    log::info!(
        "search on {}: {} train / {} val images, {}×{}×{}",
        data.name,
        train.len(),
        val.len(),
        data.channels,
        size,
        size
    );
    Ok((train, val, normalization))
}

/// Errors when `budget_ms` is below `fastest_ms`, the prediction of the
/// fastest genotype of the space (or when there is no prediction).
pub fn check_budget(budget_ms: f64, fastest_ms: f64) -> Result<(), SearchError> {
    if fastest_ms.is_nan() {
        return Err(SearchError::Budget(
            "a latency budget needs a latency table to predict genotypes with".into(),
        ));
    }
    if budget_ms.is_nan() || budget_ms <= 0.0 || budget_ms < fastest_ms {
        return Err(SearchError::Budget(format!(
            "the latency budget {budget_ms} ms is below {fastest_ms:.3} ms, the predicted latency of the fastest genotype this search space allows on the table's device"
        )));
    }
    Ok(())
}

/// The final genotype of a budget search: `discretized` repaired into the
/// budget with the least strength lost per ms saved, or the fastest genotype
/// when single moves get stuck above the budget.
fn fit_budget(
    discretized: Genotype,
    strengths: &Strengths,
    fastest: (Genotype, f64),
    dual: DualAscent,
    penalty: &dyn AlphaPenalty,
) -> (Genotype, BudgetOutcome) {
    let budget_ms = dual.budget_ms;
    let cheapest_ms = fastest.1;
    let mut latency = |g: &Genotype| Ok::<f64, Infallible>(penalty.predicted_ms(g));
    let discretized_ms = latency(&discretized).unwrap_or_else(|e| match e {});
    let repaired = repair(discretized.clone(), strengths, budget_ms, &mut latency)
        .unwrap_or_else(|e| match e {});
    for r in &repaired.repairs {
        log::info!("budget repair: {r}");
    }
    let replaced_by_cheapest = !repaired.within_budget;
    let (genotype, predicted_ms) = if replaced_by_cheapest {
        log::warn!(
            "single-move repairs stopped at {:.3} ms, above the {budget_ms} ms budget: the fastest genotype ({:.3} ms) replaces the result",
            repaired.predicted_ms,
            fastest.1
        );
        fastest
    } else {
        (repaired.genotype, repaired.predicted_ms)
    };
    log::info!(
        "latency budget {budget_ms} ms: discretized genotype predicted at {discretized_ms:.3} ms, final {predicted_ms:.3} ms after {} repair(s); final δ {:.4}",
        repaired.repairs.len(),
        dual.coef
    );
    let outcome = BudgetOutcome {
        budget_ms,
        cheapest_ms,
        discretized,
        discretized_ms,
        predicted_ms,
        repairs: repaired.repairs,
        replaced_by_cheapest,
        final_coef: dual.coef,
    };
    (genotype, outcome)
}

/// The evaluation network E with its optimizer, while ICDARTS runs.
pub type EvalState = Option<(EvalNetwork, ModuleOptimizer)>;

/// Everything a search step updates: S's weights and α with their
/// optimizers, and (ICDARTS) the evaluation network E with its optimizer.
pub struct SearchState {
    pub net: SearchNetwork,
    pub alphas: Alphas,
    pub opt_w: ModuleOptimizer,
    pub opt_alpha: ModuleOptimizer,
    pub eval: EvalState,
}

/// The learning rates of one search step: α's (Adam), S's and E's (SGD).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepRates {
    pub alpha: f64,
    pub search: f64,
    pub eval: f64,
}

impl StepRates {
    /// Weight learning rate `lr` for both networks and `config`'s α rate,
    /// unscaled (fixed workloads and tests).
    pub fn uniform(config: &SearchConfig, lr: f64) -> Self {
        Self {
            alpha: config
                .lr_alpha
                .unwrap_or(artifacts::config::ALPHA_LR_REFERENCE),
            search: lr,
            eval: lr,
        }
    }
}

/// Losses of one search step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepLosses {
    pub loss_alpha: f64,
    pub loss_search: f64,
    pub loss_eval: Option<f64>,
    pub kd: Option<f64>,
    /// P(α) before the α update, unscaled, when the step had a penalty.
    pub penalty: Option<f64>,
    /// Global L2 norms of S's (and E's) weight gradients before clipping.
    pub grad_norm_search: f64,
    pub grad_norm_eval: Option<f64>,
}

/// Which gradients each half of a search step computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepGradients {
    /// Each backward pass computes only the gradients its update uses: the
    /// α step treats w_S as constants (no weight gradients: those are
    /// about half of a convolution's backward work), the weight step
    /// treats α as constants. The updates are the same as `All`'s.
    Needed,
    /// Every backward pass computes gradients for every parameter and the
    /// step throws away those it does not use (the straightforward form;
    /// kept as the reference the optimized one is tested against).
    All,
}

impl SearchState {
    /// A fresh state: new SGD (w_S) and Adam (α) optimizers of `config`.
    pub fn new(config: &SearchConfig, net: SearchNetwork, alphas: Alphas, eval: EvalState) -> Self {
        Self {
            net,
            alphas,
            opt_w: sgd(config),
            opt_alpha: alpha_optimizer(config),
            eval,
        }
    }

    /// One search step at `rates`: the α update on the val batch `bv`, then
    /// the w_S (and, for ICDARTS, w_E) update on the train batch `bt`.
    pub fn step(
        self,
        config: &SearchConfig,
        penalty: Option<PenaltyTerm>,
        rates: &StepRates,
        bt: &Batch,
        bv: &Batch,
        gradients: StepGradients,
    ) -> (Self, StepLosses) {
        let Self {
            net,
            alphas,
            mut opt_w,
            mut opt_alpha,
            eval,
        } = self;
        if config.algo == Algo::Cdarts {
            return Self {
                net,
                alphas,
                opt_w,
                opt_alpha,
                eval,
            }
            .cdarts_step(config, penalty, rates, bt, bv);
        }
        let needed = gradients == StepGradients::Needed;
        // (3.9) α ← Adam on L^S_val(w_S, α) + λ·KD_val(S‖E) + δ·P(α).
        // Decision (docs/algorithms.md §3, penalty placement): the
        // dissertation's Eq. 4.1 adds δ·P(α) to the w_S loss, where its
        // gradient is zero; the penalty acts on α, so it is part of this
        // objective. A clone shares the parameters' tensors and the BN
        // running statistics (updated by this forward pass exactly as
        // without `no_grad`).
        let net_for_alpha = if needed {
            materialize(&net);
            net.clone().no_grad()
        } else {
            net.clone()
        };
        let logits_s = net_for_alpha.forward(bv.images.clone(), &alphas);
        let mut loss_a = cross_entropy(logits_s.clone(), bv.labels.clone());
        if let Some((e, _)) = &eval {
            // The teacher runs in inference mode: no graph, and E's running
            // statistics are not touched by validation batches.
            let teacher = Tensor::from_inner(e.valid().logits(bv.images.clone().inner()));
            loss_a = loss_a
                + distillation(logits_s, teacher, config.kd_temperature)
                    .mul_scalar(config.kd_lambda);
        }
        let penalty_value;
        (loss_a, penalty_value) = with_penalty(loss_a, penalty, &alphas, config);
        let loss_alpha = loss_a.clone().into_scalar::<f32>() as f64;
        let mut grads = loss_a.backward();
        let g = GradientsParams::from_module(&mut grads, &alphas);
        let alphas = opt_alpha.step(rates.alpha, alphas, g);

        // (3.10) w_S ← SGD on L^S_train + λ·KD_train(S‖E), and (3.11) w_E ←
        // SGD on L^E_train. E's logits on the batch serve both: detached as
        // the teacher for S, and as E's own training loss. The parameter
        // sets are disjoint and the teacher is detached, so one backward of
        // the sum gives exactly the two separate gradients.
        let alphas_for_weights = if needed {
            alphas.clone().no_grad()
        } else {
            alphas.clone()
        };
        let logits_s = net.forward(bt.images.clone(), &alphas_for_weights);
        let mut loss_s = cross_entropy(logits_s.clone(), bt.labels.clone());
        let (mut loss_eval, mut kd) = (None, None);
        let total = match &eval {
            Some((e, _)) => {
                let logits_e = e.logits(bt.images.clone());
                let kd_term = distillation(logits_s, logits_e.clone(), config.kd_temperature);
                kd = Some(kd_term.clone().into_scalar::<f32>() as f64);
                loss_s = loss_s + kd_term.mul_scalar(config.kd_lambda);
                let loss_e = cross_entropy(logits_e, bt.labels.clone());
                loss_eval = Some(loss_e.clone().into_scalar::<f32>() as f64);
                loss_s.clone() + loss_e
            }
            None => loss_s.clone(),
        };
        let loss_search = loss_s.into_scalar::<f32>() as f64;
        let mut grads = total.backward();
        let (net, grad_norm_search) =
            clipped_step(&mut opt_w, rates.search, net, &mut grads, config.grad_clip);
        let mut grad_norm_eval = None;
        let eval = eval.map(|(e, mut opt_e)| {
            let (e, norm) = clipped_step(&mut opt_e, rates.eval, e, &mut grads, config.grad_clip);
            grad_norm_eval = Some(norm);
            (e, opt_e)
        });
        (
            Self {
                net,
                alphas,
                opt_w,
                opt_alpha,
                eval,
            },
            StepLosses {
                loss_alpha,
                loss_search,
                loss_eval,
                kd,
                penalty: penalty_value,
                grad_norm_search,
                grad_norm_eval,
            },
        )
    }
}

impl SearchState {
    /// One CDARTS step (dissertation Eq. 3.4–3.6, docs/algorithms.md §3):
    /// α and w_E jointly on L^S_val(w_S, α) + L^E_val(w_E, ᾱ) +
    /// λ·KD_val(S‖E) (+ δ·P(α)), with the KD term's gradient reaching both
    /// α (through S's logits) and w_E (through E's); then w_S on L^S_train
    /// alone. One backward pass gives α's and w_E's gradients: w_S is
    /// frozen in it, and L^E_val does not depend on α.
    fn cdarts_step(
        self,
        config: &SearchConfig,
        penalty: Option<PenaltyTerm>,
        rates: &StepRates,
        bt: &Batch,
        bv: &Batch,
    ) -> (Self, StepLosses) {
        let Self {
            net,
            alphas,
            mut opt_w,
            mut opt_alpha,
            eval,
        } = self;
        let (e, mut opt_e) = eval.expect("CDARTS trains an evaluation network");
        materialize(&net);
        let logits_s = net.clone().no_grad().forward(bv.images.clone(), &alphas);
        let logits_e = e.logits(bv.images.clone());
        let loss_s_val = cross_entropy(logits_s.clone(), bv.labels.clone());
        let loss_e_val = cross_entropy(logits_e.clone(), bv.labels.clone());
        let kd_term = mutual_distillation(logits_s, logits_e, config.kd_temperature);
        let kd = kd_term.clone().into_scalar::<f32>() as f64;
        let loss_eval = loss_e_val.clone().into_scalar::<f32>() as f64;
        let (joint, penalty_value) = with_penalty(
            loss_s_val + loss_e_val + kd_term.mul_scalar(config.kd_lambda),
            penalty,
            &alphas,
            config,
        );
        let loss_alpha = joint.clone().into_scalar::<f32>() as f64;
        let mut grads = joint.backward();
        let (e, grad_norm_eval) =
            clipped_step(&mut opt_e, rates.eval, e, &mut grads, config.grad_clip);
        let g = GradientsParams::from_module(&mut grads, &alphas);
        let alphas = opt_alpha.step(rates.alpha, alphas, g);

        // (3.4) w_S ← SGD on L^S_train.
        let logits_s = net.forward(bt.images.clone(), &alphas.clone().no_grad());
        let loss_s = cross_entropy(logits_s, bt.labels.clone());
        let loss_search = loss_s.clone().into_scalar::<f32>() as f64;
        let mut grads = loss_s.backward();
        let (net, grad_norm_search) =
            clipped_step(&mut opt_w, rates.search, net, &mut grads, config.grad_clip);
        (
            Self {
                net,
                alphas,
                opt_w,
                opt_alpha,
                eval: Some((e, opt_e)),
            },
            StepLosses {
                loss_alpha,
                loss_search,
                loss_eval: Some(loss_eval),
                kd: Some(kd),
                penalty: penalty_value,
                grad_norm_search,
                grad_norm_eval: Some(grad_norm_eval),
            },
        )
    }
}

/// `loss` + δ·P(α) when the step has a penalty (P's value is returned
/// for the logs whatever δ is).
fn with_penalty(
    loss: Tensor<1>,
    penalty: Option<PenaltyTerm>,
    alphas: &Alphas,
    config: &SearchConfig,
) -> (Tensor<1>, Option<f64>) {
    let Some(term) = penalty else {
        return (loss, None);
    };
    let p = term.penalty.expected(alphas, config.relaxation);
    let value = p.clone().into_scalar::<f32>() as f64;
    if term.coef == 0.0 {
        (loss, Some(value))
    } else {
        (loss + p.mul_scalar(term.coef), Some(value))
    }
}

/// Initializes every still-lazy float parameter of `module`. Clones of a
/// lazy parameter share its pending initialization, and burn's
/// `set_require_grad` on one of them rewrites that shared state: without
/// this, `no_grad` on a clone would also freeze the original.
fn materialize<M: Module>(module: &M) {
    struct Touch;
    impl ModuleVisitor for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if !param.is_initialized() {
                let _ = param.val();
            }
        }
    }
    module.visit(&mut Touch);
}

/// Builds E from the current discretized α with fresh weights and optimizer.
pub fn build_eval(
    config: &SearchConfig,
    network: &NetworkConfig,
    alphas: &Alphas,
    device: &Device,
) -> (EvalNetwork, ModuleOptimizer) {
    let genotype = current_genotype(alphas, &config.space(), config);
    build_eval_of(config, network, &genotype, device)
}

/// The evaluation network E of `genotype` with fresh weights, and its
/// optimizer.
fn build_eval_of(
    config: &SearchConfig,
    network: &NetworkConfig,
    genotype: &Genotype,
    device: &Device,
) -> (EvalNetwork, ModuleOptimizer) {
    (
        EvalNetworkConfig::new(network.clone(), genotype.clone())
            .with_distill_heads(config.search_aux_heads)
            .with_zero(config.zero.in_search_eval())
            .init(device),
        sgd(config),
    )
}

/// The α optimizer of docs/algorithms.md §3: Adam, lr 3e-4, β = (0.5, 0.999).
pub fn alpha_optimizer(config: &SearchConfig) -> ModuleOptimizer {
    AdamConfig::new()
        .with_beta_1(config.alpha_beta1)
        .with_beta_2(config.alpha_beta2)
        .with_weight_decay(
            (config.alpha_weight_decay > 0.0)
                .then(|| WeightDecayConfig::new(config.alpha_weight_decay as f32)),
        )
        .init()
}

/// α with every column a node does not offer set to [`MASKED_ALPHA`]
/// (a tournament game: softmax gives those exactly 0, so they carry no
/// gradient, are never discretized and cost nothing in P(α)).
pub fn mask_alphas(alphas: &Alphas, sets: &NodeOpSets, space: &OpSpace, device: &Device) -> Alphas {
    let (mut normal, mut reduce) = alphas.to_values();
    for (values, reduction) in [(&mut normal, false), (&mut reduce, true)] {
        for (row, offered) in values
            .chunks_mut(space.len())
            .zip(sets.mask(space, reduction))
        {
            for (v, on) in row.iter_mut().zip(offered) {
                if !on {
                    *v = MASKED_ALPHA;
                }
            }
        }
    }
    let edges = normal.len() / space.len();
    Alphas::from_values(normal, reduce, edges, space.len(), device)
}

/// α ~ 1e-3·N(0, 1) (docs/algorithms.md §3), from the search's own seeded generator so the
/// initial architecture does not depend on the backend's RNG.
pub fn init_alphas(edges: usize, ops: usize, rng: &mut DataRng, device: &Device) -> Alphas {
    let mut normal_sample = || {
        // Box–Muller: two uniforms → one standard normal.
        let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = rng.random();
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32 * 1e-3
    };
    let normal: Vec<f32> = (0..edges * ops).map(|_| normal_sample()).collect();
    let reduce: Vec<f32> = (0..edges * ops).map(|_| normal_sample()).collect();
    Alphas::from_values(normal, reduce, edges, ops, device)
}

pub fn sgd(config: &SearchConfig) -> ModuleOptimizer {
    SgdConfig::new()
        .with_momentum(Some(MomentumConfig::new().with_momentum(config.momentum)))
        .with_weight_decay(Some(WeightDecayConfig::new(config.weight_decay as f32)))
        .init()
}

/// The first non-finite loss, P(α), gradient norm or α of a search step, as
/// an error.
fn check_step(losses: &StepLosses, alphas: &Alphas, at: At) -> Result<(), SearchError> {
    at.finite("the α loss", losses.loss_alpha)?;
    at.finite("the search network's loss", losses.loss_search)?;
    if let Some(v) = losses.loss_eval {
        at.finite("the evaluation network's loss", v)?;
    }
    if let Some(v) = losses.kd {
        at.finite("the KD term", v)?;
    }
    if let Some(v) = losses.penalty {
        at.finite("P(α)", v)?;
    }
    at.finite(
        "the search network's gradient norm",
        losses.grad_norm_search,
    )?;
    if let Some(v) = losses.grad_norm_eval {
        at.finite("the evaluation network's gradient norm", v)?;
    }
    let (normal, reduce) = alphas.to_values();
    for (cell, values) in [("normal", normal), ("reduce", reduce)] {
        if let Some(&v) = values.iter().find(|v| !v.is_finite()) {
            at.finite(&format!("α of the {cell} cell"), v as f64)?;
        }
    }
    Ok(())
}

fn current_genotype(alphas: &Alphas, space: &OpSpace, config: &SearchConfig) -> Genotype {
    let (normal, reduce) = alphas.to_values();
    discretize(&normal, &reduce, space, config.nodes, config.relaxation)
}

struct EpochCtx {
    epoch: usize,
    phase: &'static str,
    lr: f64,
    loss_alpha: Option<f64>,
    loss_s: f64,
    loss_e: Option<f64>,
    kd: Option<f64>,
    started: Instant,
    /// Seconds of the epoch before a stop and resume.
    seconds_before: f64,
}

#[allow(clippy::too_many_arguments)]
fn epoch_metrics(
    ctx: EpochCtx,
    config: &SearchConfig,
    space: &OpSpace,
    net: &SearchNetwork,
    eval_net: Option<&EvalNetwork>,
    alphas: &Alphas,
    val: &Batches,
    device: &Device,
    penalty: Option<&dyn AlphaPenalty>,
    lr_alpha: f64,
    eval_warmup: Option<(f64, usize)>,
    alpha_steps: Vec<AlphaStep>,
) -> EpochMetrics {
    let inference = device.clone().inner();
    let net_valid = net.valid();
    let alphas_valid = alphas.valid();
    let search_val_accuracy = accuracy(val, config.batch_size.max(64), &inference, |x| {
        net_valid.forward(x, &alphas_valid)
    });
    let eval_val_accuracy = eval_net.map(|e| {
        let e = e.valid();
        accuracy(val, config.batch_size.max(64), &inference, |x| e.logits(x))
    });
    let (normal, reduce) = alphas.to_values();
    let n_ops = space.len();
    let (edge_std_normal, alpha_std_normal) = alpha_std(&normal, n_ops);
    let (edge_std_reduce, alpha_std_reduce) = alpha_std(&reduce, n_ops);
    let min_margin = |alpha: &[f32]| {
        edge_margins(alpha, n_ops)
            .into_iter()
            .fold(f64::INFINITY, f64::min)
    };
    let genotype = current_genotype(alphas, space, config);
    let latency = penalty.map(|p| {
        (
            p.expected(&alphas_valid, config.relaxation)
                .into_scalar::<f32>() as f64,
            p.predicted_ms(&genotype),
        )
    });
    let m = EpochMetrics {
        epoch: ctx.epoch,
        phase: ctx.phase.to_string(),
        lr_weights: ctx.lr,
        loss_alpha: ctx.loss_alpha,
        loss_search_train: ctx.loss_s,
        loss_eval_train: ctx.loss_e,
        kd_train: ctx.kd,
        search_val_accuracy,
        eval_val_accuracy,
        eval_warmup_val_accuracy: eval_warmup.map(|w| w.0),
        eval_warmup_epochs: eval_warmup.map(|w| w.1),
        lr_alpha,
        min_margin_normal: min_margin(&normal),
        min_margin_reduce: min_margin(&reduce),
        alpha_std_normal,
        alpha_std_reduce,
        edge_std_normal,
        edge_std_reduce,
        edge_entropy_normal: edge_entropy(&normal, n_ops),
        edge_entropy_reduce: edge_entropy(&reduce, n_ops),
        genotype,
        alpha_normal: normal,
        alpha_reduce: reduce,
        hessian_eigenvalue_normal: None,
        hessian_eigenvalue_reduce: None,
        latency_penalty: latency.map(|l| l.0),
        predicted_latency_ms: latency.map(|l| l.1),
        alpha_steps,
        seconds: ctx.seconds_before + ctx.started.elapsed().as_secs_f64(),
    };
    log::info!(
        "epoch {} ({}): loss_s {:.4}, S val {:.2}%{}{}, σ_α {:.4}/{:.4}, min margin {:.4}/{:.4}{}",
        m.epoch,
        m.phase,
        m.loss_search_train,
        m.search_val_accuracy,
        m.eval_warmup_val_accuracy
            .zip(m.eval_warmup_epochs)
            .map(|(a, w)| format!(", E val after {w} warm-up epochs {a:.2}%"))
            .unwrap_or_default(),
        m.eval_val_accuracy
            .map(|a| format!(", E val {a:.2}%"))
            .unwrap_or_default(),
        m.alpha_std_normal,
        m.alpha_std_reduce,
        m.min_margin_normal,
        m.min_margin_reduce,
        latency
            .map(|(p, ms)| format!(", P(α) {p:.4}, predicted latency {ms:.3} ms"))
            .unwrap_or_default()
    );
    m
}

/// Accuracy (%) of `forward` over every sample of `data`, in batches.
pub fn accuracy(
    data: &Batches,
    batch_size: usize,
    device: &Device,
    forward: impl Fn(Tensor<4>) -> Tensor<2>,
) -> f64 {
    let order: Vec<usize> = (0..data.len()).collect();
    let mut right = 0usize;
    for chunk in order.chunks(batch_size) {
        let b = data.batch(chunk, device);
        right += correct(forward(b.images), &b.labels_host);
    }
    100.0 * right as f64 / data.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::{DualAscent, projected_student};

    #[test]
    fn the_student_is_projected_by_its_last_error_ratio() {
        assert_eq!(projected_student(&[]), None);
        assert_eq!(projected_student(&[60.0]), Some(60.0));
        // Error 40 → 20 halves: the next epoch projects 10, i.e. 90 %.
        assert_eq!(projected_student(&[10.0, 60.0, 80.0]), Some(90.0));
        // A student that got worse is not projected to get worse again.
        assert_eq!(projected_student(&[80.0, 70.0]), Some(70.0));
        // A perfect previous epoch: no ratio, the latest stands.
        assert_eq!(projected_student(&[100.0, 95.0]), Some(95.0));
    }

    #[test]
    fn dual_ascent_rises_over_budget_and_halves_within_it() {
        let mut dual = DualAscent {
            budget_ms: 2.0,
            rate: 0.5,
            decay: 0.5,
            coef: 0.0,
            two_sided: false,
        };
        // Over budget by 50 %: +0.5·0.5 each step, no decay.
        dual.update(3.0);
        assert_eq!(dual.coef, 0.25);
        dual.update(3.0);
        assert_eq!(dual.coef, 0.5);
        // Within budget (1.5/2 = 0.75): 0.5·0.5 + 0.5·(−0.25) = 0.125.
        dual.update(1.5);
        assert_eq!(dual.coef, 0.125);
        // Exactly on budget counts as within: halved, nothing added.
        dual.update(2.0);
        assert_eq!(dual.coef, 0.0625);
        // Never below 0; a non-finite prediction leaves δ alone.
        dual.update(0.2);
        assert_eq!(dual.coef, 0.0);
        dual.update(f64::NAN);
        assert_eq!(dual.coef, 0.0);
        // decay = 1 is plain dual ascent: 1 + 0.5·(−0.25).
        let mut plain = DualAscent {
            decay: 1.0,
            coef: 1.0,
            ..dual
        };
        plain.update(1.5);
        assert_eq!(plain.coef, 0.875);
    }
}
