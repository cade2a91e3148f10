//! Running ONNX models with tract-onnx, the deployment runtime on CPUs:
//! load → fix the input shape (batch included) → optimize → run.
//!
//! Timings of an unoptimized tract graph mean nothing (tract's docs), so
//! every model is optimized before it runs.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use tract_onnx::prelude::*;

/// An optimized, runnable tract plan for one input shape.
pub struct TractModel {
    plan: Arc<TypedRunnableModel>,
    input_shapes: Vec<Vec<usize>>,
}

/// Why tract could not load or run a model (the message chain of tract).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TractError(pub String);

fn err(e: TractError_) -> TractError {
    TractError(format!("{e:#}"))
}

type TractError_ = tract_onnx::prelude::TractError;

impl TractModel {
    /// Loads ONNX bytes with the inputs fixed to `input_shapes` (batch first).
    pub fn from_bytes(bytes: &[u8], input_shapes: &[Vec<usize>]) -> Result<Self, TractError> {
        let model = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])
            .map_err(err)?;
        Self::optimize(model, input_shapes)
    }

    /// Loads an ONNX file with the inputs fixed to `input_shapes` (batch first).
    pub fn from_path(path: &Path, input_shapes: &[Vec<usize>]) -> Result<Self, TractError> {
        let model = tract_onnx::onnx().model_for_path(path).map_err(err)?;
        Self::optimize(model, input_shapes)
    }

    fn optimize(
        mut model: InferenceModel,
        input_shapes: &[Vec<usize>],
    ) -> Result<Self, TractError> {
        let declared = model.input_outlets().map_err(err)?.len();
        if declared != input_shapes.len() {
            return Err(TractError(format!(
                "the model has {declared} inputs, {} shapes were given",
                input_shapes.len()
            )));
        }
        for (i, shape) in input_shapes.iter().enumerate() {
            model = model
                .with_input_fact(i, f32::fact(shape.as_slice()).into())
                .map_err(err)?;
        }
        let plan = model
            .into_optimized()
            .map_err(err)?
            .into_runnable()
            .map_err(err)?;
        Ok(Self {
            plan,
            input_shapes: input_shapes.to_vec(),
        })
    }

    pub fn input_shapes(&self) -> &[Vec<usize>] {
        &self.input_shapes
    }

    fn tensors(&self, inputs: &[&[f32]]) -> Result<Vec<Tensor>, TractError> {
        if inputs.len() != self.input_shapes.len() {
            return Err(TractError(format!(
                "{} inputs given, the model takes {}",
                inputs.len(),
                self.input_shapes.len()
            )));
        }
        self.input_shapes
            .iter()
            .zip(inputs)
            .map(|(shape, data)| Tensor::from_shape(shape, data).map_err(err))
            .collect()
    }

    /// Number of nodes of the optimized graph.
    pub fn node_count(&self) -> usize {
        self.plan.model().nodes().len()
    }

    /// Runs the model on `inputs` (one row-major buffer per input, in the
    /// loaded shapes) and returns the first output as (shape, values).
    pub fn run(&self, inputs: &[&[f32]]) -> Result<(Vec<usize>, Vec<f32>), TractError> {
        let values = self
            .tensors(inputs)?
            .into_iter()
            .map(|t| t.into_tvalue())
            .collect();
        let out = self.plan.run(values).map_err(err)?;
        let first = &out[0];
        let shape = first.shape().to_vec();
        let view = first.to_plain_array_view::<f32>().map_err(err)?;
        Ok((shape, view.iter().copied().collect()))
    }

    /// Runs the model on fixed inputs `warmup + repeats` times and returns
    /// the wall-clock milliseconds of the last `repeats` runs.
    pub fn time_runs(
        &self,
        inputs: &[&[f32]],
        warmup: usize,
        repeats: usize,
    ) -> Result<Vec<f64>, TractError> {
        let tensors = self.tensors(inputs)?;
        let mut times = Vec::with_capacity(repeats);
        for i in 0..warmup + repeats {
            let value: TVec<TValue> = tensors.iter().map(|t| t.clone().into_tvalue()).collect();
            let start = Instant::now();
            let out = self.plan.run(value).map_err(err)?;
            let elapsed = start.elapsed().as_secs_f64() * 1e3;
            drop(out);
            if i >= warmup {
                times.push(elapsed);
            }
        }
        Ok(times)
    }
}

/// tract-onnx's version, recorded in reports and latency tables.
pub const TRACT_VERSION: &str = "0.23.9";
