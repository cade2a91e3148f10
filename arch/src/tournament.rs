//! The tournament search's bookkeeping (docs/algorithms.md §5, Algorithm 2):
//! drawing each first-tier game's node op sets from the dynamic space,
//! ranking a finished game's ops per node by α, keeping the top half, and
//! uniting paired games' kept sets for the next tier. Pure functions of
//! their inputs, so a tournament is reproducible from its seed and its
//! record (`tournament.json`) can be checked by hand.

use serde::{Deserialize, Serialize};

use crate::diagnostics::relaxation_weights;
use crate::space::{NodeOpSets, OpKind, OpSpace, Relaxation, cell_edges};

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny seeded generator, so that
/// the draws depend on the tournament's seed alone, not on a crate version.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2⁻³²
    /// for the pool sizes here).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }
}

/// `o_max` distinct ops drawn uniformly from `pool` (a partial
/// Fisher–Yates shuffle), in canonical order.
pub fn draw_ops(pool: &[OpKind], o_max: usize, rng: &mut SplitMix64) -> Vec<OpKind> {
    let mut ops = pool.to_vec();
    let take = o_max.min(ops.len());
    for i in 0..take {
        let j = i + rng.below(ops.len() - i);
        ops.swap(i, j);
    }
    ops.truncate(take);
    ops.sort_unstable();
    ops
}

/// A first-tier game's node op sets: for each cell type (normal first),
/// for each node, `o_max` ops drawn from `pool`.
pub fn draw_game(pool: &[OpKind], o_max: usize, nodes: usize, rng: &mut SplitMix64) -> NodeOpSets {
    let mut cell = || (0..nodes).map(|_| draw_ops(pool, o_max, rng)).collect();
    let normal = cell();
    let reduce = cell();
    NodeOpSets { normal, reduce }
}

/// One op's score at one node: its mean mixing weight over the node's
/// incoming edges.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OpScore {
    pub op: OpKind,
    pub score: f64,
}

/// Each node's offered ops with their scores, strongest first; ties in
/// canonical op order. `alpha` is one cell type's α (row-major
/// `[edges, space.len()]`, masked where a node does not offer an op).
pub fn node_scores(
    alpha: &[f32],
    space: &OpSpace,
    sets: &[Vec<OpKind>],
    relaxation: Relaxation,
) -> Vec<Vec<OpScore>> {
    let nodes = sets.len();
    let alpha64: Vec<f64> = alpha.iter().map(|&v| f64::from(v)).collect();
    let weights = relaxation_weights(&alpha64, space.len(), nodes, relaxation);
    let edges = cell_edges(nodes);
    sets.iter()
        .enumerate()
        .map(|(node, set)| {
            let rows: Vec<usize> = (0..edges.len()).filter(|&e| edges[e].0 == node).collect();
            let mut scores: Vec<OpScore> = set
                .iter()
                .map(|&op| {
                    let column = space
                        .position(op)
                        .unwrap_or_else(|| panic!("{op} of node {node} is not a column of α"));
                    let total: f64 = rows
                        .iter()
                        .map(|&e| weights[e * space.len() + column])
                        .sum();
                    OpScore {
                        op,
                        score: total / rows.len() as f64,
                    }
                })
                .collect();
            scores.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.op.cmp(&b.op)));
            scores
        })
        .collect()
}

/// How many of `n` ops a game passes on: the top half, rounded up (an odd
/// set loses fewer than half), at least one.
pub fn kept_count(n: usize) -> usize {
    n.div_ceil(2).max(1)
}

/// The top half of each node's ranked ops ([`kept_count`]), in canonical
/// order.
pub fn keep_top_half(scores: &[Vec<OpScore>]) -> Vec<Vec<OpKind>> {
    scores
        .iter()
        .map(|ranked| {
            let mut kept: Vec<OpKind> = ranked
                .iter()
                .take(kept_count(ranked.len()))
                .map(|s| s.op)
                .collect();
            kept.sort_unstable();
            kept
        })
        .collect()
}

/// The next tier's game from two paired games' kept sets: per cell type and
/// node, the union, in canonical order.
pub fn unite(a: &NodeOpSets, b: &NodeOpSets) -> NodeOpSets {
    let merge = |x: &[Vec<OpKind>], y: &[Vec<OpKind>]| -> Vec<Vec<OpKind>> {
        x.iter()
            .zip(y)
            .map(|(p, q)| {
                let mut ops: Vec<OpKind> = p.iter().chain(q).copied().collect();
                ops.sort_unstable();
                ops.dedup();
                ops
            })
            .collect()
    };
    NodeOpSets {
        normal: merge(&a.normal, &b.normal),
        reduce: merge(&a.reduce, &b.reduce),
    }
}

/// Games per tier: 2^(T−t) for tiers t = 1..=T (tier 1 is the first).
pub fn games_in_tier(tiers: usize, tier: usize) -> usize {
    1 << (tiers - tier)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{MASKED_ALPHA, OpKind::*};

    #[test]
    fn draws_are_distinct_reproducible_and_cover_the_pool() {
        let pool = OpKind::dynamic();
        let a = draw_game(&pool, 4, 3, &mut SplitMix64::new(7));
        let b = draw_game(&pool, 4, 3, &mut SplitMix64::new(7));
        assert_eq!(a, b);
        assert_ne!(a, draw_game(&pool, 4, 3, &mut SplitMix64::new(8)));
        a.validate(3).unwrap();
        for set in a.normal.iter().chain(&a.reduce) {
            assert_eq!(set.len(), 4);
            assert!(set.windows(2).all(|w| w[0] < w[1]), "{set:?}");
        }
        // Every op of the pool turns up in enough draws (uniform: each draw
        // of 4 holds a given op with probability 4/35).
        let mut rng = SplitMix64::new(1);
        let mut seen = std::collections::HashMap::new();
        for _ in 0..3500 {
            for op in draw_ops(&pool, 4, &mut rng) {
                *seen.entry(op).or_insert(0usize) += 1;
            }
        }
        assert_eq!(seen.len(), pool.len());
        for (op, n) in seen {
            assert!((300..500).contains(&n), "{op}: {n} of 3500 draws");
        }
        // More than the pool: the whole pool.
        assert_eq!(
            draw_ops(&[Tanh_, Identity], 5, &mut rng),
            vec![Identity, Tanh_]
        );
    }

    // A short alias keeps the hand-worked tables below readable.
    #[allow(non_upper_case_globals)]
    const Tanh_: OpKind = ActTanh;

    /// Two nodes (5 edges), DARTS relaxation, columns [max_pool_3x3,
    /// identity, sep_conv_3x3, act_tanh]; node 0 offers max_pool, identity,
    /// sep_conv; node 1 offers all four.
    #[test]
    fn scores_are_mean_edge_weights_and_the_top_half_is_kept() {
        let space = OpSpace::from_ops(vec![MaxPool3x3, Identity, SepConv3x3, ActTanh]);
        let sets = vec![
            vec![MaxPool3x3, Identity, SepConv3x3],
            vec![MaxPool3x3, Identity, SepConv3x3, ActTanh],
        ];
        let m = MASKED_ALPHA;
        let ln = |x: f32| x.ln();
        #[rustfmt::skip]
        let alpha = vec![
            // node 0, edge from c_{k-2}: softmax = (1/2, 1/4, 1/4)
            ln(2.0), 0.0, 0.0, m,
            // node 0, edge from c_{k-1}: (1/6, 1/6, 2/3)
            0.0, 0.0, ln(4.0), m,
            // node 1, three edges: uniform, uniform, (0.1, 0.2, 0.3, 0.4)
            0.0, 0.0, 0.0, 0.0,
            0.0, 0.0, 0.0, 0.0,
            ln(1.0), ln(2.0), ln(3.0), ln(4.0),
        ];
        let scores = node_scores(&alpha, &space, &sets, Relaxation::Darts);
        // Node 0: max_pool (1/2 + 1/6)/2 = 1/3, identity (1/4 + 1/6)/2 =
        // 5/24, sep_conv (1/4 + 2/3)/2 = 11/24.
        let got: Vec<(OpKind, f64)> = scores[0].iter().map(|s| (s.op, s.score)).collect();
        let want = [
            (SepConv3x3, 11.0 / 24.0),
            (MaxPool3x3, 1.0 / 3.0),
            (Identity, 5.0 / 24.0),
        ];
        for ((op, s), (wop, ws)) in got.iter().zip(want) {
            assert_eq!(*op, wop);
            assert!((s - ws).abs() < 1e-6, "{op}: {s} vs {ws}");
        }
        // Node 1: (1/4 + 1/4 + k/10)/3 for column k = 1..4.
        let order: Vec<OpKind> = scores[1].iter().map(|s| s.op).collect();
        assert_eq!(order, vec![ActTanh, SepConv3x3, Identity, MaxPool3x3]);
        assert!((scores[1][0].score - (0.5 + 0.4) / 3.0).abs() < 1e-6);
        // Top half: 3 → 2 (rounded up), 4 → 2; canonical order.
        assert_eq!(
            keep_top_half(&scores),
            vec![vec![MaxPool3x3, SepConv3x3], vec![SepConv3x3, ActTanh]]
        );
    }

    #[test]
    fn ties_go_to_the_earlier_op_in_canonical_order() {
        let space = OpSpace::from_ops(vec![MaxPool3x3, AvgPool3x3, Identity, SepConv3x3]);
        let sets = vec![vec![MaxPool3x3, AvgPool3x3, Identity, SepConv3x3]];
        // Identity and max_pool tie for first, avg_pool and sep_conv for
        // third: max_pool and identity are kept, the earlier first.
        let alpha = vec![1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0];
        let scores = node_scores(&alpha, &space, &sets, Relaxation::Darts);
        let order: Vec<OpKind> = scores[0].iter().map(|s| s.op).collect();
        assert_eq!(order, vec![MaxPool3x3, Identity, AvgPool3x3, SepConv3x3]);
        assert_eq!(keep_top_half(&scores), vec![vec![MaxPool3x3, Identity]]);
        assert_eq!(kept_count(1), 1);
        assert_eq!(kept_count(5), 3);
    }

    #[test]
    fn joint_relaxations_score_by_the_nodes_joint_softmax() {
        // One node, two edges, two ops; the joint softmax over the 4 pairs
        // is (0.1, 0.2, 0.3, 0.4): op 0 scores (0.1 + 0.3)/2, op 1 0.3.
        let space = OpSpace::from_ops(vec![Identity, SepConv3x3]);
        let sets = vec![vec![Identity, SepConv3x3]];
        let alpha: Vec<f32> = [1.0f32, 2.0, 3.0, 4.0].iter().map(|v| v.ln()).collect();
        let scores = node_scores(&alpha, &space, &sets, Relaxation::XDarts);
        assert_eq!(scores[0][0].op, SepConv3x3);
        assert!((scores[0][0].score - 0.3).abs() < 1e-6);
        assert!((scores[0][1].score - 0.2).abs() < 1e-6);
    }

    #[test]
    fn paired_games_unite_per_node() {
        let a = NodeOpSets {
            normal: vec![vec![Identity, SepConv3x3], vec![ActTanh]],
            reduce: vec![vec![MaxPool3x3], vec![Conv3x3, MbConv3x3]],
        };
        let b = NodeOpSets {
            normal: vec![vec![MaxPool3x3, SepConv3x3], vec![ActTanh]],
            reduce: vec![vec![MbConvSe3x3], vec![Conv3x3]],
        };
        let u = unite(&a, &b);
        assert_eq!(
            u.normal,
            vec![vec![MaxPool3x3, Identity, SepConv3x3], vec![ActTanh]]
        );
        assert_eq!(
            u.reduce,
            vec![vec![MaxPool3x3, MbConvSe3x3], vec![Conv3x3, MbConv3x3]]
        );
        assert_eq!(games_in_tier(3, 1), 4);
        assert_eq!(games_in_tier(3, 3), 1);
    }
}
