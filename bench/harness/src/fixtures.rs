//! Fixed step workloads on random data for throughput tracking: one ICDARTS
//! search step, one retraining step and one inference batch of the
//! evaluation network. `edgenas-bench` times them against the PyTorch mirror
//! in `bench/reference/`, which rebuilds exactly these workloads. Built on
//! the public API of `search` (the steps `search` and `retrain` run).

use std::collections::BTreeMap;
use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use clap::ValueEnum;
use models::{EvalNetworkConfig, Genotype, NetworkConfig, SearchNetworkConfig, discretize};
use rand::SeedableRng;
use search::RetrainConfig;
use search::batch::Batch;
use search::batch::DataRng;
use search::icdarts::{
    SearchConfig, SearchState, StepGradients, StepRates, build_eval, init_alphas,
};
use serde::{Deserialize, Serialize};

/// The weights' learning rate of the search-step workload (a fixed value in
/// the range the cosine schedule sweeps; the PyTorch mirror uses the same).
pub const SEARCH_STEP_LR: f64 = 0.05;

/// The sizes of a benchmark workload: networks built with C, L, N, trained
/// or run on batches of `batch_size` random `size`×`size`×`in_channels`
/// images.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchConfig {
    pub channels: usize,
    pub layers: usize,
    pub nodes: usize,
    pub batch_size: usize,
    pub size: usize,
    pub in_channels: usize,
    pub classes: usize,
}

impl BenchConfig {
    /// The default configuration: C=8, L=5, N=4, batch 32, 28×28×1 (the
    /// search's defaults on MNIST-sized images).
    pub fn small() -> Self {
        Self {
            channels: 8,
            layers: 5,
            nodes: 4,
            batch_size: 32,
            size: 28,
            in_channels: 1,
            classes: 10,
        }
    }

    /// C=16, L=5, N=4, batch 32, 32×32×3 (retraining's default width on
    /// CIFAR-sized images).
    pub fn large() -> Self {
        Self {
            channels: 16,
            size: 32,
            in_channels: 3,
            ..Self::small()
        }
    }

    /// C=4, L=3, N=4, batch 4, 8×8×1: every workload in well under a second,
    /// for tests. N stays 4 because the benchmark genotype has four nodes.
    pub fn tiny() -> Self {
        Self {
            channels: 4,
            layers: 3,
            nodes: 4,
            batch_size: 4,
            size: 8,
            in_channels: 1,
            classes: 10,
        }
    }

    pub fn network(&self) -> NetworkConfig {
        NetworkConfig::new(self.in_channels, self.size, self.classes)
            .with_channels(self.channels)
            .with_layers(self.layers)
            .with_nodes(self.nodes)
    }

    /// The search configuration of the search-step workload: E as wide and
    /// deep as S, the project's defaults otherwise.
    pub fn search_config(&self) -> SearchConfig {
        SearchConfig {
            channels: self.channels,
            layers: self.layers,
            nodes: self.nodes,
            eval_channels: self.channels,
            eval_layers: self.layers,
            batch_size: self.batch_size,
            ..SearchConfig::default()
        }
    }
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self::small()
    }
}

/// What one timed step does; named on the command line (`--what`) and in
/// the JSON as `edgenas_ref.py --what` names it. The variants' documentation
/// is the command line's help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
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

impl Workload {
    pub const ALL: [Workload; 3] = [Workload::SearchStep, Workload::RetrainStep, Workload::Infer];

    /// The name both implementations use (`--what` of `edgenas_ref.py`).
    pub fn name(self) -> &'static str {
        match self {
            Workload::SearchStep => "search-step",
            Workload::RetrainStep => "retrain-step",
            Workload::Infer => "infer",
        }
    }

    /// Warm-up and timed steps when none are given: about half a minute of
    /// timed work per measurement at the default configuration on two
    /// cores, more steps where a step is short and the median needs them.
    pub fn default_steps(self) -> (usize, usize) {
        match self {
            Workload::SearchStep => (1, 3),
            Workload::RetrainStep => (1, 5),
            Workload::Infer => (2, 20),
        }
    }
}

/// The genotype of the retrain-step and infer workloads: a fixed darts cell
/// pair that uses every op of the space in both cell types (identity at
/// stride 2, i.e. FactorizedReduce, included). The PyTorch mirror reads the
/// same file.
pub fn bench_genotype() -> Genotype {
    const JSON: &str = include_str!("../../reference/default_genotype.json");
    Genotype::from_json(JSON).expect("bench/reference/default_genotype.json is a valid genotype")
}

/// The genotype of E in the search-step workload: the discretized initial α
/// (seed 0), which is what [`search_step_times`] builds E from.
pub fn search_eval_genotype(bench: &BenchConfig) -> Genotype {
    let config = bench.search_config();
    let search_cfg = SearchNetworkConfig::new(bench.network(), config.space());
    let [edges, ops] = search_cfg.alpha_shape();
    let alphas = init_alphas(edges, ops, &mut DataRng::seed_from_u64(0), &Device::flex());
    let (normal, reduce) = alphas.to_values();
    discretize(
        &normal,
        &reduce,
        &config.space(),
        config.nodes,
        config.relaxation,
    )
}

/// Trainable parameters of the networks `workload` builds, under the names
/// the PyTorch mirror reports them (`params` in its JSON), so a comparison
/// can check that both sides built the same networks. Counted as PyTorch's
/// `parameters()` are: burn's `num_params` also counts BN running
/// statistics and the frozen γ, β of non-affine BN.
pub fn param_counts(workload: Workload, bench: &BenchConfig) -> BTreeMap<&'static str, usize> {
    let device = Device::flex().autodiff();
    let eval = |genotype: Genotype, auxiliary: bool| {
        trainable_params(
            &EvalNetworkConfig::new(bench.network(), genotype)
                .with_auxiliary(auxiliary)
                .init(&device),
        )
    };
    match workload {
        Workload::SearchStep => {
            let config = bench.search_config();
            let search_cfg = SearchNetworkConfig::new(bench.network(), config.space());
            let [edges, ops] = search_cfg.alpha_shape();
            BTreeMap::from([
                ("search_net", trainable_params(&search_cfg.init(&device))),
                ("eval_net", eval(search_eval_genotype(bench), false)),
                ("alphas", 2 * edges * ops),
            ])
        }
        Workload::RetrainStep => BTreeMap::from([(
            "eval_net",
            eval(bench_genotype(), retrain_step_settings().aux_weight > 0.0),
        )]),
        Workload::Infer => BTreeMap::from([("eval_net", eval(bench_genotype(), false))]),
    }
}

/// Elements of the parameters of `module` that receive gradients (the
/// module must live on an autodiff device).
fn trainable_params<M: Module>(module: &M) -> usize {
    struct Count(usize);
    impl ModuleVisitor for Count {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if param.val().is_require_grad() {
                self.0 += param.lazy_shape().num_elements();
            }
        }
    }
    let mut count = Count(0);
    module.visit(&mut count);
    count.0
}

/// A batch of N(0, 1) images with labels `(i·7 + seed) mod classes`.
fn random_batch(b: &BenchConfig, device: &Device, seed: u64) -> Batch {
    let images = Tensor::<4>::random(
        [b.batch_size, b.in_channels, b.size, b.size],
        Distribution::Normal(0.0, 1.0),
        device,
    );
    let labels_host: Vec<u8> = (0..b.batch_size)
        .map(|i| ((i as u64 * 7 + seed) % b.classes as u64) as u8)
        .collect();
    let labels = Tensor::<1, Int>::from_data(
        TensorData::new(
            labels_host.iter().map(|&l| l as i64).collect::<Vec<_>>(),
            [b.batch_size],
        ),
        device,
    );
    Batch {
        images,
        labels,
        labels_host,
    }
}

/// Seconds per step of `workload` for `steps` timed steps after `warmup`
/// untimed ones. `device` is a training (autodiff) device; inference runs
/// on its inner device, as retraining's test pass does.
pub fn step_times(
    workload: Workload,
    bench: &BenchConfig,
    warmup: usize,
    steps: usize,
    device: &Device,
) -> Vec<f64> {
    match workload {
        Workload::SearchStep => search_step_times(bench, warmup, steps, device),
        Workload::RetrainStep => retrain_step_times(bench, warmup, steps, device),
        Workload::Infer => infer_times(bench, warmup, steps, device),
    }
}

/// Runs `step` `warmup + steps` times and returns the durations of the last
/// `steps`.
fn time_steps(warmup: usize, steps: usize, mut step: impl FnMut()) -> Vec<f64> {
    let mut times = Vec::with_capacity(steps);
    for i in 0..warmup + steps {
        let started = Instant::now();
        step();
        if i >= warmup {
            times.push(started.elapsed().as_secs_f64());
        }
    }
    times
}

/// Seconds per full ICDARTS step (α, w_S, w_E updates) for `steps` timed
/// steps after `warmup` untimed ones.
pub fn search_step_times(
    bench: &BenchConfig,
    warmup: usize,
    steps: usize,
    device: &Device,
) -> Vec<f64> {
    device.seed(0);
    let config = bench.search_config();
    let network = bench.network();
    let search_cfg = SearchNetworkConfig::new(network.clone(), config.space());
    let [edges, ops] = search_cfg.alpha_shape();
    let mut rng = DataRng::seed_from_u64(0);
    let net = search_cfg.init(device);
    let alphas = init_alphas(edges, ops, &mut rng, device);
    let eval = Some(build_eval(&config, &network, &alphas, device));
    let bt = random_batch(bench, device, 1);
    let bv = random_batch(bench, device, 2);
    // The step consumes and returns the state; `Option` lets the closure
    // move it out and back.
    let mut state = Some(SearchState::new(&config, net, alphas, eval));
    time_steps(warmup, steps, || {
        let current = state.take().expect("state is put back after each step");
        let (next, _) = current.step(
            &config,
            None,
            &StepRates::uniform(&config, SEARCH_STEP_LR),
            &bt,
            &bv,
            StepGradients::Needed,
        );
        state = Some(next);
    })
}

/// The optimizer and loss settings of the retrain-step workload:
/// retraining's defaults (SGD lr 0.025, momentum 0.9, weight decay 5e-4,
/// clipping at 5, auxiliary weight 0.4) with drop-path at its final value
/// 0.1, the most work its linear schedule asks for.
pub fn retrain_step_settings() -> RetrainConfig {
    RetrainConfig::default()
}

/// Seconds per retraining step of the evaluation network of
/// [`bench_genotype`] with its auxiliary head, at a constant learning rate.
///
/// Each step is `search::retrain::train_step`, the step `retrain` runs,
/// bookkeeping included (the correct-prediction count and the loss read
/// back to the host).
pub fn retrain_step_times(
    bench: &BenchConfig,
    warmup: usize,
    steps: usize,
    device: &Device,
) -> Vec<f64> {
    device.seed(0);
    let settings = retrain_step_settings();
    let with_aux = settings.aux_weight > 0.0;
    let model = EvalNetworkConfig::new(bench.network(), bench_genotype())
        .with_auxiliary(with_aux)
        .init(device);
    let mut optim = search::retrain::optimizer(&settings);
    let b = random_batch(bench, device, 1);
    let mut model = Some(model);
    time_steps(warmup, steps, || {
        let m = model.take().expect("model is put back after each step");
        let (m, _loss, _right, _norm) = search::retrain::train_step(
            &settings,
            m,
            &mut optim,
            &b,
            settings.lr,
            settings.drop_path,
        );
        model = Some(m);
    })
}

/// Seconds per inference batch: logits of the evaluation network of
/// [`bench_genotype`] (no auxiliary head) in inference mode, read back to
/// the host as class predictions.
pub fn infer_times(bench: &BenchConfig, warmup: usize, steps: usize, device: &Device) -> Vec<f64> {
    device.seed(0);
    let model = EvalNetworkConfig::new(bench.network(), bench_genotype())
        .init(device)
        .valid();
    let inference = device.clone().inner();
    let x = random_batch(bench, &inference, 1).images;
    time_steps(warmup, steps, || {
        // Reading the predictions back waits for the whole forward pass.
        let _predictions = model.logits(x.clone()).argmax(1).into_data();
    })
}

/// Summary of a timed run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepSummary {
    /// Upper median (`sorted[n / 2]`), seconds.
    pub median_s: f64,
    pub mean_s: f64,
    /// Batch size ÷ median.
    pub images_per_s: f64,
}

impl StepSummary {
    /// `None` when `times` is empty.
    pub fn of(times: &[f64], batch_size: usize) -> Option<Self> {
        if times.is_empty() {
            return None;
        }
        let mut sorted = times.to_vec();
        sorted.sort_by(f64::total_cmp);
        let median_s = sorted[sorted.len() / 2];
        Some(Self {
            median_s,
            mean_s: times.iter().sum::<f64>() / times.len() as f64,
            images_per_s: batch_size as f64 / median_s,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The PyTorch mirror builds the search step's E from a checked-in copy
    /// of this genotype; a change to α's initialization must update it.
    #[test]
    fn search_eval_genotype_matches_the_reference_copy() {
        const JSON: &str = include_str!("../../reference/search_eval_genotype.json");
        let reference = Genotype::from_json(JSON).unwrap();
        assert_eq!(search_eval_genotype(&BenchConfig::small()), reference);
        // The genotype depends on N only, not on the sizes.
        assert_eq!(search_eval_genotype(&BenchConfig::large()), reference);
    }

    #[test]
    fn bench_genotype_is_valid_for_every_config() {
        let genotype = bench_genotype();
        genotype.validate().unwrap();
        for config in [
            BenchConfig::small(),
            BenchConfig::large(),
            BenchConfig::tiny(),
        ] {
            assert_eq!(config.nodes, genotype.n_nodes);
        }
    }

    #[test]
    fn every_workload_runs_on_the_tiny_config() {
        let device = Device::flex().autodiff();
        for workload in Workload::ALL {
            let times = step_times(workload, &BenchConfig::tiny(), 0, 2, &device);
            assert_eq!(times.len(), 2, "{workload:?}");
            assert!(times.iter().all(|t| *t > 0.0), "{workload:?}: {times:?}");
        }
    }

    #[test]
    fn summary_takes_the_upper_median() {
        let s = StepSummary::of(&[3.0, 1.0, 2.0, 4.0], 8).unwrap();
        assert_eq!(s.median_s, 3.0);
        assert_eq!(s.mean_s, 2.5);
        assert_eq!(s.images_per_s, 8.0 / 3.0);
        assert_eq!(StepSummary::of(&[], 8), None);
    }
}
