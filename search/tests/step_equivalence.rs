//! The optimized search step gives the same updates as the straightforward
//! one: each backward pass computes only the gradients its update uses
//! (against every gradient computed, the unused ones dropped), and the custom
//! kernels of `models::kernels` (against burn's own ops, bit for bit).
//!
//! One test only: the kernel choice is process-wide, so no other test may run
//! beside it in this binary.

mod common;

use burn::tensor::{Device, Tensor};
use models::{NetworkConfig, SearchNetworkConfig};
use rand::SeedableRng;
use search::batch::DataRng;
use search::icdarts::{SearchState, StepGradients, StepRates, build_eval, init_alphas};
use search::{AlphaPenalty, PenaltyTerm, SearchConfig};

/// Penalizes the softmax weight of op 4 (sep_conv_5x5 in V1), so the α
/// objective has the extra term the latency penalty adds.
struct Term;

impl AlphaPenalty for Term {
    fn expected(&self, alphas: &models::Alphas, _: models::Relaxation) -> Tensor<1> {
        let [edges, _] = alphas.normal.val().dims();
        burn::tensor::activation::softmax(alphas.normal.val(), 1)
            .slice([0..edges, 4..5])
            .sum()
            .mul_scalar(0.3)
    }
}

fn max_rel_diff(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = a.iter().map(|v| v.abs()).fold(0f32, f32::max).max(1e-6) as f64;
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() as f64 / scale)
        .fold(0.0, f64::max)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn optimized_step_gives_the_same_updates_as_the_reference_step() {
    let device = Device::flex().autodiff();
    device.seed(0);
    let config = SearchConfig {
        channels: 4,
        layers: 3,
        nodes: 2,
        eval_channels: 4,
        eval_layers: 3,
        batch_size: 6,
        lr_alpha: Some(0.01),
        ..SearchConfig::default()
    };
    let network = NetworkConfig::new(1, 8, 4)
        .with_channels(4)
        .with_layers(3)
        .with_nodes(2);
    let search_cfg = SearchNetworkConfig::new(network.clone(), config.space());
    let [edges, ops] = search_cfg.alpha_shape();
    // Each run builds its own networks from the same seed: clones would
    // share the BN running statistics, which E's teacher pass reads.
    let start = || {
        device.seed(0);
        let net = search_cfg.init(&device);
        let alphas = init_alphas(edges, ops, &mut DataRng::seed_from_u64(0), &device);
        let eval = build_eval(&config, &network, &alphas, &device);
        (
            net,
            alphas,
            eval,
            common::random_batch(&device, 1),
            common::random_batch(&device, 2),
        )
    };
    let alphas0 = start().1;

    let run = |mode: StepGradients, reference_kernels: bool| {
        models::kernels::use_reference_kernels(reference_kernels);
        let (net, alphas, eval, bt, bv) = start();
        let mut state = SearchState::new(&config, net, alphas, Some(eval));
        let mut losses = Vec::new();
        for _ in 0..3 {
            let r;
            (state, r) = state.step(
                &config,
                Some(PenaltyTerm {
                    penalty: &Term,
                    coef: 1.0,
                }),
                &StepRates::uniform(&config, 0.05),
                &bt,
                &bv,
                mode,
            );
            losses.extend([r.loss_alpha, r.loss_search, r.loss_eval.unwrap()]);
            // Both updates happened: the weights still take gradients.
            let loss = state.net.forward(bt.images.clone(), &state.alphas).sum();
            let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &state.net);
            assert!(!grads.is_empty(), "{mode:?}: S lost its gradients");
        }
        let (e, _) = state.eval.unwrap();
        let (net, alphas) = (state.net, state.alphas);
        let logits_s = values(net.forward(bt.images.clone(), &alphas));
        let logits_e = values(e.logits(bt.images.clone()));
        let alpha = [values(alphas.normal.val()), values(alphas.reduce.val())].concat();
        models::kernels::use_reference_kernels(false);
        (losses, alpha, logits_s, logits_e)
    };
    let fast = run(StepGradients::Needed, false);
    let burn = run(StepGradients::Needed, true);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let loss_bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        loss_bits(&fast.0),
        loss_bits(&burn.0),
        "burn's kernels: losses"
    );
    assert_eq!(bits(&fast.1), bits(&burn.1), "burn's kernels: α");
    assert_eq!(bits(&fast.2), bits(&burn.2), "burn's kernels: S logits");
    assert_eq!(bits(&fast.3), bits(&burn.3), "burn's kernels: E logits");
    for (name, reference) in [
        ("all gradients", run(StepGradients::All, false)),
        ("burn's kernels", burn),
    ] {
        for (f, r) in fast.0.iter().zip(&reference.0) {
            assert!(
                (f - r).abs() <= 1e-5 * r.abs().max(1.0),
                "{name}: loss {f} vs {r}"
            );
        }
        for (what, f, r) in [
            ("α", &fast.1, &reference.1),
            ("S logits", &fast.2, &reference.2),
            ("E logits", &fast.3, &reference.3),
        ] {
            let d = max_rel_diff(f, r);
            assert!(d <= 1e-5, "{name}: {what}: max relative difference {d}");
        }
    }
    // The steps did move α (the comparison is not between two no-ops).
    let moved = max_rel_diff(
        &fast.1,
        &values(alphas0.normal.val())
            .into_iter()
            .chain(values(alphas0.reduce.val()))
            .collect::<Vec<_>>(),
    );
    assert!(moved > 1e-3, "α moved by only {moved}");
}
