//! Random search, the baseline every search method is judged against
//! (docs/algorithms.md §3): K genotypes drawn uniformly from the same
//! discretized space, each trained briefly as the search-phase evaluation
//! network on `train` and ranked on `val`; the best is the result.
//!
//! Decision (the budget): equal *weight-training steps*, not equal wall
//! clock. The K candidates share the number of weight updates an ICDARTS
//! search of the same settings makes (pretraining of S, and per search
//! epoch the w_S and w_E steps and E's warm-up), so the comparison is
//! reproducible bit for bit on any machine; the wall clock of both is
//! recorded beside it. A random candidate's step (one discrete network)
//! is cheaper than a search step (the mixed network, α and E), so at
//! equal steps random search uses less wall clock.

use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;
use datasets::Dataset;
use models::{EvalNetworkConfig, Genotype};
use rand::{Rng, SeedableRng};

use artifacts::EpochMetrics;

use crate::batch::DataRng;
use crate::icdarts::{AlphaPenalty, SearchOutcome, accuracy, search_splits, sgd};
use crate::progress::Progress;
use crate::train::{clipped_step, cosine_lr, cross_entropy};
use crate::{At, SearchConfig, SearchError};

/// Most draws per candidate while looking for one within a latency budget.
const BUDGET_DRAWS: usize = 10_000;

/// The weight-training steps of an ICDARTS search with `config`'s epochs
/// and `steps_per_epoch`: P pretraining epochs of S, and per search epoch
/// one w_S and one w_E step per α step plus W warm-up epochs of E.
pub fn step_budget(config: &SearchConfig, steps_per_epoch: usize) -> usize {
    steps_per_epoch * (config.pretrain_epochs + config.epochs * (2 + config.warmup_epochs))
}

/// Runs the random search. `penalty`, when it carries a latency budget,
/// restricts the draws to genotypes predicted within it; δ·P(α) has no α
/// to act on and is not used. `stop` is asked after every step; a stopped
/// random search has no checkpoint and starts over when resumed.
pub fn run_random_search(
    config: &SearchConfig,
    data: &Dataset,
    device: &Device,
    penalty: Option<&dyn AlphaPenalty>,
    progress: &dyn Progress,
    on_epoch: &mut dyn FnMut(&EpochMetrics) -> Result<(), SearchError>,
    stop: &mut dyn FnMut() -> bool,
) -> Result<SearchOutcome, SearchError> {
    config.validate()?;
    if config.random_candidates == 0 {
        return Err(SearchError::Config(
            "random search needs at least one candidate (--random-candidates)".into(),
        ));
    }
    let (train, val, normalization) = search_splits(config, data)?;
    let steps_per_epoch = train
        .len()
        .div_ceil(config.batch_size)
        .min(val.len().div_ceil(config.batch_size));
    let budget = step_budget(config, steps_per_epoch);
    let share = (budget / config.random_candidates).max(1);
    let budget_ms = penalty.and_then(|p| p.settings()).and_then(|s| s.budget_ms);
    let seconds_each = config
        .random_seconds
        .map(|s| s / config.random_candidates as f64);
    log::info!(
        "random search: {} candidates × {}{}",
        config.random_candidates,
        match seconds_each {
            Some(s) => format!("{s:.1} s (wall clock)"),
            None => format!(
                "{share} steps (the {budget} weight steps of the ICDARTS search of these settings)"
            ),
        },
        budget_ms
            .map(|b| format!(", each predicted within {b} ms"))
            .unwrap_or_default()
    );
    let space = config.space();
    let eval_net_cfg = config.eval_network(data);
    let search_network = config.search_network(data);
    let mut rng = DataRng::seed_from_u64(config.seed);
    let mut metrics: Vec<EpochMetrics> = Vec::new();
    for k in 0..config.random_candidates {
        let started = Instant::now();
        let (genotype, predicted_ms) = draw(config, &space, penalty, budget_ms, &mut rng)?;
        device.seed(crate::retrain::epoch_seed(config.seed, k));
        let mut net = EvalNetworkConfig::new(eval_net_cfg.clone(), genotype.clone())
            .with_distill_heads(config.search_aux_heads)
            .init(device);
        let mut opt = sgd(config);
        // On a wall-clock budget the candidate's steps (and so its cosine
        // schedule) are set after its first TIMED steps, from their pace.
        const TIMED: usize = 3;
        let mut steps = seconds_each.map_or(share, |_| TIMED);
        let bar = progress.start(
            &format!("random {}/{}", k + 1, config.random_candidates),
            steps,
        );
        let mut order = Vec::new();
        let mut loss_sum = 0.0;
        let mut step = 0;
        while step < steps {
            if order.is_empty() {
                order = train.shuffled(&mut rng);
                order.reverse();
            }
            let take = config.batch_size.min(order.len());
            let chunk: Vec<usize> = order.split_off(order.len() - take);
            let b = train.batch(&chunk, device);
            let loss = cross_entropy(net.logits(b.images), b.labels);
            let at = At {
                phase: "random",
                epoch: k,
                step,
            };
            let value = loss.clone().into_scalar::<f32>() as f64;
            at.finite("the candidate's loss", value)?;
            loss_sum += value;
            let mut grads = loss.backward();
            // Until its pace is known a timed candidate runs at the full rate.
            let horizon = match seconds_each {
                Some(_) if step < TIMED => usize::MAX,
                _ => steps,
            };
            let lr = cosine_lr(config.lr_weights, step, horizon);
            let norm;
            (net, norm) = clipped_step(&mut opt, lr, net, &mut grads, config.grad_clip);
            at.finite("the candidate's gradient norm", norm)?;
            bar.inc();
            if stop() {
                return Err(at.interrupted());
            }
            step += 1;
            if let (Some(seconds), TIMED) = (seconds_each, step) {
                let pace = started.elapsed().as_secs_f64() / TIMED as f64;
                steps = ((seconds / pace) as usize).max(TIMED);
                bar.set(step, steps, "");
            }
        }
        bar.finish();
        let inference = device.clone().inner();
        let trained = net.valid();
        let val_accuracy = accuracy(&val, config.batch_size.max(64), &inference, |x| {
            trained.logits(x)
        });
        log::info!(
            "random candidate {k}: val {val_accuracy:.2}% after {steps} steps{} — {genotype}",
            predicted_ms
                .map(|ms| format!(", predicted {ms:.3} ms"))
                .unwrap_or_default()
        );
        let m = candidate_metrics(
            k,
            &genotype,
            val_accuracy,
            loss_sum / steps as f64,
            predicted_ms,
            config,
            started,
        );
        on_epoch(&m)?;
        metrics.push(m);
    }
    // The best on val; the first of equals.
    let best = metrics.iter().enumerate().fold(0, |best, (i, m)| {
        if m.search_val_accuracy > metrics[best].search_val_accuracy {
            i
        } else {
            best
        }
    });
    log::info!(
        "random search: candidate {best} is the best on val ({:.2}%)",
        metrics[best].search_val_accuracy
    );
    let [edges, n_ops] = models::SearchNetworkConfig::new(search_network.clone(), space.clone())
        .with_relaxation(config.relaxation)
        .alpha_shape();
    Ok(SearchOutcome {
        // `search.json` reports the line of this genotype.
        genotype: metrics[best].genotype.clone(),
        alpha_normal: Vec::new(),
        alpha_reduce: Vec::new(),
        alpha_shape: [edges, n_ops],
        normalization,
        search_network,
        eval_network: eval_net_cfg,
        latency: penalty.and_then(|p| p.settings()),
        lr_alpha: 0.0,
        budget: None,
        early_stop: None,
        metrics,
    })
}

/// A uniformly random genotype of the space, within `budget_ms` when
/// given (rejection sampling), and its predicted latency when there is a
/// table.
fn draw(
    config: &SearchConfig,
    space: &models::OpSpace,
    penalty: Option<&dyn AlphaPenalty>,
    budget_ms: Option<f64>,
    rng: &mut DataRng,
) -> Result<(Genotype, Option<f64>), SearchError> {
    for _ in 0..BUDGET_DRAWS {
        let g =
            models::genotype::random_genotype(config.relaxation, config.nodes, space, &mut |n| {
                rng.random_range(0..n)
            });
        let ms = penalty
            .map(|p| p.predicted_ms(&g))
            .filter(|ms| !ms.is_nan());
        match (budget_ms, ms) {
            (Some(b), Some(ms)) if ms > b => continue,
            _ => return Ok((g, ms)),
        }
    }
    Err(SearchError::Budget(format!(
        "no random genotype of {BUDGET_DRAWS} drawn is predicted within {} ms",
        budget_ms.unwrap_or(f64::NAN)
    )))
}

/// The `metrics.jsonl` line of candidate `k`: its val accuracy stands in
/// both accuracy columns (there is no search network), α columns are
/// empty.
fn candidate_metrics(
    k: usize,
    genotype: &Genotype,
    val_accuracy: f64,
    loss: f64,
    predicted_ms: Option<f64>,
    config: &SearchConfig,
    started: Instant,
) -> EpochMetrics {
    EpochMetrics {
        epoch: k,
        phase: "random".into(),
        lr_weights: config.lr_weights,
        loss_alpha: None,
        loss_search_train: loss,
        loss_eval_train: Some(loss),
        kd_train: None,
        search_val_accuracy: val_accuracy,
        eval_val_accuracy: Some(val_accuracy),
        eval_warmup_val_accuracy: None,
        eval_warmup_epochs: None,
        hessian_eigenvalue_normal: None,
        hessian_eigenvalue_reduce: None,
        lr_alpha: 0.0,
        alpha_std_normal: 0.0,
        alpha_std_reduce: 0.0,
        edge_std_normal: Vec::new(),
        edge_std_reduce: Vec::new(),
        min_margin_normal: 0.0,
        min_margin_reduce: 0.0,
        edge_entropy_normal: Vec::new(),
        edge_entropy_reduce: Vec::new(),
        genotype: genotype.clone(),
        alpha_normal: Vec::new(),
        alpha_reduce: Vec::new(),
        latency_penalty: None,
        predicted_latency_ms: predicted_ms,
        alpha_steps: Vec::new(),
        seconds: started.elapsed().as_secs_f64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_an_icdarts_search_s_weight_steps() {
        // Defaults: P = 2, E = 4, W = 2. 23 steps per epoch (digits):
        // 2 × 23 pretraining + 4 × 23 × (w_S + w_E + 2 warm-up epochs).
        assert_eq!(step_budget(&SearchConfig::default(), 23), 23 * (2 + 4 * 4));
        let short = SearchConfig {
            pretrain_epochs: 0,
            epochs: 1,
            warmup_epochs: 0,
            ..SearchConfig::default()
        };
        assert_eq!(step_budget(&short, 10), 20);
    }
}
