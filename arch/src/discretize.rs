//! Discretization: from α to a genotype, for the DARTS, I-DARTS and XDARTS
//! relaxations (docs/algorithms.md §2.2).

use std::cmp::Ordering;

use crate::diagnostics::relaxation_weights;
use crate::genotype::{CellGenotype, GENOTYPE_SCHEMA_VERSION, Genotype, GenotypeEdge};
use crate::space::{OpSpace, Relaxation, node_first_edge};

/// A kept-edge candidate: its strength, predecessor and α column.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    strength: f64,
    predecessor: usize,
    column: usize,
}

/// Strongest first; ties break by lower predecessor index, then by op order
/// (the α column order is the space's op order). docs/algorithms.md §2.2 fixes this rule
/// for all three relaxations so that exact ties (e.g. a uniform α at
/// initialization) give one deterministic genotype.
fn rank(a: &Candidate, b: &Candidate) -> Ordering {
    b.strength
        .partial_cmp(&a.strength)
        .unwrap_or(Ordering::Equal)
        .then(a.predecessor.cmp(&b.predecessor))
        .then(a.column.cmp(&b.column))
}

/// Discretizes one cell's α (row-major `[edges, ops]`, rows in
/// [`cell_edges`](crate::space::cell_edges) order, columns in `space` order).
///
/// `zero` takes part in the softmax when it is a candidate; V0 never keeps
/// it, V2–V4 keep it like any op.
pub fn discretize_cell(
    alpha: &[f32],
    space: &OpSpace,
    n_nodes: usize,
    relaxation: Relaxation,
) -> CellGenotype {
    let alpha: Vec<f64> = alpha.iter().map(|&v| v as f64).collect();
    discretize_cell_f64(&alpha, space, n_nodes, relaxation)
}

/// [`discretize_cell`] on f64 α (the golden vectors are given in f64).
pub fn discretize_cell_f64(
    alpha: &[f64],
    space: &OpSpace,
    n_nodes: usize,
    relaxation: Relaxation,
) -> CellGenotype {
    let n_ops = space.len();
    let weights = relaxation_weights(alpha, n_ops, n_nodes, relaxation);
    let keeps_op = |column: usize| space.keeps(space.ops()[column]);
    let mut edges = Vec::new();
    for node in 0..n_nodes {
        let first = node_first_edge(node);
        let row = |pred: usize| &weights[(first + pred) * n_ops..(first + pred + 1) * n_ops];
        let mut candidates: Vec<Candidate> = match relaxation {
            // One candidate per edge: its best non-zero op, whose weight is
            // the edge's strength.
            Relaxation::Darts => (0..node + 2)
                .filter_map(|pred| {
                    (0..n_ops)
                        .filter(|&c| keeps_op(c))
                        .map(|column| Candidate {
                            strength: row(pred)[column],
                            predecessor: pred,
                            column,
                        })
                        .min_by(rank)
                })
                .collect(),
            // Every non-zero (predecessor, op) pair competes.
            Relaxation::IDarts | Relaxation::XDarts => (0..node + 2)
                .flat_map(|pred| {
                    (0..n_ops)
                        .filter(|&c| keeps_op(c))
                        .map(move |column| Candidate {
                            strength: row(pred)[column],
                            predecessor: pred,
                            column,
                        })
                })
                .collect(),
        };
        candidates.sort_by(rank);
        let keep = match relaxation {
            Relaxation::Darts | Relaxation::IDarts => 2,
            // Decision (docs/algorithms.md §2.2): node j keeps as many pairs as it has
            // predecessors, j + 2, possibly one predecessor with two ops.
            Relaxation::XDarts => node + 2,
        };
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

/// Discretizes both cell types into a genotype.
pub fn discretize(
    alpha_normal: &[f32],
    alpha_reduce: &[f32],
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
    use crate::space::{OpKind, ZeroConfig};

    /// Data-driven check: α rows for a cell with `n_nodes` nodes over `ops`,
    /// expected genotype as `node<-pred:op` items.
    fn check(
        ops: &[OpKind],
        n_nodes: usize,
        alpha: &[&[f64]],
        relaxation: Relaxation,
        expect: &str,
    ) {
        let space = OpSpace::from_ops(ops.to_vec());
        let flat: Vec<f64> = alpha.iter().flat_map(|r| r.iter().copied()).collect();
        let cell = discretize_cell_f64(&flat, &space, n_nodes, relaxation);
        let got: Vec<String> = cell
            .edges
            .iter()
            .map(|e| format!("{}<-{}:{}", e.node, e.predecessor, e.op))
            .collect();
        assert_eq!(got.join(" "), expect, "{relaxation}");
    }

    use OpKind::*;
    const POOLS: [OpKind; 3] = [MaxPool3x3, AvgPool3x3, SepConv3x3];
    const WITH_ZERO: [OpKind; 3] = [Zero, Identity, SepConv3x3];

    #[test]
    fn darts_keeps_each_nodes_two_strongest_edges() {
        // n = 2 nodes: node 0 has 2 edges, node 1 has 3 (rows 2, 3, 4).
        let alpha: &[&[f64]] = &[
            &[0.0, 1.0, 0.0],
            &[2.0, 0.0, 0.0],
            &[0.0, 0.0, 0.1],
            &[0.0, 0.0, 3.0],
            &[0.0, 2.0, 0.0],
        ];
        check(
            &POOLS,
            2,
            alpha,
            Relaxation::Darts,
            "0<-0:avg_pool_3x3 0<-1:max_pool_3x3 1<-1:sep_conv_3x3 1<-2:avg_pool_3x3",
        );
    }

    #[test]
    fn a_dominant_zero_is_never_kept_but_still_weakens_its_edge() {
        // Edge (0,0): zero dominates, so its best real op is weak (≈ 0.0003);
        // edge (0,1) is uniform (1/3 each). DARTS keeps both (only 2 edges),
        // each with its best non-zero op.
        let alpha: &[&[f64]] = &[&[9.0, 0.0, 1.0], &[0.0, 0.0, 0.0]];
        check(
            &WITH_ZERO,
            1,
            alpha,
            Relaxation::Darts,
            "0<-0:sep_conv_3x3 0<-1:identity",
        );
        // Joint softmax over the node's 6 pairs: sep_conv on edge (0,0) is
        // strongest (e^1), then four pairs tie at e^0 and the lower
        // predecessor wins, so edge (0,0) is kept twice.
        check(
            &WITH_ZERO,
            1,
            alpha,
            Relaxation::IDarts,
            "0<-0:identity 0<-0:sep_conv_3x3",
        );
    }

    /// V2–V4 keep `zero` like any op; V0 never does. Columns [zero,
    /// max_pool_3x3, avg_pool_3x3]; edge (0,0) is dominated by `zero`.
    #[test]
    fn zero_configurations_v2_to_v4_keep_a_dominant_zero() {
        let flat = [9.0, 0.0, 1.0, 0.0, 1.0, 0.0];
        for (zero, want) in [
            (ZeroConfig::V0, "0<-0:avg_pool_3x3 0<-1:max_pool_3x3"),
            (ZeroConfig::V2, "0<-0:zero 0<-1:max_pool_3x3"),
            (ZeroConfig::V3, "0<-0:zero 0<-1:max_pool_3x3"),
            (ZeroConfig::V4, "0<-0:zero 0<-1:max_pool_3x3"),
        ] {
            let full = OpSpace::darts(zero);
            let json = serde_json::json!({"ops": &full.ops()[..3], "zero": full.zero()});
            let space: OpSpace = serde_json::from_value(json).unwrap();
            let g = discretize_cell_f64(&flat, &space, 1, Relaxation::Darts);
            let kept: Vec<String> = g
                .edges
                .iter()
                .map(|e| format!("{}<-{}:{}", e.node, e.predecessor, e.op))
                .collect();
            assert_eq!(kept.join(" "), want, "{zero}");
        }
    }

    #[test]
    fn idarts_may_keep_one_predecessor_twice() {
        let alpha: &[&[f64]] = &[&[0.0, 0.0, 0.0], &[3.0, 2.9, 0.0]];
        check(
            &POOLS,
            1,
            alpha,
            Relaxation::IDarts,
            "0<-1:max_pool_3x3 0<-1:avg_pool_3x3",
        );
        // DARTS cannot: it keeps edges, one op each.
        check(
            &POOLS,
            1,
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
            &POOLS,
            2,
            alpha,
            Relaxation::XDarts,
            "0<-0:max_pool_3x3 0<-1:max_pool_3x3 1<-2:max_pool_3x3 1<-2:avg_pool_3x3 1<-2:sep_conv_3x3",
        );
    }

    #[test]
    fn exact_ties_go_to_the_lower_predecessor_then_the_earlier_op() {
        let uniform: &[&[f64]] = &[&[0.0; 3], &[0.0; 3], &[0.0; 3], &[0.0; 3], &[0.0; 3]];
        check(
            &POOLS,
            2,
            uniform,
            Relaxation::Darts,
            "0<-0:max_pool_3x3 0<-1:max_pool_3x3 1<-0:max_pool_3x3 1<-1:max_pool_3x3",
        );
        check(
            &POOLS,
            2,
            uniform,
            Relaxation::IDarts,
            "0<-0:max_pool_3x3 0<-0:avg_pool_3x3 1<-0:max_pool_3x3 1<-0:avg_pool_3x3",
        );
        check(
            &POOLS,
            2,
            uniform,
            Relaxation::XDarts,
            "0<-0:max_pool_3x3 0<-0:avg_pool_3x3 1<-0:max_pool_3x3 1<-0:avg_pool_3x3 1<-0:sep_conv_3x3",
        );
    }

    #[test]
    fn discretize_builds_valid_genotypes_for_the_darts_space() {
        for zero in [ZeroConfig::V0, ZeroConfig::V1] {
            let space = OpSpace::darts(zero);
            let n = space.len();
            let alpha: Vec<f32> = (0..14 * n)
                .map(|i| ((i * 7919) % 13) as f32 * 0.1)
                .collect();
            for relaxation in [Relaxation::Darts, Relaxation::IDarts, Relaxation::XDarts] {
                let g = discretize(&alpha, &alpha, &space, 4, relaxation);
                g.validate().unwrap();
            }
        }
    }
}
