//! The burn backends of the latency table (burn-flex on the CPU, burn-cuda
//! on a Jetson): the same key or network as `latency_lut::measure::Tract`
//! times, run as burn modules on that device. They live here, with the
//! rest of the burn code, so the device-side `latency-lut` binary does not
//! link burn; `edgenas run` hands them to the latency cache.

use burn::module::Module;
use burn::nn::LinearConfig;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Distribution, Tensor};
use latency_lut::measure::{Backend, Backends, Timed, Tract, key_io};
use latency_lut::{DeviceProfile, Glue, LutBackend, LutError, LutKey};
use models::genotype::Genotype;
use models::network::{EvalNetworkConfig, NetworkConfig, Stem, global_avg_pool};
use models::ops::{FactorizedReduce, Op, ReluConvBn};
use runtime::timing::{self, stopwatch};

/// burn-flex and burn-cuda.
pub struct Burn;

/// Every backend `edgenas` can measure on: tract and burn's.
pub fn all_backends() -> Backends<'static> {
    Backends {
        tract: &Tract,
        burn: Some(&Burn),
    }
}

impl Backend for Burn {
    // No reference workload: burn's times are not paired with one (a table
    // of burn's backends keeps absolute milliseconds, as before).
    fn measure_key(&self, key: &LutKey, profile: &DeviceProfile) -> Result<Timed, LutError> {
        let device = burn_device(profile)?;
        Ok(Timed::alone(measure_key_burn(key, profile, &device)?))
    }

    fn measure_network(
        &self,
        genotype: &Genotype,
        config: &NetworkConfig,
        profile: &DeviceProfile,
        repeats: usize,
    ) -> Result<Timed, LutError> {
        let shape = profile.input_shape(config);
        let device = burn_device(profile)?;
        let net = EvalNetworkConfig::new(config.clone(), genotype.clone())
            .init(&device)
            .no_grad();
        let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
        Ok(Timed::alone(time_closure(profile.warmup, repeats, || {
            let _ = net.logits(x.clone()).into_data();
        })))
    }
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
    search::device::probe_cuda().map_err(LutError::Backend)
}

#[cfg(not(feature = "cuda"))]
fn cuda_device() -> Result<Device, LutError> {
    Err(LutError::Backend(
        "the `cuda` backend is not in this build. On the Jetson (or any CUDA machine), build \
         with `cargo build --release --features cuda` (the build downloads cubecl's LLVM bundle, \
         so it needs network access) and run `edgenas run --device jetson` there; a \
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
