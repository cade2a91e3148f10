//! Measuring one key (a single-op graph) or a whole evaluation network on a
//! device profile's backend.
//!
//! tract: the op is written as a one-op ONNX graph by the same writer that
//! exports the deployed network (`export::layers::Emitter`), optimized and
//! run by tract. flex / cuda: the same burn module runs on that device.
//! Ops that start with a ReLU are measured on an already rectified input;
//! the ReLU has its own key, because a network computes it once per value.

use std::collections::BTreeMap;

use burn::module::Module;
use burn::nn::LinearConfig;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Distribution, Tensor};
use export::layers::{EmitOptions, Emitter};
use export::onnx::{GraphBuilder, Port};
use export::{eval_network_to_onnx, onnx};
use models::genotype::Genotype;
use models::network::{EvalNetwork, EvalNetworkConfig, NetworkConfig, Stem, global_avg_pool};
use models::ops::{FactorizedReduce, Op, ReluConvBn};
use runtime::TractModel;
use runtime::timing::{self, stopwatch};

use crate::LutError;
use crate::device::{DeviceProfile, LutBackend};
use crate::template::{Glue, LutKey};

/// Deterministic input values in [-1, 1) (an LCG), so measurements do not
/// depend on a random generator's state.
fn input_values(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_add(0x9e3779b97f4a7c15);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// The shapes (after the batch) of a key's graph inputs, and its output's.
fn key_io(key: &LutKey) -> Result<(Vec<Vec<usize>>, Vec<usize>), LutError> {
    let (c, h) = (key.c_in, key.h_in);
    let h_out = h.div_ceil(key.stride);
    let io = match Glue::from_name(&key.op) {
        Some(Glue::Overhead | Glue::Relu) => (vec![vec![c, h, h]], vec![c, h, h]),
        Some(Glue::Stem | Glue::ConvBn1x1 | Glue::FactorizedReduce) => {
            (vec![vec![c, h, h]], vec![key.c_out, h_out, h_out])
        }
        Some(Glue::Add) => (vec![vec![c, h, h]; 2], vec![c, h, h]),
        Some(Glue::Concat) => {
            if key.c_in == 0 || !key.c_out.is_multiple_of(key.c_in) {
                return Err(LutError::BadKey(key.clone()));
            }
            (
                vec![vec![c, h, h]; key.c_out / key.c_in],
                vec![key.c_out, h, h],
            )
        }
        Some(Glue::Classifier) => (vec![vec![c, h, h]], vec![key.c_out]),
        None => {
            if key.candidate().is_none() {
                return Err(LutError::BadKey(key.clone()));
            }
            (vec![vec![c, h, h]], vec![c, h_out, h_out])
        }
    };
    Ok(io)
}

/// The burn modules of a key, built on `device` in inference form (built
/// once per key, so the size difference between variants does not matter).
#[allow(clippy::large_enum_variant)]
enum KeyModule {
    None,
    Op(Op),
    ConvBn(ReluConvBn),
    Reduce(FactorizedReduce),
    Stem(Stem),
    Classifier(burn::nn::Linear),
}

fn key_module(key: &LutKey, device: &Device) -> Result<KeyModule, LutError> {
    Ok(match Glue::from_name(&key.op) {
        Some(Glue::Overhead | Glue::Relu | Glue::Add | Glue::Concat) => KeyModule::None,
        Some(Glue::Stem) => {
            let config = NetworkConfig::new(key.c_in, key.h_in, 2)
                .with_channels(key.c_out / 3)
                .with_stem_multiplier(3);
            if !key.c_out.is_multiple_of(3) {
                return Err(LutError::BadKey(key.clone()));
            }
            KeyModule::Stem(Stem::new(&config, device))
        }
        Some(Glue::ConvBn1x1) => {
            KeyModule::ConvBn(ReluConvBn::new(key.c_in, key.c_out, true, device))
        }
        Some(Glue::FactorizedReduce) => {
            if !key.c_out.is_multiple_of(2) {
                return Err(LutError::BadKey(key.clone()));
            }
            KeyModule::Reduce(FactorizedReduce::new(key.c_in, key.c_out, true, device))
        }
        Some(Glue::Classifier) => {
            KeyModule::Classifier(LinearConfig::new(key.c_in, key.c_out).init(device))
        }
        None => {
            let kind = key
                .candidate()
                .ok_or_else(|| LutError::BadKey(key.clone()))?;
            if kind == models::space::OpKind::Zero || key.c_in != key.c_out {
                return Err(LutError::BadKey(key.clone()));
            }
            KeyModule::Op(Op::new(kind, key.c_in, key.stride, false, device))
        }
    })
}

/// The single-op ONNX graph of `key` at `batch` (bytes, input shapes with
/// the batch).
pub fn key_onnx(key: &LutKey, batch: usize) -> Result<(Vec<u8>, Vec<Vec<usize>>), LutError> {
    let (inputs, output) = key_io(key)?;
    let module = key_module(key, &Device::flex())?;
    let mut graph = GraphBuilder::new();
    let names: Vec<String> = (0..inputs.len())
        .map(|i| graph.input_name(&format!("x{i}")))
        .collect();
    let mut e = Emitter::new(&mut graph, EmitOptions::default());
    for n in &names {
        e.mark_rectified(n);
    }
    let x = &names[0];
    let y = match (&module, Glue::from_name(&key.op)) {
        (_, Some(Glue::Overhead)) => x.clone(),
        (_, Some(Glue::Relu)) => {
            // Not rectified here: this graph measures the ReLU itself.
            e.graph.node("Relu", "relu", &[x], vec![])
        }
        (_, Some(Glue::Add)) => e.sum("node", &names),
        (_, Some(Glue::Concat)) => e.concat("concat", &names),
        (KeyModule::Stem(stem), _) => e.conv_bn("stem/conv", x, &stem.conv, &stem.bn),
        (KeyModule::ConvBn(m), _) => e.relu_conv_bn("pre", x, m),
        (KeyModule::Reduce(m), _) => e.factorized_reduce("pre", x, m),
        (KeyModule::Classifier(linear), _) => e.classifier("classifier", x, linear),
        (KeyModule::Op(op), _) => e.op(&key.op, x, op),
        (KeyModule::None, _) => unreachable!("every glue without module is matched above"),
    };
    let ports: Vec<Port> = names
        .iter()
        .zip(&inputs)
        .map(|(n, dims)| Port {
            name: n.clone(),
            dims: dims.clone(),
        })
        .collect();
    let out = Port {
        name: "y".into(),
        dims: output,
    };
    let model = graph.finish(&key.op, &ports, &[(out, y)], &BTreeMap::new());
    let shapes = inputs
        .into_iter()
        .map(|mut dims| {
            dims.insert(0, batch);
            dims
        })
        .collect();
    Ok((onnx::to_bytes(&model), shapes))
}

/// A burn device for a profile's backend, or a clear error when this build
/// or machine cannot provide it.
pub fn burn_device(profile: &DeviceProfile) -> Result<Device, LutError> {
    match profile.backend {
        LutBackend::Tract | LutBackend::Flex => Ok(Device::flex()),
        LutBackend::Cuda => cuda_device(),
    }
}

#[cfg(feature = "cuda")]
fn cuda_device() -> Result<Device, LutError> {
    // burn-cuda loads the CUDA driver on first use and panics when there is
    // none; probe it once and turn that into an error.
    std::panic::catch_unwind(|| {
        let device = Device::cuda(0);
        let _ = Tensor::<1>::ones([1], &device).into_data();
        device
    })
    .map_err(|_| {
        LutError::Backend(
            "this build has CUDA support, but no CUDA device or driver could be opened \
             (is this the Jetson, and does `nvidia-smi`/`tegrastats` see the GPU?)"
                .into(),
        )
    })
}

#[cfg(not(feature = "cuda"))]
fn cuda_device() -> Result<Device, LutError> {
    Err(LutError::Backend(
        "the `cuda` backend is not in this build. On the Jetson (or any CUDA machine), build \
         with `cargo build --release --features cuda` (the build downloads cubecl's LLVM bundle, \
         so it needs network access) and run `latency-lut profile --device jetson` there; a \
         jetson table is never measured on the CPU"
            .into(),
    ))
}

/// Times `f` `warmup + repeats` times; returns the last `repeats` in ms.
fn time_closure(warmup: usize, repeats: usize, f: impl FnMut()) -> Vec<f64> {
    match timing::repeat(warmup, repeats, &mut stopwatch(f)) {
        Ok(times) => times,
    }
}

/// Measures one key: `repeats` timings in milliseconds.
pub fn measure_key(key: &LutKey, profile: &DeviceProfile) -> Result<Vec<f64>, LutError> {
    let batch = profile.batch;
    match profile.backend {
        LutBackend::Tract => {
            let (bytes, shapes) = key_onnx(key, batch)?;
            let plan = TractModel::from_bytes(key.to_string(), &bytes)?.plan(&shapes)?;
            let data: Vec<Vec<f32>> = shapes
                .iter()
                .enumerate()
                .map(|(i, s)| input_values(s.iter().product(), i as u64))
                .collect();
            let refs: Vec<&[f32]> = data.iter().map(Vec::as_slice).collect();
            Ok(plan.time_runs(&refs, profile.warmup, profile.repeats)?)
        }
        LutBackend::Flex | LutBackend::Cuda => {
            let device = burn_device(profile)?;
            measure_key_burn(key, profile, &device)
        }
    }
}

fn measure_key_burn(
    key: &LutKey,
    profile: &DeviceProfile,
    device: &Device,
) -> Result<Vec<f64>, LutError> {
    let (inputs, _) = key_io(key)?;
    let module = key_module(key, device)?;
    let xs: Vec<Tensor<4>> = inputs
        .iter()
        .map(|s| {
            // Non-negative, like the rectified inputs the ops see in a network.
            Tensor::<4>::random(
                [profile.batch, s[0], s[1], s[2]],
                Distribution::Uniform(0.0, 1.0),
                device,
            )
        })
        .collect();
    let sync = |t: Tensor<4>| {
        let _ = t.into_data();
    };
    let glue = Glue::from_name(&key.op);
    let times = time_closure(profile.warmup, profile.repeats, || match (&module, glue) {
        (_, Some(Glue::Overhead)) => sync(xs[0].clone()),
        (_, Some(Glue::Relu)) => sync(relu(xs[0].clone())),
        (_, Some(Glue::Add)) => sync(xs[0].clone() + xs[1].clone()),
        (_, Some(Glue::Concat)) => sync(Tensor::cat(xs.clone(), 1)),
        (KeyModule::Stem(m), _) => sync(m.forward(xs[0].clone())),
        (KeyModule::ConvBn(m), _) => sync(m.forward(xs[0].clone())),
        (KeyModule::Reduce(m), _) => sync(m.forward(xs[0].clone())),
        (KeyModule::Classifier(m), _) => {
            let _ = m.forward(global_avg_pool(xs[0].clone())).into_data();
        }
        (KeyModule::Op(op), _) => sync(op.forward_shared(xs[0].clone(), xs[0].clone())),
        (KeyModule::None, _) => unreachable!("every glue without module is matched above"),
    });
    Ok(times)
}

/// Measures a whole evaluation network built from `genotype` (untrained
/// weights: latency does not depend on their values) end to end.
pub fn measure_network(
    genotype: &Genotype,
    config: &NetworkConfig,
    profile: &DeviceProfile,
) -> Result<Vec<f64>, LutError> {
    let shape = [
        profile.batch,
        config.in_channels,
        config.image_size,
        config.image_size,
    ];
    match profile.backend {
        LutBackend::Tract => {
            let net: EvalNetwork =
                EvalNetworkConfig::new(config.clone(), genotype.clone()).init(&Device::flex());
            let model = eval_network_to_onnx(
                &net,
                genotype,
                config,
                EmitOptions::default(),
                &BTreeMap::new(),
            );
            let bytes = onnx::to_bytes(&model);
            let tract = TractModel::from_bytes(format!("network {genotype}"), &bytes)?
                .plan(&[shape.to_vec()])?;
            let input = input_values(shape.iter().product(), 7);
            Ok(tract.time_runs(&[&input], profile.warmup, profile.repeats)?)
        }
        LutBackend::Flex | LutBackend::Cuda => {
            let device = burn_device(profile)?;
            let net = EvalNetworkConfig::new(config.clone(), genotype.clone())
                .init(&device)
                .no_grad();
            let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
            Ok(time_closure(profile.warmup, profile.repeats, || {
                let _ = net.logits(x.clone()).into_data();
            }))
        }
    }
}
