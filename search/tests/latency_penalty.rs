//! The burn P(α) against the f64 reference of Algorithm 3 (itself checked
//! against the golden vectors of the spec (test data outside the repository) in latency-lut), a finite-difference
//! gradient check, and the direction of its gradient.

use burn::tensor::Device;
use latency_lut::PenaltyKind;
use latency_lut::penalty::{CellCosts, PenaltyInputs, algo3_cell, algo3_weights};
use models::Alphas;
use models::space::{OpKind, OpSpace, Relaxation, ZeroConfig, edge_count};
use search::latency::LatencyPenalty;

const N_NODES: usize = 4;

fn lcg(seed: u64) -> impl FnMut() -> f64 {
    let mut s = seed;
    move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Penalty inputs of two cells (normal, reduce) with distinct random
/// latency vectors (sep_conv_5x5 the slowest, identity the fastest).
fn inputs(ops: &[OpKind]) -> PenaltyInputs {
    let mut r = lcg(3);
    let base = |op: OpKind| match op {
        OpKind::Zero => 0.0,
        OpKind::Identity => 0.01,
        OpKind::MaxPool3x3 | OpKind::AvgPool3x3 => 0.05,
        OpKind::DilConv3x3 => 0.1,
        OpKind::DilConv5x5 => 0.15,
        OpKind::SepConv3x3 => 0.25,
        OpKind::SepConv5x5 => 0.4,
        _ => unreachable!("the DARTS space's ops only"),
    };
    let cells = [false, true, false]
        .iter()
        .enumerate()
        .map(|(index, &reduction)| CellCosts {
            index,
            reduction,
            edges: (0..edge_count(N_NODES))
                .map(|_| ops.iter().map(|&o| base(o) * (0.5 + r())).collect())
                .collect(),
        })
        .collect();
    PenaltyInputs {
        ops: ops.to_vec(),
        n_nodes: N_NODES,
        cells,
        normalized: false,
    }
}

fn random_alpha(seed: u64, n_ops: usize) -> Vec<f32> {
    let mut r = lcg(seed);
    (0..edge_count(N_NODES) * n_ops)
        .map(|_| (r() * 2.0 - 1.0) as f32)
        .collect()
}

fn reference(
    p: &PenaltyInputs,
    kind: PenaltyKind,
    rel: Relaxation,
    normal: &[f32],
    reduce: &[f32],
) -> f64 {
    let n_ops = p.ops.len();
    let w = |a: &[f32]| {
        let a: Vec<f64> = a.iter().map(|&v| f64::from(v)).collect();
        algo3_weights(&a, n_ops, N_NODES, rel)
    };
    let (wn, wr) = (w(normal), w(reduce));
    p.cells
        .iter()
        .map(|c| {
            let w = if c.reduction { &wr } else { &wn };
            match kind {
                PenaltyKind::Algo3 => algo3_cell(w, &c.edges, N_NODES).0,
                PenaltyKind::ExpectedSum => {
                    let a = if c.reduction { reduce } else { normal };
                    expected_sum_reference(a, &c.edges, n_ops, rel)
                }
            }
        })
        .sum()
}

/// The expected sum written out from docs/algorithms.md §4.3, independently
/// of the library's weight helpers: Σ over edges Σ_o w_o·lat_o, with w each
/// edge's own softmax (DARTS) or each node's joint softmax (I-DARTS,
/// XDARTS).
fn expected_sum_reference(
    alpha: &[f32],
    latency: &[Vec<f64>],
    n_ops: usize,
    rel: Relaxation,
) -> f64 {
    let a: Vec<f64> = alpha.iter().map(|&v| f64::from(v)).collect();
    let mut total = 0.0;
    let mut first = 0;
    for node in 0..N_NODES {
        let k = node + 2;
        let groups: Vec<(usize, usize)> = if rel == Relaxation::Darts {
            (first..first + k)
                .map(|e| (e * n_ops, (e + 1) * n_ops))
                .collect()
        } else {
            vec![(first * n_ops, (first + k) * n_ops)]
        };
        for (lo, hi) in groups {
            let z: f64 = a[lo..hi].iter().map(|v| v.exp()).sum();
            for i in lo..hi {
                total += a[i].exp() / z * latency[i / n_ops][i % n_ops];
            }
        }
        first += k;
    }
    total
}

fn alphas(normal: &[f32], reduce: &[f32], n_ops: usize, device: &Device) -> Alphas {
    Alphas::from_values(
        normal.to_vec(),
        reduce.to_vec(),
        edge_count(N_NODES),
        n_ops,
        device,
    )
}

fn value(p: &LatencyPenalty, rel: Relaxation, normal: &[f32], reduce: &[f32]) -> f64 {
    let n_ops = p.inputs.ops.len();
    let a = alphas(normal, reduce, n_ops, &Device::flex());
    p.expected_latency(&a, rel)
        .into_data()
        .iter::<f32>()
        .next()
        .unwrap() as f64
}

#[test]
fn burn_penalty_matches_the_f64_reference_and_finite_differences() {
    for zero in [ZeroConfig::V0, ZeroConfig::V1] {
        let ops = OpSpace::darts(zero).ops().to_vec();
        let n_ops = ops.len();
        for kind in [PenaltyKind::Algo3, PenaltyKind::ExpectedSum] {
            for rel in [Relaxation::Darts, Relaxation::IDarts, Relaxation::XDarts] {
                let p = LatencyPenalty::from_inputs(inputs(&ops), kind, 1.0);
                let (normal, reduce) = (random_alpha(11, n_ops), random_alpha(12, n_ops));
                let got = value(&p, rel, &normal, &reduce);
                let want = reference(&p.inputs, kind, rel, &normal, &reduce);
                assert!(
                    ((got - want) / want).abs() < 1e-5,
                    "{kind:?} {rel}: {got} vs {want}"
                );

                // Analytic gradient via autodiff.
                let device = Device::flex().autodiff();
                let a = alphas(&normal, &reduce, n_ops, &device);
                let grads = p.expected_latency(&a, rel).backward();
                let g_normal: Vec<f32> = a
                    .normal
                    .grad(&grads)
                    .unwrap()
                    .into_data()
                    .try_to_vec()
                    .unwrap();
                // Central differences on a few coordinates, in f64 through the reference.
                for idx in [0, 5, n_ops + 2, 3 * n_ops + 1, 13 * n_ops + n_ops - 1] {
                    let h = 1e-3f32;
                    let mut plus = normal.clone();
                    plus[idx] += h;
                    let mut minus = normal.clone();
                    minus[idx] -= h;
                    let fd = (reference(&p.inputs, kind, rel, &plus, &reduce)
                        - reference(&p.inputs, kind, rel, &minus, &reduce))
                        / (2.0 * f64::from(h));
                    let an = f64::from(g_normal[idx]);
                    assert!(
                        (an - fd).abs() <= 1e-4 + 1e-2 * fd.abs(),
                        "{kind:?} {rel} ∂P/∂α[{idx}]: autodiff {an} vs finite difference {fd}"
                    );
                }
            }
        }
    }
}

/// Hand-worked values at α = 0 (uniform weights) with every edge's latency
/// row = the op index in ms (0, 1, …, n − 1; mean m = (n − 1)/2): the
/// expected sum is m per DARTS edge (14 edges per cell at N = 4) and m per
/// node under a joint softmax (4 nodes); three cells.
#[test]
fn expected_sum_at_uniform_alpha_is_the_hand_worked_value() {
    let ops = OpSpace::darts(ZeroConfig::V1).ops().to_vec();
    let n_ops = ops.len();
    let row: Vec<f64> = (0..n_ops).map(|i| i as f64).collect();
    let inputs = PenaltyInputs {
        ops: ops.clone(),
        n_nodes: N_NODES,
        cells: [false, true, false]
            .iter()
            .enumerate()
            .map(|(index, &reduction)| CellCosts {
                index,
                reduction,
                edges: vec![row.clone(); edge_count(N_NODES)],
            })
            .collect(),
        normalized: false,
    };
    let mean = (n_ops - 1) as f64 / 2.0;
    let zeros = vec![0.0f32; edge_count(N_NODES) * n_ops];
    for (rel, want) in [
        (Relaxation::Darts, 3.0 * 14.0 * mean),
        (Relaxation::IDarts, 3.0 * 4.0 * mean),
        (Relaxation::XDarts, 3.0 * 4.0 * mean),
    ] {
        let p = LatencyPenalty::from_inputs(inputs.clone(), PenaltyKind::ExpectedSum, 1.0);
        let got = value(&p, rel, &zeros, &zeros);
        assert!(
            (got - want).abs() < 1e-4 * want,
            "{rel}: expected sum {got}, hand-worked {want}"
        );
    }
}

#[test]
fn moving_mass_from_identity_to_sep5_raises_p() {
    let ops = OpSpace::darts(ZeroConfig::V1).ops().to_vec();
    let n_ops = ops.len();
    let id = ops.iter().position(|&o| o == OpKind::Identity).unwrap();
    let sep5 = ops.iter().position(|&o| o == OpKind::SepConv5x5).unwrap();
    for rel in [Relaxation::Darts, Relaxation::IDarts, Relaxation::XDarts] {
        let p = LatencyPenalty::from_inputs(inputs(&ops), PenaltyKind::Algo3, 1.0);
        let base = vec![0.0f32; edge_count(N_NODES) * n_ops];
        let mut moved = base.clone();
        for e in 0..edge_count(N_NODES) {
            moved[e * n_ops + id] -= 0.5;
            moved[e * n_ops + sep5] += 0.5;
        }
        let before = value(&p, rel, &base, &base);
        let after = value(&p, rel, &moved, &moved);
        assert!(after > before, "{rel}: {after} <= {before}");
    }
}
