//! The genotype: a discretized architecture, per cell type a list of
//! (node, predecessor, op) triples and the nodes concatenated into the cell
//! output (docs/algorithms.md §2.2). Serialized as schema-versioned JSON.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::space::{OpKind, OpSpace, Relaxation};

/// Version of the genotype JSON layout.
pub const GENOTYPE_SCHEMA_VERSION: u32 = 1;

/// One kept operation: `op` applied to `predecessor` feeds `node`.
/// Predecessor 0 = c_{k-2}, 1 = c_{k-1}, p ≥ 2 = intermediate node p − 2.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct GenotypeEdge {
    pub node: usize,
    pub predecessor: usize,
    pub op: OpKind,
}

/// One cell type's discretized DAG.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CellGenotype {
    /// Sorted by (node, predecessor, op order).
    pub edges: Vec<GenotypeEdge>,
    /// Intermediate nodes concatenated into the cell output.
    pub concat: Vec<usize>,
}

impl CellGenotype {
    /// The kept inputs of `node`.
    pub fn node_inputs(&self, node: usize) -> impl Iterator<Item = &GenotypeEdge> {
        self.edges.iter().filter(move |e| e.node == node)
    }

    /// Which states the cell output depends on, indexed like predecessors
    /// (0, 1 = the cell inputs, p ≥ 2 = node p − 2). A runtime that prunes
    /// dead nodes (tract does) computes only these.
    pub fn live_states(&self, n_nodes: usize) -> Vec<bool> {
        let mut live = vec![false; n_nodes + 2];
        for &j in &self.concat {
            live[j + 2] = true;
        }
        // Edges only point backwards, so one reverse pass settles liveness.
        for node in (0..n_nodes).rev() {
            if live[node + 2] {
                for e in self.node_inputs(node) {
                    live[e.predecessor] = true;
                }
            }
        }
        live
    }
}

/// The architecture found by a search.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Genotype {
    pub schema_version: u32,
    pub relaxation: Relaxation,
    pub n_nodes: usize,
    pub normal: CellGenotype,
    pub reduce: CellGenotype,
}

/// Why a genotype is not a valid architecture.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GenotypeError {
    #[error("unsupported genotype schema_version {0} (expected {GENOTYPE_SCHEMA_VERSION})")]
    Schema(u32),
    #[error("a genotype needs at least one node")]
    NoNodes,
    #[error("{cell} cell: node {node} is outside 0..{n_nodes}")]
    NodeOutOfRange {
        cell: &'static str,
        node: usize,
        n_nodes: usize,
    },
    #[error("{cell} cell: node {node} reads predecessor {predecessor}, but only 0..{} exist", node + 2)]
    PredecessorOutOfRange {
        cell: &'static str,
        node: usize,
        predecessor: usize,
    },
    #[error("{cell} cell: node {node} has {found} inputs, {relaxation} cells keep {expected}")]
    InputCount {
        cell: &'static str,
        node: usize,
        found: usize,
        expected: usize,
        relaxation: Relaxation,
    },
    /// edgenas cells, like DARTS', concatenate every intermediate node in
    /// order: the channel layout of the following cells (arch::shape)
    /// depends on it.
    #[error(
        "{cell} cell: concat is {found:?}; it must list every intermediate node in order, {expected:?} (edgenas cells concatenate all {n_nodes} nodes)"
    )]
    Concat {
        cell: &'static str,
        found: Vec<usize>,
        expected: Vec<usize>,
        n_nodes: usize,
    },
}

/// How many inputs node `node` keeps under `relaxation` (docs/algorithms.md §2.2).
pub fn inputs_per_node(relaxation: Relaxation, node: usize) -> usize {
    match relaxation {
        Relaxation::Darts | Relaxation::IDarts => 2,
        Relaxation::XDarts => node + 2,
    }
}

impl Genotype {
    /// Checks the structure docs/algorithms.md §2.2 requires of each relaxation.
    pub fn validate(&self) -> Result<(), GenotypeError> {
        if self.schema_version != GENOTYPE_SCHEMA_VERSION {
            return Err(GenotypeError::Schema(self.schema_version));
        }
        if self.n_nodes == 0 {
            return Err(GenotypeError::NoNodes);
        }
        for (cell, genotype) in [("normal", &self.normal), ("reduce", &self.reduce)] {
            for e in &genotype.edges {
                if e.node >= self.n_nodes {
                    return Err(GenotypeError::NodeOutOfRange {
                        cell,
                        node: e.node,
                        n_nodes: self.n_nodes,
                    });
                }
                if e.predecessor >= e.node + 2 {
                    return Err(GenotypeError::PredecessorOutOfRange {
                        cell,
                        node: e.node,
                        predecessor: e.predecessor,
                    });
                }
            }
            for node in 0..self.n_nodes {
                let found = genotype.node_inputs(node).count();
                let expected = inputs_per_node(self.relaxation, node);
                if found != expected {
                    return Err(GenotypeError::InputCount {
                        cell,
                        node,
                        found,
                        expected,
                        relaxation: self.relaxation,
                    });
                }
            }
            let expected: Vec<usize> = (0..self.n_nodes).collect();
            if genotype.concat != expected {
                return Err(GenotypeError::Concat {
                    cell,
                    found: genotype.concat.clone(),
                    expected,
                    n_nodes: self.n_nodes,
                });
            }
        }
        Ok(())
    }

    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("genotypes serialize")
    }
}

/// A deterministic `pick` for [`random_genotype`]: `pick(n)` is in 0..n,
/// from a 64-bit LCG seeded with `seed` (Knuth's MMIX constants). For tests
/// and tools that need the same genotype from the same seed without an RNG
/// crate.
pub fn seeded_picker(seed: u64) -> impl FnMut(usize) -> usize {
    let mut state = seed;
    move |n| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) % n as u64) as usize
    }
}

/// How a genotype names predecessor `predecessor` of a node: `c_k-2`, `c_k-1`, `n0`, …
pub fn input_name(predecessor: usize) -> String {
    match predecessor {
        0 => "c_k-2".into(),
        1 => "c_k-1".into(),
        p => format!("n{}", p - 2),
    }
}

impl fmt::Display for CellGenotype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nodes = self.edges.iter().map(|e| e.node).max().map_or(0, |n| n + 1);
        let parts: Vec<String> = (0..nodes)
            .map(|node| {
                let inputs: Vec<String> = self
                    .node_inputs(node)
                    .map(|e| format!("{}({})", e.op, input_name(e.predecessor)))
                    .collect();
                format!("n{node} = {}", inputs.join(" + "))
            })
            .collect();
        write!(f, "{}", parts.join("; "))
    }
}

impl fmt::Display for Genotype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "normal: {}", self.normal)?;
        write!(f, "reduce: {}", self.reduce)
    }
}

/// Samples a uniformly random valid genotype of the discretized space:
/// non-zero ops; DARTS nodes get 2 distinct predecessors, I-DARTS 2 distinct
/// (predecessor, op) pairs, XDARTS j + 2 distinct pairs. `pick(n)` must return
/// a uniform index below `n` (the caller owns the random generator).
pub fn random_genotype(
    relaxation: Relaxation,
    n_nodes: usize,
    space: &OpSpace,
    pick: &mut impl FnMut(usize) -> usize,
) -> Genotype {
    let ops: Vec<OpKind> = space
        .ops()
        .iter()
        .copied()
        .filter(|o| *o != OpKind::Zero)
        .collect();
    let mut cell = || {
        let mut edges = Vec::new();
        for node in 0..n_nodes {
            let mut pairs: Vec<(usize, usize)> = match relaxation {
                Relaxation::Darts => {
                    let mut preds: Vec<usize> = (0..node + 2).collect();
                    let mut chosen = Vec::new();
                    for _ in 0..2 {
                        let p = preds.remove(pick(preds.len()));
                        chosen.push((p, pick(ops.len())));
                    }
                    chosen
                }
                Relaxation::IDarts | Relaxation::XDarts => {
                    let mut all: Vec<(usize, usize)> = (0..node + 2)
                        .flat_map(|p| (0..ops.len()).map(move |o| (p, o)))
                        .collect();
                    (0..inputs_per_node(relaxation, node))
                        .map(|_| all.remove(pick(all.len())))
                        .collect()
                }
            };
            pairs.sort();
            edges.extend(pairs.into_iter().map(|(predecessor, o)| GenotypeEdge {
                node,
                predecessor,
                op: ops[o],
            }));
        }
        CellGenotype {
            edges,
            concat: (0..n_nodes).collect(),
        }
    };
    let normal = cell();
    let reduce = cell();
    Genotype {
        schema_version: GENOTYPE_SCHEMA_VERSION,
        relaxation,
        n_nodes,
        normal,
        reduce,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::ZeroConfig;

    use super::seeded_picker as lcg;

    #[test]
    fn random_genotypes_always_validate() {
        let space = OpSpace::darts(ZeroConfig::V0);
        let mut pick = lcg(42);
        for relaxation in [Relaxation::Darts, Relaxation::IDarts, Relaxation::XDarts] {
            for _ in 0..200 {
                let g = random_genotype(relaxation, 4, &space, &mut pick);
                g.validate().unwrap();
                let json = g.to_json_pretty();
                assert_eq!(Genotype::from_json(&json).unwrap(), g);
            }
        }
    }

    #[test]
    fn live_states_follow_the_concat_backwards() {
        let edge = |node, predecessor| GenotypeEdge {
            node,
            predecessor,
            op: OpKind::Identity,
        };
        // Node 0 ← c_{k-2} twice, node 1 ← node 0 and c_{k-2}; only node 1
        // is concatenated, so c_{k-1} is never read.
        let cell = CellGenotype {
            edges: vec![edge(0, 0), edge(0, 0), edge(1, 0), edge(1, 2)],
            concat: vec![1],
        };
        assert_eq!(cell.live_states(2), vec![true, false, true, true]);
        // Concatenating only node 0 leaves node 1 dead.
        let cell = CellGenotype {
            concat: vec![0],
            ..cell
        };
        assert_eq!(cell.live_states(2), vec![true, false, true, false]);
    }

    fn sample() -> Genotype {
        random_genotype(
            Relaxation::Darts,
            2,
            &OpSpace::darts(ZeroConfig::V1),
            &mut lcg(1),
        )
    }

    #[test]
    fn validate_rejects_broken_genotypes() {
        let mut g = sample();
        g.schema_version = 9;
        assert_eq!(g.validate(), Err(GenotypeError::Schema(9)));

        // A `zero` edge is valid: zero configurations V2–V4 keep them.
        let mut g = sample();
        g.normal.edges[0].op = OpKind::Zero;
        assert_eq!(g.validate(), Ok(()));

        let mut g = sample();
        g.reduce.edges[0].predecessor = 5;
        assert!(matches!(
            g.validate(),
            Err(GenotypeError::PredecessorOutOfRange { .. })
        ));

        let mut g = sample();
        g.normal.edges.pop();
        assert!(matches!(
            g.validate(),
            Err(GenotypeError::InputCount { .. })
        ));

        // Empty, partial, duplicated and out-of-range concat lists (they
        // crashed `retrain` in burn's Cat).
        for concat in [vec![], vec![0], vec![0, 0], vec![1, 0], vec![0, 2]] {
            let mut g = sample();
            g.reduce.concat = concat.clone();
            assert!(
                matches!(g.validate(), Err(GenotypeError::Concat { ref found, .. }) if *found == concat),
                "{concat:?}"
            );
        }

        let mut g = sample();
        g.relaxation = Relaxation::XDarts;
        assert!(matches!(
            g.validate(),
            Err(GenotypeError::InputCount { .. })
        ));
    }

    #[test]
    fn display_names_inputs() {
        let g = Genotype {
            schema_version: 1,
            relaxation: Relaxation::Darts,
            n_nodes: 1,
            normal: CellGenotype {
                edges: vec![
                    GenotypeEdge {
                        node: 0,
                        predecessor: 0,
                        op: OpKind::SepConv3x3,
                    },
                    GenotypeEdge {
                        node: 0,
                        predecessor: 1,
                        op: OpKind::Identity,
                    },
                ],
                concat: vec![0],
            },
            reduce: CellGenotype {
                edges: vec![],
                concat: vec![0],
            },
        };
        assert_eq!(
            g.normal.to_string(),
            "n0 = sep_conv_3x3(c_k-2) + identity(c_k-1)"
        );
    }
}
