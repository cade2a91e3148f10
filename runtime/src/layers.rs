//! The search spaces' layers as plain data, and their ONNX form.
//!
//! The deployed network and every single-op graph of the latency table are
//! written by the same [`Emitter`] from these types, so the table times
//! exactly the subgraphs that get deployed. They come from two places:
//! `export` extracts them from trained burn modules, and the
//! [`Synthetic`] builders make them from shapes alone with deterministic
//! weights — which is all a latency measurement needs, and what lets the
//! device-side `latency-lut` run without burn. Both follow the same
//! structure (`models::ops`: kernel sizes, paddings, dilations, the
//! FactorizedReduce of a strided identity); a test in `export` checks that
//! the two give node-for-node identical graphs.

use std::collections::{BTreeMap, HashMap};

use arch::genotype::Genotype;
use arch::shape::NetworkConfig;
use arch::space::{LEAKY_RELU_SLOPE, MbConvSpec, OpKind, Pointwise, ZERO_NOISE_MEAN, ZeroForm};
use onnx_protobuf::ModelProto;

use crate::onnx::{Attr, GraphBuilder, Port};

/// Name of a network graph's input (`[batch, C, H, W]`, normalized images).
pub const INPUT_NAME: &str = "input";
/// Name of a network graph's output (`[batch, classes]`, logits).
pub const OUTPUT_NAME: &str = "logits";

/// burn's (and PyTorch's) BatchNorm epsilon.
pub const BN_EPSILON: f64 = 1e-5;

/// A bias-free-or-not 2-D convolution.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv {
    /// `[out, in / groups, k, k]`, row-major.
    pub weight: Vec<f32>,
    pub dims: [usize; 4],
    /// `[vertical, horizontal]` (square for all but the 1×N/N×1 pairs).
    pub strides: [usize; 2],
    /// `[top, left, bottom, right]`.
    pub pads: [usize; 4],
    pub dilation: usize,
    pub groups: usize,
    pub bias: Option<Vec<f32>>,
}

/// An inference batch normalization (running statistics).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNorm {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    pub mean: Vec<f32>,
    pub var: Vec<f32>,
    pub epsilon: f64,
}

/// A convolution followed by a BatchNorm (the stem; after a ReLU, the 1×1
/// cell preprocessing).
#[derive(Debug, Clone, PartialEq)]
pub struct ConvBn {
    pub conv: Conv,
    pub bn: BatchNorm,
}

/// Depthwise k×k → pointwise 1×1 → BN: half a separable convolution, or a
/// dilated convolution.
#[derive(Debug, Clone, PartialEq)]
pub struct DwPwBn {
    pub depthwise: Conv,
    pub pointwise: Conv,
    pub bn: BatchNorm,
}

/// DARTS' FactorizedReduce: ReLU, two 1×1 stride-2 convolutions on inputs
/// offset by one pixel (`[C_out / 2, C_in, 1, 1]` each), concatenated, BN.
#[derive(Debug, Clone, PartialEq)]
pub struct FactorizedReduce {
    pub conv_a: Conv,
    pub conv_b: Conv,
    pub bn: BatchNorm,
}

/// A k×k pooling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    pub kernel: usize,
    pub stride: usize,
    /// `[top, left, bottom, right]`.
    pub pads: [usize; 4],
}

impl Pool {
    /// The ONNX attributes of this window (`kernel_shape`, `strides`, `pads`).
    fn attrs(&self) -> Vec<(&'static str, Attr)> {
        vec![
            ("kernel_shape", Attr::Ints(vec![self.kernel as i64; 2])),
            ("strides", Attr::Ints(vec![self.stride as i64; 2])),
            ("pads", Attr::Ints(pads(&self.pads))),
        ]
    }
}

/// One candidate op of an evaluation network (the `zero` op never is one).
/// Built once per op and moved rarely, so the size gap between the
/// parameter-free pools and the separable convolution does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum OpLayers {
    MaxPool(Pool),
    /// Average over the in-bounds taps unless `count_include_pad`.
    AvgPool {
        pool: Pool,
        count_include_pad: bool,
    },
    Identity,
    /// A strided identity.
    Reduce(FactorizedReduce),
    /// ReLU → first → ReLU → second.
    Sep {
        first: DwPwBn,
        second: DwPwBn,
    },
    /// ReLU → depthwise (dilated) → pointwise → BN.
    Dil(DwPwBn),
    /// k×k conv → BN (`min_conv`).
    MinConv(ConvBn),
    /// ReLU → k×k conv → BN (`std_conv`).
    StdConv(ConvBn),
    /// ReLU → 1×N conv → N×1 conv → BN.
    ConvPair {
        horizontal: Conv,
        vertical: Conv,
        bn: BatchNorm,
    },
    /// One convolution (`conv_k×k`, `dw_conv_k×k`).
    Plain(Conv),
    /// [FactorizedReduce at stride 2] → an element-wise function
    /// (`act_*`, or `batch_norm` with its layer).
    Pointwise {
        reduce: Option<FactorizedReduce>,
        function: Pointwise,
        bn: Option<BatchNorm>,
    },
    /// A `zero` edge (zero configurations V2–V4): a constant of the
    /// output's shape, 0 (the edge is dropped from its node's sum) or the
    /// noise's mean 0.5 (V2's retrained network at inference).
    Constant {
        value: f32,
        stride: usize,
    },
    /// An inverted-residual block (`arch::space::MbConvSpec`): [expand →
    /// ReLU6] → [depthwise → ReLU6] → [SE] → project + BN.
    MbConv {
        expand: Option<Conv>,
        depthwise: Option<Conv>,
        se: Option<SqueezeExcite>,
        project: ConvBn,
    },
}

/// Squeeze-excitation: global average pool → 1×1 conv (bias) → ReLU → 1×1
/// conv (bias) → sigmoid → channel-wise product with the input.
#[derive(Debug, Clone, PartialEq)]
pub struct SqueezeExcite {
    pub reduce: Conv,
    pub expand: Conv,
}

/// The classifier's linear layer: `weight` is `[d_in, d_out]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    pub weight: Vec<f32>,
    pub d_in: usize,
    pub d_out: usize,
    pub bias: Option<Vec<f32>>,
}

/// How a cell brings c_{k-2} to C channels.
#[derive(Debug, Clone, PartialEq)]
pub enum Preprocess {
    /// ReLU → 1×1 conv → BN.
    Conv(ConvBn),
    /// When c_{k-2} has twice the spatial size of c_{k-1}.
    Reduce(FactorizedReduce),
}

/// One cell of an evaluation network.
#[derive(Debug, Clone, PartialEq)]
pub struct CellLayers {
    pub pre0: Preprocess,
    /// ReLU → 1×1 conv → BN of c_{k-1}.
    pub pre1: ConvBn,
    /// One op per genotype edge, in the genotype's edge order.
    pub ops: Vec<OpLayers>,
    /// `(node, predecessor)` of each op.
    pub wiring: Vec<(usize, usize)>,
    /// The nodes concatenated into the output.
    pub concat: Vec<usize>,
    pub nodes: usize,
}

/// A whole evaluation network in inference form (no auxiliary head, no
/// drop-path).
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkLayers {
    pub stem: ConvBn,
    pub cells: Vec<CellLayers>,
    pub classifier: Linear,
}

/// Options of the emitted graph.
#[derive(Debug, Clone, Copy)]
pub struct EmitOptions {
    /// Fold every BatchNorm into the convolution before it (the default).
    pub fold_bn: bool,
}

impl Default for EmitOptions {
    fn default() -> Self {
        Self { fold_bn: true }
    }
}

/// Writes ONNX nodes for these layers into a [`GraphBuilder`], sharing one
/// `Relu` per value (a state read by several convolutions is rectified once,
/// as the search network's mixed edges do).
pub struct Emitter<'a> {
    pub graph: &'a mut GraphBuilder,
    pub options: EmitOptions,
    relu_of: HashMap<String, String>,
}

impl<'a> Emitter<'a> {
    pub fn new(graph: &'a mut GraphBuilder, options: EmitOptions) -> Self {
        Self {
            graph,
            options,
            relu_of: HashMap::new(),
        }
    }

    /// Declares `x` already rectified: ops that start with a ReLU read it
    /// directly (single-op graphs of the latency table measure ops this way,
    /// because a network computes each value's ReLU once).
    pub fn mark_rectified(&mut self, x: &str) {
        self.relu_of.insert(x.to_string(), x.to_string());
    }

    /// `Relu(x)`, emitted once per value.
    pub fn relu(&mut self, x: &str, name: &str) -> String {
        if let Some(y) = self.relu_of.get(x) {
            return y.clone();
        }
        let y = self.graph.node("Relu", name, &[x], vec![]);
        self.relu_of.insert(x.to_string(), y.clone());
        y
    }

    /// A convolution followed by a BatchNorm (folded by default).
    pub fn conv_bn(&mut self, prefix: &str, x: &str, m: &ConvBn) -> String {
        if self.options.fold_bn {
            let (w, b) = fold_bn(&m.conv, &m.bn);
            self.conv_with(prefix, x, &m.conv, &w, Some(b))
        } else {
            let y = self.conv_with(prefix, x, &m.conv, &m.conv.weight, None);
            self.batch_norm(&format!("{prefix}/bn"), &y, &m.bn)
        }
    }

    /// `conv`'s hyper-parameters with weights `w` and an optional bias.
    fn conv_with(
        &mut self,
        name: &str,
        x: &str,
        conv: &Conv,
        w: &[f32],
        bias: Option<Vec<f32>>,
    ) -> String {
        self.conv_node(name, x, conv, w, bias, true)
    }

    /// The Conv node; `dilations` is left out of the FactorizedReduce
    /// convolution, as it has always been written, so exported files stay
    /// byte-identical.
    fn conv_node(
        &mut self,
        name: &str,
        x: &str,
        conv: &Conv,
        w: &[f32],
        bias: Option<Vec<f32>>,
        dilations: bool,
    ) -> String {
        let wn = self.graph.weight(&format!("{name}/weight"), &conv.dims, w);
        let mut inputs = vec![x.to_string(), wn];
        if let Some(b) = bias {
            let b = self
                .graph
                .weight(&format!("{name}/bias"), &[conv.dims[0]], &b);
            inputs.push(b);
        }
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let d = conv.dilation as i64;
        let mut attrs = vec![
            (
                "kernel_shape",
                Attr::Ints(vec![conv.dims[2] as i64, conv.dims[3] as i64]),
            ),
            (
                "strides",
                Attr::Ints(conv.strides.iter().map(|&s| s as i64).collect()),
            ),
        ];
        if dilations {
            attrs.push(("dilations", Attr::Ints(vec![d, d])));
        }
        attrs.push(("pads", Attr::Ints(pads(&conv.pads))));
        attrs.push(("group", Attr::Int(conv.groups as i64)));
        self.graph.node("Conv", name, &refs, attrs)
    }

    /// An unfolded `BatchNormalization` with running statistics.
    pub fn batch_norm(&mut self, name: &str, x: &str, bn: &BatchNorm) -> String {
        let c = bn.gamma.len();
        let scale = self.graph.weight(&format!("{name}/scale"), &[c], &bn.gamma);
        let bias = self.graph.weight(&format!("{name}/bias"), &[c], &bn.beta);
        let mean = self.graph.weight(&format!("{name}/mean"), &[c], &bn.mean);
        let var = self.graph.weight(&format!("{name}/var"), &[c], &bn.var);
        self.graph.node(
            "BatchNormalization",
            name,
            &[x, &scale, &bias, &mean, &var],
            vec![("epsilon", Attr::Float(bn.epsilon as f32))],
        )
    }

    /// ReLU → 1×1 conv → BN (cell preprocessing).
    pub fn relu_conv_bn(&mut self, prefix: &str, x: &str, m: &ConvBn) -> String {
        let r = self.relu(x, &format!("{prefix}/relu"));
        self.conv_bn(&format!("{prefix}/conv"), &r, m)
    }

    /// FactorizedReduce as ONE 2×2 stride-2 convolution: the first half of the
    /// output channels carries `conv_a`'s 1×1 weights at kernel tap (0, 0), the
    /// second half `conv_b`'s at tap (1, 1), with one row/column of zero
    /// padding at the end. That is exactly `concat(conv_a(x), conv_b(pad(x[1:,
    /// 1:])))` for even and odd sizes, without the Slice/Pad/Concat nodes the
    /// literal form needs.
    pub fn factorized_reduce(&mut self, prefix: &str, x: &str, m: &FactorizedReduce) -> String {
        let r = self.relu(x, &format!("{prefix}/relu"));
        let [half, c_in, _, _] = m.conv_a.dims;
        let (a, b) = (&m.conv_a.weight, &m.conv_b.weight);
        let mut w = vec![0.0f32; 2 * half * c_in * 4];
        for o in 0..half {
            for i in 0..c_in {
                w[(o * c_in + i) * 4] = a[o * c_in + i]; // tap (0, 0)
                w[((half + o) * c_in + i) * 4 + 3] = b[o * c_in + i]; // tap (1, 1)
            }
        }
        let bias = if self.options.fold_bn {
            let (scale, shift) = bn_affine(&m.bn);
            for (o, s) in scale.iter().enumerate() {
                for v in &mut w[o * c_in * 4..(o + 1) * c_in * 4] {
                    *v *= s;
                }
            }
            Some(shift)
        } else {
            None
        };
        let conv = Conv {
            weight: Vec::new(),
            dims: [2 * half, c_in, 2, 2],
            strides: [2, 2],
            pads: [0, 0, 1, 1],
            dilation: 1,
            groups: 1,
            bias: None,
        };
        let name = format!("{prefix}/conv");
        let y = self.conv_node(&name, &r, &conv, &w, bias, false);
        if self.options.fold_bn {
            y
        } else {
            self.batch_norm(&format!("{prefix}/bn"), &y, &m.bn)
        }
    }

    fn dw_pw_bn(&mut self, prefix: &str, relu_x: &str, m: &DwPwBn) -> String {
        let dw = self.conv_with(
            &format!("{prefix}/depthwise"),
            relu_x,
            &m.depthwise,
            &m.depthwise.weight,
            None,
        );
        let pw = ConvBn {
            conv: m.pointwise.clone(),
            bn: m.bn.clone(),
        };
        self.conv_bn(&format!("{prefix}/pointwise"), &dw, &pw)
    }

    /// A tensor of `value` shaped like `x` subsampled by `stride`:
    /// `[MaxPool 1×1 stride s] → Mul 0 → [Add value]` (the shape follows
    /// the batch; `x` is finite, so `x·0` is 0).
    fn constant_like(&mut self, name: &str, x: &str, value: f32, stride: usize) -> String {
        let mut h = x.to_string();
        if stride > 1 {
            let pool = Pool {
                kernel: 1,
                stride,
                pads: [0; 4],
            };
            h = self
                .graph
                .node("MaxPool", &format!("{name}/subsample"), &[&h], pool.attrs());
        }
        let zero = self.graph.weight(&format!("{name}/zero"), &[1], &[0.0]);
        h = self
            .graph
            .node("Mul", &format!("{name}/zeros"), &[&h, &zero], vec![]);
        self.add_scalar(&format!("{name}/value"), &h, value)
    }

    /// `x + value` (broadcast), or `x` itself for 0.
    fn add_scalar(&mut self, name: &str, x: &str, value: f32) -> String {
        if value == 0.0 {
            return x.to_string();
        }
        let c = self.graph.weight(&format!("{name}/scalar"), &[1], &[value]);
        self.graph.node("Add", name, &[x, &c], vec![])
    }

    /// ReLU6 as `Clip(x, 0, 6)`.
    fn relu6(&mut self, name: &str, x: &str) -> String {
        let lo = self.graph.weight(&format!("{name}/min"), &[], &[0.0]);
        let hi = self.graph.weight(&format!("{name}/max"), &[], &[6.0]);
        self.graph.node("Clip", name, &[x, &lo, &hi], vec![])
    }

    /// A convolution without BN (its own bias, if any).
    fn plain_conv(&mut self, name: &str, x: &str, conv: &Conv) -> String {
        self.conv_with(name, x, conv, &conv.weight, conv.bias.clone())
    }

    fn squeeze_excite(&mut self, prefix: &str, x: &str, se: &SqueezeExcite) -> String {
        let pooled = self
            .graph
            .node("GlobalAveragePool", &format!("{prefix}/gap"), &[x], vec![]);
        let r = self.plain_conv(&format!("{prefix}/reduce"), &pooled, &se.reduce);
        let r = self.relu(&r, &format!("{prefix}/relu"));
        let g = self.plain_conv(&format!("{prefix}/expand"), &r, &se.expand);
        let g = self
            .graph
            .node("Sigmoid", &format!("{prefix}/sigmoid"), &[&g], vec![]);
        self.graph
            .node("Mul", &format!("{prefix}/scale"), &[x, &g], vec![])
    }

    fn pointwise(
        &mut self,
        prefix: &str,
        x: &str,
        reduce: Option<&FactorizedReduce>,
        function: Pointwise,
        bn: Option<&BatchNorm>,
    ) -> String {
        let h = match reduce {
            Some(fr) => self.factorized_reduce(&format!("{prefix}/reduce"), x, fr),
            None => x.to_string(),
        };
        let name = |what: &str| format!("{prefix}/{what}");
        match function {
            Pointwise::Relu => self.relu(&h, &name("relu")),
            Pointwise::LeakyRelu => self.graph.node(
                "LeakyRelu",
                &name("leaky_relu"),
                &[&h],
                vec![("alpha", Attr::Float(LEAKY_RELU_SLOPE as f32))],
            ),
            Pointwise::Sigmoid => self.graph.node("Sigmoid", &name("sigmoid"), &[&h], vec![]),
            Pointwise::Tanh => self.graph.node("Tanh", &name("tanh"), &[&h], vec![]),
            Pointwise::BatchNorm => {
                self.batch_norm(&name("bn"), &h, bn.expect("batch_norm has its layer"))
            }
        }
    }

    /// One candidate op of the evaluation network applied to `x`.
    pub fn op(&mut self, prefix: &str, x: &str, op: &OpLayers) -> String {
        match op {
            OpLayers::MaxPool(p) => {
                self.graph
                    .node("MaxPool", &format!("{prefix}/maxpool"), &[x], p.attrs())
            }
            OpLayers::AvgPool {
                pool: p,
                count_include_pad,
            } => {
                let mut attrs = p.attrs();
                attrs.push((
                    "count_include_pad",
                    Attr::Int(i64::from(*count_include_pad)),
                ));
                self.graph
                    .node("AveragePool", &format!("{prefix}/avgpool"), &[x], attrs)
            }
            OpLayers::Identity => x.to_string(),
            OpLayers::Reduce(fr) => self.factorized_reduce(prefix, x, fr),
            OpLayers::Sep { first, second } => {
                let r = self.relu(x, &format!("{prefix}/relu"));
                let h = self.dw_pw_bn(&format!("{prefix}/first"), &r, first);
                let h = self.relu(&h, &format!("{prefix}/mid_relu"));
                self.dw_pw_bn(&format!("{prefix}/second"), &h, second)
            }
            OpLayers::Dil(dil) => {
                let r = self.relu(x, &format!("{prefix}/relu"));
                self.dw_pw_bn(prefix, &r, dil)
            }
            OpLayers::MinConv(m) => self.conv_bn(&format!("{prefix}/conv"), x, m),
            OpLayers::StdConv(m) => {
                let r = self.relu(x, &format!("{prefix}/relu"));
                self.conv_bn(&format!("{prefix}/conv"), &r, m)
            }
            OpLayers::ConvPair {
                horizontal,
                vertical,
                bn,
            } => {
                let r = self.relu(x, &format!("{prefix}/relu"));
                let h = self.conv_with(
                    &format!("{prefix}/horizontal"),
                    &r,
                    horizontal,
                    &horizontal.weight,
                    None,
                );
                let m = ConvBn {
                    conv: vertical.clone(),
                    bn: bn.clone(),
                };
                self.conv_bn(&format!("{prefix}/vertical"), &h, &m)
            }
            OpLayers::Plain(conv) => self.plain_conv(&format!("{prefix}/conv"), x, conv),
            OpLayers::Constant { value, stride } => {
                self.constant_like(&format!("{prefix}/constant"), x, *value, *stride)
            }
            OpLayers::Pointwise {
                reduce,
                function,
                bn,
            } => self.pointwise(prefix, x, reduce.as_ref(), *function, bn.as_ref()),
            OpLayers::MbConv {
                expand,
                depthwise,
                se,
                project,
            } => {
                let mut h = x.to_string();
                if let Some(conv) = expand {
                    h = self.plain_conv(&format!("{prefix}/expand"), &h, conv);
                    h = self.relu6(&format!("{prefix}/expand_relu6"), &h);
                }
                if let Some(conv) = depthwise {
                    h = self.plain_conv(&format!("{prefix}/depthwise"), &h, conv);
                    h = self.relu6(&format!("{prefix}/depthwise_relu6"), &h);
                }
                if let Some(se) = se {
                    h = self.squeeze_excite(&format!("{prefix}/se"), &h, se);
                }
                self.conv_bn(&format!("{prefix}/project"), &h, project)
            }
        }
    }

    /// Sum of `terms` as a chain of binary `Add`s.
    pub fn sum(&mut self, prefix: &str, terms: &[String]) -> String {
        let mut acc = terms[0].clone();
        for (i, t) in terms.iter().enumerate().skip(1) {
            acc = self
                .graph
                .node("Add", &format!("{prefix}/add{i}"), &[&acc, t], vec![]);
        }
        acc
    }

    /// Concatenation along channels.
    pub fn concat(&mut self, name: &str, parts: &[String]) -> String {
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        self.graph
            .node("Concat", name, &refs, vec![("axis", Attr::Int(1))])
    }

    /// Global average pool → flatten → linear: `[N, C, H, W]` → `[N, classes]`.
    pub fn classifier(&mut self, prefix: &str, x: &str, linear: &Linear) -> String {
        let pooled = self
            .graph
            .node("GlobalAveragePool", &format!("{prefix}/gap"), &[x], vec![]);
        let flat = self.graph.node(
            "Flatten",
            &format!("{prefix}/flatten"),
            &[&pooled],
            vec![("axis", Attr::Int(1))],
        );
        let w = self.graph.weight(
            &format!("{prefix}/linear/weight"),
            &[linear.d_in, linear.d_out],
            &linear.weight,
        );
        let mut inputs = vec![flat, w];
        if let Some(b) = &linear.bias {
            inputs.push(
                self.graph
                    .weight(&format!("{prefix}/linear/bias"), &[linear.d_out], b),
            );
        }
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        self.graph
            .node("Gemm", &format!("{prefix}/linear"), &refs, vec![])
    }
}

fn pads(p: &[usize; 4]) -> Vec<i64> {
    p.iter().map(|&v| v as i64).collect()
}

/// Per-channel `(scale, shift)` with `bn(y) = scale·y + shift` (inference).
fn bn_affine(bn: &BatchNorm) -> (Vec<f32>, Vec<f32>) {
    let scale: Vec<f32> = bn
        .gamma
        .iter()
        .zip(&bn.var)
        .map(|(&g, &v)| (f64::from(g) / (f64::from(v) + bn.epsilon).sqrt()) as f32)
        .collect();
    let shift = bn
        .beta
        .iter()
        .zip(&bn.mean)
        .zip(&scale)
        .map(|((&b, &m), &s)| (f64::from(b) - f64::from(m) * f64::from(s)) as f32)
        .collect();
    (scale, shift)
}

/// Folds an inference BN into the conv before it: `(W·s, shift)`.
fn fold_bn(conv: &Conv, bn: &BatchNorm) -> (Vec<f32>, Vec<f32>) {
    let (scale, shift) = bn_affine(bn);
    let mut w = conv.weight.clone();
    let per_out = w.len() / scale.len();
    for (o, s) in scale.iter().enumerate() {
        for v in &mut w[o * per_out..(o + 1) * per_out] {
            *v *= s;
        }
    }
    let bias = match &conv.bias {
        Some(b) => b
            .iter()
            .zip(&scale)
            .zip(&shift)
            .map(|((&b, &s), &t)| b * s + t)
            .collect(),
        None => shift,
    };
    (w, bias)
}

/// Label of a cell state in node names: the two cell inputs, then nodes.
pub fn state_label(predecessor: usize) -> String {
    match predecessor {
        0 => "c_k-2".into(),
        1 => "c_k-1".into(),
        p => format!("n{}", p - 2),
    }
}

/// The ONNX model of `net`, built from `genotype` with `config` (the op
/// order of each cell follows the genotype's edge list), with stable,
/// readable node names such as
/// `cell3/node1/from_c_k-1/sep_conv_3x3/first/depthwise`.
pub fn network_to_onnx(
    net: &NetworkLayers,
    genotype: &Genotype,
    config: &NetworkConfig,
    options: EmitOptions,
    metadata: &BTreeMap<String, String>,
) -> ModelProto {
    let mut graph = GraphBuilder::new();
    let input = graph.input_name(INPUT_NAME);
    let mut e = Emitter::new(&mut graph, options);
    let stem = e.conv_bn("stem/conv", &input, &net.stem);
    let (mut s0, mut s1) = (stem.clone(), stem);
    for (i, cell) in net.cells.iter().enumerate() {
        let cell_genotype = if config.is_reduction(i) {
            &genotype.reduce
        } else {
            &genotype.normal
        };
        assert_eq!(
            cell_genotype.edges.len(),
            cell.ops.len(),
            "cell {i} was not built from this genotype"
        );
        let p0 = match &cell.pre0 {
            Preprocess::Conv(m) => e.relu_conv_bn(&format!("cell{i}/pre0"), &s0, m),
            Preprocess::Reduce(m) => e.factorized_reduce(&format!("cell{i}/pre0"), &s0, m),
        };
        let p1 = e.relu_conv_bn(&format!("cell{i}/pre1"), &s1, &cell.pre1);
        let mut states = vec![p0, p1];
        for node in 0..cell.nodes {
            let mut terms = Vec::new();
            // `zero` edges add a constant: their sum is added once after
            // the other terms (nothing for dropped edges).
            let mut constant = 0.0f32;
            let mut constant_edges = Vec::new();
            for ((op, &(n, pred)), edge) in
                cell.ops.iter().zip(&cell.wiring).zip(&cell_genotype.edges)
            {
                if n != node {
                    continue;
                }
                let prefix = format!(
                    "cell{i}/node{node}/from_{}/{}",
                    state_label(pred),
                    edge.op.name()
                );
                if let OpLayers::Constant { value, .. } = op {
                    constant += value;
                    constant_edges.push((prefix, pred, op));
                    continue;
                }
                let x = states[pred].clone();
                terms.push(e.op(&prefix, &x, op));
            }
            let name = format!("cell{i}/node{node}");
            let value = if terms.is_empty() {
                // Only `zero` edges: the node is the constant itself.
                let (prefix, pred, op) = constant_edges
                    .first()
                    .unwrap_or_else(|| panic!("cell {i} node {node} has no input"));
                let OpLayers::Constant { stride, .. } = op else {
                    unreachable!("constant edges only")
                };
                let x = states[*pred].clone();
                e.constant_like(&format!("{prefix}/constant"), &x, constant, *stride)
            } else {
                let sum = e.sum(&name, &terms);
                e.add_scalar(&format!("{name}/zero_edges"), &sum, constant)
            };
            states.push(value);
        }
        let parts: Vec<String> = cell.concat.iter().map(|&j| states[j + 2].clone()).collect();
        let out = e.concat(&format!("cell{i}/concat"), &parts);
        (s0, s1) = (s1, out);
    }
    let logits = e.classifier("classifier", &s1, &net.classifier);
    let inputs = [Port {
        name: input,
        dims: vec![config.in_channels, config.image_size, config.image_size],
    }];
    let outputs = [(
        Port {
            name: OUTPUT_NAME.into(),
            dims: vec![config.num_classes],
        },
        logits,
    )];
    graph.finish("edgenas_eval_network", &inputs, &outputs, metadata)
}

/// The constant a `zero` edge of `form` computes at inference.
pub fn zero_value(form: ZeroForm) -> f32 {
    match form {
        ZeroForm::Zeros => 0.0,
        ZeroForm::Noise => ZERO_NOISE_MEAN,
    }
}

/// Builds layers from shapes alone, with deterministic weights (an LCG in
/// [-1, 1), scaled by 1/√fan-in) and identity batch norms: for timing,
/// where only the shapes matter.
pub struct Synthetic {
    state: u64,
    /// What a `zero` edge computes (zeros: dropped; noise: its mean).
    pub zero: ZeroForm,
}

impl Synthetic {
    pub fn new(seed: u64) -> Self {
        Self {
            state: seed.wrapping_add(0x9e37_79b9_7f4a_7c15),
            zero: ZeroForm::Zeros,
        }
    }

    fn values(&mut self, len: usize, scale: f32) -> Vec<f32> {
        (0..len)
            .map(|_| {
                self.state = self
                    .state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (((self.state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0) * scale
            })
            .collect()
    }

    /// A bias-free k×k convolution with symmetric padding.
    #[allow(clippy::too_many_arguments)]
    pub fn conv(
        &mut self,
        c_in: usize,
        c_out: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        dilation: usize,
        groups: usize,
    ) -> Conv {
        let dims = [c_out, c_in / groups, kernel, kernel];
        let fan_in = (c_in / groups * kernel * kernel).max(1);
        Conv {
            weight: self.values(dims.iter().product(), 1.0 / (fan_in as f32).sqrt()),
            dims,
            strides: [stride, stride],
            pads: [padding; 4],
            dilation,
            groups,
            bias: None,
        }
    }

    /// The `conv_N×1_1×N` pair on `c` channels: 1×N with stride (1, s),
    /// then N×1 with stride (s, 1), each padded N/2 along its long side.
    fn conv_pair(&mut self, c: usize, n: usize, stride: usize) -> OpLayers {
        let p = n / 2;
        let mut half = |dims: [usize; 4], strides: [usize; 2], pads: [usize; 4]| Conv {
            weight: self.values(c * c * n, 1.0 / ((c * n) as f32).sqrt()),
            dims,
            strides,
            pads,
            dilation: 1,
            groups: 1,
            bias: None,
        };
        let horizontal = half([c, c, 1, n], [1, stride], [0, p, 0, p]);
        let vertical = half([c, c, n, 1], [stride, 1], [p, 0, p, 0]);
        OpLayers::ConvPair {
            horizontal,
            vertical,
            bn: self.batch_norm(c),
        }
    }

    /// A k×k convolution with padding k/2 and BN (op space 2's convs).
    fn conv_bn_k(&mut self, c: usize, kernel: usize, stride: usize) -> ConvBn {
        ConvBn {
            conv: self.conv(c, c, kernel, stride, kernel / 2, 1, 1),
            bn: self.batch_norm(c),
        }
    }

    /// An identity batch norm over `c` channels.
    pub fn batch_norm(&mut self, c: usize) -> BatchNorm {
        BatchNorm {
            gamma: vec![1.0; c],
            beta: vec![0.0; c],
            mean: vec![0.0; c],
            var: vec![1.0; c],
            epsilon: BN_EPSILON,
        }
    }

    /// The stem: 3×3 conv from the image to `stem_multiplier · C` channels + BN.
    pub fn stem(&mut self, config: &NetworkConfig) -> ConvBn {
        let c = config.stem_multiplier * config.channels;
        ConvBn {
            conv: self.conv(config.in_channels, c, 3, 1, 1, 1, 1),
            bn: self.batch_norm(c),
        }
    }

    /// 1×1 conv + BN (after a ReLU: the cell preprocessing).
    pub fn conv_bn_1x1(&mut self, c_in: usize, c_out: usize) -> ConvBn {
        ConvBn {
            conv: self.conv(c_in, c_out, 1, 1, 0, 1, 1),
            bn: self.batch_norm(c_out),
        }
    }

    pub fn factorized_reduce(&mut self, c_in: usize, c_out: usize) -> FactorizedReduce {
        FactorizedReduce {
            conv_a: self.conv(c_in, c_out / 2, 1, 2, 0, 1, 1),
            conv_b: self.conv(c_in, c_out / 2, 1, 2, 0, 1, 1),
            bn: self.batch_norm(c_out),
        }
    }

    fn dw_pw_bn(&mut self, c: usize, kernel: usize, stride: usize, dilation: usize) -> DwPwBn {
        let padding = dilation * (kernel - 1) / 2;
        DwPwBn {
            depthwise: self.conv(c, c, kernel, stride, padding, dilation, c),
            pointwise: self.conv(c, c, 1, 1, 0, 1, 1),
            bn: self.batch_norm(c),
        }
    }

    /// A 1×1 convolution with a bias (squeeze-excitation's).
    fn conv_1x1_bias(&mut self, c_in: usize, c_out: usize) -> Conv {
        let mut conv = self.conv(c_in, c_out, 1, 1, 0, 1, 1);
        conv.bias = Some(self.values(c_out, 1.0 / (c_in as f32).sqrt()));
        conv
    }

    /// The inverted-residual block `spec` on `c` channels, as
    /// `models::ops::MbConvOp` builds it.
    fn mbconv(&mut self, spec: MbConvSpec, c: usize, stride: usize) -> OpLayers {
        let (k, wide) = (spec.kernel, spec.expansion * c);
        let (expand, depthwise) = if spec.fused {
            (Some(self.conv(c, wide, k, stride, k / 2, 1, 1)), None)
        } else {
            let expand = (spec.expansion > 1).then(|| self.conv(c, wide, 1, 1, 0, 1, 1));
            (
                expand,
                Some(self.conv(wide, wide, k, stride, k / 2, 1, wide)),
            )
        };
        let se = spec.se.then(|| {
            let squeeze = MbConvSpec::se_channels(c);
            SqueezeExcite {
                reduce: self.conv_1x1_bias(wide, squeeze),
                expand: self.conv_1x1_bias(squeeze, wide),
            }
        });
        OpLayers::MbConv {
            expand,
            depthwise,
            se,
            project: ConvBn {
                conv: self.conv(wide, c, 1, 1, 0, 1, 1),
                bn: self.batch_norm(c),
            },
        }
    }

    /// The same builder with `zero` edges in `form`.
    pub fn with_zero(mut self, form: ZeroForm) -> Self {
        self.zero = form;
        self
    }

    /// Candidate op `kind` on `c` channels with `stride` (`zero` as a
    /// constant, see [`Synthetic::zero`]).
    pub fn op(&mut self, kind: OpKind, c: usize, stride: usize) -> Option<OpLayers> {
        if let Some(spec) = kind.mbconv() {
            return Some(self.mbconv(spec, c, stride));
        }
        if let Some(function) = kind.pointwise() {
            return Some(OpLayers::Pointwise {
                reduce: (stride == 2).then(|| self.factorized_reduce(c, c)),
                function,
                bn: (function == Pointwise::BatchNorm).then(|| self.batch_norm(c)),
            });
        }
        if let Some((k, depthwise)) = kind.plain_conv() {
            let groups = if depthwise { c } else { 1 };
            return Some(OpLayers::Plain(self.conv(
                c,
                c,
                k,
                stride,
                k / 2,
                1,
                groups,
            )));
        }
        let k = kind.pool_kernel().unwrap_or(3);
        let pool = Pool {
            kernel: k,
            stride,
            pads: [k / 2; 4],
        };
        Some(match kind {
            OpKind::Zero => OpLayers::Constant {
                value: zero_value(self.zero),
                stride,
            },
            OpKind::MaxPool3x3 | OpKind::MaxPool5x5 => OpLayers::MaxPool(pool),
            OpKind::AvgPool3x3 | OpKind::AvgPool5x5 => OpLayers::AvgPool {
                pool,
                count_include_pad: false,
            },
            OpKind::Identity if stride == 1 => OpLayers::Identity,
            OpKind::Identity => OpLayers::Reduce(self.factorized_reduce(c, c)),
            OpKind::SepConv3x3 | OpKind::SepConv5x5 => {
                let k = if kind == OpKind::SepConv3x3 { 3 } else { 5 };
                OpLayers::Sep {
                    first: self.dw_pw_bn(c, k, stride, 1),
                    second: self.dw_pw_bn(c, k, 1, 1),
                }
            }
            OpKind::DilConv3x3 => OpLayers::Dil(self.dw_pw_bn(c, 3, stride, 2)),
            OpKind::DilConv5x5 => OpLayers::Dil(self.dw_pw_bn(c, 5, stride, 2)),
            OpKind::MinConv3x3 => OpLayers::MinConv(self.conv_bn_k(c, 3, stride)),
            OpKind::MinConv5x5 => OpLayers::MinConv(self.conv_bn_k(c, 5, stride)),
            OpKind::StdConv3x3 => OpLayers::StdConv(self.conv_bn_k(c, 3, stride)),
            OpKind::StdConv5x5 => OpLayers::StdConv(self.conv_bn_k(c, 5, stride)),
            OpKind::Conv7x1x1x7 => self.conv_pair(c, 7, stride),
            OpKind::Conv9x1x1x9 => self.conv_pair(c, 9, stride),
            other => unreachable!("{other} is built above"),
        })
    }

    /// A linear layer `d_in → d_out` with a bias.
    pub fn linear(&mut self, d_in: usize, d_out: usize) -> Linear {
        let scale = 1.0 / (d_in.max(1) as f32).sqrt();
        Linear {
            weight: self.values(d_in * d_out, scale),
            d_in,
            d_out,
            bias: Some(self.values(d_out, scale)),
        }
    }

    /// The evaluation network of `genotype` with `config`, as
    /// `models::network::EvalNetworkConfig` builds it (without the auxiliary
    /// head). `None` when the genotype has a `zero` op.
    pub fn network(
        &mut self,
        genotype: &Genotype,
        config: &NetworkConfig,
    ) -> Option<NetworkLayers> {
        let layout = config.cell_layout();
        let mut cells = Vec::with_capacity(layout.len());
        for shape in &layout {
            let cell = if shape.reduction {
                &genotype.reduce
            } else {
                &genotype.normal
            };
            let mut ops = Vec::with_capacity(cell.edges.len());
            let mut wiring = Vec::with_capacity(cell.edges.len());
            for edge in &cell.edges {
                let stride = if shape.reduction && edge.predecessor < 2 {
                    2
                } else {
                    1
                };
                ops.push(self.op(edge.op, shape.c, stride)?);
                wiring.push((edge.node, edge.predecessor));
            }
            let pre0 = if shape.reduction_prev {
                Preprocess::Reduce(self.factorized_reduce(shape.c_prev_prev, shape.c))
            } else {
                Preprocess::Conv(self.conv_bn_1x1(shape.c_prev_prev, shape.c))
            };
            cells.push(CellLayers {
                pre0,
                pre1: self.conv_bn_1x1(shape.c_prev, shape.c),
                ops,
                wiring,
                concat: cell.concat.clone(),
                nodes: config.nodes,
            });
        }
        let c_last = layout.last().map_or(config.channels, |shape| {
            let cell = if shape.reduction {
                &genotype.reduce
            } else {
                &genotype.normal
            };
            cell.concat.len() * shape.c
        });
        Some(NetworkLayers {
            stem: self.stem(config),
            cells,
            classifier: self.linear(c_last, config.num_classes),
        })
    }
}
