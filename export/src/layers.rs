//! The trained burn modules of the search spaces as the plain layers of
//! `runtime::layers`, which the one ONNX emitter writes. Only the weights
//! are read here; structure and hyper-parameters are the modules' own.

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, Linear, PaddingConfig2d};
use burn::tensor::Tensor;
use models::network::{EvalCell, EvalNetwork, Preprocess, Stem};
use models::ops::{self, Op};
use runtime::layers as plain;

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 tensor data")
}

fn param<const D: usize>(p: &Param<Tensor<D>>) -> Vec<f32> {
    values(p.val())
}

/// `[top, left, bottom, right]` of an explicit burn padding.
fn explicit_pads(p: &PaddingConfig2d) -> [usize; 4] {
    match p {
        PaddingConfig2d::Explicit(top, left, bottom, right) => [*top, *left, *bottom, *right],
        PaddingConfig2d::Valid => [0; 4],
        other => panic!("only explicit or valid padding is exported, got {other:?}"),
    }
}

pub fn conv(c: &Conv2d) -> plain::Conv {
    assert_eq!(c.dilation[0], c.dilation[1], "square dilations only");
    plain::Conv {
        weight: param(&c.weight),
        dims: c.weight.val().dims(),
        strides: c.stride,
        pads: explicit_pads(&c.padding),
        dilation: c.dilation[0],
        groups: c.groups,
        bias: c.bias.as_ref().map(param),
    }
}

pub fn batch_norm(bn: &BatchNorm) -> plain::BatchNorm {
    plain::BatchNorm {
        gamma: param(&bn.gamma),
        beta: param(&bn.beta),
        mean: values(bn.running_mean.value()),
        var: values(bn.running_var.value()),
        epsilon: bn.epsilon,
    }
}

pub fn conv_bn(c: &Conv2d, bn: &BatchNorm) -> plain::ConvBn {
    plain::ConvBn {
        conv: conv(c),
        bn: batch_norm(bn),
    }
}

pub fn stem(m: &Stem) -> plain::ConvBn {
    conv_bn(&m.conv, &m.bn)
}

pub fn relu_conv_bn(m: &ops::ReluConvBn) -> plain::ConvBn {
    conv_bn(&m.conv, &m.bn)
}

pub fn factorized_reduce(m: &ops::FactorizedReduce) -> plain::FactorizedReduce {
    plain::FactorizedReduce {
        conv_a: conv(&m.conv_a),
        conv_b: conv(&m.conv_b),
        bn: batch_norm(&m.bn),
    }
}

fn dw_pw_bn(m: &ops::DwPwBn) -> plain::DwPwBn {
    plain::DwPwBn {
        depthwise: conv(&m.depthwise),
        pointwise: conv(&m.pointwise),
        bn: batch_norm(&m.bn),
    }
}

fn pool(kernel: [usize; 2], stride: [usize; 2], padding: &PaddingConfig2d) -> plain::Pool {
    assert_eq!(kernel[0], kernel[1], "square pools only");
    assert_eq!(stride[0], stride[1], "square strides only");
    plain::Pool {
        kernel: kernel[0],
        stride: stride[0],
        pads: explicit_pads(padding),
    }
}

/// One candidate op of an evaluation network (never `zero`, never a
/// search-network pool with its BN).
pub fn op(prefix: &str, op: &Op) -> plain::OpLayers {
    match op {
        Op::Zero(z) => plain::OpLayers::Constant {
            value: if z.noise {
                models::space::ZERO_NOISE_MEAN
            } else {
                0.0
            },
            stride: z.stride,
        },
        Op::MaxPool(p) => {
            assert!(p.bn.is_none(), "{prefix}: search-network pool in export");
            plain::OpLayers::MaxPool(pool(p.pool.kernel_size, p.pool.stride, &p.pool.padding))
        }
        Op::AvgPool(p) => {
            assert!(p.bn.is_none(), "{prefix}: search-network pool in export");
            plain::OpLayers::AvgPool {
                pool: pool(p.pool.kernel_size, p.pool.stride, &p.pool.padding),
                count_include_pad: p.pool.count_include_pad,
            }
        }
        Op::Identity(_) => plain::OpLayers::Identity,
        Op::Reduce(fr) => plain::OpLayers::Reduce(factorized_reduce(fr)),
        Op::Sep(sep) => plain::OpLayers::Sep {
            first: dw_pw_bn(&sep.first),
            second: dw_pw_bn(&sep.second),
        },
        Op::Dil(dil) => plain::OpLayers::Dil(dw_pw_bn(dil)),
        Op::MinConv(m) => plain::OpLayers::MinConv(conv_bn(&m.conv, &m.bn)),
        Op::StdConv(m) => plain::OpLayers::StdConv(conv_bn(&m.conv, &m.bn)),
        Op::ConvPair(m) => plain::OpLayers::ConvPair {
            horizontal: conv(&m.horizontal),
            vertical: conv(&m.vertical),
            bn: batch_norm(&m.bn),
        },
        Op::PlainConv(m) => plain::OpLayers::Plain(conv(&m.conv)),
        Op::Pointwise(m) => plain::OpLayers::Pointwise {
            reduce: m.reduce.as_ref().map(factorized_reduce),
            function: m.function,
            bn: m.bn.as_ref().map(batch_norm),
        },
        Op::MbConv(m) => plain::OpLayers::MbConv {
            expand: m.expand.as_ref().map(conv),
            depthwise: m.depthwise.as_ref().map(conv),
            se: m.se.as_ref().map(|se| plain::SqueezeExcite {
                reduce: conv(&se.reduce),
                expand: conv(&se.expand),
            }),
            project: conv_bn(&m.project, &m.bn),
        },
    }
}

pub fn linear(l: &Linear) -> plain::Linear {
    let [d_in, d_out] = l.weight.val().dims();
    plain::Linear {
        weight: param(&l.weight),
        d_in,
        d_out,
        bias: l.bias.as_ref().map(param),
    }
}

fn cell(index: usize, c: &EvalCell) -> plain::CellLayers {
    plain::CellLayers {
        pre0: match &c.pre0 {
            Preprocess::Conv(m) => plain::Preprocess::Conv(relu_conv_bn(m)),
            Preprocess::Reduce(m) => plain::Preprocess::Reduce(factorized_reduce(m)),
        },
        pre1: relu_conv_bn(&c.pre1),
        ops: c
            .ops
            .iter()
            .map(|o| op(&format!("cell{index}"), o))
            .collect(),
        wiring: c.wiring.clone(),
        concat: c.concat.clone(),
        nodes: c.nodes,
    }
}

/// The inference layers of a trained evaluation network (the auxiliary
/// head is training-only and left out).
pub fn network(net: &EvalNetwork) -> plain::NetworkLayers {
    plain::NetworkLayers {
        stem: stem(&net.stem),
        cells: net
            .cells
            .iter()
            .enumerate()
            .map(|(i, c)| cell(i, c))
            .collect(),
        classifier: linear(&net.classifier),
    }
}
