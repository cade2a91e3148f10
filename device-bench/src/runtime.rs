//! tract plans of one model at several batch sizes: run, time, and profile
//! node by node.
//!
//! `export::TractModel` loads a model for one shape and keeps its plan
//! private; here the ONNX is parsed once and optimized per batch size, and
//! the plan is needed to time each node, so this module talks to tract
//! directly (the same load → fix shape → optimize → run sequence).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::SimpleState;

use crate::error::{BenchError, one_line};

/// A parsed ONNX model, before its input shape is fixed.
pub struct LoadedModel {
    path: PathBuf,
    model: InferenceModel,
    /// `[C, H, W]` of one image.
    image_shape: [usize; 3],
    /// Busy-wait added after each inference (test-only slowdown).
    slowdown: Duration,
}

impl LoadedModel {
    /// Parses `bytes` (the file at `path`, named in errors).
    pub fn parse(
        path: &Path,
        bytes: &[u8],
        image_shape: [usize; 3],
        slowdown: Duration,
    ) -> Result<Self, BenchError> {
        let model = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])
            .map_err(|e| tract_error(path, "load", e))?;
        let declared = model
            .input_outlets()
            .map_err(|e| tract_error(path, "load", e))?
            .len();
        if declared != 1 {
            return Err(BenchError::Model {
                path: path.to_path_buf(),
                message: format!("tract sees {declared} inputs, expected 1"),
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            model,
            image_shape,
            slowdown,
        })
    }

    /// The optimized plan for inputs of `batch` images.
    pub fn plan(&self, batch: usize) -> Result<BatchPlan, BenchError> {
        let [c, h, w] = self.image_shape;
        let shape = vec![batch, c, h, w];
        let plan = self
            .model
            .clone()
            .with_input_fact(0, f32::fact(shape.as_slice()).into())
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| tract_error(&self.path, "optimize", e))?;
        Ok(BatchPlan {
            path: self.path.clone(),
            plan,
            shape,
            slowdown: self.slowdown,
        })
    }
}

fn tract_error(path: &Path, action: &'static str, e: impl std::fmt::Display) -> BenchError {
    BenchError::Tract {
        path: path.to_path_buf(),
        action,
        message: one_line(e),
    }
}

/// An optimized tract plan for one input shape `[batch, C, H, W]`.
pub struct BatchPlan {
    path: PathBuf,
    plan: Arc<TypedRunnableModel>,
    shape: Vec<usize>,
    slowdown: Duration,
}

/// Time spent in one node of the optimized graph, averaged over the
/// profiled runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeTime {
    /// Node name in the optimized graph (tract keeps the ONNX names of the
    /// nodes it does not fuse, e.g. `cell0/node1/from_c_k-1/sep_conv_3x3/...`).
    pub name: String,
    /// tract's operator after optimization (`Conv`, `OptMatMul`, `Add`…).
    pub op: String,
    pub mean_ms: f64,
    /// Share of the summed node times, percent.
    pub percent: f64,
}

/// Per-node times of one plan, slowest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Runs the means are taken over.
    pub runs: usize,
    /// Sum of the node means: the plan's time without tract's per-run
    /// overhead (state set-up, input copy).
    pub nodes_total_ms: f64,
    pub nodes: Vec<NodeTime>,
    /// The same times summed per operator kind, slowest first.
    pub by_op: Vec<OpTime>,
}

/// Time of all nodes of one operator kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpTime {
    pub op: String,
    pub nodes: usize,
    pub mean_ms: f64,
    pub percent: f64,
}

impl BatchPlan {
    pub fn batch(&self) -> usize {
        self.shape[0]
    }

    /// Nodes of the optimized graph.
    pub fn node_count(&self) -> usize {
        self.plan.model().nodes().len()
    }

    fn input(&self, images: &[f32]) -> Result<TValue, BenchError> {
        Tensor::from_shape(&self.shape, images)
            .map(|t| t.into_tvalue())
            .map_err(|e| tract_error(&self.path, "run", e))
    }

    /// Logits of `images` (`[batch, C, H, W]` row-major), `[batch, classes]`
    /// row-major.
    pub fn run(&self, images: &[f32]) -> Result<Vec<f32>, BenchError> {
        let input = self.input(images)?;
        let out = self.infer(input)?;
        let view = out[0]
            .to_plain_array_view::<f32>()
            .map_err(|e| tract_error(&self.path, "run", e))?;
        Ok(view.iter().copied().collect())
    }

    /// One inference plus the test-only slowdown.
    fn infer(&self, input: TValue) -> Result<TVec<TValue>, BenchError> {
        let out = self
            .plan
            .run(tvec![input])
            .map_err(|e| tract_error(&self.path, "run", e))?;
        if !self.slowdown.is_zero() {
            busy_wait(self.slowdown);
        }
        Ok(out)
    }

    /// A runnable closure that times one inference on fixed `images` in
    /// milliseconds.
    pub fn timer(
        &self,
        images: &[f32],
    ) -> Result<impl FnMut() -> Result<f64, BenchError> + '_, BenchError> {
        let input = self.input(images)?;
        Ok(move || {
            let value = input.clone();
            let start = Instant::now();
            let out = self.infer(value)?;
            let ms = start.elapsed().as_secs_f64() * 1e3;
            drop(out);
            Ok(ms)
        })
    }

    /// Times every node over `runs` inferences on `images` (after one
    /// untimed run), the way tract's own profiler does: the plan is executed
    /// with an evaluation hook that wraps each node's `eval` in a clock.
    pub fn profile(&self, images: &[f32], runs: usize) -> Result<Profile, BenchError> {
        let model = self.plan.model();
        let mut totals = vec![Duration::ZERO; model.nodes().len()];
        let mut state =
            SimpleState::new(&self.plan).map_err(|e| tract_error(&self.path, "run", e))?;
        let input = self.input(images)?;
        for run in 0..runs + 1 {
            state
                .run_plan_with_eval(tvec![input.clone()], |ctx, op_state, node, inputs| {
                    let start = Instant::now();
                    let out = tract_onnx::tract_core::plan::eval(ctx, op_state, node, inputs);
                    if run > 0 {
                        totals[node.id] += start.elapsed();
                    }
                    out
                })
                .map_err(|e| tract_error(&self.path, "run", e))?;
        }
        let runs = runs.max(1);
        let mut nodes: Vec<NodeTime> = model
            .nodes()
            .iter()
            .zip(&totals)
            .filter(|(_, t)| !t.is_zero())
            .map(|(node, t)| NodeTime {
                name: node.name.clone(),
                op: node.op().name().to_string(),
                mean_ms: t.as_secs_f64() * 1e3 / runs as f64,
                percent: 0.0,
            })
            .collect();
        let total: f64 = nodes.iter().map(|n| n.mean_ms).sum();
        let share = |ms: f64| if total > 0.0 { 100.0 * ms / total } else { 0.0 };
        for n in &mut nodes {
            n.percent = share(n.mean_ms);
        }
        nodes.sort_by(|a, b| b.mean_ms.total_cmp(&a.mean_ms));
        let mut by_op: Vec<OpTime> = Vec::new();
        for n in &nodes {
            match by_op.iter_mut().find(|o| o.op == n.op) {
                Some(o) => {
                    o.nodes += 1;
                    o.mean_ms += n.mean_ms;
                }
                None => by_op.push(OpTime {
                    op: n.op.clone(),
                    nodes: 1,
                    mean_ms: n.mean_ms,
                    percent: 0.0,
                }),
            }
        }
        for o in &mut by_op {
            o.percent = share(o.mean_ms);
        }
        by_op.sort_by(|a, b| b.mean_ms.total_cmp(&a.mean_ms));
        Ok(Profile {
            runs,
            nodes_total_ms: total,
            nodes,
            by_op,
        })
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
