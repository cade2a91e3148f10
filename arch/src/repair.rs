//! Fitting a genotype into a latency budget (docs/algorithms.md §4.4).
//!
//! A budget search ends with a discretized genotype whose predicted latency
//! may still exceed the budget. [`repair`] fixes that with the least loss of
//! α strength per millisecond saved: it repeatedly applies the single move
//! (one kept `(predecessor, op)` pair of one node replaced by another valid
//! pair) with the smallest `strength lost / ms saved`, until the prediction
//! is within budget. [`cheapest`] finds the fastest genotype the space
//! allows, which bounds every budget from below.
//!
//! Both are generic over the latency function so that this crate stays free
//! of the latency table: callers pass the table's prediction.

use serde::{Deserialize, Serialize};

use crate::diagnostics::relaxation_weights;
use crate::genotype::{CellGenotype, Genotype, GenotypeEdge, input_name, random_genotype};
use crate::space::{OpKind, OpSpace, Relaxation, node_first_edge};

/// One move of a repair, as `search.json` records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Repair {
    /// `normal` or `reduce`.
    pub cell: String,
    pub node: usize,
    pub from_predecessor: usize,
    pub from_op: OpKind,
    pub to_predecessor: usize,
    pub to_op: OpKind,
    /// Relaxation weight of the removed pair minus that of the added one
    /// (negative when the added pair is the stronger).
    pub strength_lost: f64,
    /// Predicted latency saved by the move (ms).
    pub saved_ms: f64,
    /// Predicted latency after the move (ms).
    pub predicted_ms: f64,
}

impl std::fmt::Display for Repair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} n{}: {}({}) → {}({}), strength −{:.4}, −{:.3} ms → {:.3} ms",
            self.cell,
            self.node,
            self.from_op,
            input_name(self.from_predecessor),
            self.to_op,
            input_name(self.to_predecessor),
            self.strength_lost,
            self.saved_ms,
            self.predicted_ms
        )
    }
}

/// The relaxation weight of every `(node, predecessor, op)` of both cell
/// types: the scores discretization ranks by (docs/algorithms.md §2.2).
#[derive(Debug, Clone)]
pub struct Strengths {
    space: OpSpace,
    n_nodes: usize,
    normal: Vec<f64>,
    reduce: Vec<f64>,
}

impl Strengths {
    /// From α (row-major `[edges, ops]` per cell type, columns in `space`
    /// order) under `relaxation`.
    pub fn new(
        alpha_normal: &[f32],
        alpha_reduce: &[f32],
        space: &OpSpace,
        n_nodes: usize,
        relaxation: Relaxation,
    ) -> Self {
        let weights = |alpha: &[f32]| {
            let alpha: Vec<f64> = alpha.iter().map(|&v| v as f64).collect();
            relaxation_weights(&alpha, space.len(), n_nodes, relaxation)
        };
        Self {
            space: space.clone(),
            n_nodes,
            normal: weights(alpha_normal),
            reduce: weights(alpha_reduce),
        }
    }

    fn of(&self, reduce: bool, node: usize, predecessor: usize, op: OpKind) -> f64 {
        let column = self
            .space
            .position(op)
            .expect("the genotype's ops are in the space");
        let row = node_first_edge(node) + predecessor;
        let w = if reduce { &self.reduce } else { &self.normal };
        w[row * self.space.len() + column]
    }
}

/// A genotype one move away from another, with the move.
struct Neighbour {
    genotype: Genotype,
    reduce: bool,
    node: usize,
    from: (usize, OpKind),
    to: (usize, OpKind),
}

/// Every genotype one move away from `g`: one kept pair of one node
/// replaced by a pair the relaxation allows there (DARTS: a predecessor the
/// node does not already read; I-DARTS/XDARTS: a pair the node does not
/// already keep), never `zero`.
fn neighbours(g: &Genotype, space: &OpSpace) -> Vec<Neighbour> {
    let ops: Vec<OpKind> = space
        .ops()
        .iter()
        .copied()
        .filter(|&o| o != OpKind::Zero)
        .collect();
    let mut out = Vec::new();
    for reduce in [false, true] {
        let cell = if reduce { &g.reduce } else { &g.normal };
        for node in 0..g.n_nodes {
            let kept: Vec<&GenotypeEdge> = cell.node_inputs(node).collect();
            for (i, edge) in kept.iter().enumerate() {
                let others: Vec<&&GenotypeEdge> = kept
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, e)| e)
                    .collect();
                for predecessor in 0..node + 2 {
                    if g.relaxation == Relaxation::Darts
                        && others.iter().any(|e| e.predecessor == predecessor)
                    {
                        continue;
                    }
                    for &op in &ops {
                        if (predecessor, op) == (edge.predecessor, edge.op)
                            || others
                                .iter()
                                .any(|e| (e.predecessor, e.op) == (predecessor, op))
                        {
                            continue;
                        }
                        let mut next = g.clone();
                        let cell = if reduce {
                            &mut next.reduce
                        } else {
                            &mut next.normal
                        };
                        replace(cell, node, edge, predecessor, op, space);
                        out.push(Neighbour {
                            genotype: next,
                            reduce,
                            node,
                            from: (edge.predecessor, edge.op),
                            to: (predecessor, op),
                        });
                    }
                }
            }
        }
    }
    out
}

/// Replaces `edge` of `node` by `(predecessor, op)`, keeping the edges
/// sorted by (node, predecessor, op order) as discretization writes them.
fn replace(
    cell: &mut CellGenotype,
    node: usize,
    edge: &GenotypeEdge,
    predecessor: usize,
    op: OpKind,
    space: &OpSpace,
) {
    let at = cell
        .edges
        .iter()
        .position(|e| e == edge)
        .expect("the edge is in the cell");
    cell.edges[at] = GenotypeEdge {
        node,
        predecessor,
        op,
    };
    cell.edges
        .sort_by_key(|e| (e.node, e.predecessor, space.position(e.op)));
}

/// The result of [`repair`].
#[derive(Debug, Clone)]
pub struct Repaired {
    pub genotype: Genotype,
    /// Predicted latency of `genotype` (ms).
    pub predicted_ms: f64,
    /// The moves, in order (empty when the genotype was within budget).
    pub repairs: Vec<Repair>,
    /// False when no single move saves latency any more and the prediction
    /// is still over budget (a local minimum; see [`cheapest`]).
    pub within_budget: bool,
}

/// Moves `genotype` within `budget_ms` of predicted latency, each step
/// taking the move with the least strength lost per millisecond saved
/// (ties: the first in enumeration order). `latency` predicts a genotype's
/// latency in ms.
pub fn repair<E>(
    genotype: Genotype,
    strengths: &Strengths,
    budget_ms: f64,
    latency: &mut dyn FnMut(&Genotype) -> Result<f64, E>,
) -> Result<Repaired, E> {
    let space = strengths.space.clone();
    debug_assert_eq!(genotype.n_nodes, strengths.n_nodes);
    let mut current = genotype;
    let mut predicted = latency(&current)?;
    let mut repairs = Vec::new();
    while predicted > budget_ms {
        let mut best: Option<(f64, Neighbour, f64, f64)> = None;
        for n in neighbours(&current, &space) {
            let ms = latency(&n.genotype)?;
            let saved = predicted - ms;
            if saved <= 1e-12 {
                continue;
            }
            let lost = strengths.of(n.reduce, n.node, n.from.0, n.from.1)
                - strengths.of(n.reduce, n.node, n.to.0, n.to.1);
            let ratio = lost / saved;
            if best.as_ref().is_none_or(|(r, ..)| ratio < *r) {
                best = Some((ratio, n, lost, ms));
            }
        }
        let Some((_, n, lost, ms)) = best else {
            return Ok(Repaired {
                genotype: current,
                predicted_ms: predicted,
                repairs,
                within_budget: false,
            });
        };
        repairs.push(Repair {
            cell: if n.reduce { "reduce" } else { "normal" }.to_string(),
            node: n.node,
            from_predecessor: n.from.0,
            from_op: n.from.1,
            to_predecessor: n.to.0,
            to_op: n.to.1,
            strength_lost: lost,
            saved_ms: predicted - ms,
            predicted_ms: ms,
        });
        current = n.genotype;
        predicted = ms;
    }
    Ok(Repaired {
        genotype: current,
        predicted_ms: predicted,
        repairs,
        within_budget: true,
    })
}

/// Starting points of [`cheapest`]'s descents.
const CHEAPEST_STARTS: u64 = 6;

/// The fastest genotype of the space by `latency`: steepest descent over
/// single moves from several seeded random genotypes, the best local
/// minimum kept. Deterministic. Returns the genotype and its latency.
pub fn cheapest<E>(
    relaxation: Relaxation,
    n_nodes: usize,
    space: &OpSpace,
    latency: &mut dyn FnMut(&Genotype) -> Result<f64, E>,
) -> Result<(Genotype, f64), E> {
    let mut best: Option<(Genotype, f64)> = None;
    for start in 0..CHEAPEST_STARTS {
        let mut state = start.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut pick = |n: usize| {
            // xorshift64*: a small deterministic generator is all a start needs.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
        };
        let mut g = random_genotype(relaxation, n_nodes, space, &mut pick);
        let mut ms = latency(&g)?;
        loop {
            let mut step: Option<(Genotype, f64)> = None;
            for n in neighbours(&g, space) {
                let l = latency(&n.genotype)?;
                if l < ms - 1e-12 && step.as_ref().is_none_or(|(_, s)| l < *s) {
                    step = Some((n.genotype, l));
                }
            }
            match step {
                Some((next, l)) => (g, ms) = (next, l),
                None => break,
            }
        }
        if best.as_ref().is_none_or(|(_, b)| ms < *b) {
            best = Some((g, ms));
        }
    }
    Ok(best.expect("at least one start"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::ZeroConfig;
    use std::convert::Infallible;

    /// A latency that is the sum of per-op costs of every kept edge (a
    /// stand-in for the table: additive, no sharing).
    fn additive(g: &Genotype) -> Result<f64, Infallible> {
        let cost = |op: OpKind| match op {
            OpKind::SepConv5x5 => 5.0,
            OpKind::SepConv3x3 => 3.0,
            OpKind::DilConv5x5 => 4.0,
            OpKind::DilConv3x3 => 2.0,
            OpKind::MaxPool3x3 | OpKind::AvgPool3x3 => 0.5,
            OpKind::Identity => 0.25,
            OpKind::Zero => 0.0,
            _ => 10.0,
        };
        Ok(g.normal
            .edges
            .iter()
            .chain(&g.reduce.edges)
            .map(|e| cost(e.op))
            .sum())
    }

    fn darts_alpha(n_nodes: usize, space: &OpSpace, favour: OpKind) -> Vec<f32> {
        let col = space.position(favour).unwrap();
        (0..node_first_edge(n_nodes))
            .flat_map(|e| {
                (0..space.len()).map(move |c| if c == col { 2.0 + 0.01 * e as f32 } else { 0.0 })
            })
            .collect()
    }

    #[test]
    fn repair_meets_the_budget_and_records_each_move() {
        let space = OpSpace::darts(ZeroConfig::V1);
        let alpha = darts_alpha(2, &space, OpKind::SepConv5x5);
        let g = crate::discretize(&alpha, &alpha, &space, 2, Relaxation::Darts);
        // 8 edges of sep_conv_5x5: 40 ms.
        assert_eq!(additive(&g).unwrap(), 40.0);
        let strengths = Strengths::new(&alpha, &alpha, &space, 2, Relaxation::Darts);
        let fixed = repair(g.clone(), &strengths, 31.0, &mut additive).unwrap();
        assert!(fixed.within_budget);
        assert!(fixed.predicted_ms <= 31.0, "{}", fixed.predicted_ms);
        fixed.genotype.validate().unwrap();
        // Each move is recorded with the latency it leaves, ending at the
        // final prediction; the savings add up.
        let last = fixed.repairs.last().unwrap();
        assert_eq!(last.predicted_ms, fixed.predicted_ms);
        let saved: f64 = fixed.repairs.iter().map(|r| r.saved_ms).sum();
        assert!((40.0 - saved - fixed.predicted_ms).abs() < 1e-9);
        // Every op but sep_conv_5x5 has the same (low) strength, so the
        // cheapest saving per strength is the largest saving: 5 → 0.25 ms
        // (identity) on the weakest sep_conv_5x5 edge (the first: α grows
        // with the edge index). Two moves reach 30.5 ms.
        assert_eq!(fixed.repairs.len(), 2, "{:?}", fixed.repairs);
        for r in &fixed.repairs {
            assert_eq!(r.from_op, OpKind::SepConv5x5);
            assert_eq!(r.to_op, OpKind::Identity);
            assert!((r.saved_ms - 4.75).abs() < 1e-12);
            assert_eq!((r.node, r.from_predecessor), (0, 0));
        }
    }

    #[test]
    fn repair_keeps_a_genotype_within_budget_unchanged() {
        let space = OpSpace::darts(ZeroConfig::V1);
        let alpha = darts_alpha(2, &space, OpKind::SepConv3x3);
        let g = crate::discretize(&alpha, &alpha, &space, 2, Relaxation::Darts);
        let strengths = Strengths::new(&alpha, &alpha, &space, 2, Relaxation::Darts);
        let fixed = repair(g.clone(), &strengths, 24.0, &mut additive).unwrap();
        assert!(fixed.repairs.is_empty());
        assert_eq!(fixed.genotype, g);
    }

    #[test]
    fn repair_prefers_the_weaker_edge() {
        // Two sep_conv_5x5 edges of different strength: the weaker one goes.
        let space = OpSpace::from_ops(vec![OpKind::SepConv5x5, OpKind::Identity]);
        let alpha_n: Vec<f32> = vec![3.0, 0.0, 1.0, 0.0]; // node 0: pred 0 strong, pred 1 weak
        let alpha_r: Vec<f32> = vec![0.0, 3.0, 0.0, 3.0]; // identity everywhere
        let g = crate::discretize(&alpha_n, &alpha_r, &space, 1, Relaxation::Darts);
        let strengths = Strengths::new(&alpha_n, &alpha_r, &space, 1, Relaxation::Darts);
        let fixed = repair(g, &strengths, 6.0, &mut additive).unwrap();
        assert_eq!(fixed.repairs.len(), 1);
        let r = &fixed.repairs[0];
        assert_eq!((r.cell.as_str(), r.from_predecessor), ("normal", 1));
        assert_eq!(r.to_op, OpKind::Identity);
    }

    #[test]
    fn cheapest_finds_the_all_identity_genotype_of_an_additive_cost() {
        let space = OpSpace::darts(ZeroConfig::V0);
        for relaxation in [Relaxation::Darts, Relaxation::IDarts, Relaxation::XDarts] {
            let (g, ms) = cheapest(relaxation, 3, &space, &mut additive).unwrap();
            g.validate().unwrap();
            // Node j has j + 2 predecessors and keeps at most j + 2 pairs,
            // so every kept pair can be an identity on its own predecessor.
            let edges = g.normal.edges.len() + g.reduce.edges.len();
            assert_eq!(ms, 0.25 * edges as f64, "{relaxation}");
            assert!(g.normal.edges.iter().all(|e| e.op == OpKind::Identity));
            assert!(g.normal.edges.iter().all(|e| e.op != OpKind::Zero));
        }
    }
}
