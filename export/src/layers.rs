//! ONNX emission of the burn modules of the DARTS space: every candidate op
//! and the cell glue, in inference form (BN with running statistics, folded
//! into the preceding convolution unless asked not to).

use std::collections::HashMap;

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, Linear, PaddingConfig2d};
use burn::tensor::Tensor;
use models::ops::{DwPwBn, FactorizedReduce, Op, ReluConvBn};

use crate::onnx::{Attr, GraphBuilder};

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

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 tensor data")
}

fn param<const D: usize>(p: &Param<Tensor<D>>) -> Vec<f32> {
    values(p.val())
}

/// Writes ONNX nodes for burn modules into a [`GraphBuilder`], sharing one
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
    pub fn conv_bn(&mut self, prefix: &str, x: &str, conv: &Conv2d, bn: &BatchNorm) -> String {
        if self.options.fold_bn {
            let (w, b) = fold_bn(conv, bn);
            self.conv_raw(prefix, x, conv, w, Some(b))
        } else {
            let w = param(&conv.weight);
            let y = self.conv_raw(prefix, x, conv, w, None);
            self.batch_norm(&format!("{prefix}/bn"), &y, bn)
        }
    }

    /// A convolution with explicit weights `w` (`[out, in/groups, kh, kw]`).
    fn conv_raw(
        &mut self,
        name: &str,
        x: &str,
        conv: &Conv2d,
        w: Vec<f32>,
        bias: Option<Vec<f32>>,
    ) -> String {
        let dims = conv.weight.val().dims();
        let w = self.graph.weight(&format!("{name}/weight"), &dims, &w);
        let mut inputs = vec![x.to_string(), w];
        if let Some(b) = bias {
            inputs.push(self.graph.weight(&format!("{name}/bias"), &[dims[0]], &b));
        }
        let pads = explicit_pads(&conv.padding);
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        self.graph.node(
            "Conv",
            name,
            &refs,
            vec![
                ("kernel_shape", Attr::Ints(ints(&conv.kernel_size))),
                ("strides", Attr::Ints(ints(&conv.stride))),
                ("dilations", Attr::Ints(ints(&conv.dilation))),
                ("pads", Attr::Ints(pads)),
                ("group", Attr::Int(conv.groups as i64)),
            ],
        )
    }

    /// An unfolded `BatchNormalization` with running statistics.
    pub fn batch_norm(&mut self, name: &str, x: &str, bn: &BatchNorm) -> String {
        let c = bn.gamma.val().dims()[0];
        let scale = self
            .graph
            .weight(&format!("{name}/scale"), &[c], &param(&bn.gamma));
        let bias = self
            .graph
            .weight(&format!("{name}/bias"), &[c], &param(&bn.beta));
        let mean = self.graph.weight(
            &format!("{name}/mean"),
            &[c],
            &values(bn.running_mean.value()),
        );
        let var = self.graph.weight(
            &format!("{name}/var"),
            &[c],
            &values(bn.running_var.value()),
        );
        self.graph.node(
            "BatchNormalization",
            name,
            &[x, &scale, &bias, &mean, &var],
            vec![("epsilon", Attr::Float(bn.epsilon as f32))],
        )
    }

    /// ReLU → 1×1 conv → BN (cell preprocessing).
    pub fn relu_conv_bn(&mut self, prefix: &str, x: &str, m: &ReluConvBn) -> String {
        let r = self.relu(x, &format!("{prefix}/relu"));
        self.conv_bn(&format!("{prefix}/conv"), &r, &m.conv, &m.bn)
    }

    /// FactorizedReduce as ONE 2×2 stride-2 convolution: the first half of the
    /// output channels carries `conv_a`'s 1×1 weights at kernel tap (0, 0), the
    /// second half `conv_b`'s at tap (1, 1), with one row/column of zero
    /// padding at the end. That is exactly `concat(conv_a(x), conv_b(pad(x[1:,
    /// 1:])))` for even and odd sizes, without the Slice/Pad/Concat nodes the
    /// literal form needs.
    pub fn factorized_reduce(&mut self, prefix: &str, x: &str, m: &FactorizedReduce) -> String {
        let r = self.relu(x, &format!("{prefix}/relu"));
        let [half, c_in, _, _] = m.conv_a.weight.val().dims();
        let a = param(&m.conv_a.weight);
        let b = param(&m.conv_b.weight);
        let mut w = vec![0.0f32; 2 * half * c_in * 4];
        for o in 0..half {
            for i in 0..c_in {
                w[(o * c_in + i) * 4] = a[o * c_in + i]; // tap (0, 0)
                w[((half + o) * c_in + i) * 4 + 3] = b[o * c_in + i]; // tap (1, 1)
            }
        }
        let (w, bias) = if self.options.fold_bn {
            let (scale, shift) = bn_affine(&m.bn);
            for (o, s) in scale.iter().enumerate() {
                for v in &mut w[o * c_in * 4..(o + 1) * c_in * 4] {
                    *v *= s;
                }
            }
            (w, Some(shift))
        } else {
            (w, None)
        };
        let name = format!("{prefix}/conv");
        let wn = self
            .graph
            .weight(&format!("{name}/weight"), &[2 * half, c_in, 2, 2], &w);
        let mut inputs = vec![r, wn];
        if let Some(b) = bias {
            inputs.push(self.graph.weight(&format!("{name}/bias"), &[2 * half], &b));
        }
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let y = self.graph.node(
            "Conv",
            &name,
            &refs,
            vec![
                ("kernel_shape", Attr::Ints(vec![2, 2])),
                ("strides", Attr::Ints(vec![2, 2])),
                ("pads", Attr::Ints(vec![0, 0, 1, 1])),
                ("group", Attr::Int(1)),
            ],
        );
        if self.options.fold_bn {
            y
        } else {
            self.batch_norm(&format!("{prefix}/bn"), &y, &m.bn)
        }
    }

    fn dw_pw_bn(&mut self, prefix: &str, relu_x: &str, m: &DwPwBn) -> String {
        let dw = self.conv_raw(
            &format!("{prefix}/depthwise"),
            relu_x,
            &m.depthwise,
            param(&m.depthwise.weight),
            None,
        );
        self.conv_bn(&format!("{prefix}/pointwise"), &dw, &m.pointwise, &m.bn)
    }

    /// One candidate op of the evaluation network applied to `x`.
    pub fn op(&mut self, prefix: &str, x: &str, op: &Op) -> String {
        match op {
            Op::Zero(_) => panic!("{prefix}: the `zero` op never appears in an evaluation network"),
            Op::MaxPool(p) => {
                assert!(p.bn.is_none(), "{prefix}: search-network pool in export");
                self.graph.node(
                    "MaxPool",
                    &format!("{prefix}/maxpool"),
                    &[x],
                    vec![
                        ("kernel_shape", Attr::Ints(ints(&p.pool.kernel_size))),
                        ("strides", Attr::Ints(ints(&p.pool.stride))),
                        ("pads", Attr::Ints(explicit_pads(&p.pool.padding))),
                    ],
                )
            }
            Op::AvgPool(p) => {
                assert!(p.bn.is_none(), "{prefix}: search-network pool in export");
                self.graph.node(
                    "AveragePool",
                    &format!("{prefix}/avgpool"),
                    &[x],
                    vec![
                        ("kernel_shape", Attr::Ints(ints(&p.pool.kernel_size))),
                        ("strides", Attr::Ints(ints(&p.pool.stride))),
                        ("pads", Attr::Ints(explicit_pads(&p.pool.padding))),
                        (
                            "count_include_pad",
                            Attr::Int(i64::from(p.pool.count_include_pad)),
                        ),
                    ],
                )
            }
            Op::Identity(_) => x.to_string(),
            Op::Reduce(fr) => self.factorized_reduce(prefix, x, fr),
            Op::Sep(sep) => {
                let r = self.relu(x, &format!("{prefix}/relu"));
                let h = self.dw_pw_bn(&format!("{prefix}/first"), &r, &sep.first);
                let h = self.relu(&h, &format!("{prefix}/mid_relu"));
                self.dw_pw_bn(&format!("{prefix}/second"), &h, &sep.second)
            }
            Op::Dil(dil) => {
                let r = self.relu(x, &format!("{prefix}/relu"));
                self.dw_pw_bn(prefix, &r, dil)
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
        let [d_in, d_out] = linear.weight.val().dims();
        let w = self.graph.weight(
            &format!("{prefix}/linear/weight"),
            &[d_in, d_out],
            &param(&linear.weight),
        );
        let mut inputs = vec![flat, w];
        if let Some(b) = &linear.bias {
            inputs.push(
                self.graph
                    .weight(&format!("{prefix}/linear/bias"), &[d_out], &param(b)),
            );
        }
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        self.graph
            .node("Gemm", &format!("{prefix}/linear"), &refs, vec![])
    }
}

fn ints(v: &[usize; 2]) -> Vec<i64> {
    v.iter().map(|&x| x as i64).collect()
}

/// ONNX `pads` (`[top, left, bottom, right]`) of an explicit burn padding.
fn explicit_pads(p: &PaddingConfig2d) -> Vec<i64> {
    match p {
        PaddingConfig2d::Explicit(top, left, bottom, right) => {
            vec![*top as i64, *left as i64, *bottom as i64, *right as i64]
        }
        PaddingConfig2d::Valid => vec![0, 0, 0, 0],
        other => panic!("only explicit or valid padding is exported, got {other:?}"),
    }
}

/// Per-channel `(scale, shift)` with `bn(y) = scale·y + shift` (inference).
fn bn_affine(bn: &BatchNorm) -> (Vec<f32>, Vec<f32>) {
    let gamma = param(&bn.gamma);
    let beta = param(&bn.beta);
    let mean = values(bn.running_mean.value());
    let var = values(bn.running_var.value());
    let eps = bn.epsilon;
    let scale: Vec<f32> = gamma
        .iter()
        .zip(&var)
        .map(|(&g, &v)| (f64::from(g) / (f64::from(v) + eps).sqrt()) as f32)
        .collect();
    let shift = beta
        .iter()
        .zip(&mean)
        .zip(&scale)
        .map(|((&b, &m), &s)| (f64::from(b) - f64::from(m) * f64::from(s)) as f32)
        .collect();
    (scale, shift)
}

/// Folds an inference BN into the conv before it: `(W·s, shift)`.
fn fold_bn(conv: &Conv2d, bn: &BatchNorm) -> (Vec<f32>, Vec<f32>) {
    let (scale, shift) = bn_affine(bn);
    let mut w = param(&conv.weight);
    let per_out = w.len() / scale.len();
    for (o, s) in scale.iter().enumerate() {
        for v in &mut w[o * per_out..(o + 1) * per_out] {
            *v *= s;
        }
    }
    let bias = match &conv.bias {
        Some(b) => param(b)
            .iter()
            .zip(&scale)
            .zip(&shift)
            .map(|((&b, &s), &t)| b * s + t)
            .collect(),
        None => shift,
    };
    (w, bias)
}
