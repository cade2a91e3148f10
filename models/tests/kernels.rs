//! The custom kernels of `models::kernels` against burn's own ops on the
//! autodiff Flex device: forward values and both gradients, on every
//! depthwise geometry the DARTS space uses, on 1×1 convolutions that
//! change the channel count, on the 3×3 and 5×5 pools and on training-mode
//! batch normalization (with its running statistics), **bit for bit**: the kernel switch must
//! not change a search's trajectory (see `models::kernels`).

use burn::module::Param;
use burn::nn::BatchNormConfig;
use burn::nn::PaddingConfig2d;
use burn::nn::pool::{AvgPool2dConfig, MaxPool2dConfig};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};
use models::kernels::{avg_pool2d, batch_norm, depthwise_conv2d, max_pool2d, pointwise_conv2d};

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// Every value has the same bits as burn's.
fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let differ = got
        .iter()
        .zip(want)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    let first = got
        .iter()
        .zip(want)
        .position(|(a, b)| a.to_bits() != b.to_bits());
    assert!(
        differ == 0,
        "{what}: {differ} of {} values differ from burn's, first at {first:?}: {:?} vs {:?}",
        got.len(),
        first.map(|i| got[i]),
        first.map(|i| want[i])
    );
}

#[test]
fn depthwise_matches_burn_conv2d_in_value_and_gradients() {
    let device = Device::flex().autodiff();
    device.seed(7);
    for (kernel, dilation) in [(3, 1), (5, 1), (3, 2), (5, 2)] {
        for stride in [1, 2] {
            for size in [28, 7, 8] {
                let what = format!("k{kernel} d{dilation} s{stride} {size}×{size}");
                let padding = dilation * (kernel - 1) / 2;
                let x = Tensor::<4>::random([3, 5, size, size], Distribution::Default, &device);
                let w = Tensor::<4>::random([5, 1, kernel, kernel], Distribution::Default, &device);
                let options = ConvOptions::new([stride; 2], [padding; 2], [dilation; 2], 5);

                let run = |custom: bool| {
                    let (x, w) = (x.clone().require_grad(), w.clone().require_grad());
                    let y = if custom {
                        depthwise_conv2d(x.clone(), w.clone(), stride, padding, dilation)
                    } else {
                        conv2d(x.clone(), w.clone(), None, options.clone())
                    };
                    // A non-uniform upstream gradient: d(Σ y²/2)/dy = y.
                    let grads = (y.clone() * y.clone()).sum().mul_scalar(0.5).backward();
                    let gx = x.grad(&grads).expect("x gradient");
                    let gw = w.grad(&grads).expect("w gradient");
                    (values(y), values(gx), values(gw))
                };
                let (ours, burn) = (run(true), run(false));
                assert_close(&format!("{what} y"), &ours.0, &burn.0);
                assert_close(&format!("{what} dx"), &ours.1, &burn.1);
                assert_close(&format!("{what} dw"), &ours.2, &burn.2);
            }
        }
    }
}

/// With the weight frozen (the α step reads a no-grad copy of the network),
/// only the input gradient flows, and it is the same.
#[test]
fn depthwise_input_gradient_with_a_frozen_weight() {
    let device = Device::flex().autodiff();
    device.seed(8);
    let x = Tensor::<4>::random([2, 4, 9, 9], Distribution::Default, &device).require_grad();
    let w = Tensor::<4>::random([4, 1, 3, 3], Distribution::Default, &device);
    let y = depthwise_conv2d(x.clone(), w.clone(), 1, 1, 1);
    let gx = x.grad(&y.sum().backward()).expect("x gradient");
    let y_ref = conv2d(
        x.clone(),
        w,
        None,
        ConvOptions::new([1; 2], [1; 2], [1; 2], 4),
    );
    let gx_ref = x.grad(&y_ref.sum().backward()).expect("x gradient");
    assert_close("dx", &values(gx), &values(gx_ref));
}

/// Without autodiff (evaluation, `model.valid()`), the forward pass agrees.
#[test]
fn depthwise_forward_without_autodiff() {
    let device = Device::flex();
    device.seed(9);
    let x = Tensor::<4>::random([2, 6, 11, 11], Distribution::Default, &device);
    let w = Tensor::<4>::random([6, 1, 5, 5], Distribution::Default, &device);
    let ours = depthwise_conv2d(x.clone(), w.clone(), 2, 4, 2);
    let burn = conv2d(x, w, None, ConvOptions::new([2; 2], [4; 2], [2; 2], 6));
    assert_eq!(ours.dims(), burn.dims());
    assert_close("y", &values(ours), &values(burn));
}

#[test]
fn pointwise_matches_burn_conv2d_in_value_and_gradients() {
    let device = Device::flex().autodiff();
    device.seed(10);
    for (c_in, c_out, size) in [(8, 8, 28), (24, 16, 7), (3, 5, 9), (24, 12, 4)] {
        let what = format!("{c_in}→{c_out} {size}×{size}");
        let x = Tensor::<4>::random([4, c_in, size, size], Distribution::Default, &device);
        let w = Tensor::<4>::random([c_out, c_in, 1, 1], Distribution::Default, &device);
        let run = |custom: bool| {
            let (x, w) = (x.clone().require_grad(), w.clone().require_grad());
            let y = if custom {
                pointwise_conv2d(x.clone(), w.clone())
            } else {
                conv2d(
                    x.clone(),
                    w.clone(),
                    None,
                    ConvOptions::new([1; 2], [0; 2], [1; 2], 1),
                )
            };
            let grads = (y.clone() * y.clone()).sum().mul_scalar(0.5).backward();
            let gx = x.grad(&grads).expect("x gradient");
            let gw = w.grad(&grads).expect("w gradient");
            (y.dims(), values(y), values(gx), values(gw))
        };
        let (ours, burn) = (run(true), run(false));
        assert_eq!(ours.0, burn.0, "{what}: output shape");
        assert_close(&format!("{what} y"), &ours.1, &burn.1);
        assert_close(&format!("{what} dx"), &ours.2, &burn.2);
        assert_close(&format!("{what} dw"), &ours.3, &burn.3);
    }
}

#[test]
fn pools_match_burn_in_value_and_gradient() {
    let device = Device::flex().autodiff();
    device.seed(11);
    for (k, stride) in [(3, 1), (3, 2), (5, 1), (5, 2)] {
        for size in [28, 7, 8, 9, 3] {
            // Negative values too: a max over a border window must ignore the
            // padding rather than read it as zero.
            let x =
                Tensor::<4>::random([3, 4, size, size], Distribution::Normal(-0.5, 1.0), &device);
            for max in [true, false] {
                let what = format!(
                    "{} pool {k}×{k} s{stride} {size}×{size}",
                    if max { "max" } else { "avg" }
                );
                let run = |custom: bool| {
                    let x = x.clone().require_grad();
                    let p = k / 2;
                    let pad = PaddingConfig2d::Explicit(p, p, p, p);
                    let y = match (custom, max) {
                        (true, true) => max_pool2d(x.clone(), k, stride, p),
                        (true, false) => avg_pool2d(x.clone(), k, stride, p),
                        (false, true) => MaxPool2dConfig::new([k, k])
                            .with_strides([stride; 2])
                            .with_padding(pad)
                            .init()
                            .forward(x.clone()),
                        (false, false) => AvgPool2dConfig::new([k, k])
                            .with_strides([stride; 2])
                            .with_padding(pad)
                            .with_count_include_pad(false)
                            .init()
                            .forward(x.clone()),
                    };
                    let grads = (y.clone() * y.clone()).sum().mul_scalar(0.5).backward();
                    (
                        y.dims(),
                        values(y),
                        values(x.grad(&grads).expect("x gradient")),
                    )
                };
                let (ours, burn) = (run(true), run(false));
                assert_eq!(ours.0, burn.0, "{what}: output shape");
                assert_close(&format!("{what} y"), &ours.1, &burn.1);
                assert_close(&format!("{what} dx"), &ours.2, &burn.2);
            }
        }
    }
}

#[test]
fn batch_norm_matches_burn_in_value_gradients_and_running_statistics() {
    let device = Device::flex().autodiff();
    device.seed(12);
    // A small odd shape, and the search's 28×28 batch of 32 (rows of
    // 25,088 values per channel: every path of burn-flex's row sum).
    for [n, c, size] in [[4, 6, 9], [32, 8, 28], [1, 3, 5]] {
        let what = format!("{n}×{c}×{size}×{size}");
        let x = Tensor::<4>::random([n, c, size, size], Distribution::Normal(0.5, 2.0), &device);
        let gamma = Tensor::<1>::random([c], Distribution::Normal(1.0, 0.5), &device);
        let beta = Tensor::<1>::random([c], Distribution::Normal(0.0, 0.5), &device);
        let run = |custom: bool| {
            let mut bn = BatchNormConfig::new(c).init(&device);
            bn.gamma = Param::from_tensor(gamma.clone());
            bn.beta = Param::from_tensor(beta.clone());
            let x = x.clone().require_grad();
            let y = if custom {
                batch_norm(&bn, x.clone())
            } else {
                bn.forward(x.clone())
            };
            let grads = (y.clone() * y.clone().sin()).sum().backward();
            let gx = values(x.grad(&grads).expect("x gradient"));
            let gg = values(bn.gamma.grad(&grads).expect("γ gradient"));
            let gb = values(bn.beta.grad(&grads).expect("β gradient"));
            let running = [
                values(bn.running_mean.value()),
                values(bn.running_var.value()),
            ];
            (values(y), gx, gg, gb, running)
        };
        let (ours, burn) = (run(true), run(false));
        assert_close(&format!("{what} y"), &ours.0, &burn.0);
        assert_close(&format!("{what} dx"), &ours.1, &burn.1);
        assert_close(&format!("{what} dγ"), &ours.2, &burn.2);
        assert_close(&format!("{what} dβ"), &ours.3, &burn.3);
        assert_close(&format!("{what} running mean"), &ours.4[0], &burn.4[0]);
        assert_close(&format!("{what} running var"), &ours.4[1], &burn.4[1]);
    }
}
