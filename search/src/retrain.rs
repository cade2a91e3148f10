//! Retraining (docs/algorithms.md §6): the evaluation network built from a genotype is
//! trained from scratch on the full training split and tested on the test
//! split; the reported metric is the final epoch's, not the best epoch's.

use std::time::Instant;

pub use artifacts::{RetrainConfig, RetrainEpoch};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::optim::SgdConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::tensor::Device;
use datasets::{Dataset, Normalization};
use models::{EvalNetwork, EvalNetworkConfig, Genotype, NetworkConfig};
use rand::SeedableRng;

use crate::SearchError;
use crate::batch::{Augment, Batch, Batches, DataRng};
pub use crate::checkpoint::Checkpoints;
use crate::icdarts::accuracy;
use crate::progress::Progress;
use crate::train::{clipped_step, correct, cosine_lr, cross_entropy};

/// What retraining produces.
pub struct RetrainOutcome {
    pub model: EvalNetwork,
    pub network: NetworkConfig,
    pub normalization: Normalization,
    /// Final-epoch accuracy (%) on the test split.
    pub test_accuracy: f64,
    pub test_samples: usize,
    pub epochs: Vec<RetrainEpoch>,
}

/// A retraining between two epochs or, when a signal stopped it, between
/// two steps, complete enough to continue it bit for bit: the weights
/// (BatchNorm running statistics synced first) and the SGD state as burn
/// records, the data RNG, the step count, the epochs done and the epoch in
/// progress. Each step reseeds burn's device RNG (drop-path masks) from the
/// seed and the step, since that RNG's state cannot be read.
pub struct RetrainState {
    pub epochs: Vec<RetrainEpoch>,
    pub step: usize,
    pub rng: DataRng,
    pub partial: Option<PartialEpoch>,
    pub weights: burn::store::ModuleRecord,
    pub optimizer: burn::optim::OptimizerRecord,
}

/// An epoch stopped between two steps: its image order, how many steps it
/// made and its running sums.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PartialEpoch {
    pub order: Vec<usize>,
    pub steps_done: usize,
    pub loss_sum: f64,
    pub right: usize,
    /// Seconds the epoch ran before it stopped.
    pub seconds: f64,
}

/// The seed of burn's device RNG for `epoch` (or step) of a run seeded
/// with `seed`.
pub fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The evaluation network configuration retraining builds for `data`.
pub fn retrain_network(
    config: &RetrainConfig,
    genotype: &Genotype,
    data: &Dataset,
) -> NetworkConfig {
    NetworkConfig::new(data.channels, data.height, data.num_classes)
        .with_channels(config.channels)
        .with_layers(config.layers)
        .with_nodes(genotype.n_nodes)
}

/// Trains the evaluation network of `genotype` from scratch on `data`.
pub fn retrain(
    config: &RetrainConfig,
    genotype: &Genotype,
    data: &Dataset,
    device: &Device,
    progress: &dyn Progress,
    on_epoch: &mut dyn FnMut(&RetrainEpoch) -> Result<(), SearchError>,
) -> Result<RetrainOutcome, SearchError> {
    retrain_resumable(
        config,
        genotype,
        data,
        device,
        progress,
        on_epoch,
        Checkpoints::none(),
    )
}

/// [`retrain`], continuing from `checkpoints.resume` when given and handing
/// the state after every epoch to `checkpoints.save`. A resumed run ends
/// with the same weights, bit for bit, as one that was never interrupted.
pub fn retrain_resumable(
    config: &RetrainConfig,
    genotype: &Genotype,
    data: &Dataset,
    device: &Device,
    progress: &dyn Progress,
    on_epoch: &mut dyn FnMut(&RetrainEpoch) -> Result<(), SearchError>,
    mut checkpoints: Checkpoints<RetrainState>,
) -> Result<RetrainOutcome, SearchError> {
    genotype
        .validate()
        .map_err(|e| SearchError::Config(format!("genotype: {e}")))?;
    config.validate()?;
    device.seed(config.seed);
    let mut rng = DataRng::seed_from_u64(config.seed);
    let train_split = match config.train_subset {
        Some(n) => data.train.sample(n, config.seed),
        None => data.train.clone(),
    };
    let size = data.height;
    let normalization = Normalization::from_split(&train_split, data.channels, size, size);
    let train = Batches::new(&train_split, &normalization, data.channels, size);
    let test = Batches::new(&data.test, &normalization, data.channels, size);

    let network = retrain_network(config, genotype, data);
    let with_aux = config.aux_weight > 0.0;
    let mut model = EvalNetworkConfig::new(network.clone(), genotype.clone())
        .with_auxiliary(with_aux)
        .with_zero(config.zero)
        .init(device);
    let mut optim = optimizer(config);
    log::info!(
        "retrain {} params on {} images ({} test)",
        model.num_params(),
        train.len(),
        test.len()
    );

    let steps_per_epoch = train.len().div_ceil(config.batch_size);
    let total = config.epochs * steps_per_epoch;
    let mut step = 0;
    let mut epochs = Vec::new();
    let mut partial = None;
    if let Some(state) = checkpoints.resume {
        let bad = |what: &str, e: String| SearchError::Config(format!("checkpoint {what}: {e}"));
        model = model
            .try_load_record(state.weights)
            .map_err(|e| bad("weights", e.to_string()))?;
        optim = optim.load_record(state.optimizer);
        rng = state.rng;
        step = state.step;
        epochs = state.epochs;
        let steps_into = state.partial.as_ref().map_or(0, |p| p.steps_done);
        if epochs.len() > config.epochs
            || step != epochs.len() * steps_per_epoch + steps_into
            || steps_into > steps_per_epoch
            || state
                .partial
                .as_ref()
                .is_some_and(|p| p.order.len() != train.len() || epochs.len() == config.epochs)
        {
            return Err(bad(
                "state",
                format!(
                    "{} epochs and {step} steps done do not fit this run ({} epochs of {steps_per_epoch} steps)",
                    epochs.len(),
                    config.epochs
                ),
            ));
        }
        log::info!(
            "resuming the retraining after epoch {} of {}{}",
            epochs.len(),
            config.epochs,
            if steps_into > 0 {
                format!(" and {steps_into} steps of the next")
            } else {
                String::new()
            }
        );
        partial = state.partial;
    }
    for epoch in epochs.len()..config.epochs {
        let started = Instant::now();
        let drop_prob = config.drop_path * epoch as f64 / config.epochs as f64;
        // An epoch a signal stopped continues with its own order and sums.
        let PartialEpoch {
            order,
            steps_done,
            mut loss_sum,
            mut right,
            seconds: seconds_before,
        } = partial.take().unwrap_or_else(|| PartialEpoch {
            order: train.shuffled(&mut rng),
            steps_done: 0,
            loss_sum: 0.0,
            right: 0,
            seconds: 0.0,
        });
        let bar = progress.start(
            &format!("retrain {}/{}", epoch + 1, config.epochs),
            steps_per_epoch,
        );
        if steps_done > 0 {
            bar.set(steps_done, steps_per_epoch, "");
        }
        for (i, chunk) in order.chunks(config.batch_size).enumerate().skip(steps_done) {
            device.seed(epoch_seed(config.seed, step));
            let lr = cosine_lr(config.lr, step, total);
            let augment = Augment {
                crop_padding: config.crop_padding,
                cutout: config.cutout,
            };
            let b = train.augmented_batch(chunk, augment, Some(&mut rng), device);
            let (next, loss, batch_right, grad_norm) =
                train_step(config, model, &mut optim, &b, lr, drop_prob);
            model = next;
            right += batch_right;
            let at = crate::At {
                phase: "retrain",
                epoch,
                step,
            };
            loss_sum += at.finite("the training loss", loss)?;
            at.finite("the gradient norm", grad_norm)?;
            step += 1;
            bar.inc();
            if (checkpoints.stop)() {
                let _ = model.valid();
                (checkpoints.save)(RetrainState {
                    epochs: epochs.clone(),
                    step,
                    rng: rng.clone(),
                    partial: Some(PartialEpoch {
                        order: order.clone(),
                        steps_done: i + 1,
                        loss_sum,
                        right,
                        seconds: seconds_before + started.elapsed().as_secs_f64(),
                    }),
                    weights: model.clone().into_record(),
                    optimizer: optim.to_record(),
                })?;
                return Err(at.interrupted());
            }
        }
        bar.finish();
        let record = RetrainEpoch {
            epoch,
            lr: cosine_lr(config.lr, step, total),
            drop_path: drop_prob,
            train_loss: loss_sum / steps_per_epoch as f64,
            train_accuracy: 100.0 * right as f64 / train.len() as f64,
            seconds: seconds_before + started.elapsed().as_secs_f64(),
        };
        log::info!(
            "retrain epoch {}: loss {:.4}, train acc {:.2}% ({:.1}s)",
            epoch,
            record.train_loss,
            record.train_accuracy,
            record.seconds
        );
        on_epoch(&record)?;
        epochs.push(record);
        // Sync the BatchNorm running statistics (a pending per-thread
        // update is otherwise missing from the record), then hand over the
        // state; both paths sync, so resumed and uninterrupted runs agree.
        let _ = model.valid();
        // A checkpoint is always a good one: weights the last step of the
        // epoch turned into NaN stop the run here.
        let bad = crate::train::non_finite_values(&model);
        if bad > 0 {
            return Err(SearchError::NonFinite {
                quantity: format!("a trained weight ({bad} of them)"),
                value: f64::NAN,
                phase: "retrain",
                epoch,
                step,
            });
        }
        (checkpoints.save)(RetrainState {
            epochs: epochs.clone(),
            step,
            rng: rng.clone(),
            partial: None,
            weights: model.clone().into_record(),
            optimizer: optim.to_record(),
        })?;
    }

    let inference = device.clone().inner();
    let valid = model.valid();
    let test_accuracy = accuracy(&test, 256, &inference, |x| valid.logits(x));
    log::info!("final-epoch test accuracy {test_accuracy:.2}%");
    Ok(RetrainOutcome {
        model,
        network,
        normalization,
        test_accuracy,
        test_samples: test.len(),
        epochs,
    })
}

/// The retraining optimizer: SGD with `config`'s momentum and weight decay.
pub fn optimizer(config: &RetrainConfig) -> ModuleOptimizer {
    SgdConfig::new()
        .with_momentum(Some(MomentumConfig::new().with_momentum(config.momentum)))
        .with_weight_decay(Some(WeightDecayConfig::new(config.weight_decay as f32)))
        .init()
}

/// One retraining step on `batch`: forward with drop-path `drop_prob` (and
/// the auxiliary head when `config.aux_weight > 0`), CE + aux_weight · aux
/// CE, backward, global-norm clipping, SGD step at `lr`. Returns the
/// updated model, the loss, the batch's correct predictions and the
/// gradient's global norm before clipping.
pub fn train_step(
    config: &RetrainConfig,
    model: EvalNetwork,
    optim: &mut ModuleOptimizer,
    batch: &Batch,
    lr: f64,
    drop_prob: f64,
) -> (EvalNetwork, f64, usize, f64) {
    let with_aux = config.aux_weight > 0.0;
    let out = model.forward(batch.images.clone(), drop_prob, with_aux);
    let right = correct(out.logits.clone(), &batch.labels_host);
    let mut loss = cross_entropy(out.logits, batch.labels.clone());
    if let Some(aux) = out.aux_logits {
        loss = loss + cross_entropy(aux, batch.labels.clone()).mul_scalar(config.aux_weight);
    }
    let loss_value = loss.clone().into_scalar::<f32>() as f64;
    let mut grads = loss.backward();
    let (model, grad_norm) = clipped_step(optim, lr, model, &mut grads, config.grad_clip);
    (model, loss_value, right, grad_norm)
}
