//! The search space's vocabulary: candidate operations, zero-op configurations,
//! relaxations, and the edge layout of a cell (docs/algorithms.md §2.1–2.2).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One candidate operation of the DARTS space (docs/algorithms.md §2.1, space 3), plus `zero`.
///
/// The declaration order is the canonical op order used for tie-breaking
/// (docs/algorithms.md §2.2) and for the columns of α.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Zero,
    #[serde(rename = "max_pool_3x3")]
    MaxPool3x3,
    #[serde(rename = "avg_pool_3x3")]
    AvgPool3x3,
    Identity,
    #[serde(rename = "sep_conv_3x3")]
    SepConv3x3,
    #[serde(rename = "sep_conv_5x5")]
    SepConv5x5,
    #[serde(rename = "dil_conv_3x3")]
    DilConv3x3,
    #[serde(rename = "dil_conv_5x5")]
    DilConv5x5,
}

impl OpKind {
    /// Every op of the DARTS space in canonical order, `zero` first.
    pub const ALL: [OpKind; 8] = [
        OpKind::Zero,
        OpKind::MaxPool3x3,
        OpKind::AvgPool3x3,
        OpKind::Identity,
        OpKind::SepConv3x3,
        OpKind::SepConv5x5,
        OpKind::DilConv3x3,
        OpKind::DilConv5x5,
    ];

    /// The name used in genotypes, LUT keys and ONNX node names.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Zero => "zero",
            OpKind::MaxPool3x3 => "max_pool_3x3",
            OpKind::AvgPool3x3 => "avg_pool_3x3",
            OpKind::Identity => "identity",
            OpKind::SepConv3x3 => "sep_conv_3x3",
            OpKind::SepConv5x5 => "sep_conv_5x5",
            OpKind::DilConv3x3 => "dil_conv_3x3",
            OpKind::DilConv5x5 => "dil_conv_5x5",
        }
    }

    /// True for ops without weights (pools, identity at stride 1, zero).
    pub fn is_parameter_free(self) -> bool {
        matches!(
            self,
            OpKind::Zero | OpKind::MaxPool3x3 | OpKind::AvgPool3x3 | OpKind::Identity
        )
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for OpKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OpKind::ALL
            .into_iter()
            .find(|op| op.name() == s)
            .ok_or_else(|| format!("unknown operation `{s}`"))
    }
}

/// How the `zero` operation takes part in the search (docs/algorithms.md §2.1, Table 3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ZeroConfig {
    /// DARTS/CDARTS: `zero` is a candidate in the search network and excluded
    /// at discretization.
    V0,
    /// Default: `zero` is not a candidate at all.
    #[default]
    V1,
}

impl FromStr for ZeroConfig {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "v0" => Ok(ZeroConfig::V0),
            "v1" => Ok(ZeroConfig::V1),
            _ => Err(format!(
                "unknown zero-op configuration `{s}` (expected v0 or v1)"
            )),
        }
    }
}

/// The candidate operations of every mixed edge, in α column order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OpSpace {
    ops: Vec<OpKind>,
}

impl OpSpace {
    /// The DARTS space (docs/algorithms.md §2.1 space 3) under a zero-op configuration.
    pub fn darts(zero: ZeroConfig) -> Self {
        let ops = OpKind::ALL
            .into_iter()
            .filter(|op| zero == ZeroConfig::V0 || *op != OpKind::Zero)
            .collect();
        Self { ops }
    }

    /// A space from an explicit op list (kept in the given column order).
    pub fn from_ops(ops: Vec<OpKind>) -> Self {
        Self { ops }
    }

    pub fn ops(&self) -> &[OpKind] {
        &self.ops
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The column of `op` in α, if it is a candidate.
    pub fn position(&self, op: OpKind) -> Option<usize> {
        self.ops.iter().position(|o| *o == op)
    }
}

/// How a cell's α is relaxed in the search network and discretized (docs/algorithms.md §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Relaxation {
    /// Softmax per edge; keep the 2 strongest edges per node.
    #[default]
    Darts,
    /// One softmax over all (edge, op) pairs entering a node; keep 2 pairs.
    #[serde(rename = "idarts")]
    IDarts,
    /// Joint softmax as I-DARTS; node j keeps j + 2 pairs.
    #[serde(rename = "xdarts")]
    XDarts,
}

impl Relaxation {
    pub fn name(self) -> &'static str {
        match self {
            Relaxation::Darts => "darts",
            Relaxation::IDarts => "idarts",
            Relaxation::XDarts => "xdarts",
        }
    }

    /// True when the softmax runs jointly over all (edge, op) pairs of a node.
    pub fn is_joint(self) -> bool {
        !matches!(self, Relaxation::Darts)
    }
}

impl fmt::Display for Relaxation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Relaxation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "darts" => Ok(Relaxation::Darts),
            "idarts" => Ok(Relaxation::IDarts),
            "xdarts" => Ok(Relaxation::XDarts),
            _ => Err(format!(
                "unknown cell relaxation `{s}` (expected darts, idarts or xdarts)"
            )),
        }
    }
}

/// The edges of a cell with `n_nodes` intermediate nodes, in α row order:
/// `(node, predecessor)` with node j (0-based) fed by predecessors
/// `0..j + 2` — 0 = c_{k-2}, 1 = c_{k-1}, p >= 2 = intermediate node p - 2.
pub fn cell_edges(n_nodes: usize) -> Vec<(usize, usize)> {
    (0..n_nodes)
        .flat_map(|node| (0..node + 2).map(move |pred| (node, pred)))
        .collect()
}

/// Index of the first α row of `node`'s incoming edges.
pub fn node_first_edge(node: usize) -> usize {
    // Σ_{i<node} (i + 2) = node·(node + 3)/2
    node * (node + 3) / 2
}

/// Number of mixed edges in a cell: Σ_j (j + 2).
pub fn edge_count(n_nodes: usize) -> usize {
    node_first_edge(n_nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_layout_matches_spec() {
        assert_eq!(edge_count(4), 14);
        let edges = cell_edges(4);
        assert_eq!(edges.len(), 14);
        assert_eq!(edges[0], (0, 0));
        assert_eq!(edges[2], (1, 0));
        assert_eq!(edges[13], (3, 4));
        for node in 0..4 {
            assert_eq!(edges[node_first_edge(node)], (node, 0));
        }
    }

    #[test]
    fn op_names_round_trip() {
        for op in OpKind::ALL {
            assert_eq!(op.name().parse::<OpKind>().unwrap(), op);
            let json = serde_json::to_string(&op).unwrap();
            assert_eq!(json, format!("\"{}\"", op.name()));
        }
        assert!("conv_3x3".parse::<OpKind>().is_err());
    }

    #[test]
    fn spaces_follow_zero_config() {
        assert_eq!(OpSpace::darts(ZeroConfig::V1).len(), 7);
        assert_eq!(OpSpace::darts(ZeroConfig::V0).ops()[0], OpKind::Zero);
        assert_eq!(OpSpace::darts(ZeroConfig::V1).ops()[0], OpKind::MaxPool3x3);
    }
}
