//! Running ONNX models with tract-onnx, the deployment runtime on CPUs.
//!
//! A [`TractModel`] is parsed once; [`TractModel::plan`] fixes the input
//! shapes (batch included) and optimizes, giving a [`TractPlan`] per shape
//! that runs, times and profiles. Timings of an unoptimized tract graph
//! mean nothing (tract's docs), so nothing runs before optimization.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::SimpleState;

use crate::error::{RuntimeError, TractAction};
use crate::kernels::{self, Kernels};
use crate::profile::Profile;
use crate::timing;

/// tract-onnx's version, recorded in reports and latency tables.
pub const TRACT_VERSION: &str = "0.23.9";

/// A parsed ONNX model, before its input shapes are fixed.
pub struct TractModel {
    /// The file (or a label such as `<calibration workload>`) errors name.
    source: PathBuf,
    model: InferenceModel,
    inputs: usize,
    /// Busy-wait added after each inference (test-only slowdown).
    slowdown: Duration,
}

impl TractModel {
    /// Reads and parses the ONNX file at `path`.
    pub fn load(path: &Path) -> Result<Self, RuntimeError> {
        let bytes = std::fs::read(path).map_err(|source| RuntimeError::Read {
            model: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(path, &bytes)
    }

    /// Parses ONNX `bytes`; `source` (the file they came from, or a label)
    /// is named in errors.
    pub fn from_bytes(source: impl AsRef<Path>, bytes: &[u8]) -> Result<Self, RuntimeError> {
        let source = source.as_ref();
        let load = |e| RuntimeError::tract(source, TractAction::Load, e);
        let model = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])
            .map_err(load)?;
        let inputs = model.input_outlets().map_err(load)?.len();
        Ok(Self {
            source: source.to_path_buf(),
            model,
            inputs,
            slowdown: Duration::ZERO,
        })
    }

    /// Test only: every inference of the plans made from now on busy-waits
    /// `slowdown` after tract returns, so tests can show that a regression
    /// gate catches a slower model. Not added to [`TractPlan::profile`].
    pub fn with_slowdown(mut self, slowdown: Duration) -> Self {
        self.slowdown = slowdown;
        self
    }

    /// The file or label errors name.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Inputs the graph declares (initializers excluded).
    pub fn input_count(&self) -> usize {
        self.inputs
    }

    /// The optimized plan for inputs of `input_shapes` (batch first), one
    /// shape per declared input, with edgenas' kernels where they apply
    /// ([`crate::kernels`]; `EDGENAS_TRACT_KERNELS=tract` keeps tract's).
    pub fn plan(&self, input_shapes: &[Vec<usize>]) -> Result<TractPlan, RuntimeError> {
        self.plan_with(input_shapes, Kernels::from_env())
    }

    /// [`Self::plan`] with the kernels chosen: [`Kernels::Tract`] gives
    /// tract's own lowering of every op, for comparisons.
    pub fn plan_with(
        &self,
        input_shapes: &[Vec<usize>],
        kernels: Kernels,
    ) -> Result<TractPlan, RuntimeError> {
        if input_shapes.len() != self.inputs {
            return Err(RuntimeError::Inputs {
                model: self.source.clone(),
                declared: self.inputs,
                given: input_shapes.len(),
            });
        }
        let mut model = self.model.clone();
        for (i, shape) in input_shapes.iter().enumerate() {
            model = model
                .with_input_fact(i, f32::fact(shape.as_slice()).into())
                .map_err(|e| RuntimeError::tract(&self.source, TractAction::Optimize, e))?;
        }
        let plan = model
            .into_typed()
            .and_then(|mut m| {
                if kernels == Kernels::Edgenas {
                    kernels::swap_in(&mut m)?;
                }
                m.into_optimized()
            })
            .and_then(|m| m.into_runnable())
            .map_err(|e| RuntimeError::tract(&self.source, TractAction::Optimize, e))?;
        Ok(TractPlan {
            source: self.source.clone(),
            plan,
            input_shapes: input_shapes.to_vec(),
            slowdown: self.slowdown,
        })
    }
}

/// An optimized, runnable tract plan for one set of input shapes.
pub struct TractPlan {
    source: PathBuf,
    plan: Arc<TypedRunnableModel>,
    input_shapes: Vec<Vec<usize>>,
    slowdown: Duration,
}

impl TractPlan {
    pub fn input_shapes(&self) -> &[Vec<usize>] {
        &self.input_shapes
    }

    /// The first dimension of the first input.
    pub fn batch(&self) -> usize {
        self.input_shapes[0][0]
    }

    /// Nodes of the optimized graph.
    pub fn node_count(&self) -> usize {
        self.plan.model().nodes().len()
    }

    /// How many nodes of the optimized graph run the op named `name` (as
    /// profiles name them, such as `EdgenasDepthwiseConv`).
    pub fn count_op(&self, name: &str) -> usize {
        let nodes = self.plan.model().nodes();
        nodes.iter().filter(|n| n.op.name() == name).count()
    }

    fn error(&self, e: TractError) -> RuntimeError {
        RuntimeError::tract(&self.source, TractAction::Run, e)
    }

    /// One tensor per input, from row-major buffers in the planned shapes.
    fn tensors(&self, inputs: &[&[f32]]) -> Result<Vec<Tensor>, RuntimeError> {
        if inputs.len() != self.input_shapes.len() {
            return Err(RuntimeError::Inputs {
                model: self.source.clone(),
                declared: self.input_shapes.len(),
                given: inputs.len(),
            });
        }
        self.input_shapes
            .iter()
            .zip(inputs)
            .map(|(shape, data)| Tensor::from_shape(shape, data).map_err(|e| self.error(e)))
            .collect()
    }

    /// One inference plus the test-only slowdown.
    fn infer(&self, values: TVec<TValue>) -> Result<TVec<TValue>, RuntimeError> {
        let out = self.plan.run(values).map_err(|e| self.error(e))?;
        if !self.slowdown.is_zero() {
            busy_wait(self.slowdown);
        }
        Ok(out)
    }

    /// Milliseconds of one inference on `values`; the outputs are dropped
    /// after the clock stops.
    fn timed(&self, values: TVec<TValue>) -> Result<f64, RuntimeError> {
        let start = Instant::now();
        let out = self.infer(values)?;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        drop(out);
        Ok(ms)
    }

    /// Runs the plan on `inputs` (one row-major buffer per input, in the
    /// planned shapes) and returns the first output as (shape, values).
    pub fn run(&self, inputs: &[&[f32]]) -> Result<(Vec<usize>, Vec<f32>), RuntimeError> {
        let values = self
            .tensors(inputs)?
            .into_iter()
            .map(|t| t.into_tvalue())
            .collect();
        let out = self.infer(values)?;
        let first = &out[0];
        let view = first
            .to_plain_array_view::<f32>()
            .map_err(|e| self.error(e))?;
        Ok((first.shape().to_vec(), view.iter().copied().collect()))
    }

    /// A closure that times one inference on fixed `inputs` in
    /// milliseconds. The inputs are shared between calls (a reference-count
    /// clone per call), as device-bench has always timed its models.
    pub fn timer<'a>(
        &'a self,
        inputs: &[&[f32]],
    ) -> Result<impl FnMut() -> Result<f64, RuntimeError> + use<'a>, RuntimeError> {
        let values: TVec<TValue> = self
            .tensors(inputs)?
            .into_iter()
            .map(|t| t.into_tvalue())
            .collect();
        Ok(move || self.timed(values.clone()))
    }

    /// A closure like [`Self::timer`], except that every call times the
    /// plan on its own copy of the inputs, made before the clock starts
    /// (tract may then take an input over instead of copying it). Latency
    /// tables and the δ sweep have always been measured this way.
    pub fn copying_timer<'a>(
        &'a self,
        inputs: &[&[f32]],
    ) -> Result<impl FnMut() -> Result<f64, RuntimeError> + use<'a>, RuntimeError> {
        let tensors = self.tensors(inputs)?;
        Ok(move || self.timed(tensors.iter().map(|t| t.clone().into_tvalue()).collect()))
    }

    /// Runs the plan on fixed `inputs` `warmup + repeats` times (each run
    /// on its own copy, see [`Self::copying_timer`]) and returns the
    /// milliseconds of the last `repeats`.
    pub fn time_runs(
        &self,
        inputs: &[&[f32]],
        warmup: usize,
        repeats: usize,
    ) -> Result<Vec<f64>, RuntimeError> {
        timing::repeat(warmup, repeats, &mut self.copying_timer(inputs)?)
    }

    /// Times every node over `runs` inferences on `inputs` (after one
    /// untimed run), the way tract's own profiler does: the plan is executed
    /// with an evaluation hook that wraps each node's `eval` in a clock.
    pub fn profile(&self, inputs: &[&[f32]], runs: usize) -> Result<Profile, RuntimeError> {
        let model = self.plan.model();
        let mut totals = vec![Duration::ZERO; model.nodes().len()];
        let mut state = SimpleState::new(&self.plan).map_err(|e| self.error(e))?;
        let values: TVec<TValue> = self
            .tensors(inputs)?
            .into_iter()
            .map(|t| t.into_tvalue())
            .collect();
        for run in 0..runs + 1 {
            state
                .run_plan_with_eval(values.clone(), |ctx, op_state, node, inputs| {
                    let start = Instant::now();
                    let out = tract_onnx::tract_core::plan::eval(ctx, op_state, node, inputs);
                    if run > 0 {
                        totals[node.id] += start.elapsed();
                    }
                    out
                })
                .map_err(|e| self.error(e))?;
        }
        let nodes = model
            .nodes()
            .iter()
            .zip(&totals)
            .map(|(node, t)| (node.name.clone(), node.op().name().to_string(), *t));
        Ok(Profile::from_totals(nodes, runs))
    }
}

/// Spins for `duration`. A sleep would give the core away and could
/// oversleep by a scheduler tick; the injected slowdown must behave like a
/// slower model, which keeps its core busy.
fn busy_wait(duration: Duration) {
    let until = Instant::now() + duration;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}
