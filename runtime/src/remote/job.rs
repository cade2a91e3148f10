//! A timing job as data: the models and inputs to time, timed here by
//! [`time_workloads`] or on a device by the same function inside its
//! server, so that a remote measurement is the local one, made there.

use std::time::Duration;

use super::wire::InputUse;
use crate::error::RuntimeError;
use crate::profile::Profile;
use crate::timing::{self, Schedule};
use crate::tract::{TractModel, TractPlan};

/// One input tensor: its shape (batch first) and row-major values.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// A model to time on fixed inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Names the model in errors (a table key, a model file).
    pub label: String,
    pub onnx: Vec<u8>,
    /// One per input the graph declares.
    pub inputs: Vec<Input>,
    pub inputs_per_run: InputUse,
    /// Profile the plan node by node over this many runs after timing.
    pub profile_runs: Option<usize>,
}

impl Workload {
    /// A workload whose every run gets its own copy of the inputs, made
    /// before the clock starts (latency tables, the sweep).
    pub fn copied(label: impl Into<String>, onnx: Vec<u8>, inputs: Vec<Input>) -> Self {
        Self {
            label: label.into(),
            onnx,
            inputs,
            inputs_per_run: InputUse::Copied,
            profile_runs: None,
        }
    }

    /// A workload whose runs share one set of input tensors (device-bench).
    pub fn shared(label: impl Into<String>, onnx: Vec<u8>, inputs: Vec<Input>) -> Self {
        Self {
            inputs_per_run: InputUse::Shared,
            ..Self::copied(label, onnx, inputs)
        }
    }

    /// Also profile the plan node by node over `runs` runs.
    pub fn with_profile(self, runs: usize) -> Self {
        Self {
            profile_runs: Some(runs),
            ..self
        }
    }
}

/// What [`time_workloads`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// Per workload, `repeats` times in milliseconds, in run order.
    pub times_ms: Vec<Vec<f64>>,
    /// Per workload, its node profile when it asked for one.
    pub profiles: Vec<Option<Profile>>,
}

type Timer<'a> = Box<dyn FnMut() -> Result<f64, RuntimeError> + 'a>;

/// Times `workloads` with tract on this machine: each is parsed and
/// optimized for its input shapes, then all are run interleaved round by
/// round (`warmup` dropped rounds, `repeats` kept; for one workload, a
/// plain warm-up-then-repeat loop, as `TractPlan::time_runs`), then those
/// that ask for it are profiled. `slowdown` is the test-only busy-wait of
/// `TractModel::with_slowdown`, added to every run.
pub fn time_workloads(
    workloads: &[Workload],
    warmup: usize,
    repeats: usize,
    slowdown: Duration,
) -> Result<Measured, RuntimeError> {
    let plans: Vec<TractPlan> = workloads
        .iter()
        .map(|w| {
            let shapes: Vec<Vec<usize>> = w.inputs.iter().map(|i| i.shape.clone()).collect();
            TractModel::from_bytes(&w.label, &w.onnx)?
                .with_slowdown(slowdown)
                .plan(&shapes)
        })
        .collect::<Result<_, _>>()?;
    let values = |w: &Workload| -> Vec<Vec<f32>> {
        w.inputs
            .iter()
            .map(|i| i.values.clone())
            .collect::<Vec<_>>()
    };
    let mut timers: Vec<Timer> = Vec::with_capacity(workloads.len());
    for (plan, w) in plans.iter().zip(workloads) {
        let data = values(w);
        let refs: Vec<&[f32]> = data.iter().map(Vec::as_slice).collect();
        timers.push(match w.inputs_per_run {
            InputUse::Copied => Box::new(plan.copying_timer(&refs)?),
            InputUse::Shared => Box::new(plan.timer(&refs)?),
        });
    }
    let mut calls: Vec<&mut dyn FnMut() -> Result<f64, RuntimeError>> =
        timers.iter_mut().map(|t| t.as_mut() as _).collect();
    let times_ms = timing::interleaved(&mut calls, Schedule::alternating(warmup, repeats))?;
    drop(calls);
    drop(timers);
    let profiles = plans
        .iter()
        .zip(workloads)
        .map(|(plan, w)| {
            w.profile_runs
                .map(|runs| {
                    let data = values(w);
                    let refs: Vec<&[f32]> = data.iter().map(Vec::as_slice).collect();
                    plan.profile(&refs, runs)
                })
                .transpose()
        })
        .collect::<Result<_, _>>()?;
    Ok(Measured { times_ms, profiles })
}
