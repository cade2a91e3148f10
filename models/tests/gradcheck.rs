//! Finite-difference checks of the gradient with respect to α: of one mixed
//! operation's output, and of a whole search network's loss under each
//! relaxation.

use burn::module::Param;
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use models::kernels;
use models::network::{MixedOp, mixing_weights};
use models::ops::Op;
use models::space::{OpKind, SpaceKind};
use models::{Alphas, NetworkConfig, OpSpace, Relaxation, SearchNetworkConfig, ZeroConfig};

/// burn's RNG is global: the tests take turns so that each one initializes
/// its network from the same seeded sequence on every run.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn device() -> Device {
    let device = Device::flex().autodiff();
    device.seed(7);
    device
}

fn tensor2(values: &[f32], shape: [usize; 2], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values.to_vec(), shape), device)
}

/// Compares ∂f/∂α from autodiff with central differences, entry by entry.
/// `eps` is the central-difference step: small enough that ReLU and max-pool
/// kinks are rarely crossed, large enough for f32 round-off.
fn check(
    label: &str,
    alpha: &[f32],
    shape: [usize; 2],
    eps: f32,
    f: impl Fn(Tensor<2>) -> Tensor<1>,
    device: &Device,
) {
    let a = tensor2(alpha, shape, device).require_grad();
    let grads = f(a.clone()).backward();
    let analytic = a
        .grad(&grads)
        .expect("α has a gradient")
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let eval =
        |values: &[f32]| -> f64 { f(tensor2(values, shape, device)).into_scalar::<f32>() as f64 };
    let scale = analytic.iter().fold(0f32, |m, g| m.max(g.abs())) as f64;
    assert!(
        scale > 1e-4,
        "{label}: gradient is numerically zero ({scale})"
    );
    // f32 round-off of f(α ± eps) bounds how well a difference quotient can
    // resolve an entry; entries below that bound are checked against it.
    let round_off = 16.0 * eval(alpha).abs() * f32::EPSILON as f64 / eps as f64;
    let (mut diff_sq, mut norm_sq) = (0.0, 0.0);
    for i in 0..alpha.len() {
        let mut plus = alpha.to_vec();
        plus[i] += eps;
        let mut minus = alpha.to_vec();
        minus[i] -= eps;
        let numeric = (eval(&plus) - eval(&minus)) / (2.0 * eps as f64);
        let err = (numeric - analytic[i] as f64).abs();
        diff_sq += err * err;
        norm_sq += (analytic[i] as f64).powi(2);
        assert!(
            err <= 2e-2 * scale + round_off,
            "{label}: entry {i}: autodiff {} vs finite difference {numeric} (scale {scale}, round-off {round_off})",
            analytic[i]
        );
    }
    let relative = (diff_sq / norm_sq).sqrt();
    assert!(
        relative < 1e-2,
        "{label}: relative gradient error {relative}"
    );
}

#[test]
fn mixed_op_output_gradient_matches_finite_differences() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let device = device();
    for (kind, zero) in [
        (SpaceKind::Darts, ZeroConfig::V1),
        (SpaceKind::Darts, ZeroConfig::V0),
        (SpaceKind::Simple, ZeroConfig::V1),
        (SpaceKind::Basic, ZeroConfig::V1),
        (SpaceKind::Mbconv, ZeroConfig::V1),
    ] {
        let space = OpSpace::of(kind, zero);
        for stride in [1, 2] {
            let op = MixedOp::new(&space, 4, stride, &device);
            let x = Tensor::<4>::random([2, 4, 6, 6], Distribution::Normal(0.0, 1.0), &device);
            let out_shape = [2, 4, 6 / stride, 6 / stride];
            let r = Tensor::<4>::random(out_shape, Distribution::Normal(0.0, 1.0), &device);
            let n = space.len();
            let alpha: Vec<f32> = (0..n).map(|i| 0.3 * (i as f32 - 2.0).sin()).collect();
            check(
                &format!("mixed op, space {kind}, {zero:?}, stride {stride}"),
                &alpha,
                [1, n],
                1e-2,
                |a| {
                    let w = mixing_weights(a, Relaxation::Darts, 1).slice([0..1, 0..n]);
                    (op.forward(x.clone(), w) * r.clone()).sum()
                },
                &device,
            );
        }
    }
}

#[test]
fn search_network_loss_gradient_matches_finite_differences() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let device = device();
    for relaxation in [Relaxation::Darts, Relaxation::IDarts, Relaxation::XDarts] {
        let network = NetworkConfig::new(1, 6, 3)
            .with_channels(2)
            .with_layers(3)
            .with_nodes(2);
        let cfg = SearchNetworkConfig::new(network, OpSpace::darts(ZeroConfig::V1))
            .with_relaxation(relaxation);
        let net = cfg.init(&device);
        let [edges, ops] = cfg.alpha_shape();
        let x = Tensor::<4>::random([4, 1, 6, 6], Distribution::Normal(0.0, 1.0), &device);
        let fixed_reduce: Vec<f32> = (0..edges * ops).map(|i| 0.01 * (i as f32).cos()).collect();
        let normal: Vec<f32> = (0..edges * ops)
            .map(|i| 0.2 * (0.7 * i as f32).sin())
            .collect();
        // A smooth scalar of the logits (cross-entropy would do too).
        check(
            &format!("search network, {relaxation} cells"),
            &normal,
            [edges, ops],
            1e-3,
            |a| {
                let alphas = Alphas {
                    normal: Param::from_tensor(a),
                    reduce: Param::from_tensor(tensor2(&fixed_reduce, [edges, ops], &device)),
                };
                let logits = net.forward(x.clone(), &alphas);
                logits.clone().mul(logits).sum()
            },
            &device,
        );
    }
}

/// The search network with the search phase's distillation heads: α's
/// gradient also flows through the heads on the reduction cells. The heads'
/// batch norms over a small batch put thousands of ReLU inputs near their
/// kinks, so single entries of a central difference are unreliable there;
/// the check is on directional derivatives g·v along random directions v,
/// which sum over all entries.
#[test]
fn search_network_gradient_with_distillation_heads_matches_directional_differences() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let device = device();
    let network = NetworkConfig::new(1, 6, 3)
        .with_channels(2)
        .with_layers(3)
        .with_nodes(2);
    let cfg =
        SearchNetworkConfig::new(network, OpSpace::darts(ZeroConfig::V1)).with_distill_heads(true);
    let net = cfg.init(&device);
    let [edges, ops] = cfg.alpha_shape();
    let x = Tensor::<4>::random([8, 1, 6, 6], Distribution::Normal(0.0, 1.0), &device);
    let reduce: Vec<f32> = (0..edges * ops).map(|i| 0.01 * (i as f32).cos()).collect();
    let normal: Vec<f32> = (0..edges * ops)
        .map(|i| 0.2 * (0.7 * i as f32).sin())
        .collect();
    let f = |a: Tensor<2>| {
        let alphas = Alphas {
            normal: Param::from_tensor(a),
            reduce: Param::from_tensor(tensor2(&reduce, [edges, ops], &device)),
        };
        let logits = net.forward(x.clone(), &alphas);
        logits.clone().mul(logits).sum()
    };
    let a = tensor2(&normal, [edges, ops], &device).require_grad();
    let grads = f(a.clone()).backward();
    let g = a
        .grad(&grads)
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let eval = |v: &[f32]| f(tensor2(v, [edges, ops], &device)).into_scalar::<f32>() as f64;
    let eps = 1e-3f32;
    for direction in 0..3u32 {
        let v: Vec<f32> = (0..normal.len())
            .map(|i| ((i as f32 + 1.0) * (1.3 + direction as f32)).sin())
            .collect();
        let analytic: f64 = g.iter().zip(&v).map(|(g, v)| (g * v) as f64).sum();
        let shifted =
            |s: f32| -> Vec<f32> { normal.iter().zip(&v).map(|(a, v)| a + s * v).collect() };
        let numeric = (eval(&shifted(eps)) - eval(&shifted(-eps))) / (2.0 * eps as f64);
        assert!(
            analytic.abs() > 1e-3,
            "direction {direction}: derivative numerically zero ({analytic})"
        );
        assert!(
            (analytic - numeric).abs() <= 0.03 * analytic.abs(),
            "direction {direction}: autodiff {analytic} vs finite difference {numeric}"
        );
    }
}

/// Each op beyond space 3 (spaces 1, 2 and 4 and the dynamic space's
/// 5×5 pools, MBConv 5×5 and expansion ratios) in both forms: ∂/∂x of
/// Σ op(x)·r along random directions against central differences, at
/// stride 1 and 2 on an odd size.
#[test]
fn ops_beyond_space_3_input_gradients_match_directional_differences() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let device = device();
    let kinds: Vec<OpKind> = OpKind::ALL
        .into_iter()
        .filter(|k| !OpKind::DARTS.contains(k))
        .collect();
    assert_eq!(kinds.len(), 28);
    for kind in kinds {
        for (stride, search) in [(1, true), (2, true), (1, false), (2, false)] {
            let op = Op::new(kind, 4, stride, search, &device);
            let shape = [4, 4, 9, 9];
            let n: usize = shape.iter().product();
            // Inputs at least 0.3 from the input ReLU's kink keep those
            // difference quotients on one side of it.
            // Pseudo-random values (an LCG), not a smooth pattern: a 5×5
            // pool window then has no near-ties for the step to flip.
            let mut state = 0x2545_f491_4f6c_dd1du64;
            let x0: Vec<f32> = (0..n)
                .map(|_| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    let s = (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
                    s.signum() * (0.3 + 0.7 * s.abs())
                })
                .collect();
            let out = 9usize.div_ceil(stride);
            let r = Tensor::<4>::random([4, 4, out, out], Distribution::Normal(0.0, 1.0), &device);
            let f = |x: Tensor<4>| (op.forward(x) * r.clone()).sum();
            let x =
                Tensor::<4>::from_data(TensorData::new(x0.clone(), shape), &device).require_grad();
            let grads = f(x.clone()).backward();
            let g = x
                .grad(&grads)
                .unwrap()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            let at = |v: &[f32]| {
                f(Tensor::from_data(
                    TensorData::new(v.to_vec(), shape),
                    &device,
                ))
                .into_scalar::<f32>() as f64
            };
            if kind.mbconv().is_some() {
                // Thousands of unnormalized values enter the blocks' inner
                // ReLU6s, so any step small enough for f32 still crosses a
                // few kinks and central differences scatter by several
                // percent. Their gradient is checked against burn's own
                // autodiff of the same block instead (burn's convolutions
                // in place of the custom kernels), which has no such noise.
                kernels::use_reference_kernels(true);
                let x = Tensor::<4>::from_data(TensorData::new(x0.clone(), shape), &device)
                    .require_grad();
                let grads = f(x.clone()).backward();
                let reference = x
                    .grad(&grads)
                    .unwrap()
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap();
                kernels::use_reference_kernels(false);
                let scale = reference.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
                for (i, (a, b)) in g.iter().zip(&reference).enumerate() {
                    assert!(
                        (a - b).abs() <= 1e-4 * scale,
                        "{kind} stride {stride} search {search}: dx[{i}] custom {a} vs burn {b}"
                    );
                }
                continue;
            }
            // Small steps: ReLUs after a batch norm (op space 1's
            // activations at stride 2) have many inputs near their kink,
            // and a 5×5 max pool window near-ties.
            let eps = 3e-4f32;
            for direction in 0..2u32 {
                let v: Vec<f32> = (0..n)
                    .map(|i| ((i as f32 + 1.0) * (0.7 + direction as f32)).cos())
                    .collect();
                let analytic: f64 = g.iter().zip(&v).map(|(g, v)| (g * v) as f64).sum();
                let moved =
                    |s: f32| -> Vec<f32> { x0.iter().zip(&v).map(|(a, v)| a + s * v).collect() };
                let numeric = (at(&moved(eps)) - at(&moved(-eps))) / (2.0 * eps as f64);
                assert!(
                    (analytic - numeric).abs() <= 0.02 * analytic.abs().max(1.0) + 0.02,
                    "{kind} stride {stride} search {search}: autodiff {analytic} vs finite difference {numeric}"
                );
            }
        }
    }
}
