//! The network template a table is measured for, and the enumeration of
//! every distinct (op, shape) its networks contain (docs/algorithms.md §4.1).

use std::collections::BTreeSet;
use std::fmt;

use arch::shape::{CellShape, NetworkConfig};
use arch::space::{OpKind, edge_count};
use serde::{Deserialize, Serialize};

pub use artifacts::NetSize;

/// The networks a search and its deployment contain: the search network S,
/// the search-phase evaluation network E, and the deployed (retrained)
/// evaluation network, on one input shape and op space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub in_channels: usize,
    pub image_size: usize,
    pub num_classes: usize,
    pub nodes: usize,
    pub stem_multiplier: usize,
    /// The op space (α's columns; `zero` costs nothing and is not measured).
    pub ops: Vec<OpKind>,
    pub search: NetSize,
    pub search_eval: NetSize,
    /// The network that is retrained and deployed: P(α) and `predict` use it.
    pub deploy: NetSize,
}

impl Template {
    fn network(&self, size: NetSize) -> NetworkConfig {
        NetworkConfig::new(self.in_channels, self.image_size, self.num_classes)
            .with_channels(size.channels)
            .with_layers(size.layers)
            .with_nodes(self.nodes)
            .with_stem_multiplier(self.stem_multiplier)
    }

    /// The deployed evaluation network's configuration.
    pub fn deploy_network(&self) -> NetworkConfig {
        self.network(self.deploy)
    }

    /// All three networks, deduplicated.
    pub fn networks(&self) -> Vec<NetworkConfig> {
        let mut out: Vec<NetworkConfig> = Vec::new();
        for size in [self.search, self.search_eval, self.deploy] {
            let net = self.network(size);
            if !out.contains(&net) {
                out.push(net);
            }
        }
        out
    }

    /// Every distinct key the template's networks contain: every candidate
    /// op on every edge shape, plus stem, preprocessing, ReLUs, node sums,
    /// concatenations, the classifier and the per-run overhead.
    pub fn keys(&self) -> Vec<LutKey> {
        let mut keys = BTreeSet::new();
        keys.insert(LutKey::overhead(self.in_channels, self.image_size));
        for net in self.networks() {
            let c_stem = net.stem_multiplier * net.channels;
            keys.insert(LutKey::new(
                Glue::Stem.name(),
                net.in_channels,
                c_stem,
                net.image_size,
                1,
            ));
            let layout = net.cell_layout();
            for shape in &layout {
                keys.extend(cell_glue_keys(shape, net.nodes));
                for (stride, h) in edge_shapes(shape) {
                    for op in &self.ops {
                        if *op != OpKind::Zero {
                            keys.insert(LutKey::new(op.name(), shape.c, shape.c, h, stride));
                        }
                    }
                    // A mixed edge's convolutions read relu(state).
                    keys.insert(LutKey::new(Glue::Relu.name(), shape.c, shape.c, h, 1));
                }
            }
            let last = layout.last().expect("a network has cells");
            let h_last = cell_output_size(last);
            keys.insert(LutKey::new(
                Glue::Classifier.name(),
                net.nodes * last.c,
                net.num_classes,
                h_last,
                1,
            ));
        }
        keys.into_iter().collect()
    }

    /// Number of α rows per cell type.
    pub fn edges(&self) -> usize {
        edge_count(self.nodes)
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}×{}×{} → {} classes, N={}, search C={} L={}, search-eval C={} L={}, deploy C={} L={}",
            self.in_channels,
            self.image_size,
            self.image_size,
            self.num_classes,
            self.nodes,
            self.search.channels,
            self.search.layers,
            self.search_eval.channels,
            self.search_eval.layers,
            self.deploy.channels,
            self.deploy.layers
        )
    }
}

/// The key of a cell's preprocessing of c_{k-2}: a FactorizedReduce after
/// a reduction cell, else a 1×1 conv + BN.
pub fn preprocess0_key(shape: &CellShape) -> LutKey {
    if shape.reduction_prev {
        LutKey::new(
            Glue::FactorizedReduce.name(),
            shape.c_prev_prev,
            shape.c,
            shape.h_prev_prev,
            2,
        )
    } else {
        LutKey::new(
            Glue::ConvBn1x1.name(),
            shape.c_prev_prev,
            shape.c,
            shape.h_prev_prev,
            1,
        )
    }
}

/// Spatial size of a cell's output.
pub fn cell_output_size(shape: &CellShape) -> usize {
    if shape.reduction {
        shape.h_prev.div_ceil(2)
    } else {
        shape.h_prev
    }
}

/// (stride, input size) of the edges of a cell: from the two cell inputs
/// (stride 2 in a reduction cell) and from intermediate nodes (stride 1 at
/// the output size).
pub fn edge_shapes(shape: &CellShape) -> Vec<(usize, usize)> {
    let out = cell_output_size(shape);
    if shape.reduction {
        vec![(2, shape.h_prev), (1, out)]
    } else {
        vec![(1, shape.h_prev)]
    }
}

/// Keys of a cell's glue: ReLU + preprocessing of both inputs, node sums,
/// the concatenation of `concat` nodes.
fn cell_glue_keys(shape: &CellShape, concat: usize) -> Vec<LutKey> {
    let out = cell_output_size(shape);
    let mut keys = vec![
        LutKey::new(
            Glue::Relu.name(),
            shape.c_prev_prev,
            shape.c_prev_prev,
            shape.h_prev_prev,
            1,
        ),
        LutKey::new(
            Glue::Relu.name(),
            shape.c_prev,
            shape.c_prev,
            shape.h_prev,
            1,
        ),
        LutKey::new(
            Glue::ConvBn1x1.name(),
            shape.c_prev,
            shape.c,
            shape.h_prev,
            1,
        ),
        LutKey::new(Glue::Add.name(), shape.c, shape.c, out, 1),
        LutKey::new(Glue::Concat.name(), shape.c, concat * shape.c, out, 1),
    ];
    keys.push(preprocess0_key(shape));
    keys
}

/// True when `op` at `stride` starts with a ReLU of its input (the
/// ReLU-first convolutions, and every op that is a FactorizedReduce at
/// stride 2 — `identity` and op space 1's element-wise ops — or is the ReLU
/// itself, `act_relu`); a network computes that ReLU once per value, so it
/// is costed separately.
pub fn reads_relu(op: OpKind, stride: usize) -> bool {
    if op.pointwise().is_some() {
        return stride == 2 || op == OpKind::ActRelu;
    }
    if op.mbconv().is_some() || op.plain_conv().is_some() || op.pool_kernel().is_some() {
        return false;
    }
    match op {
        OpKind::SepConv3x3
        | OpKind::SepConv5x5
        | OpKind::DilConv3x3
        | OpKind::DilConv5x5
        | OpKind::StdConv3x3
        | OpKind::StdConv5x5
        | OpKind::Conv7x1x1x7
        | OpKind::Conv9x1x1x9 => true,
        OpKind::Identity => stride == 2,
        OpKind::Zero
        | OpKind::MaxPool3x3
        | OpKind::AvgPool3x3
        | OpKind::MinConv3x3
        | OpKind::MinConv5x5 => false,
        other => unreachable!("{other} is classified above"),
    }
}

/// The non-candidate parts of a network that get table entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Glue {
    /// 3×3 conv + BN from the image.
    Stem,
    /// A ReLU of a cell input or node state (computed once per value).
    Relu,
    /// 1×1 conv + BN on a rectified input (preprocessing).
    ConvBn1x1,
    /// FactorizedReduce on a rectified input (preprocessing after a
    /// reduction cell).
    FactorizedReduce,
    /// One binary addition of a node sum.
    Add,
    /// Concatenation of `c_out / c_in` node outputs of `c_in` channels.
    Concat,
    /// Global average pool + linear.
    Classifier,
    /// The fixed cost of one run of a graph (input in, output out).
    Overhead,
}

impl Glue {
    pub const ALL: [Glue; 8] = [
        Glue::Stem,
        Glue::Relu,
        Glue::ConvBn1x1,
        Glue::FactorizedReduce,
        Glue::Add,
        Glue::Concat,
        Glue::Classifier,
        Glue::Overhead,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Glue::Stem => "stem",
            Glue::Relu => "relu",
            Glue::ConvBn1x1 => "conv_bn_1x1",
            Glue::FactorizedReduce => "factorized_reduce",
            Glue::Add => "add",
            Glue::Concat => "concat",
            Glue::Classifier => "classifier",
            Glue::Overhead => "overhead",
        }
    }

    pub fn from_name(name: &str) -> Option<Glue> {
        Glue::ALL.into_iter().find(|g| g.name() == name)
    }
}

/// What a table entry measures: `op` (a candidate op's name or a [`Glue`]
/// name) on an input of `c_in × h_in × w_in`, producing `c_out` channels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LutKey {
    pub op: String,
    pub c_in: usize,
    pub c_out: usize,
    pub h_in: usize,
    pub w_in: usize,
    pub stride: usize,
}

impl LutKey {
    pub fn new(op: &str, c_in: usize, c_out: usize, h: usize, stride: usize) -> Self {
        Self {
            op: op.to_string(),
            c_in,
            c_out,
            h_in: h,
            w_in: h,
            stride,
        }
    }

    /// The per-run overhead, measured on the network's input shape.
    pub fn overhead(in_channels: usize, image_size: usize) -> Self {
        Self::new(
            Glue::Overhead.name(),
            in_channels,
            in_channels,
            image_size,
            1,
        )
    }

    /// The candidate op this key measures, if it is one.
    pub fn candidate(&self) -> Option<OpKind> {
        OpKind::ALL.into_iter().find(|o| o.name() == self.op)
    }
}

impl fmt::Display for LutKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}(c_in={}, c_out={}, {}×{}, stride {})",
            self.op, self.c_in, self.c_out, self.h_in, self.w_in, self.stride
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arch::space::{OpSpace, ZeroConfig};

    fn template() -> Template {
        Template {
            in_channels: 1,
            image_size: 8,
            num_classes: 10,
            nodes: 4,
            stem_multiplier: 3,
            ops: OpSpace::darts(ZeroConfig::V1).ops().to_vec(),
            search: NetSize {
                channels: 8,
                layers: 5,
            },
            search_eval: NetSize {
                channels: 8,
                layers: 5,
            },
            deploy: NetSize {
                channels: 16,
                layers: 5,
            },
        }
    }

    #[test]
    fn keys_cover_every_candidate_on_every_edge_shape() {
        let t = template();
        let keys = t.keys();
        // Deploy C=16 on 8×8: cells at 8 (C=16), 4 (C=32, reduction from 8), 2.
        for (op, c, h, s) in [
            ("sep_conv_5x5", 16, 8, 1),
            ("identity", 32, 8, 2),
            ("max_pool_3x3", 32, 4, 1),
            ("dil_conv_3x3", 64, 4, 2),
            ("avg_pool_3x3", 64, 2, 1),
            ("sep_conv_3x3", 8, 8, 1),
        ] {
            assert!(
                keys.contains(&LutKey::new(op, c, c, h, s)),
                "missing {op} C={c} H={h} stride {s}"
            );
        }
        assert!(keys.contains(&LutKey::new("stem", 1, 48, 8, 1)));
        assert!(keys.contains(&LutKey::new("classifier", 256, 10, 2, 1)));
        assert!(keys.iter().all(|k| k.op != "zero"));
        // No duplicates.
        let set: BTreeSet<_> = keys.iter().collect();
        assert_eq!(set.len(), keys.len());
    }
}
