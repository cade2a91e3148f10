//! A fixed, small ICDARTS step workload for throughput tracking (`edgenas
//! bench search` and the criterion bench run it).

use std::time::Instant;

use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use models::{NetworkConfig, SearchNetworkConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::batch::Batch;
use crate::icdarts::{SearchConfig, alpha_optimizer, build_eval, init_alphas, search_step, sgd};

/// The benchmark's configuration: C=8, L=5, N=4, batch 32, 28×28×1.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchStepBench {
    pub channels: usize,
    pub layers: usize,
    pub nodes: usize,
    pub batch_size: usize,
    pub size: usize,
    pub in_channels: usize,
    pub classes: usize,
}

impl Default for SearchStepBench {
    fn default() -> Self {
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
}

fn random_batch(b: &SearchStepBench, device: &Device, seed: u64) -> Batch {
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

/// Seconds per full ICDARTS step (α, w_S, w_E updates) for `steps` timed
/// steps after `warmup` untimed ones.
pub fn search_step_times(
    bench: &SearchStepBench,
    warmup: usize,
    steps: usize,
    device: &Device,
) -> Vec<f64> {
    device.seed(0);
    let config = SearchConfig {
        channels: bench.channels,
        layers: bench.layers,
        nodes: bench.nodes,
        eval_channels: bench.channels,
        eval_layers: bench.layers,
        batch_size: bench.batch_size,
        ..SearchConfig::default()
    };
    let network = NetworkConfig::new(bench.in_channels, bench.size, bench.classes)
        .with_channels(bench.channels)
        .with_layers(bench.layers)
        .with_nodes(bench.nodes);
    let search_cfg = SearchNetworkConfig::new(network.clone(), config.space());
    let [edges, ops] = search_cfg.alpha_shape();
    let mut rng = StdRng::seed_from_u64(0);
    let mut net = search_cfg.init(device);
    let mut alphas = init_alphas(edges, ops, &mut rng, device);
    let mut opt_w = sgd(&config);
    let mut opt_alpha = alpha_optimizer(&config);
    let mut eval = Some(build_eval(&config, &network, &alphas, device));
    let bt = random_batch(bench, device, 1);
    let bv = random_batch(bench, device, 2);
    let mut times = Vec::with_capacity(steps);
    for i in 0..warmup + steps {
        let started = Instant::now();
        let (n, a, r) = search_step(
            &config,
            None,
            0.05,
            &bt,
            &bv,
            net,
            alphas,
            &mut opt_w,
            &mut opt_alpha,
            eval,
        );
        (net, alphas, eval) = (n, a, r.state);
        if i >= warmup {
            times.push(started.elapsed().as_secs_f64());
        }
    }
    times
}
