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
    // Op space 2 (simple, NASNet).
    #[serde(rename = "min_conv_3x3")]
    MinConv3x3,
    #[serde(rename = "min_conv_5x5")]
    MinConv5x5,
    #[serde(rename = "std_conv_3x3")]
    StdConv3x3,
    #[serde(rename = "std_conv_5x5")]
    StdConv5x5,
    #[serde(rename = "conv_7x1_1x7")]
    Conv7x1x1x7,
    #[serde(rename = "conv_9x1_1x9")]
    Conv9x1x1x9,
}

impl OpKind {
    /// Every op edgenas knows, in canonical order, `zero` first.
    pub const ALL: [OpKind; 14] = [
        OpKind::Zero,
        OpKind::MaxPool3x3,
        OpKind::AvgPool3x3,
        OpKind::Identity,
        OpKind::SepConv3x3,
        OpKind::SepConv5x5,
        OpKind::DilConv3x3,
        OpKind::DilConv5x5,
        OpKind::MinConv3x3,
        OpKind::MinConv5x5,
        OpKind::StdConv3x3,
        OpKind::StdConv5x5,
        OpKind::Conv7x1x1x7,
        OpKind::Conv9x1x1x9,
    ];

    /// Op space 3 (DARTS) in canonical order, `zero` first.
    pub const DARTS: [OpKind; 8] = [
        OpKind::Zero,
        OpKind::MaxPool3x3,
        OpKind::AvgPool3x3,
        OpKind::Identity,
        OpKind::SepConv3x3,
        OpKind::SepConv5x5,
        OpKind::DilConv3x3,
        OpKind::DilConv5x5,
    ];

    /// Op space 2 (simple, NASNet) in canonical order, `zero` first: the
    /// pools and identity, then plain convolutions.
    pub const SIMPLE: [OpKind; 10] = [
        OpKind::Zero,
        OpKind::MaxPool3x3,
        OpKind::AvgPool3x3,
        OpKind::Identity,
        OpKind::MinConv3x3,
        OpKind::MinConv5x5,
        OpKind::StdConv3x3,
        OpKind::StdConv5x5,
        OpKind::Conv7x1x1x7,
        OpKind::Conv9x1x1x9,
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
            OpKind::MinConv3x3 => "min_conv_3x3",
            OpKind::MinConv5x5 => "min_conv_5x5",
            OpKind::StdConv3x3 => "std_conv_3x3",
            OpKind::StdConv5x5 => "std_conv_5x5",
            OpKind::Conv7x1x1x7 => "conv_7x1_1x7",
            OpKind::Conv9x1x1x9 => "conv_9x1_1x9",
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

/// Which of the dissertation's operation spaces a search draws its
/// candidates from (docs/algorithms.md §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum SpaceKind {
    /// Op space 2, simple (NASNet): plain, ReLU-first and 1×N/N×1
    /// convolutions, identity, pools.
    #[serde(rename = "2")]
    Simple,
    /// Op space 3, DARTS: separable and dilated convolutions, identity,
    /// pools.
    #[default]
    #[serde(rename = "3")]
    Darts,
}

impl SpaceKind {
    /// The space's number in the dissertation (Table 3.3 / §2.1).
    pub fn number(self) -> u8 {
        match self {
            SpaceKind::Simple => 2,
            SpaceKind::Darts => 3,
        }
    }
}

impl fmt::Display for SpaceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number())
    }
}

impl FromStr for SpaceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "2" | "simple" => Ok(SpaceKind::Simple),
            "3" | "darts" => Ok(SpaceKind::Darts),
            "1" | "basic" | "4" | "mbconv" => Err(format!(
                "op space `{s}` is not built yet (spaces 2 and 3 are)"
            )),
            _ => Err(format!("unknown op space `{s}` (expected 2 or 3)")),
        }
    }
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
        Self::with_zero(&OpKind::DARTS, zero)
    }

    /// Op space `kind` under a zero-op configuration.
    pub fn of(kind: SpaceKind, zero: ZeroConfig) -> Self {
        match kind {
            SpaceKind::Simple => Self::with_zero(&OpKind::SIMPLE, zero),
            SpaceKind::Darts => Self::darts(zero),
        }
    }

    fn with_zero(ops: &[OpKind], zero: ZeroConfig) -> Self {
        let ops = ops
            .iter()
            .copied()
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
    fn spaces_parse_and_hold_their_ops() {
        assert_eq!("2".parse::<SpaceKind>().unwrap(), SpaceKind::Simple);
        assert_eq!("3".parse::<SpaceKind>().unwrap(), SpaceKind::Darts);
        assert!(
            "1".parse::<SpaceKind>()
                .unwrap_err()
                .contains("not built yet")
        );
        assert!("7".parse::<SpaceKind>().is_err());
        assert_eq!(serde_json::to_string(&SpaceKind::Simple).unwrap(), "\"2\"");
        let simple = OpSpace::of(SpaceKind::Simple, ZeroConfig::V1);
        assert_eq!(simple.len(), 9);
        assert!(!simple.ops().contains(&OpKind::SepConv3x3));
        assert!(simple.ops().contains(&OpKind::Conv9x1x1x9));
        assert_eq!(
            OpSpace::of(SpaceKind::Simple, ZeroConfig::V0).ops()[0],
            OpKind::Zero
        );
        assert_eq!(
            OpSpace::of(SpaceKind::Darts, ZeroConfig::V1),
            OpSpace::darts(ZeroConfig::V1)
        );
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
