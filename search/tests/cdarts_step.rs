//! One CDARTS step (dissertation Eq. 3.4–3.7) against its definition
//! computed term by term: α and w_E follow L^S_val + L^E_val + λ·KD_val
//! with KD's gradient reaching E as well as α, and w_S follows L^S_train
//! alone (no KD), after α's update.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
mod common;

use burn::tensor::{Device, Tensor};
use models::{NetworkConfig, SearchNetworkConfig};
use rand::SeedableRng;
use search::batch::DataRng;
use search::icdarts::{
    SearchState, StepGradients, StepRates, alpha_optimizer, build_eval, init_alphas, sgd,
};
use search::train::{clipped_step, cross_entropy, distillation, mutual_distillation};
use search::{Algo, SearchConfig};

fn values<M: Module>(m: &M) -> Vec<f32> {
    struct All(Vec<f32>);
    impl ModuleVisitor for All {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let d = p.val().into_data().convert::<f32>();
            self.0.extend(d.as_slice::<f32>().unwrap());
        }
    }
    let mut all = All(Vec::new());
    m.visit(&mut all);
    all.0
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    let scale = want.iter().map(|v| v.abs()).fold(1e-6f32, f32::max);
    let worst = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs() / scale)
        .fold(0.0f32, f32::max);
    assert!(
        worst <= 1e-5,
        "{what}: largest difference {worst:e} of the scale"
    );
}

#[test]
fn a_cdarts_step_follows_equations_3_4_to_3_6() {
    let device = Device::flex().autodiff();
    let config = SearchConfig {
        algo: Algo::Cdarts,
        channels: 4,
        layers: 3,
        nodes: 2,
        eval_channels: 4,
        eval_layers: 3,
        batch_size: 6,
        lr_alpha: Some(0.01),
        kd_lambda: 0.7,
        ..SearchConfig::default()
    };
    let network = NetworkConfig::new(1, 8, 4)
        .with_channels(4)
        .with_layers(3)
        .with_nodes(2);
    let search_cfg = SearchNetworkConfig::new(network.clone(), config.space());
    let [edges, ops] = search_cfg.alpha_shape();
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
    let rates = StepRates::uniform(&config, 0.05);

    let (net, alphas, eval, bt, bv) = start();
    let state = SearchState::new(&config, net, alphas, Some(eval));
    let (state, losses) = state.step(&config, None, &rates, &bt, &bv, StepGradients::Needed);
    assert!(losses.kd.is_some() && losses.loss_eval.is_some());

    // α: Adam on L^S_val + L^E_val + λ·KD_val; only S's terms depend on α,
    // and for α's gradient E is a constant.
    let (net, alphas, (e, _), _, bv) = start();
    let logits_s = net.clone().no_grad().forward(bv.images.clone(), &alphas);
    let teacher = e.logits(bv.images.clone());
    let loss = cross_entropy(logits_s.clone(), bv.labels.clone())
        + distillation(logits_s, teacher, config.kd_temperature).mul_scalar(config.kd_lambda);
    let mut grads = loss.backward();
    let g = GradientsParams::from_module(&mut grads, &alphas);
    let alphas_after = alpha_optimizer(&config).step(rates.alpha, alphas, g);
    assert_close(&values(&state.alphas), &values(&alphas_after), "α");

    // w_E: SGD on L^E_val + λ·KD_val with S's logits constant: KD pulls E
    // towards S (ICDARTS detaches E instead and trains it on train).
    let (net, alphas, (e, mut opt_e), _, bv) = start();
    let student = net
        .clone()
        .no_grad()
        .forward(bv.images.clone(), &alphas.clone().no_grad())
        .detach();
    let logits_e = e.logits(bv.images.clone());
    let loss = cross_entropy(logits_e.clone(), bv.labels.clone())
        + mutual_distillation(student, logits_e, config.kd_temperature)
            .mul_scalar(config.kd_lambda);
    let mut grads = loss.backward();
    let (e_after, _) = clipped_step(&mut opt_e, rates.eval, e, &mut grads, config.grad_clip);
    let (e_step, _) = state.eval.as_ref().unwrap();
    assert_close(&values(e_step), &values(&e_after), "w_E");

    // Without KD's gradient into E, its update would differ.
    let (net, alphas, (e, mut opt_e), _, bv) = start();
    let _ = (net, alphas);
    let loss = cross_entropy(e.logits(bv.images.clone()), bv.labels.clone());
    let mut grads = loss.backward();
    let (e_ce_only, _) = clipped_step(&mut opt_e, rates.eval, e, &mut grads, config.grad_clip);
    assert_ne!(values(e_step), values(&e_ce_only), "KD reaches E");

    // w_S: SGD on L^S_train alone, with the updated α. (The joint step's
    // forward pass of S on the val batch moved S's BatchNorm running
    // statistics, which the visitor reads too: the reference makes it.)
    let (net, alphas, _, bt, bv) = start();
    // (Reading every parameter first initializes the lazy ones, so that
    // `no_grad` on the clone leaves the original trainable.)
    let _ = values(&net);
    let _ = net.clone().no_grad().forward(bv.images.clone(), &alphas);
    let mut opt_w = sgd(&config);
    let loss = cross_entropy(
        net.forward(bt.images.clone(), &alphas_after.clone().no_grad()),
        bt.labels.clone(),
    );
    let mut grads = loss.backward();
    let (net_after, _) = clipped_step(&mut opt_w, rates.search, net, &mut grads, config.grad_clip);
    assert_close(&values(&state.net), &values(&net_after), "w_S");
}
