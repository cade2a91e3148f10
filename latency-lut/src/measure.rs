//! Measuring one key (a single-op graph) or a whole evaluation network on a
//! device profile's backend.
//!
//! tract (the deployment runtime, this crate's own backend): the op is
//! written as a one-op ONNX graph by the same emitter that exports the
//! deployed network (`runtime::layers`), from synthetic weights of the
//! right shapes, optimized and run by tract. The burn backends (flex, and
//! cuda on a Jetson) need burn modules; they live with the burn code
//! (`pipeline::burn_backend`) and reach this crate through [`Backends`], so
//! the `latency-lut` binary stays free of burn.
//! A remote device (`latency-lut serve` on it) is the tract backend too:
//! [`Remote`] sends the very [`Workload`] that [`Tract`] times here, and
//! the device times it with the same function.
//! On tract every key and network is one job with the reference workload
//! (`runtime::reference`), timed alternately round by round on the same
//! device, so that its time is known as a ratio to the reference in the
//! same moments ([`Timed`]); the host's changes of speed cancel in it
//! (docs/algorithms.md §4.1).
//! Ops that start with a ReLU are measured on an already rectified input;
//! the ReLU has its own key, because a network computes it once per value.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use arch::genotype::Genotype;
use arch::shape::NetworkConfig;
use runtime::layers::{EmitOptions, Emitter, Synthetic, network_to_onnx};
use runtime::onnx::{self, GraphBuilder, Port};
use runtime::remote::{
    Client, Input, Measured, RemoteError, RemoteHost, Token, Workload, time_workloads,
};

use crate::LutError;
use crate::device::{DeviceDescription, DeviceProfile, LutBackend};
use crate::template::{Glue, LutKey};

/// The times of one measured graph, and of the reference workload timed
/// alternately with it on the same device (`reference_ms[i]` right after
/// `times_ms[i]`, round by round), when the backend has one.
#[derive(Debug, Clone, PartialEq)]
pub struct Timed {
    pub times_ms: Vec<f64>,
    /// `None` on burn's backends, which have no reference workload.
    pub reference_ms: Option<Vec<f64>>,
}

impl Timed {
    /// Times without a reference.
    pub fn alone(times_ms: Vec<f64>) -> Self {
        Self {
            times_ms,
            reference_ms: None,
        }
    }

    /// The per-round ratios `time / reference time`, when there is a
    /// reference.
    pub fn ratios(&self) -> Option<Vec<f64>> {
        let reference = self.reference_ms.as_ref()?;
        Some(
            self.times_ms
                .iter()
                .zip(reference)
                .map(|(t, r)| t / r)
                .collect(),
        )
    }
}

/// Times keys and whole networks on one runtime.
pub trait Backend {
    /// `profile.repeats` timings (ms) of one key, after `profile.warmup`,
    /// with the reference workload's in the same rounds.
    fn measure_key(&self, key: &LutKey, profile: &DeviceProfile) -> Result<Timed, LutError>;

    /// `repeats` timings (ms) of the evaluation network of `genotype` with
    /// `config`, end to end, after `profile.warmup` (untrained weights:
    /// latency does not depend on their values), with the reference
    /// workload's in the same rounds.
    fn measure_network(
        &self,
        genotype: &Genotype,
        config: &NetworkConfig,
        profile: &DeviceProfile,
        repeats: usize,
    ) -> Result<Timed, LutError>;

    /// The device a table measured now with `profile` records: this
    /// machine, unless the backend measures elsewhere.
    fn describe(&self, profile: &DeviceProfile) -> DeviceDescription {
        crate::profile::describe(profile)
    }

    /// The remote device this backend measures on, if it is one.
    fn remote(&self) -> Option<&Remote> {
        None
    }
}

/// The backends a caller can measure on: tract, on this machine or on a
/// remote device; burn's (flex, cuda) when the caller links burn and
/// supplies them.
#[derive(Clone, Copy)]
pub struct Backends<'a> {
    /// [`Tract`] here, or a [`Remote`] device.
    pub tract: &'a dyn Backend,
    pub burn: Option<&'a dyn Backend>,
}

impl<'a> Backends<'a> {
    /// tract only: what the device-side `latency-lut` binary measures.
    pub fn tract_only() -> Self {
        Self {
            tract: &Tract,
            burn: None,
        }
    }

    /// tract on a remote device, and nothing else.
    pub fn remote(remote: &'a Remote) -> Self {
        Self {
            tract: remote,
            burn: None,
        }
    }

    /// The backend of `profile`, or an error saying where its backend is.
    pub fn for_profile(&self, profile: &DeviceProfile) -> Result<&'a dyn Backend, LutError> {
        match profile.backend {
            LutBackend::Tract => Ok(self.tract),
            LutBackend::Flex | LutBackend::Cuda if let Some(remote) = self.tract.remote() => {
                Err(LutError::Backend(format!(
                    "profile {} measures burn-{} ops, which cannot be measured remotely: \
                     `latency-lut serve` on {} times tract only. Profile tract there (--device cpu, \
                     or a device file with backend = \"tract\"), or run `edgenas run --device {}` \
                     on the device itself",
                    profile.name,
                    profile.backend.name(),
                    remote.address(),
                    profile.name,
                )))
            }
            LutBackend::Flex | LutBackend::Cuda => self.burn.ok_or_else(|| {
                LutError::Backend(format!(
                    "profile {} measures burn-{} ops; this binary measures tract only. \
                     Run `edgenas run --device {}` (the edgenas binary measures burn's \
                     backends into its latency cache; for cuda build it with \
                     `--features cuda` on the CUDA machine)",
                    profile.name,
                    profile.backend.name(),
                    profile.name,
                ))
            }),
        }
    }
}

/// tract-onnx on this machine's CPU.
pub struct Tract;

impl Backend for Tract {
    fn measure_key(&self, key: &LutKey, profile: &DeviceProfile) -> Result<Timed, LutError> {
        let job = paired(key_workload(key, profile.batch)?, profile);
        let measured = time_workloads(&job, profile.warmup, profile.repeats, Duration::ZERO)?;
        Ok(timed(measured))
    }

    fn measure_network(
        &self,
        genotype: &Genotype,
        config: &NetworkConfig,
        profile: &DeviceProfile,
        repeats: usize,
    ) -> Result<Timed, LutError> {
        let job = paired(network_workload(genotype, config, profile)?, profile);
        let measured = time_workloads(&job, profile.warmup, repeats, Duration::ZERO)?;
        Ok(timed(measured))
    }
}

/// The job of one measurement on tract: the workload, then the reference
/// workload at the profile's batch, timed alternately round by round (here
/// or on the remote device: the reference runs where the workload runs).
fn paired(workload: Workload, profile: &DeviceProfile) -> [Workload; 2] {
    [workload, runtime::reference::workload(profile.batch)]
}

/// The times of a [`paired`] job.
fn timed(measured: Measured) -> Timed {
    let mut times = measured.times_ms.into_iter();
    let times_ms = times.next().expect("the workload's times");
    Timed {
        times_ms,
        reference_ms: times.next(),
    }
}

/// tract on another machine, the target device, through the `latency-lut
/// serve` running there: the same workloads as [`Tract`], timed there.
pub struct Remote {
    address: String,
    device: RemoteHost,
    // `Backend` takes `&self`; one request at a time on the connection.
    client: Mutex<Client>,
}

impl Remote {
    /// Connects to the server at `address` (HOST:PORT) with `token`. The
    /// server serves one client at a time: while this value lives, other
    /// clients are told it is busy.
    pub fn connect(address: &str, token: &Token) -> Result<Self, RemoteError> {
        let client = Client::connect(address, token)?;
        Ok(Self {
            address: address.into(),
            device: client.device().clone(),
            client: Mutex::new(client),
        })
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// The device as its server described it.
    pub fn device(&self) -> &RemoteHost {
        &self.device
    }

    fn time(
        &self,
        workload: Workload,
        profile: &DeviceProfile,
        repeats: usize,
    ) -> Result<Timed, LutError> {
        let mut client = self
            .client
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let measured = client.time(&paired(workload, profile), profile.warmup, repeats)?;
        Ok(timed(measured))
    }
}

impl Backend for Remote {
    fn measure_key(&self, key: &LutKey, profile: &DeviceProfile) -> Result<Timed, LutError> {
        self.time(key_workload(key, profile.batch)?, profile, profile.repeats)
    }

    fn measure_network(
        &self,
        genotype: &Genotype,
        config: &NetworkConfig,
        profile: &DeviceProfile,
        repeats: usize,
    ) -> Result<Timed, LutError> {
        self.time(
            network_workload(genotype, config, profile)?,
            profile,
            repeats,
        )
    }

    /// The device's host, tract and tool versions, not this machine's.
    fn describe(&self, profile: &DeviceProfile) -> DeviceDescription {
        crate::profile::describe_host(
            profile,
            self.device.host.clone(),
            &self.device.runtime_version,
            &self.device.tool_version,
        )
    }

    fn remote(&self) -> Option<&Remote> {
        Some(self)
    }
}

/// The workload of one key at `batch`: its single-op graph on the
/// deterministic inputs, each run on its own copy of them.
pub fn key_workload(key: &LutKey, batch: usize) -> Result<Workload, LutError> {
    let (bytes, shapes) = key_onnx(key, batch)?;
    let inputs = shapes
        .into_iter()
        .enumerate()
        .map(|(i, shape)| Input {
            values: input_values(shape.iter().product(), i as u64),
            shape,
        })
        .collect();
    Ok(Workload::copied(key.to_string(), bytes, inputs))
}

/// The workload of the evaluation network of `genotype` with `config`,
/// one inference of `profile`'s batch.
pub fn network_workload(
    genotype: &Genotype,
    config: &NetworkConfig,
    profile: &DeviceProfile,
) -> Result<Workload, LutError> {
    let shape = profile.input_shape(config);
    let bytes = network_onnx(genotype, config)?;
    let input = Input {
        values: input_values(shape.iter().product(), 7),
        shape: shape.to_vec(),
    };
    Ok(Workload::copied(
        format!("network {}", genotype.to_string().replace('\n', "; ")),
        bytes,
        vec![input],
    ))
}

/// The ONNX bytes of the evaluation network of `genotype` with `config`,
/// with synthetic weights (BN folded, as deployed).
pub fn network_onnx(genotype: &Genotype, config: &NetworkConfig) -> Result<Vec<u8>, LutError> {
    let net = Synthetic::new(0)
        .network(genotype, config)
        .ok_or_else(|| LutError::Runtime(format!("network {genotype}: has a `zero` op")))?;
    let model = network_to_onnx(
        &net,
        genotype,
        config,
        EmitOptions::default(),
        &BTreeMap::new(),
    );
    Ok(onnx::to_bytes(&model))
}

/// Deterministic input values in [-1, 1) (an LCG), so measurements do not
/// depend on a random generator's state.
pub fn input_values(len: usize, seed: u64) -> Vec<f32> {
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
pub fn key_io(key: &LutKey) -> Result<(Vec<Vec<usize>>, Vec<usize>), LutError> {
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

/// The single-op ONNX graph of `key` at `batch` (bytes, input shapes with
/// the batch), with synthetic weights.
pub fn key_onnx(key: &LutKey, batch: usize) -> Result<(Vec<u8>, Vec<Vec<usize>>), LutError> {
    let (inputs, output) = key_io(key)?;
    let mut synth = Synthetic::new(0);
    let mut graph = GraphBuilder::new();
    let names: Vec<String> = (0..inputs.len())
        .map(|i| graph.input_name(&format!("x{i}")))
        .collect();
    let mut e = Emitter::new(&mut graph, EmitOptions::default());
    for n in &names {
        e.mark_rectified(n);
    }
    let x = &names[0];
    let bad = || LutError::BadKey(key.clone());
    let y = match Glue::from_name(&key.op) {
        Some(Glue::Overhead) => x.clone(),
        // Not rectified here: this graph measures the ReLU itself.
        Some(Glue::Relu) => e.graph.node("Relu", "relu", &[x], vec![]),
        Some(Glue::Add) => e.sum("node", &names),
        Some(Glue::Concat) => e.concat("concat", &names),
        Some(Glue::Stem) => {
            if !key.c_out.is_multiple_of(3) {
                return Err(bad());
            }
            let config = NetworkConfig::new(key.c_in, key.h_in, 2)
                .with_channels(key.c_out / 3)
                .with_stem_multiplier(3);
            e.conv_bn("stem/conv", x, &synth.stem(&config))
        }
        Some(Glue::ConvBn1x1) => e.relu_conv_bn("pre", x, &synth.conv_bn_1x1(key.c_in, key.c_out)),
        Some(Glue::FactorizedReduce) => {
            if !key.c_out.is_multiple_of(2) {
                return Err(bad());
            }
            e.factorized_reduce("pre", x, &synth.factorized_reduce(key.c_in, key.c_out))
        }
        Some(Glue::Classifier) => e.classifier("classifier", x, &synth.linear(key.c_in, key.c_out)),
        None => {
            let kind = key.candidate().ok_or_else(bad)?;
            if key.c_in != key.c_out {
                return Err(bad());
            }
            let op = synth.op(kind, key.c_in, key.stride).ok_or_else(bad)?;
            e.op(&key.op, x, &op)
        }
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
