//! Relaxation weights of α and the architecture diagnostics of docs/algorithms.md §7:
//! per-edge softmax spread (σ_α) and entropy.

use crate::space::{Relaxation, is_masked, node_first_edge};

/// Numerically stable softmax of `row`, in f64. Equal inputs give bit-equal
/// outputs (every value goes through the same formula), which the exact-tie
/// rules of discretization rely on.
pub fn softmax(row: &[f64]) -> Vec<f64> {
    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = row.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

/// The mixing weights of α (row-major `[edges, n_ops]`) under `relaxation`:
/// a softmax per edge (DARTS) or one softmax over all (edge, op) pairs
/// entering a node (I-DARTS, XDARTS). Same layout as α.
pub fn relaxation_weights(
    alpha: &[f64],
    n_ops: usize,
    n_nodes: usize,
    relaxation: Relaxation,
) -> Vec<f64> {
    assert_eq!(
        alpha.len(),
        node_first_edge(n_nodes) * n_ops,
        "α has {} values, a cell of {n_nodes} nodes and {n_ops} ops needs {}",
        alpha.len(),
        node_first_edge(n_nodes) * n_ops
    );
    if relaxation.is_joint() {
        (0..n_nodes)
            .flat_map(|node| {
                let first = node_first_edge(node) * n_ops;
                let last = node_first_edge(node + 1) * n_ops;
                softmax(&alpha[first..last])
            })
            .collect()
    } else {
        alpha.chunks(n_ops).flat_map(softmax).collect()
    }
}

/// Each edge's softmax over the ops it offers (masked columns of a
/// tournament game, [`is_masked`], are not candidates and are left out).
fn edge_softmaxes(alpha: &[f32], n_ops: usize) -> Vec<Vec<f64>> {
    alpha
        .chunks(n_ops)
        .map(|row| {
            let offered: Vec<f64> = row
                .iter()
                .filter(|v| !is_masked(**v))
                .map(|&v| v as f64)
                .collect();
            softmax(&offered)
        })
        .collect()
}

/// Entropy (nats) of each edge's own softmax(α_edge); ln(n_ops) when uniform.
pub fn edge_entropy(alpha: &[f32], n_ops: usize) -> Vec<f64> {
    edge_softmaxes(alpha, n_ops)
        .iter()
        .map(|p| {
            -p.iter()
                .filter(|&&q| q > 0.0)
                .map(|q| q * q.ln())
                .sum::<f64>()
        })
        .collect()
}

/// Each edge's margin between its strongest and second-strongest op:
/// `p₁ − p₂` of softmax(α_edge). 0 when two ops tie (the choice is noise),
/// growing as the edge commits.
pub fn edge_margins(alpha: &[f32], n_ops: usize) -> Vec<f64> {
    edge_softmaxes(alpha, n_ops)
        .iter()
        .map(|p| {
            let mut sorted = p.clone();
            sorted.sort_by(|a, b| b.total_cmp(a));
            sorted[0] - sorted.get(1).copied().unwrap_or(0.0)
        })
        .collect()
}

/// Sparsity of α: the population standard deviation of softmax(α_edge) for
/// each edge, and over all edges' softmax values together (σ_α of
/// `seeds/000`: 0 for a uniform α, growing as edges commit to an op).
pub fn alpha_std(alpha: &[f32], n_ops: usize) -> (Vec<f64>, f64) {
    let probs = edge_softmaxes(alpha, n_ops);
    let std = |values: &[f64]| {
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64).sqrt()
    };
    let per_edge = probs.iter().map(|p| std(p)).collect();
    let all: Vec<f64> = probs.into_iter().flatten().collect();
    (per_edge, std(&all))
}

#[cfg(test)]
mod tests {
    #[test]
    fn margins_are_the_gap_between_the_two_strongest_ops() {
        // softmax([ln 3, ln 2, ln 1]) = [1/2, 1/3, 1/6]; uniform → 0.
        let alpha = [3f32.ln(), 2f32.ln(), 0.0, 0.5, 0.5, 0.5];
        let m = super::edge_margins(&alpha, 3);
        assert!((m[0] - (0.5 - 1.0 / 3.0)).abs() < 1e-6, "{m:?}");
        assert!(m[1].abs() < 1e-12, "{m:?}");
    }

    use super::*;

    #[test]
    fn uniform_alpha_has_maximal_entropy_and_zero_spread() {
        let alpha = vec![0.5f32; 14 * 7];
        for h in edge_entropy(&alpha, 7) {
            assert!((h - 7f64.ln()).abs() < 1e-12);
        }
        let (per_edge, overall) = alpha_std(&alpha, 7);
        assert!(per_edge.iter().all(|s| s.abs() < 1e-15));
        assert!(overall.abs() < 1e-15);
    }

    #[test]
    fn a_committed_edge_has_low_entropy_and_high_spread() {
        let alpha = [10.0f32, 0.0, 0.0, 0.0];
        let h = edge_entropy(&alpha, 4)[0];
        assert!(h < 0.01, "{h}");
        let (per_edge, _) = alpha_std(&alpha, 4);
        // softmax ≈ (1, 0, 0, 0): mean 1/4, std = sqrt(3)/4.
        assert!((per_edge[0] - 3f64.sqrt() / 4.0).abs() < 1e-3);
    }

    #[test]
    fn masked_columns_are_not_candidates() {
        // Two offered ops of four: the same spread as a two-op edge.
        let masked = [
            1.0f32,
            crate::space::MASKED_ALPHA,
            0.0,
            crate::space::MASKED_ALPHA,
        ];
        let plain = [1.0f32, 0.0];
        assert_eq!(alpha_std(&masked, 4).1, alpha_std(&plain, 2).1);
        assert_eq!(edge_margins(&masked, 4), edge_margins(&plain, 2));
        assert_eq!(edge_entropy(&masked, 4), edge_entropy(&plain, 2));
    }

    #[test]
    fn joint_weights_sum_to_one_per_node() {
        let alpha: Vec<f64> = (0..5 * 3).map(|i| (i as f64 * 0.37).sin()).collect();
        let w = relaxation_weights(&alpha, 3, 2, Relaxation::XDarts);
        let node0: f64 = w[..6].iter().sum();
        let node1: f64 = w[6..].iter().sum();
        assert!((node0 - 1.0).abs() < 1e-12 && (node1 - 1.0).abs() < 1e-12);
        let per_edge = relaxation_weights(&alpha, 3, 2, Relaxation::Darts);
        for row in per_edge.chunks(3) {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
    }
}
