//! The two network templates of docs/algorithms.md §2.3: the search network S (every edge a
//! mixed operation weighted by α) and the evaluation network E (built from a
//! genotype, with an auxiliary head and drop-path).

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::conv::Conv2d;
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig};
use burn::nn::{BatchNorm, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::{Device, Distribution, Tensor, TensorData};

use crate::genotype::{CellGenotype, Genotype};
use crate::kernels;
use crate::ops::{FactorizedReduce, Op, ReluConvBn, batch_norm, conv};
use crate::space::{
    NodeOpSets, OpKind, OpSpace, Relaxation, ZeroForm, edge_count, node_first_edge,
};

pub use arch::shape::{CellShape, NetworkConfig};

/// 3×3 conv + BN from the image to `stem_multiplier · C` channels.
#[derive(Module, Debug)]
pub struct Stem {
    pub conv: Conv2d,
    pub bn: BatchNorm,
}

impl Stem {
    pub fn new(config: &NetworkConfig, device: &Device) -> Self {
        let c_stem = config.stem_multiplier * config.channels;
        Self {
            conv: conv(config.in_channels, c_stem, 3, 1, 1, 1, 1, device),
            bn: batch_norm(c_stem, true, device),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        kernels::batch_norm(&self.bn, self.conv.forward(x))
    }
}

/// How a cell brings c_{k-2} to C channels: a 1×1 ReLU–Conv–BN, or a
/// FactorizedReduce when c_{k-2} has twice the spatial size of c_{k-1}.
#[allow(clippy::large_enum_variant)] // built once per cell, see `Op`
#[derive(Module, Debug)]
pub enum Preprocess {
    Conv(ReluConvBn),
    Reduce(FactorizedReduce),
}

impl Preprocess {
    fn new(c_in: usize, c_out: usize, reduce: bool, affine: bool, device: &Device) -> Self {
        if reduce {
            Preprocess::Reduce(FactorizedReduce::new(c_in, c_out, affine, device))
        } else {
            Preprocess::Conv(ReluConvBn::new(c_in, c_out, affine, device))
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Preprocess::Conv(p) => p.forward(x),
            Preprocess::Reduce(p) => p.forward(x),
        }
    }
}

/// Global average pool then flatten: `[batch, C, H, W]` → `[batch, C]`.
pub fn global_avg_pool(x: Tensor<4>) -> Tensor<2> {
    let [n, c, _, _] = x.dims();
    x.mean_dim(3).mean_dim(2).reshape([n, c])
}

// ---------------------------------------------------------------------------
// Search network

/// The architecture parameters: one α matrix `[edges, ops]` per cell type.
#[derive(Module, Debug)]
pub struct Alphas {
    pub normal: Param<Tensor<2>>,
    pub reduce: Param<Tensor<2>>,
}

impl Alphas {
    /// α from explicit row-major values of shape `[edges, ops]`.
    pub fn from_values(
        normal: Vec<f32>,
        reduce: Vec<f32>,
        edges: usize,
        ops: usize,
        device: &Device,
    ) -> Self {
        let make = |v: Vec<f32>| {
            Param::from_tensor(Tensor::from_data(TensorData::new(v, [edges, ops]), device))
        };
        Self {
            normal: make(normal),
            reduce: make(reduce),
        }
    }

    /// Row-major values of (α_normal, α_reduce).
    pub fn to_values(&self) -> (Vec<f32>, Vec<f32>) {
        let read = |p: &Param<Tensor<2>>| p.val().into_data().try_to_vec::<f32>().expect("f32 α");
        (read(&self.normal), read(&self.reduce))
    }
}

/// Turns α `[edges, ops]` into the mixing weights of the relaxation
/// (docs/algorithms.md §2.2): a softmax per edge (DARTS) or one softmax over all (edge, op)
/// pairs entering a node (I-DARTS, XDARTS). Differentiable in α.
pub fn mixing_weights(alpha: Tensor<2>, relaxation: Relaxation, n_nodes: usize) -> Tensor<2> {
    if !relaxation.is_joint() {
        return softmax(alpha, 1);
    }
    let [_, ops] = alpha.dims();
    let rows = (0..n_nodes)
        .map(|node| {
            let first = node_first_edge(node);
            let k = node + 2;
            let block = alpha.clone().slice([first..first + k, 0..ops]);
            softmax(block.reshape([1, k * ops]), 1).reshape([k, ops])
        })
        .collect();
    Tensor::cat(rows, 0)
}

/// A mixed edge: every candidate op applied to the same input.
#[derive(Module, Debug)]
pub struct MixedOp {
    ops: Vec<Op>,
    /// Column of each op in α (ops that contribute nothing, like `zero`, are
    /// not built; their α still takes part in the softmax).
    #[module(skip)]
    columns: Vec<usize>,
}

impl MixedOp {
    pub fn new(space: &OpSpace, c: usize, stride: usize, device: &Device) -> Self {
        Self::with_columns(space, None, c, stride, device)
    }

    /// A mixed edge offering only the columns `offered` marks (a tournament
    /// game's node op set; α is masked to the same columns); `None`: all.
    pub fn with_columns(
        space: &OpSpace,
        offered: Option<&[bool]>,
        c: usize,
        stride: usize,
        device: &Device,
    ) -> Self {
        let mut ops = Vec::new();
        let mut columns = Vec::new();
        for (column, kind) in space.ops().iter().enumerate() {
            if offered.is_some_and(|o| !o[column]) {
                continue;
            }
            if *kind == OpKind::Zero {
                // V0: Σ w·zero(x) = 0, so `zero` only matters through the
                // softmax normalization and no tensor of zeros is computed.
                // V2–V4: it outputs noise, weighted like any op.
                if space.zero_in_search() == ZeroForm::Noise {
                    ops.push(Op::zero(stride, ZeroForm::Noise));
                    columns.push(column);
                }
                continue;
            }
            ops.push(Op::new(*kind, c, stride, true, device));
            columns.push(column);
        }
        Self { ops, columns }
    }

    /// Σ_o w_o · o(x) for this edge's weight row `w` (`[1, ops]`).
    ///
    /// # Shapes
    /// - x: `[batch, C, H, W]`, weights: `[1, ops]`
    /// - output: `[batch, C, H', W']`
    pub fn forward(&self, x: Tensor<4>, weights: Tensor<2>) -> Tensor<4> {
        let relu_x = self
            .ops
            .iter()
            .any(Op::wants_relu_input)
            .then(|| relu(x.clone()));
        let mut sum: Option<Tensor<4>> = None;
        for (op, &column) in self.ops.iter().zip(&self.columns) {
            let w = weights
                .clone()
                .slice([0..1, column..column + 1])
                .reshape([1, 1, 1, 1]);
            let y = op.forward_shared(x.clone(), relu_x.clone().unwrap_or_else(|| x.clone()));
            let term = y * w;
            sum = Some(match sum {
                Some(s) => s + term,
                None => term,
            });
        }
        sum.expect("a mixed edge has at least one non-zero op")
    }
}

/// A search cell: two preprocessed inputs, N nodes, every edge mixed.
#[derive(Module, Debug)]
pub struct SearchCell {
    pre0: Preprocess,
    pre1: ReluConvBn,
    edges: Vec<MixedOp>,
    #[module(skip)]
    reduction: bool,
    #[module(skip)]
    nodes: usize,
}

impl SearchCell {
    fn new(
        shape: &CellShape,
        nodes: usize,
        space: &OpSpace,
        node_ops: Option<&NodeOpSets>,
        device: &Device,
    ) -> Self {
        let mask = node_ops.map(|sets| sets.mask(space, shape.reduction));
        let edges = (0..nodes)
            .flat_map(|node| (0..node + 2).map(move |pred| (node, pred)))
            .enumerate()
            .map(|(e, (_, pred))| {
                // Only edges from the two cell inputs carry the stride.
                let stride = if shape.reduction && pred < 2 { 2 } else { 1 };
                let offered = mask.as_ref().map(|m| m[e].as_slice());
                MixedOp::with_columns(space, offered, shape.c, stride, device)
            })
            .collect();
        Self {
            pre0: Preprocess::new(
                shape.c_prev_prev,
                shape.c,
                shape.reduction_prev,
                false,
                device,
            ),
            pre1: ReluConvBn::new(shape.c_prev, shape.c, false, device),
            edges,
            reduction: shape.reduction,
            nodes,
        }
    }

    /// # Shapes
    /// - s0: `[batch, C_pp, H_pp, W_pp]`, s1: `[batch, C_p, H, W]`
    /// - weights: `[edges, ops]` mixing weights of this cell type
    /// - output: `[batch, N·C, H', W']`
    pub fn forward(&self, s0: Tensor<4>, s1: Tensor<4>, weights: &Tensor<2>) -> Tensor<4> {
        let [_, ops] = weights.dims();
        let mut states = vec![self.pre0.forward(s0), self.pre1.forward(s1)];
        for node in 0..self.nodes {
            let first = node_first_edge(node);
            let mut sum: Option<Tensor<4>> = None;
            for (pred, state) in states.iter().enumerate().take(node + 2) {
                let e = first + pred;
                let w = weights.clone().slice([e..e + 1, 0..ops]);
                let y = self.edges[e].forward(state.clone(), w);
                sum = Some(match sum {
                    Some(s) => s + y,
                    None => y,
                });
            }
            states.push(sum.expect("node has inputs"));
        }
        Tensor::cat(states.split_off(2), 1)
    }

    pub fn is_reduction(&self) -> bool {
        self.reduction
    }
}

/// Configuration of the search network S.
#[derive(Config, Debug)]
pub struct SearchNetworkConfig {
    pub network: NetworkConfig,
    pub space: OpSpace,
    #[config(default = "Relaxation::Darts")]
    pub relaxation: Relaxation,
    /// Distillation heads after the reduction cells ([`DistillHeads`]).
    #[config(default = false)]
    pub distill_heads: bool,
    /// Per-node op sets (a tournament game): each edge builds only its
    /// node's ops; `space` must be their union.
    pub node_ops: Option<NodeOpSets>,
}

impl SearchNetworkConfig {
    pub fn init(&self, device: &Device) -> SearchNetwork {
        let net = &self.network;
        let layout = net.cell_layout();
        let cells = layout
            .iter()
            .map(|shape| {
                SearchCell::new(
                    shape,
                    net.nodes,
                    &self.space,
                    self.node_ops.as_ref(),
                    device,
                )
            })
            .collect();
        let c_last = net.nodes * layout.last().map_or(net.channels, |s| s.c);
        SearchNetwork {
            stem: Stem::new(net, device),
            cells,
            distill: self
                .distill_heads
                .then(|| DistillHeads::new(net, |shape| net.nodes * shape.c, device)),
            classifier: LinearConfig::new(c_last, net.num_classes).init(device),
            relaxation: self.relaxation,
            nodes: net.nodes,
        }
    }

    /// Shape of each α matrix: `[edges, ops]`.
    pub fn alpha_shape(&self) -> [usize; 2] {
        [edge_count(self.network.nodes), self.space.len()]
    }
}

/// The search network S: all normal cells share α_normal, all reduction cells
/// α_reduce (held outside, in [`Alphas`], so that α and the weights w_S can be
/// optimized separately).
#[derive(Module, Debug)]
pub struct SearchNetwork {
    stem: Stem,
    cells: Vec<SearchCell>,
    distill: Option<DistillHeads>,
    classifier: Linear,
    #[module(skip)]
    relaxation: Relaxation,
    #[module(skip)]
    nodes: usize,
}

impl SearchNetwork {
    /// The network's output: the classifier's logits, or with distillation
    /// heads their combination with the heads' ([`DistillHeads`]).
    ///
    /// # Shapes
    /// - x: `[batch, C_in, H, W]`
    /// - output: logits `[batch, classes]`
    pub fn forward(&self, x: Tensor<4>, alphas: &Alphas) -> Tensor<2> {
        let w_normal = mixing_weights(alphas.normal.val(), self.relaxation, self.nodes);
        let w_reduce = mixing_weights(alphas.reduce.val(), self.relaxation, self.nodes);
        let stem = self.stem.forward(x);
        let (mut s0, mut s1) = (stem.clone(), stem);
        let mut taps = Vec::new();
        for (i, cell) in self.cells.iter().enumerate() {
            let w = if cell.is_reduction() {
                &w_reduce
            } else {
                &w_normal
            };
            let out = cell.forward(s0, s1.clone(), w);
            (s0, s1) = (s1, out);
            if let Some(heads) = &self.distill {
                heads.tap(i, &s1, &mut taps);
            }
        }
        let logits = self.classifier.forward(global_avg_pool(s1));
        combine(logits, taps)
    }
}

// ---------------------------------------------------------------------------
// Evaluation network

/// A cell built from a genotype: one op per kept (node, predecessor, op).
#[derive(Module, Debug)]
pub struct EvalCell {
    pub pre0: Preprocess,
    pub pre1: ReluConvBn,
    pub ops: Vec<Op>,
    /// (node, predecessor) of each op.
    #[module(skip)]
    pub wiring: Vec<(usize, usize)>,
    #[module(skip)]
    pub concat: Vec<usize>,
    #[module(skip)]
    pub nodes: usize,
}

impl EvalCell {
    fn new(
        shape: &CellShape,
        nodes: usize,
        genotype: &CellGenotype,
        zero: ZeroForm,
        device: &Device,
    ) -> Self {
        let mut ops = Vec::new();
        let mut wiring = Vec::new();
        for edge in &genotype.edges {
            let stride = if shape.reduction && edge.predecessor < 2 {
                2
            } else {
                1
            };
            ops.push(if edge.op == OpKind::Zero {
                Op::zero(stride, zero)
            } else {
                Op::new(edge.op, shape.c, stride, false, device)
            });
            wiring.push((edge.node, edge.predecessor));
        }
        Self {
            pre0: Preprocess::new(
                shape.c_prev_prev,
                shape.c,
                shape.reduction_prev,
                true,
                device,
            ),
            pre1: ReluConvBn::new(shape.c_prev, shape.c, true, device),
            ops,
            wiring,
            concat: genotype.concat.clone(),
            nodes,
        }
    }

    /// # Shapes
    /// - s0: `[batch, C_pp, H_pp, W_pp]`, s1: `[batch, C_p, H, W]`
    /// - output: `[batch, |concat|·C, H', W']`
    pub fn forward(&self, s0: Tensor<4>, s1: Tensor<4>, drop_prob: f64) -> Tensor<4> {
        let mut states = vec![self.pre0.forward(s0), self.pre1.forward(s1)];
        for node in 0..self.nodes {
            let mut sum: Option<Tensor<4>> = None;
            for (op, &(n, pred)) in self.ops.iter().zip(&self.wiring) {
                if n != node {
                    continue;
                }
                let mut y = op.forward(states[pred].clone());
                if drop_prob > 0.0 && !op.is_identity() {
                    y = drop_path(y, drop_prob);
                }
                sum = Some(match sum {
                    Some(s) => s + y,
                    None => y,
                });
            }
            states.push(sum.expect("every node of a valid genotype has an input"));
        }
        let outs = self.concat.iter().map(|&j| states[j + 2].clone()).collect();
        Tensor::cat(outs, 1)
    }
}

/// Drops whole samples of a branch with probability `p` and rescales the
/// kept ones by 1/(1-p) (DARTS' drop-path).
fn drop_path(x: Tensor<4>, p: f64) -> Tensor<4> {
    let [n, _, _, _] = x.dims();
    let keep = 1.0 - p;
    let mask = Tensor::<4>::random([n, 1, 1, 1], Distribution::Bernoulli(keep), &x.device());
    x * mask.div_scalar(keep)
}

/// The auxiliary classifier after cell 2L/3 (docs/algorithms.md §2.3): ReLU, 5×5 avg-pool
/// stride 3, 1×1 conv 128, BN, ReLU, 2×2 conv 768, BN, ReLU, linear.
///
/// The DARTS head assumes an 8×8 input; to keep every input size valid the
/// pool and the 2×2 conv shrink to the feature map when it is smaller, and a
/// global average pool closes the head (a no-op at the DARTS sizes).
#[derive(Module, Debug)]
pub struct AuxHead {
    pub pool: AvgPool2d,
    pub conv1: Conv2d,
    pub bn1: BatchNorm,
    pub conv2: Conv2d,
    pub bn2: BatchNorm,
    pub classifier: Linear,
}

impl AuxHead {
    fn new(c_in: usize, size: usize, num_classes: usize, device: &Device) -> Self {
        let k = size.min(5);
        let pooled = (size - k) / 3 + 1;
        let k2 = pooled.min(2);
        Self {
            pool: AvgPool2dConfig::new([k, k])
                .with_strides([3, 3])
                .with_padding(PaddingConfig2d::Valid)
                .with_count_include_pad(false)
                .init(),
            conv1: conv(c_in, 128, 1, 1, 0, 1, 1, device),
            bn1: batch_norm(128, true, device),
            conv2: conv(128, 768, k2, 1, 0, 1, 1, device),
            bn2: batch_norm(768, true, device),
            classifier: LinearConfig::new(768, num_classes).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.pool.forward(relu(x));
        let x = relu(kernels::batch_norm(&self.bn1, self.conv1.forward(x)));
        let x = relu(kernels::batch_norm(&self.bn2, self.conv2.forward(x)));
        self.classifier.forward(global_avg_pool(x))
    }
}

/// The search phase's distillation heads (docs/algorithms.md §2.3,
/// dissertation §3.1.1): one head of [`AuxHead`]'s structure on the output
/// of each reduction cell, and the network's output is the mean of the
/// heads' logits and the classifier's. So the output combines the final
/// normal cell's features with both reduction cells', and every loss on
/// the output (cross-entropy, distillation) trains the heads too.
#[derive(Module, Debug)]
pub struct DistillHeads {
    pub heads: Vec<AuxHead>,
    /// The cell after which each head sits.
    #[module(skip)]
    pub positions: Vec<usize>,
}

impl DistillHeads {
    /// A head after every reduction cell of `net`, on `channels(cell)`
    /// channels.
    fn new(net: &NetworkConfig, channels: impl Fn(&CellShape) -> usize, device: &Device) -> Self {
        let (positions, heads) = net
            .cell_layout()
            .iter()
            .filter(|shape| shape.reduction)
            .map(|shape| {
                let size = shape.h_prev.div_ceil(2);
                (
                    shape.index,
                    AuxHead::new(channels(shape), size, net.num_classes, device),
                )
            })
            .unzip();
        Self { heads, positions }
    }

    /// Pushes the logits of the head after cell `index`, if there is one,
    /// computed from that cell's output `x`.
    fn tap(&self, index: usize, x: &Tensor<4>, taps: &mut Vec<Tensor<2>>) {
        if let Some(k) = self.positions.iter().position(|&p| p == index) {
            taps.push(self.heads[k].forward(x.clone()));
        }
    }
}

/// The mean of the classifier's `logits` and the heads' `taps` (the
/// logits themselves when there are no heads).
fn combine(logits: Tensor<2>, taps: Vec<Tensor<2>>) -> Tensor<2> {
    if taps.is_empty() {
        return logits;
    }
    let n = taps.len() + 1;
    taps.into_iter()
        .fold(logits, |sum, t| sum + t)
        .div_scalar(n as f64)
}

/// Configuration of the evaluation network E.
#[derive(Config, Debug)]
pub struct EvalNetworkConfig {
    pub network: NetworkConfig,
    pub genotype: Genotype,
    /// Build the auxiliary head (used in retraining with weight 0.4).
    #[config(default = false)]
    pub auxiliary: bool,
    /// Distillation heads after the reduction cells ([`DistillHeads`]): the
    /// search phase's evaluation network only; retraining and export use
    /// the auxiliary head.
    #[config(default = false)]
    pub distill_heads: bool,
    /// What the genotype's `zero` edges compute (zero configurations
    /// V2–V4, docs/algorithms.md §2.1): zeros (dropped) or noise.
    #[config(default = "ZeroForm::Zeros")]
    pub zero: ZeroForm,
}

impl EvalNetworkConfig {
    pub fn init(&self, device: &Device) -> EvalNetwork {
        let net = &self.network;
        let layout = net.cell_layout();
        let cells: Vec<EvalCell> = layout
            .iter()
            .map(|shape| {
                let cell = if shape.reduction {
                    &self.genotype.reduce
                } else {
                    &self.genotype.normal
                };
                EvalCell::new(shape, net.nodes, cell, self.zero, device)
            })
            .collect();
        let out_channels = |shape: &CellShape| {
            let cell = if shape.reduction {
                &self.genotype.reduce
            } else {
                &self.genotype.normal
            };
            cell.concat.len() * shape.c
        };
        let aux_position = net.aux_position();
        let aux = (self.auxiliary && net.layers >= 3).then(|| {
            let shape = &layout[aux_position];
            let size = if shape.reduction {
                shape.h_prev.div_ceil(2)
            } else {
                shape.h_prev
            };
            AuxHead::new(out_channels(shape), size, net.num_classes, device)
        });
        let c_last = layout.last().map_or(net.channels, out_channels);
        EvalNetwork {
            stem: Stem::new(net, device),
            cells,
            aux,
            distill: self
                .distill_heads
                .then(|| DistillHeads::new(net, out_channels, device)),
            classifier: LinearConfig::new(c_last, net.num_classes).init(device),
            aux_position,
        }
    }
}

/// Output of the evaluation network: logits and, in training with an
/// auxiliary head, the auxiliary logits.
pub struct EvalOutput {
    pub logits: Tensor<2>,
    pub aux_logits: Option<Tensor<2>>,
}

/// The evaluation network E built from a genotype.
#[derive(Module, Debug)]
pub struct EvalNetwork {
    pub stem: Stem,
    pub cells: Vec<EvalCell>,
    pub aux: Option<AuxHead>,
    /// `None` in every network that is retrained or exported; and in
    /// weights saved before the heads existed, which load unchanged.
    pub distill: Option<DistillHeads>,
    pub classifier: Linear,
    #[module(skip)]
    pub aux_position: usize,
}

impl EvalNetwork {
    /// Forward pass. `drop_prob` > 0 enables drop-path (training only);
    /// `with_aux` computes the auxiliary logits when the head exists.
    ///
    /// # Shapes
    /// - x: `[batch, C_in, H, W]`
    /// - logits: `[batch, classes]`
    pub fn forward(&self, x: Tensor<4>, drop_prob: f64, with_aux: bool) -> EvalOutput {
        let stem = self.stem.forward(x);
        let (mut s0, mut s1) = (stem.clone(), stem);
        let mut aux_logits = None;
        let mut taps = Vec::new();
        for (i, cell) in self.cells.iter().enumerate() {
            let out = cell.forward(s0, s1.clone(), drop_prob);
            (s0, s1) = (s1, out);
            if i == self.aux_position
                && with_aux
                && let Some(aux) = &self.aux
            {
                aux_logits = Some(aux.forward(s1.clone()));
            }
            if let Some(heads) = &self.distill {
                heads.tap(i, &s1, &mut taps);
            }
        }
        EvalOutput {
            logits: combine(self.classifier.forward(global_avg_pool(s1)), taps),
            aux_logits,
        }
    }

    /// Inference logits (no drop-path, no auxiliary head).
    pub fn logits(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward(x, 0.0, false).logits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::ZeroConfig;

    /// The evaluation network with distillation heads: a head after each
    /// reduction cell, and its output the mean of their logits and the
    /// classifier's, recomputed here from its parts.
    #[test]
    fn distillation_heads_average_the_reduction_cells_and_the_classifier() {
        let device = Device::flex();
        let network = NetworkConfig::new(1, 8, 3)
            .with_channels(4)
            .with_layers(5)
            .with_nodes(2);
        let space = OpSpace::darts(ZeroConfig::V1);
        let genotype = crate::genotype::random_genotype(
            Relaxation::Darts,
            2,
            &space,
            &mut crate::genotype::seeded_picker(3),
        );
        let net = EvalNetworkConfig::new(network.clone(), genotype)
            .with_distill_heads(true)
            .init(&device);
        let reductions: Vec<usize> = network
            .cell_layout()
            .iter()
            .filter(|s| s.reduction)
            .map(|s| s.index)
            .collect();
        let heads = net.distill.as_ref().expect("heads");
        assert_eq!(heads.positions, reductions);
        assert_eq!(heads.heads.len(), 2);

        let x = Tensor::<4>::random([3, 1, 8, 8], Distribution::Normal(0.0, 1.0), &device);
        let stem = net.stem.forward(x.clone());
        let (mut s0, mut s1) = (stem.clone(), stem);
        let mut sum: Option<Tensor<2>> = None;
        for (i, cell) in net.cells.iter().enumerate() {
            let out = cell.forward(s0, s1.clone(), 0.0);
            (s0, s1) = (s1, out);
            if let Some(k) = reductions.iter().position(|&r| r == i) {
                let head = heads.heads[k].forward(s1.clone());
                sum = Some(sum.map_or(head.clone(), |s| s + head));
            }
        }
        let classifier = net.classifier.forward(global_avg_pool(s1));
        let expected = (sum.unwrap() + classifier.clone()).div_scalar(3.0);
        let got = net.logits(x);
        let diff = (got.clone() - expected).abs().max().into_scalar::<f32>();
        assert!(diff < 1e-5, "max |difference| {diff}");
        // And the heads change the output: it is not the classifier alone.
        let apart = (got - classifier).abs().max().into_scalar::<f32>();
        assert!(apart > 1e-3, "{apart}");
    }
}
