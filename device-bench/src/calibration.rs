//! The calibration workload: the fixed reference net of
//! [`runtime::reference`], run by tract next to the model, so a report can
//! state the model's latency as a ratio to it (latency tables state their
//! entries as ratios to the same net).
//!
//! Absolute times move between runs on shared machines (CPU frequency,
//! neighbours, a CI runner of another generation); a slowdown of the whole
//! machine slows the calibration net as much as the model, so the ratio
//! stays put while a slower model moves it.

use ::runtime::RuntimeError;
use ::runtime::reference::{self, Reference};
use ::runtime::remote::Workload;

use crate::error::BenchError;

/// Name of the workload recorded in reports: the gate refuses to compare
/// ratios to different workloads.
pub const CALIBRATION_WORKLOAD: &str = reference::REFERENCE_WORKLOAD;

/// One line describing the workload, for the report.
pub const CALIBRATION_DESCRIPTION: &str = reference::REFERENCE_DESCRIPTION;

/// The calibration net as ONNX bytes (input `[batch, 8, 16, 16]`).
pub fn calibration_onnx() -> Vec<u8> {
    reference::reference_onnx()
}

/// The workload as a remote device times it: the same bytes and input as
/// [`Calibration::load`], its runs sharing the input as here.
pub fn workload(batch: usize) -> Workload {
    reference::workload(batch)
}

/// The calibration net loaded in tract at the model's batch size, with its
/// fixed input.
pub struct Calibration(Reference);

impl Calibration {
    pub fn load(batch: usize) -> Result<Self, BenchError> {
        Ok(Self(Reference::load(batch)?))
    }

    /// Times one run in milliseconds.
    pub fn timer(&self) -> Result<impl FnMut() -> Result<f64, RuntimeError> + '_, BenchError> {
        Ok(self.0.timer()?)
    }

    /// The logits of the fixed input, `[batch, 10]`.
    pub fn logits(&self) -> Result<Vec<f32>, BenchError> {
        Ok(self.0.logits()?)
    }
}
