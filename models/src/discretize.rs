//! Discretization: from α to a genotype, for the DARTS, I-DARTS and XDARTS
//! relaxations (SPEC §2.2).

use std::cmp::Ordering;

use crate::diagnostics::relaxation_weights;
use crate::genotype::{
    CellGenotype, GENOTYPE_SCHEMA_VERSION, Genotype, GenotypeEdge, inputs_per_node,
};
use crate::space::{OpKind, OpSpace, Relaxation, node_first_edge};

/// A kept-input candidate: its strength, predecessor and α column.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    strength: f64,
    predecessor: usize,
    column: usize,
}

/// Strongest first; ties break by lower predecessor index, then by op order
/// (α columns follow the space's op order).
///
/// SPEC §2.2 (Decision) fixes this rule for all three relaxations so that
/// exact ties — a uniform α at initialization, or an α that has not moved —
/// give one deterministic genotype on every machine, and a tie prefers the
/// cell inputs and cheap parameter-free ops that come first. Strengths are
/// compared exactly (`total_cmp`, never -0.0 here since they are softmax
/// values), so no tolerance can make the order intransitive.
fn rank(a: &Candidate, b: &Candidate) -> Ordering {
    b.strength
        .total_cmp(&a.strength)
        .then(a.predecessor.cmp(&b.predecessor))
        .then(a.column.cmp(&b.column))
}

/// Discretizes one cell's α, row-major `[edges, ops]` with rows in
/// [`cell_edges`](crate::space::cell_edges) order and columns in `space`
/// order, f32 (from the network) or f64 (golden vectors). The softmax is
/// computed in f64 by [`relaxation_weights`].
///
/// * DARTS: each edge's strength is the weight of its best non-`zero` op
///   (per-edge softmax); node j keeps its 2 strongest edges.
/// * I-DARTS: node j keeps the 2 strongest non-`zero` (predecessor, op)
///   pairs of its joint softmax, possibly one predecessor twice.
/// * XDARTS: as I-DARTS, keeping j + 2 pairs.
///
/// `zero` takes part in the softmax when it is a candidate (V0), so a
/// dominant `zero` weakens its edge, but it is never kept. The edges come
/// out sorted by (node, predecessor, op order); `concat` lists every node.
///
/// # Panics
/// If α does not have `edge_count(n_nodes) · |space|` values, or a node has
/// fewer non-`zero` candidates than it must keep (an op space of only
/// `zero`).
pub fn discretize_cell<T: Copy + Into<f64>>(
    alpha: &[T],
    space: &OpSpace,
    n_nodes: usize,
    relaxation: Relaxation,
) -> CellGenotype {
    let weights = relaxation_weights(alpha, space, n_nodes, relaxation);
    let n_ops = space.len();
    let columns: Vec<usize> = (0..n_ops)
        .filter(|&c| space.ops()[c] != OpKind::Zero)
        .collect();
    let mut edges = Vec::new();
    for node in 0..n_nodes {
        let first = node_first_edge(node);
        let candidate = |predecessor: usize, column: usize| Candidate {
            strength: weights[(first + predecessor) * n_ops + column],
            predecessor,
            column,
        };
        let mut candidates: Vec<Candidate> = match relaxation {
            // One candidate per edge: its best non-zero op (ties → earlier
            // op, by the same rule), whose weight is the edge's strength.
            Relaxation::Darts => (0..node + 2)
                .filter_map(|pred| columns.iter().map(|&c| candidate(pred, c)).min_by(rank))
                .collect(),
            // Every non-zero (predecessor, op) pair competes on its own.
            Relaxation::IDarts | Relaxation::XDarts => (0..node + 2)
                .flat_map(|pred| columns.iter().map(move |&c| candidate(pred, c)))
                .collect(),
        };
        // Decision (SPEC §2.2): XDARTS node j keeps as many pairs as it has
        // predecessors, j + 2; DARTS and I-DARTS keep k = 2.
        let keep = inputs_per_node(relaxation, node);
        assert!(
            candidates.len() >= keep,
            "node {node} has {} non-zero candidates, {relaxation} keeps {keep}",
            candidates.len()
        );
        candidates.sort_by(rank);
        candidates.truncate(keep);
        candidates.sort_by_key(|c| (c.predecessor, c.column));
        edges.extend(candidates.into_iter().map(|c| GenotypeEdge {
            node,
            predecessor: c.predecessor,
            op: space.ops()[c.column],
        }));
    }
    CellGenotype {
        edges,
        concat: (0..n_nodes).collect(),
    }
}

/// Discretizes both cell types' α (see [`discretize_cell`]) into a genotype.
pub fn discretize<T: Copy + Into<f64>>(
    alpha_normal: &[T],
    alpha_reduce: &[T],
    space: &OpSpace,
    n_nodes: usize,
    relaxation: Relaxation,
) -> Genotype {
    Genotype {
        schema_version: GENOTYPE_SCHEMA_VERSION,
        relaxation,
        n_nodes,
        normal: discretize_cell(alpha_normal, space, n_nodes, relaxation),
        reduce: discretize_cell(alpha_reduce, space, n_nodes, relaxation),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{ZeroConfig, edge_count};
    use OpKind::*;

    /// Three ops without `zero` (V1-like).
    const OPS: [OpKind; 3] = [MaxPool3x3, AvgPool3x3, SepConv3x3];
    /// Three ops with `zero` first (V0-like).
    const WITH_ZERO: [OpKind; 3] = [Zero, Identity, SepConv3x3];

    /// Data-driven check: α rows (one per edge, in `cell_edges` order; the
    /// node count follows from the row count) over `ops`, and the expected
    /// kept inputs as `node<-predecessor:op` items.
    #[track_caller]
    fn check(ops: &[OpKind], alpha: &[&[f64]], relaxation: Relaxation, expect: &str) {
        let n_nodes = (1..8)
            .find(|&n| edge_count(n) == alpha.len())
            .expect("row count is Σ_j (j + 2) for some node count");
        let space = OpSpace::from_ops(ops.to_vec());
        let flat: Vec<f64> = alpha.iter().flat_map(|r| r.iter().copied()).collect();
        let cell = discretize_cell(&flat, &space, n_nodes, relaxation);
        let got: Vec<String> = cell
            .edges
            .iter()
            .map(|e| format!("{}<-{}:{}", e.node, e.predecessor, e.op))
            .collect();
        assert_eq!(got.join(" "), expect, "{relaxation}");
        assert_eq!(cell.concat, (0..n_nodes).collect::<Vec<_>>());
    }

    #[test]
    fn darts_keeps_each_nodes_two_strongest_edges() {
        // 2 nodes: node 0 has rows 0-1, node 1 rows 2-4.
        let alpha: &[&[f64]] = &[
            &[0.0, 1.0, 0.0],
            &[2.0, 0.0, 0.0],
            &[0.0, 0.0, 0.1],
            &[0.0, 0.0, 3.0],
            &[0.0, 2.0, 0.0],
        ];
        check(
            &OPS,
            alpha,
            Relaxation::Darts,
            "0<-0:avg_pool_3x3 0<-1:max_pool_3x3 1<-1:sep_conv_3x3 1<-2:avg_pool_3x3",
        );
    }

    #[test]
    fn darts_compares_edges_by_weight_not_raw_alpha() {
        // Edge (1,0) has the largest α (3.0) but shares it with two close
        // rivals, so its weight (≈ 0.37) loses to edges (1,1) and (1,2)
        // whose single peaks of 2.0 weigh ≈ 0.79.
        let alpha: &[&[f64]] = &[
            &[0.0, 0.0, 0.0],
            &[0.0, 0.0, 0.0],
            &[3.0, 2.9, 2.8],
            &[0.0, 2.0, 0.0],
            &[2.0, 0.0, 0.0],
        ];
        check(
            &OPS,
            alpha,
            Relaxation::Darts,
            "0<-0:max_pool_3x3 0<-1:max_pool_3x3 1<-1:avg_pool_3x3 1<-2:max_pool_3x3",
        );
        // The joint softmax compares raw α across edges instead.
        check(
            &OPS,
            alpha,
            Relaxation::IDarts,
            "0<-0:max_pool_3x3 0<-0:avg_pool_3x3 1<-0:max_pool_3x3 1<-0:avg_pool_3x3",
        );
    }

    #[test]
    fn a_dominant_zero_is_never_kept_but_weakens_its_edge() {
        // Node 1: edge (1,0) has the largest non-zero α (2.0) but its zero
        // dominates, so its best real op weighs ≈ 0.0009 and the edge loses
        // to (1,1) and (1,2), each led by identity.
        let alpha: &[&[f64]] = &[
            &[9.0, 0.0, 1.0],
            &[0.0, 0.0, 0.0],
            &[9.0, 0.0, 2.0],
            &[0.0, 1.0, 0.0],
            &[0.0, 0.5, 0.0],
        ];
        check(
            &WITH_ZERO,
            alpha,
            Relaxation::Darts,
            "0<-0:sep_conv_3x3 0<-1:identity 1<-1:identity 1<-2:identity",
        );
        // Joint softmax: node 0 keeps sep_conv on (0,0) (e^1), then three
        // non-zero pairs tie at e^0 and the lower predecessor wins, so (0,0)
        // is kept twice; the tied zero of (0,1) is never a candidate. Node 1
        // ranks raw α: sep_conv on (1,0) (2.0) beats identity on (1,1).
        check(
            &WITH_ZERO,
            alpha,
            Relaxation::IDarts,
            "0<-0:identity 0<-0:sep_conv_3x3 1<-0:sep_conv_3x3 1<-1:identity",
        );
    }

    #[test]
    fn xdarts_fills_its_inputs_with_real_ops_when_zero_dominates() {
        // Zero dominates both edges of node 0; XDARTS still keeps 2 real
        // ops: identity on (0,1) (e^1), then the tie at e^0 goes to the
        // lower predecessor and the earlier op.
        let alpha: &[&[f64]] = &[&[5.0, 0.0, 0.0], &[5.0, 1.0, 0.0]];
        check(
            &WITH_ZERO,
            alpha,
            Relaxation::XDarts,
            "0<-0:identity 0<-1:identity",
        );
    }

    #[test]
    fn idarts_may_keep_one_predecessor_twice() {
        let alpha: &[&[f64]] = &[&[0.0, 0.0, 0.0], &[3.0, 2.9, 0.0]];
        check(
            &OPS,
            alpha,
            Relaxation::IDarts,
            "0<-1:max_pool_3x3 0<-1:avg_pool_3x3",
        );
        // DARTS cannot: it keeps edges, one op each.
        check(
            &OPS,
            alpha,
            Relaxation::Darts,
            "0<-0:max_pool_3x3 0<-1:max_pool_3x3",
        );
    }

    #[test]
    fn xdarts_keeps_j_plus_two_pairs() {
        let alpha: &[&[f64]] = &[
            &[5.0, 0.0, 0.0],
            &[4.0, 3.0, 0.0],
            &[0.0, 0.0, 0.0],
            &[0.0, 0.0, 0.0],
            &[1.0, 2.0, 3.0],
        ];
        check(
            &OPS,
            alpha,
            Relaxation::XDarts,
            "0<-0:max_pool_3x3 0<-1:max_pool_3x3 1<-2:max_pool_3x3 1<-2:avg_pool_3x3 1<-2:sep_conv_3x3",
        );
        check(
            &OPS,
            alpha,
            Relaxation::IDarts,
            "0<-0:max_pool_3x3 0<-1:max_pool_3x3 1<-2:avg_pool_3x3 1<-2:sep_conv_3x3",
        );
    }

    #[test]
    fn exact_ties_go_to_the_lower_predecessor_then_the_earlier_op() {
        let uniform: &[&[f64]] = &[&[0.0; 3], &[0.0; 3], &[0.0; 3], &[0.0; 3], &[0.0; 3]];
        check(
            &OPS,
            uniform,
            Relaxation::Darts,
            "0<-0:max_pool_3x3 0<-1:max_pool_3x3 1<-0:max_pool_3x3 1<-1:max_pool_3x3",
        );
        check(
            &OPS,
            uniform,
            Relaxation::IDarts,
            "0<-0:max_pool_3x3 0<-0:avg_pool_3x3 1<-0:max_pool_3x3 1<-0:avg_pool_3x3",
        );
        check(
            &OPS,
            uniform,
            Relaxation::XDarts,
            "0<-0:max_pool_3x3 0<-0:avg_pool_3x3 1<-0:max_pool_3x3 1<-0:avg_pool_3x3 1<-0:sep_conv_3x3",
        );
    }

    #[test]
    fn predecessor_beats_op_order_on_a_tie() {
        // Joint softmax: avg_pool on (0,1) leads (e^2); sep_conv on (0,0)
        // and max_pool on (0,1) tie at e^1, and the lower predecessor wins
        // although its op comes later.
        let alpha: &[&[f64]] = &[&[0.0, 0.0, 1.0], &[1.0, 2.0, 0.0]];
        check(
            &OPS,
            alpha,
            Relaxation::IDarts,
            "0<-0:sep_conv_3x3 0<-1:avg_pool_3x3",
        );
        // DARTS: three edges of node 1 tie (same peak, same weight); the two
        // lower predecessors are kept, each with its own best op.
        let alpha: &[&[f64]] = &[
            &[0.0, 0.0, 0.0],
            &[0.0, 0.0, 0.0],
            &[2.0, 0.0, 0.0],
            &[0.0, 2.0, 0.0],
            &[2.0, 0.0, 0.0],
        ];
        check(
            &OPS,
            alpha,
            Relaxation::Darts,
            "0<-0:max_pool_3x3 0<-1:max_pool_3x3 1<-0:max_pool_3x3 1<-1:avg_pool_3x3",
        );
        // Within one DARTS edge, tied ops go to the earlier op.
        let alpha: &[&[f64]] = &[&[0.0, 1.0, 1.0], &[0.0, 0.0, 1.0]];
        check(
            &OPS,
            alpha,
            Relaxation::Darts,
            "0<-0:avg_pool_3x3 0<-1:sep_conv_3x3",
        );
    }

    #[test]
    fn f32_alpha_discretizes_like_its_f64_widening() {
        let space = OpSpace::darts(ZeroConfig::V0);
        let alpha: Vec<f32> = (0..14 * space.len())
            .map(|i| ((i * 7919) % 13) as f32 * 0.1 - 0.6)
            .collect();
        let widened: Vec<f64> = alpha.iter().map(|&v| v as f64).collect();
        for relaxation in [Relaxation::Darts, Relaxation::IDarts, Relaxation::XDarts] {
            assert_eq!(
                discretize_cell(&alpha, &space, 4, relaxation),
                discretize_cell(&widened, &space, 4, relaxation)
            );
        }
    }

    #[test]
    fn discretize_builds_valid_genotypes_for_the_darts_space() {
        for zero in [ZeroConfig::V0, ZeroConfig::V1] {
            let space = OpSpace::darts(zero);
            let n = space.len();
            let normal: Vec<f32> = (0..14 * n)
                .map(|i| ((i * 7919) % 13) as f32 * 0.1)
                .collect();
            let reduce: Vec<f32> = (0..14 * n)
                .map(|i| ((i * 104729) % 17) as f32 * 0.1)
                .collect();
            for relaxation in [Relaxation::Darts, Relaxation::IDarts, Relaxation::XDarts] {
                let g = discretize(&normal, &reduce, &space, 4, relaxation);
                g.validate().unwrap_or_else(|e| panic!("{e}\n{g}"));
                assert_eq!(g.schema_version, GENOTYPE_SCHEMA_VERSION);
                assert_eq!((g.relaxation, g.n_nodes), (relaxation, 4));
                assert_eq!(g.normal, discretize_cell(&normal, &space, 4, relaxation));
                assert_eq!(g.reduce, discretize_cell(&reduce, &space, 4, relaxation));
            }
        }
    }

    #[test]
    #[should_panic(expected = "α has 20 values, a cell of 4 nodes with 3 ops needs 42")]
    fn wrong_alpha_length_panics() {
        discretize_cell(
            &[0.0f32; 20],
            &OpSpace::from_ops(OPS.to_vec()),
            4,
            Relaxation::Darts,
        );
    }

    #[test]
    #[should_panic(expected = "non-zero candidates")]
    fn a_space_of_only_zero_panics() {
        discretize_cell(
            &[0.0f32; 2],
            &OpSpace::from_ops(vec![Zero]),
            1,
            Relaxation::IDarts,
        );
    }
}
