//! The report of a run and the baseline file of the gate: schema-versioned
//! JSON, written atomically, validated when read.

use std::path::Path;

use serde::{Deserialize, Serialize};

use ::runtime::{HostInfo, LatencyStats, Profile};

use crate::error::BenchError;
use crate::host::BenchDevice;
use crate::noise;

/// `kind` of a report file.
pub const REPORT_KIND: &str = "edgenas-device-bench-report";
/// `kind` of a baseline file.
pub const BASELINE_KIND: &str = "edgenas-device-bench-baseline";
/// Version of both layouts; bumped on any incompatible change.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// What `device-bench run` measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// [`REPORT_KIND`].
    pub kind: String,
    pub schema_version: u32,
    /// `edgenas <version>` of the tool that measured.
    pub tool_version: String,
    /// UTC time of the run (RFC 3339).
    pub created_at: String,
    pub model: ModelInfo,
    pub data: DataInfo,
    pub device: DeviceInfo,
    pub settings: RunSettings,
    pub accuracy: Accuracy,
    /// Batch 1 first, then the configured batch (when it is not 1).
    pub latency: Vec<BatchLatency>,
    pub calibration: CalibrationInfo,
}

/// The model file and what its metadata says about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// As given on the command line.
    pub path: String,
    pub sha256: String,
    pub bytes: usize,
    /// Nodes of the ONNX graph, and of tract's optimized plan at batch 1.
    pub onnx_nodes: usize,
    pub plan_nodes: usize,
    /// `[C, H, W]`.
    pub input_shape: [usize; 3],
    pub num_classes: usize,
    /// The dataset the model was trained on, per its metadata.
    pub trained_on: String,
    /// Retraining's test accuracy (percent), per its metadata.
    pub retrain_test_accuracy: Option<f64>,
    pub bn_folded: bool,
    /// The `tool_version` that exported it.
    pub exported_by: String,
    pub genotype: arch::Genotype,
}

/// The test split the accuracy was measured on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataInfo {
    /// `builtin:digits` or the folder as given.
    pub source: String,
    pub name: String,
    pub test_samples: usize,
    /// SHA-256 of the test images (f32 little-endian) and labels: two reports
    /// measured accuracy on the same images exactly when these agree.
    pub test_fingerprint: String,
}

/// Device, runtime and host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceInfo {
    pub device: BenchDevice,
    pub runtime: String,
    pub runtime_version: String,
    /// The generation of edgenas' kernels the plans ran (0: tract's own
    /// everywhere; `runtime::kernels::Kernels::generation`); absent from
    /// reports older than the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernels: Option<u32>,
    /// Threads the runtime used for one inference.
    pub threads: usize,
    /// The machine the latency was measured on (with `remote`, the
    /// device's, as its server described it).
    pub host: HostInfo,
    /// The address of the `latency-lut serve` the latency was measured
    /// through (`run --remote`); absent when measured on this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
}

/// The settings of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    pub batch: usize,
    pub warmup: usize,
    pub repeats: usize,
    pub profile: bool,
    /// Test-only busy-wait added to every model inference (0 in real runs).
    pub injected_slowdown_ms: f64,
}

/// Top-1 accuracy of the whole test split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    /// `100 · correct / samples`.
    pub percent: f64,
    pub correct: usize,
    pub samples: usize,
    /// Inferences: full batches plus one for the remainder, if any.
    pub inferences: usize,
}

/// Latency of the model at one batch size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchLatency {
    pub batch: usize,
    pub stats: LatencyStats,
    /// The calibration workload at the same batch size, timed in the same
    /// rounds as the model.
    pub calibration: LatencyStats,
    /// Median over the timed rounds of `model ms / calibration ms` (the two
    /// run back to back in each round): what the gate compares.
    pub calibration_ratio: f64,
    /// Relative spread `(p90 − p10) / p50` of those per-round ratios: the
    /// noise the gate scales its threshold with. Absent in reports written
    /// before paired ratios (the gate then combines the four timings'
    /// spreads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio_spread: Option<f64>,
    /// In a baseline made from several runs: how far their ratios lay apart,
    /// `(max − min) / median` in percent (`calibration_ratio` is then their
    /// median). Run-to-run shifts that no single run's spread shows (another
    /// job's phase, cache contention) widen the gate's threshold to at least
    /// this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_to_run_pct: Option<f64>,
    /// Per-node times (with `--profile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
}

/// The calibration workload measured in the same run (its times are in
/// each [`BatchLatency`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationInfo {
    pub workload: String,
    pub description: String,
}

/// A committed reference for the gate: a report, frozen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// [`BASELINE_KIND`].
    pub kind: String,
    pub schema_version: u32,
    pub tool_version: String,
    /// When the baseline was written (RFC 3339).
    pub created_at: String,
    /// The report file it was made from, as given.
    pub source_report: String,
    pub report: BenchReport,
}

impl BenchReport {
    /// Pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a report serializes");
        text.push('\n');
        text
    }

    /// Writes the report atomically (temp file + rename).
    pub fn save(&self, path: &Path) -> Result<(), BenchError> {
        write(path, &self.to_json())
    }

    /// Reads a report file.
    pub fn load(path: &Path) -> Result<Self, BenchError> {
        match read_reference(path)? {
            Reference::Report(r) => Ok(*r),
            Reference::Baseline(_) => Err(BenchError::Report {
                path: path.to_path_buf(),
                message: format!(
                    "this is a baseline ({BASELINE_KIND}), expected a report of `device-bench run`"
                ),
            }),
        }
    }

    /// Whether `self` and `baseline` measure the same thing: device,
    /// runtime threading, input shape, class count, batch sizes, test data
    /// and calibration workload must agree (the first difference is the
    /// error). The regression gate checks this before comparing, and a
    /// baseline of several runs checks it between its runs.
    ///
    /// # Errors
    /// [`BenchError::Incomparable`] naming both files.
    pub fn check_comparable(
        &self,
        baseline: &BenchReport,
        report_path: &Path,
        baseline_path: &Path,
    ) -> Result<(), BenchError> {
        let data = |r: &BenchReport| {
            format!(
                "{} ({} images, {})",
                r.data.source,
                r.data.test_samples,
                short_hash(&r.data.test_fingerprint)
            )
        };
        let checks: [(&str, String, String); 8] = [
            (
                "device",
                baseline.device.device.name().into(),
                self.device.device.name().into(),
            ),
            (
                "runtime",
                baseline.device.runtime.clone(),
                self.device.runtime.clone(),
            ),
            (
                "runtime threads",
                baseline.device.threads.to_string(),
                self.device.threads.to_string(),
            ),
            (
                "model input shape",
                format!("{:?}", baseline.model.input_shape),
                format!("{:?}", self.model.input_shape),
            ),
            (
                "model classes",
                baseline.model.num_classes.to_string(),
                self.model.num_classes.to_string(),
            ),
            (
                "batch sizes",
                format!("{:?}", baseline.batches()),
                format!("{:?}", self.batches()),
            ),
            ("test data", data(baseline), data(self)),
            (
                "calibration workload",
                baseline.calibration.workload.clone(),
                self.calibration.workload.clone(),
            ),
        ];
        match checks.iter().find(|(_, b, r)| b != r) {
            Some((what, b, r)) => Err(BenchError::Incomparable {
                report: report_path.to_path_buf(),
                baseline: baseline_path.to_path_buf(),
                message: format!("{what} differs (baseline {b}, report {r})"),
            }),
            None => Ok(()),
        }
    }

    /// The batch sizes measured, in order.
    pub fn batches(&self) -> Vec<usize> {
        self.latency.iter().map(|l| l.batch).collect()
    }
}

/// The first 12 hex digits of a hash, for messages.
pub(crate) fn short_hash(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

impl Baseline {
    /// A baseline of `report`, read from `source`.
    pub fn new(report: BenchReport, source: &Path) -> Self {
        Self {
            kind: BASELINE_KIND.into(),
            schema_version: REPORT_SCHEMA_VERSION,
            tool_version: crate::tool_version(),
            created_at: jiff::Timestamp::now().to_string(),
            source_report: source.display().to_string(),
            report,
        }
    }

    /// A baseline of several runs of the same model: the first report, with
    /// each batch's ratio replaced by the median over the runs and their
    /// run-to-run range recorded.
    ///
    /// # Errors
    /// When the reports measured different models or are not comparable.
    pub fn from_runs(runs: &[(BenchReport, std::path::PathBuf)]) -> Result<Self, BenchError> {
        let (first, first_path) = runs.first().expect("at least one report");
        let mut report = first.clone();
        for (other, path) in &runs[1..] {
            if other.model.sha256 != first.model.sha256 {
                return Err(BenchError::Report {
                    path: path.clone(),
                    message: format!(
                        "another model than {} (sha256 {} vs {}); a baseline's runs must measure one model",
                        first_path.display(),
                        short_hash(&other.model.sha256),
                        short_hash(&first.model.sha256)
                    ),
                });
            }
            other.check_comparable(first, path, first_path)?;
        }
        if runs.len() > 1 {
            for latency in &mut report.latency {
                let ratios: Vec<f64> = runs
                    .iter()
                    .map(|(r, _)| {
                        r.latency
                            .iter()
                            .find(|l| l.batch == latency.batch)
                            .expect("batch sizes were checked equal")
                            .calibration_ratio
                    })
                    .collect();
                let (median, range_pct) = noise::median_and_range_pct(&ratios);
                latency.calibration_ratio = median;
                latency.run_to_run_pct = Some(range_pct);
            }
        }
        let sources: Vec<String> = runs.iter().map(|(_, p)| p.display().to_string()).collect();
        Ok(Self {
            source_report: sources.join(", "),
            ..Self::new(report, first_path)
        })
    }

    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a baseline serializes");
        text.push('\n');
        text
    }

    /// Writes the baseline atomically (temp file + rename).
    pub fn save(&self, path: &Path) -> Result<(), BenchError> {
        write(path, &self.to_json())
    }
}

fn write(path: &Path, text: &str) -> Result<(), BenchError> {
    artifacts::write_atomic(path, text.as_bytes()).map_err(|e| BenchError::Write {
        path: path.to_path_buf(),
        source: e.into_io(),
    })
}

/// What the gate compares against: a baseline file, or a plain report
/// (comparing two reports directly is handy when investigating).
#[derive(Debug, Clone, PartialEq)]
pub enum Reference {
    Report(Box<BenchReport>),
    Baseline(Box<Baseline>),
}

impl Reference {
    pub fn report(&self) -> &BenchReport {
        match self {
            Reference::Report(r) => r,
            Reference::Baseline(b) => &b.report,
        }
    }
}

/// Reads a report or a baseline file; errors name the file and say what is
/// wrong (missing, not JSON, another kind, another schema version).
pub fn read_reference(path: &Path) -> Result<Reference, BenchError> {
    let bad = |message: String| BenchError::Report {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|source| BenchError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let header =
        artifacts::FileHeader::peek(&text).map_err(|e| bad(format!("not valid JSON ({e})")))?;
    let kind = header.kind.as_deref().unwrap_or("");
    if kind != REPORT_KIND && kind != BASELINE_KIND {
        return Err(bad(format!(
            "not a device-bench report or baseline (kind {kind:?}, expected {REPORT_KIND:?} or {BASELINE_KIND:?})"
        )));
    }
    let version = header.schema_version;
    if version != Some(u64::from(REPORT_SCHEMA_VERSION)) {
        return Err(bad(format!(
            "schema_version {} (this tool reads {REPORT_SCHEMA_VERSION}; run `device-bench run` again, or `device-bench baseline` to refresh a baseline)",
            version.map_or("missing".to_string(), |v| v.to_string())
        )));
    }
    let reference = if kind == REPORT_KIND {
        Reference::Report(Box::new(
            serde_json::from_str(&text).map_err(|e| bad(format!("malformed report ({e})")))?,
        ))
    } else {
        let baseline: Baseline =
            serde_json::from_str(&text).map_err(|e| bad(format!("malformed baseline ({e})")))?;
        if baseline.report.kind != REPORT_KIND
            || baseline.report.schema_version != REPORT_SCHEMA_VERSION
        {
            return Err(bad(format!(
                "the baseline holds a report of kind {:?} schema_version {}",
                baseline.report.kind, baseline.report.schema_version
            )));
        }
        Reference::Baseline(Box::new(baseline))
    };
    let report = reference.report();
    if report.latency.is_empty() {
        return Err(bad("no latency measurements".into()));
    }
    if report
        .latency
        .iter()
        .any(|l| !(l.stats.p50_ms > 0.0 && l.calibration.p50_ms > 0.0))
    {
        return Err(bad("a latency or calibration median is not positive".into()));
    }
    consistent(report).map_err(bad)?;
    Ok(reference)
}

/// The first self-contradiction of a report: every number finite,
/// percentiles ordered, ratios positive, the accuracy its own counts.
/// A gate that compares a contradictory report proves nothing.
fn consistent(report: &BenchReport) -> Result<(), String> {
    let a = &report.accuracy;
    if a.samples == 0 || a.correct > a.samples {
        return Err(format!(
            "accuracy counts {} correct of {} images",
            a.correct, a.samples
        ));
    }
    let percent = 100.0 * a.correct as f64 / a.samples as f64;
    if !a.percent.is_finite() || (a.percent - percent).abs() > 1e-6 {
        return Err(format!(
            "accuracy {} % disagrees with its counts ({} of {} = {percent} %)",
            a.percent, a.correct, a.samples
        ));
    }
    for l in &report.latency {
        for (what, s) in [("latency", &l.stats), ("calibration", &l.calibration)] {
            let values = [
                s.mean_ms, s.std_ms, s.min_ms, s.p10_ms, s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms,
            ];
            let ordered = s.min_ms <= s.p10_ms
                && s.p10_ms <= s.p50_ms
                && s.p50_ms <= s.p90_ms
                && s.p90_ms <= s.p99_ms
                && s.p99_ms <= s.max_ms;
            if !values.iter().all(|v| v.is_finite() && *v >= 0.0) || !ordered || s.count == 0 {
                return Err(format!(
                    "batch {} {what} statistics are not finite, ordered (min ≤ p10 ≤ p50 ≤ p90 ≤ p99 ≤ max) and counted",
                    l.batch
                ));
            }
        }
        if !(l.calibration_ratio.is_finite() && l.calibration_ratio > 0.0) {
            return Err(format!(
                "batch {} calibration ratio {} is not a positive number",
                l.batch, l.calibration_ratio
            ));
        }
    }
    Ok(())
}
