//! The reference workload: a fixed small conv net, built in code and run by
//! tract next to what is measured, so that a time can be stated as a ratio
//! to it. device-bench's gate calls it the calibration workload and times
//! it alternately with the deployed model; latency-lut times it alternately
//! with every table key and every network it validates.
//!
//! Absolute times move between runs on shared machines (CPU frequency,
//! neighbours, a CI runner of another generation); a slowdown of the whole
//! machine slows the reference net as much as the measured graph, so the
//! ratio stays put while a slower graph moves it. The net uses the kernels
//! the DARTS space runs (3×3 conv, depthwise 3×3, 1×1 conv, ReLU, add,
//! global pool, gemm) at a comparable size, so both react alike to the
//! machine.

use std::collections::BTreeMap;

use crate::error::RuntimeError;
use crate::onnx::{self, Attr, GraphBuilder, Port};
use crate::remote::{Input, Workload};
use crate::tract::{TractModel, TractPlan};

/// Name of the workload recorded in reports and tables. Change it whenever
/// the net or its input changes: ratios to different workloads are not
/// comparable, and the gate and the table loader refuse to mix them.
pub const REFERENCE_WORKLOAD: &str = "edgenas-conv-v1";

/// One line describing the workload.
pub const REFERENCE_DESCRIPTION: &str = "tract, 8×16×16 input at the model's batch size: conv3×3 8→48, 3 × (depthwise 3×3 + conv1×1 48→48 + residual add + relu), global pool, gemm 48→10";

const IN_CHANNELS: usize = 8;
const SIZE: usize = 16;
const WIDTH: usize = 48;
const BLOCKS: usize = 3;
const CLASSES: usize = 10;

/// Deterministic values in [-scale, scale] (an LCG: the workload must be
/// the same bytes on every machine and every run). Test networks elsewhere
/// draw their weights from it too.
pub fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// A k×k convolution (padding k/2, stride 1) with a bias, its weights
/// [`values`] of `seed` scaled by `gain`/√fan-in, its bias of `seed + 1`
/// scaled by 0.1.
pub fn seeded_conv(
    g: &mut GraphBuilder,
    name: &str,
    x: &str,
    (c_in, c_out, k, group): (usize, usize, usize, usize),
    seed: u64,
    gain: f32,
) -> String {
    let fan_in = c_in / group * k * k;
    let dims = [c_out, c_in / group, k, k];
    let w = g.weight(
        &format!("{name}/weight"),
        &dims,
        &values(dims.iter().product(), seed, gain / (fan_in as f32).sqrt()),
    );
    let b = g.weight(
        &format!("{name}/bias"),
        &[c_out],
        &values(c_out, seed + 1, 0.1),
    );
    let pad = (k / 2) as i64;
    g.node(
        "Conv",
        name,
        &[x, &w, &b],
        vec![
            ("kernel_shape", Attr::Ints(vec![k as i64, k as i64])),
            ("strides", Attr::Ints(vec![1, 1])),
            ("pads", Attr::Ints(vec![pad, pad, pad, pad])),
            ("group", Attr::Int(group as i64)),
        ],
    )
}

/// The reference net as ONNX bytes (input `[batch, 8, 16, 16]`).
pub fn reference_onnx() -> Vec<u8> {
    let mut g = GraphBuilder::new();
    let input = g.input_name("input");
    let stem = seeded_conv(&mut g, "stem", &input, (IN_CHANNELS, WIDTH, 3, 1), 1, 1.0);
    let mut x = g.node("Relu", "stem/relu", &[&stem], vec![]);
    for b in 0..BLOCKS {
        let seed = 10 * (b as u64 + 1);
        let dw = seeded_conv(
            &mut g,
            &format!("block{b}/dw"),
            &x,
            (WIDTH, WIDTH, 3, WIDTH),
            seed,
            1.0,
        );
        let pw = seeded_conv(
            &mut g,
            &format!("block{b}/pw"),
            &dw,
            (WIDTH, WIDTH, 1, 1),
            seed + 5,
            1.0,
        );
        let sum = g.node("Add", &format!("block{b}/add"), &[&pw, &x], vec![]);
        x = g.node("Relu", &format!("block{b}/relu"), &[&sum], vec![]);
    }
    let pooled = g.node("GlobalAveragePool", "head/gap", &[&x], vec![]);
    let flat = g.node(
        "Flatten",
        "head/flatten",
        &[&pooled],
        vec![("axis", Attr::Int(1))],
    );
    let w = g.weight(
        "head/weight",
        &[WIDTH, CLASSES],
        &values(WIDTH * CLASSES, 99, 0.2),
    );
    let logits = g.node("Gemm", "head/linear", &[&flat, &w], vec![]);
    let model = g.finish(
        "edgenas_calibration",
        &[Port {
            name: input,
            dims: vec![IN_CHANNELS, SIZE, SIZE],
        }],
        &[(
            Port {
                name: "logits".into(),
                dims: vec![CLASSES],
            },
            logits,
        )],
        &BTreeMap::new(),
    );
    onnx::to_bytes(&model)
}

/// The label errors name the workload by.
const LABEL: &str = "<reference workload>";

/// The input shape at `batch`.
fn shape(batch: usize) -> Vec<usize> {
    vec![batch, IN_CHANNELS, SIZE, SIZE]
}

/// The fixed input at `batch`.
fn input(batch: usize) -> Vec<f32> {
    values(IN_CHANNELS * SIZE * SIZE, 7, 1.0).repeat(batch)
}

/// The workload as a job times it, here or on a remote device: the same
/// bytes and input as [`Reference::load`], its runs sharing the input as
/// there.
pub fn workload(batch: usize) -> Workload {
    Workload::shared(
        LABEL,
        reference_onnx(),
        vec![Input {
            shape: shape(batch),
            values: input(batch),
        }],
    )
}

/// The reference net loaded in tract at one batch size, with its fixed
/// input.
///
/// It runs at the measured model's batch size: a workload of similar
/// duration sees the same share of a busy machine's interruptions (a 0.2 ms
/// run is rarely preempted, a 20 ms one often), and a similar working-set
/// growth with the batch.
pub struct Reference {
    plan: TractPlan,
    input: Vec<f32>,
}

impl Reference {
    pub fn load(batch: usize) -> Result<Self, RuntimeError> {
        let model = TractModel::from_bytes(LABEL, &reference_onnx())?;
        Ok(Self {
            plan: model.plan(&[shape(batch)])?,
            input: input(batch),
        })
    }

    /// Times one run in milliseconds.
    pub fn timer(&self) -> Result<impl FnMut() -> Result<f64, RuntimeError> + '_, RuntimeError> {
        self.plan.timer(&[&self.input])
    }

    /// The logits of the fixed input, `[batch, 10]`.
    pub fn logits(&self) -> Result<Vec<f32>, RuntimeError> {
        Ok(self.plan.run(&[&self.input])?.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workload_is_the_same_bytes_every_time() {
        assert_eq!(reference_onnx(), reference_onnx());
        let values = values(1000, 3, 0.5);
        assert!(values.iter().all(|v| v.abs() <= 0.5));
        assert!(values.iter().any(|v| *v < -0.4) && values.iter().any(|v| *v > 0.4));
    }

    #[test]
    fn the_workload_runs_in_tract() {
        let one = Reference::load(1).unwrap().logits().unwrap();
        assert_eq!(one.len(), CLASSES);
        assert!(one.iter().all(|v| v.is_finite()));
        let reference = Reference::load(3).unwrap();
        let three = reference.logits().unwrap();
        assert_eq!(three.len(), 3 * CLASSES);
        for row in three.chunks(CLASSES) {
            for (a, b) in row.iter().zip(&one) {
                assert!(
                    (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                    "{row:?} vs {one:?}"
                );
            }
        }
        let mut timer = reference.timer().unwrap();
        assert!(timer().unwrap() > 0.0);
        assert_eq!(workload(3).inputs[0].shape, shape(3));
    }
}
