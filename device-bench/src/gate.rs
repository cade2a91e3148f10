//! The regression gate: a new report against a baseline, on latency ratios
//! to the calibration workload and on accuracy.
//!
//! Absolute milliseconds are not compared: on a shared CI runner they move
//! by tens of percent between runs while the model stays the same (on the
//! 2-core development machine, next to a compiler, by 2× between two runs).
//! Each report measures the calibration workload at the same batch,
//! interleaved with the model run by run, and the gate compares the median
//! of the per-round ratios `model ms / calibration ms` instead (those moved
//! by less than 7 % in the same runs).
//!
//! The threshold follows the noise each run measured on itself, in the
//! spirit of tract's benchmark CI, which scales its alarms with the observed
//! jitter: `max(floor, k · noise)`. `noise` combines the relative spreads
//! `s = (p90 − p10) / p50` of the per-round ratios, now and in the
//! baseline, as `√Σ s² / n` (against a single-run baseline, or for
//! reports without paired ratios, the larger of that and the same over the
//! four timings, model and calibration, now and baseline; a pooled
//! baseline's run-to-run range is a floor instead): the medians of n samples
//! are compared, not single samples, and the spread of one sample
//! overstates theirs by about √n (for normal noise `s / √n` is about twice
//! the standard error of a median, so k = 3 is a ~6 σ band: wide, because
//! runs drift apart by more than one run's own noise shows — batch-32
//! ratios of one small model moved 13–20 % between two runs on a quiet
//! machine where k = 2 gave thresholds of 10.6–18 %). A quiet
//! machine gets the floor; a busy one a wider band instead of false alarms.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::BenchError;
use crate::noise;
use crate::report::{BatchLatency, BenchReport, short_hash};

/// How strict the gate is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GateSettings {
    /// Smallest latency threshold, percent.
    pub floor_pct: f64,
    /// k: the threshold is at least k times the measured noise.
    pub noise_factor: f64,
    /// Test samples the accuracy may lose before the gate fails (the same
    /// model on the same data gives the same answers, so 0 by default).
    pub accuracy_tolerance: usize,
}

impl Default for GateSettings {
    fn default() -> Self {
        Self {
            floor_pct: 10.0,
            noise_factor: 3.0,
            accuracy_tolerance: 0,
        }
    }
}

/// The verdict on one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Within the threshold.
    Pass,
    /// Better than the baseline by more than the threshold (passes; the
    /// baseline may be refreshed).
    Improved,
    /// Worse than the baseline by more than the threshold.
    Regression,
    /// Shown for context, not gated (absolute times).
    Info,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Improved => "pass (improved)",
            Verdict::Regression => "REGRESSION",
            Verdict::Info => "info",
        }
    }
}

/// One line of the gate's table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateRow {
    pub metric: String,
    pub baseline: f64,
    pub now: f64,
    /// `now / baseline − 1` in percent; for accuracy the difference in
    /// percentage points.
    pub change_pct: f64,
    /// The largest accepted worsening, in the unit of `change_pct` (None
    /// for information rows).
    pub threshold_pct: Option<f64>,
    /// The measured noise the threshold was scaled from, percent.
    pub noise_pct: Option<f64>,
    pub verdict: Verdict,
}

/// The result of the gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateOutcome {
    pub passed: bool,
    pub rows: Vec<GateRow>,
    /// Differences that do not prevent the comparison (another model file,
    /// host or tract version).
    pub warnings: Vec<String>,
    pub settings: GateSettings,
}

/// Compares `report` with `baseline`: first whether they measure the same
/// thing at all, then one row per batch size on the latency ratio, one on
/// accuracy, and the absolute medians for information.
///
/// # Errors
/// [`BenchError::Incomparable`] when they do not measure the same thing:
/// another device, runtime threading, input shape, class count, batch
/// sizes, test data, or calibration workload.
pub fn compare(
    report: &BenchReport,
    baseline: &BenchReport,
    report_path: &Path,
    baseline_path: &Path,
    settings: &GateSettings,
) -> Result<GateOutcome, BenchError> {
    report.check_comparable(baseline, report_path, baseline_path)?;
    let pairs = batch_pairs(report, baseline);
    let mut rows: Vec<GateRow> = pairs
        .iter()
        .map(|(now, base)| latency_row(now, base, settings))
        .collect();
    rows.push(accuracy_row(report, baseline, settings));
    rows.extend(pairs.iter().flat_map(|(now, base)| info_rows(now, base)));
    Ok(GateOutcome {
        passed: rows.iter().all(|r| r.verdict != Verdict::Regression),
        rows,
        warnings: warnings(report, baseline),
        settings: *settings,
    })
}

/// Differences that do not prevent the comparison but may explain its
/// result: another model file, tract version or CPU, an injected slowdown.
fn warnings(report: &BenchReport, baseline: &BenchReport) -> Vec<String> {
    let mut warnings = Vec::new();
    if report.model.sha256 != baseline.model.sha256 {
        warnings.push(format!(
            "another model file than the baseline's (sha256 {} vs {})",
            short_hash(&report.model.sha256),
            short_hash(&baseline.model.sha256)
        ));
    }
    if report.device.runtime_version != baseline.device.runtime_version {
        warnings.push(format!(
            "tract {} vs {} in the baseline",
            report.device.runtime_version, baseline.device.runtime_version
        ));
    }
    if report.device.kernels != baseline.device.kernels {
        let name = |k: Option<u32>| match k {
            Some(0) => "tract's own kernels".to_string(),
            Some(k) => format!("edgenas' kernels, generation {k}"),
            None => "unrecorded kernels".to_string(),
        };
        warnings.push(format!(
            "{} vs {} in the baseline",
            name(report.device.kernels),
            name(baseline.device.kernels)
        ));
    }
    if report.device.host.cpu_model != baseline.device.host.cpu_model {
        warnings.push(format!(
            "measured on {:?}, the baseline on {:?} (ratios to the calibration workload transfer only roughly between CPU types)",
            report.device.host.cpu_model, baseline.device.host.cpu_model
        ));
    }
    for (who, r) in [("the report", report), ("the baseline", baseline)] {
        if r.settings.injected_slowdown_ms > 0.0 {
            warnings.push(format!(
                "{who} was measured with a test-only injected slowdown of {} ms per inference",
                r.settings.injected_slowdown_ms
            ));
        }
    }
    warnings
}

/// `(now, baseline)` latencies per batch size, in the baseline's order.
/// The batch sizes must have been checked equal.
fn batch_pairs<'a>(
    report: &'a BenchReport,
    baseline: &'a BenchReport,
) -> Vec<(&'a BatchLatency, &'a BatchLatency)> {
    baseline
        .latency
        .iter()
        .map(|base| {
            let now = report
                .latency
                .iter()
                .find(|l| l.batch == base.batch)
                .expect("batch sizes were checked equal");
            (now, base)
        })
        .collect()
}

/// The gated row of one batch size: the change of the calibration ratio
/// against `max(floor, k · noise, baseline's run-to-run range)`.
fn latency_row(now: &BatchLatency, base: &BatchLatency, settings: &GateSettings) -> GateRow {
    let (ratio_base, ratio_now) = (base.calibration_ratio, now.calibration_ratio);
    let timings = noise::medians_noise_pct(
        &[&now.stats, &now.calibration, &base.stats, &base.calibration]
            .map(|s| (s.spread, s.count)),
    );
    let paired = now
        .ratio_spread
        .zip(base.ratio_spread)
        .map(|(s_now, s_base)| {
            noise::medians_noise_pct(&[(s_now, now.stats.count), (s_base, base.stats.count)])
        });
    let noise = noise::gate_noise_pct(paired, timings, base.run_to_run_pct.is_some());
    let threshold = settings
        .floor_pct
        .max(settings.noise_factor * noise)
        .max(base.run_to_run_pct.unwrap_or(0.0));
    let change = (ratio_now / ratio_base - 1.0) * 100.0;
    let verdict = if change > threshold {
        Verdict::Regression
    } else if change < -threshold {
        Verdict::Improved
    } else {
        Verdict::Pass
    };
    GateRow {
        metric: format!("latency / calibration, batch {}", base.batch),
        baseline: ratio_base,
        now: ratio_now,
        change_pct: change,
        threshold_pct: Some(threshold),
        noise_pct: Some(noise),
        verdict,
    }
}

/// The accuracy row: a regression when more test samples than the
/// tolerance went wrong.
fn accuracy_row(report: &BenchReport, baseline: &BenchReport, settings: &GateSettings) -> GateRow {
    let (acc_now, acc_base) = (&report.accuracy, &baseline.accuracy);
    let lost = acc_base.correct.saturating_sub(acc_now.correct);
    let gained = acc_now.correct.saturating_sub(acc_base.correct);
    GateRow {
        metric: format!("accuracy %, {} test images", acc_now.samples),
        baseline: acc_base.percent,
        now: acc_now.percent,
        change_pct: acc_now.percent - acc_base.percent,
        threshold_pct: Some(100.0 * settings.accuracy_tolerance as f64 / acc_now.samples as f64),
        noise_pct: None,
        verdict: if lost > settings.accuracy_tolerance {
            Verdict::Regression
        } else if gained > 0 {
            Verdict::Improved
        } else {
            Verdict::Pass
        },
    }
}

/// The absolute medians of one batch size, model and calibration: shown,
/// not gated.
fn info_rows(now: &BatchLatency, base: &BatchLatency) -> [GateRow; 2] {
    [
        info_row(
            format!("p50 ms, batch {}", base.batch),
            base.stats.p50_ms,
            now.stats.p50_ms,
        ),
        info_row(
            format!("p50 ms, calibration batch {}", base.batch),
            base.calibration.p50_ms,
            now.calibration.p50_ms,
        ),
    ]
}

fn info_row(metric: String, baseline: f64, now: f64) -> GateRow {
    GateRow {
        metric,
        baseline,
        now,
        change_pct: (now / baseline - 1.0) * 100.0,
        threshold_pct: None,
        noise_pct: None,
        verdict: Verdict::Info,
    }
}

/// The outcome as a table for humans:
/// `metric | baseline | now | change % | threshold % | verdict`.
pub fn render_table(outcome: &GateOutcome) -> String {
    let header = [
        "metric",
        "baseline",
        "now",
        "change %",
        "threshold %",
        "verdict",
    ];
    let mut lines: Vec<[String; 6]> = vec![header.map(String::from)];
    for r in &outcome.rows {
        lines.push([
            r.metric.clone(),
            format!("{:.4}", r.baseline),
            format!("{:.4}", r.now),
            format!("{:+.1}", r.change_pct),
            r.threshold_pct.map_or("-".into(), |t| match r.noise_pct {
                Some(n) => format!("{t:.1} (noise {n:.1})"),
                None => format!("{t:.1}"),
            }),
            r.verdict.label().into(),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (n, line) in lines.iter().enumerate() {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                if i == 0 || i == 5 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
        if n == 0 {
            let total = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
            let _ = writeln!(out, "{}", "-".repeat(total));
        }
    }
    for w in &outcome.warnings {
        let _ = writeln!(out, "note: {w}");
    }
    let _ = writeln!(
        out,
        "{}",
        if outcome.passed {
            "gate: pass"
        } else {
            "gate: FAIL (a metric regressed beyond its threshold)"
        }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{BenchDevice, HostInfo};
    use crate::report::*;
    use ::runtime::LatencyStats;

    /// Stats with median `p50` and relative spread `spread`.
    fn stats(batch: usize, p50: f64, spread: f64) -> LatencyStats {
        let half = p50 * spread / 1.6; // p10 and p90 sit at ±0.8 half
        let samples: Vec<f64> = (0..=10)
            .map(|i| p50 - half + half * i as f64 / 5.0)
            .collect();
        let s = LatencyStats::from_samples(&samples, batch, 0);
        assert!((s.spread - spread).abs() < 1e-9 && (s.p50_ms - p50).abs() < 1e-9);
        s
    }

    /// A report: batch-1 and batch-32 medians, calibration median at batch
    /// 1 (ten times that at batch 32), one spread for every timing (11
    /// samples each), correct answers of 360.
    fn report(b1: f64, b32: f64, cal: f64, spread: f64, correct: usize) -> BenchReport {
        let latency = |batch, p50, cal| BatchLatency {
            batch,
            stats: stats(batch, p50, spread),
            calibration: stats(batch, cal, spread),
            calibration_ratio: p50 / cal,
            ratio_spread: None,
            run_to_run_pct: None,
            profile: None,
        };
        BenchReport {
            kind: REPORT_KIND.into(),
            schema_version: REPORT_SCHEMA_VERSION,
            tool_version: "edgenas test".into(),
            created_at: "2025-01-01T00:00:00Z".into(),
            model: ModelInfo {
                path: "model.onnx".into(),
                sha256: "ab".repeat(32),
                bytes: 1,
                onnx_nodes: 1,
                plan_nodes: 1,
                input_shape: [1, 8, 8],
                num_classes: 10,
                trained_on: "builtin:digits".into(),
                retrain_test_accuracy: None,
                bn_folded: true,
                exported_by: "edgenas test".into(),
                genotype: arch::genotype::random_genotype(
                    arch::Relaxation::Darts,
                    4,
                    &arch::OpSpace::darts(arch::ZeroConfig::V1),
                    &mut |n| n - 1,
                ),
            },
            data: DataInfo {
                source: "builtin:digits".into(),
                name: "digits8x8".into(),
                test_samples: 360,
                test_fingerprint: "cd".repeat(32),
            },
            device: DeviceInfo {
                device: BenchDevice::Cpu,
                runtime: "tract".into(),
                runtime_version: "0.23.9".into(),
                kernels: Some(4),
                threads: 1,
                host: HostInfo {
                    cpu_model: "test cpu".into(),
                    cores: 2,
                    os: "linux x86_64".into(),
                    gpu: None,
                },
                remote: None,
            },
            settings: RunSettings {
                batch: 32,
                warmup: 0,
                repeats: 11,
                profile: false,
                injected_slowdown_ms: 0.0,
            },
            accuracy: Accuracy {
                percent: 100.0 * correct as f64 / 360.0,
                correct,
                samples: 360,
                inferences: 12,
            },
            latency: vec![latency(1, b1, cal), latency(32, b32, 10.0 * cal)],
            calibration: CalibrationInfo {
                workload: crate::calibration::CALIBRATION_WORKLOAD.into(),
                description: String::new(),
            },
        }
    }

    /// Gate verdicts (batch 1, batch 32, accuracy) of `now` against `base`.
    fn check(now: &BenchReport, base: &BenchReport, settings: GateSettings) -> Vec<Verdict> {
        let outcome = compare(now, base, Path::new("r"), Path::new("b"), &settings).unwrap();
        assert_eq!(
            outcome.passed,
            !outcome
                .rows
                .iter()
                .any(|r| r.verdict == Verdict::Regression)
        );
        outcome.rows[..3].iter().map(|r| r.verdict).collect()
    }

    use Verdict::{Improved, Pass, Regression};

    #[test]
    fn verdicts_follow_ratios_not_absolute_times() {
        let quiet = GateSettings::default();
        let base = report(1.0, 20.0, 2.0, 0.02, 300);
        for (now, expected) in [
            // Same run again.
            (report(1.0, 20.0, 2.0, 0.02, 300), [Pass, Pass, Pass]),
            // The whole machine 50 % slower: ratios unchanged.
            (report(1.5, 30.0, 3.0, 0.02, 300), [Pass, Pass, Pass]),
            // Within the 10 % floor.
            (report(1.08, 21.0, 2.0, 0.02, 300), [Pass, Pass, Pass]),
            // The model 30 % slower at batch 1 only.
            (report(1.3, 20.0, 2.0, 0.02, 300), [Regression, Pass, Pass]),
            // Twice as fast at batch 32, one more correct answer.
            (
                report(1.0, 10.0, 2.0, 0.02, 301),
                [Pass, Improved, Improved],
            ),
            // One sample lost.
            (report(1.0, 20.0, 2.0, 0.02, 299), [Pass, Pass, Regression]),
        ] {
            assert_eq!(check(&now, &base, quiet), expected);
        }
    }

    #[test]
    fn noisy_runs_widen_the_threshold() {
        // Four spreads of 66.3 % over 11 samples: √(4 · 0.663² / 11) = 40 %
        // noise, k = 2 → 80 %.
        let k2 = GateSettings {
            noise_factor: 2.0,
            ..GateSettings::default()
        };
        let spread = 0.2 * 11f64.sqrt();
        let base = report(1.0, 20.0, 2.0, spread, 300);
        let slower = report(1.5, 20.0, 2.0, spread, 300);
        assert_eq!(check(&slower, &base, k2), [Pass, Pass, Pass]);
        let outcome = compare(&slower, &base, Path::new("r"), Path::new("b"), &k2).unwrap();
        assert!((outcome.rows[0].noise_pct.unwrap() - 40.0).abs() < 1e-6);
        assert!((outcome.rows[0].threshold_pct.unwrap() - 80.0).abs() < 1e-6);
        // Twice as slow is still caught.
        let doubled = report(2.0, 40.0, 2.0, spread, 300);
        assert_eq!(check(&doubled, &base, k2), [Regression, Regression, Pass]);
        // k = 0 falls back to the floor.
        let strict = GateSettings {
            noise_factor: 0.0,
            ..GateSettings::default()
        };
        assert_eq!(check(&slower, &base, strict), [Regression, Pass, Pass]);
    }

    #[test]
    fn paired_ratio_spreads_set_the_noise_against_a_pooled_baseline() {
        // Timings that drifted a lot within each run (66 % spread) but
        // whose per-round ratios stayed within 2·√11 % of each other: the
        // paired noise is √(2 · 0.0663² / 11) = 2 %, so the floor decides.
        let drifting = 0.2 * 11f64.sqrt();
        let paired = |mut r: BenchReport| {
            for l in &mut r.latency {
                l.ratio_spread = Some(0.02 * 11f64.sqrt());
            }
            r
        };
        let mut base = paired(report(1.0, 20.0, 2.0, drifting, 300));
        // A pooled baseline: its runs lay 1 % apart.
        for l in &mut base.latency {
            l.run_to_run_pct = Some(1.0);
        }
        let slower = paired(report(1.3, 20.0, 2.0, drifting, 300));
        let outcome = compare(
            &slower,
            &base,
            Path::new("r"),
            Path::new("b"),
            &GateSettings::default(),
        )
        .unwrap();
        assert!((outcome.rows[0].noise_pct.unwrap() - 2f64.sqrt() * 2.0).abs() < 1e-6);
        assert_eq!(outcome.rows[0].threshold_pct, Some(10.0));
        assert_eq!(outcome.rows[0].verdict, Regression);
        // Without paired spreads on one side, or against a single-run
        // baseline (which knows nothing of run-to-run drift), the four
        // timings' spreads count, and the same 30 % hides in their noise.
        let mut old = base.clone();
        old.latency[0].ratio_spread = None;
        assert_eq!(check(&slower, &old, GateSettings::default())[0], Pass);
        let mut single = base.clone();
        single.latency[0].run_to_run_pct = None;
        assert_eq!(check(&slower, &single, GateSettings::default())[0], Pass);
    }

    #[test]
    fn a_baseline_of_several_runs_takes_their_median_and_range() {
        use crate::report::Baseline;
        let p = |name: &str| std::path::PathBuf::from(name);
        // Three runs of one model whose batch-1 ratios were 0.50, 0.55 and
        // 0.60 (quiet runs: 2 % spread each).
        let runs: Vec<(BenchReport, std::path::PathBuf)> = [1.0, 1.1, 1.2]
            .iter()
            .enumerate()
            .map(|(i, &b1)| (report(b1, 20.0, 2.0, 0.02, 300), p(&format!("r{i}.json"))))
            .collect();
        let baseline = Baseline::from_runs(&runs).unwrap();
        let b1 = &baseline.report.latency[0];
        assert!((b1.calibration_ratio - 0.55).abs() < 1e-12);
        let range = b1.run_to_run_pct.unwrap();
        assert!((range - 0.1 / 0.55 * 100.0).abs() < 1e-9, "{range}");
        assert_eq!(baseline.source_report, "r0.json, r1.json, r2.json");
        // A run 15 % above the median is within the measured 18.2 % range;
        // one 25 % above is not.
        let check_b1 = |b1: f64| {
            compare(
                &report(b1, 20.0, 2.0, 0.02, 300),
                &baseline.report,
                Path::new("r"),
                Path::new("b"),
                &GateSettings::default(),
            )
            .unwrap()
            .rows[0]
                .verdict
        };
        assert_eq!(check_b1(1.15 * 1.1), Pass);
        assert_eq!(check_b1(1.25 * 1.1), Regression);
        // Runs of different models do not make one baseline.
        let mut other = runs[1].clone();
        other.0.model.sha256 = "ef".repeat(32);
        let err = Baseline::from_runs(&[runs[0].clone(), other]).unwrap_err();
        assert!(err.to_string().contains("another model"), "{err}");
    }

    #[test]
    fn accuracy_tolerance_counts_samples() {
        let base = report(1.0, 20.0, 2.0, 0.02, 300);
        let now = report(1.0, 20.0, 2.0, 0.02, 298);
        let tolerant = |n| GateSettings {
            accuracy_tolerance: n,
            ..GateSettings::default()
        };
        assert_eq!(check(&now, &base, tolerant(2))[2], Pass);
        assert_eq!(check(&now, &base, tolerant(1))[2], Regression);
    }

    #[test]
    fn reports_of_different_setups_are_refused() {
        let base = report(1.0, 20.0, 2.0, 0.02, 300);
        type Change = Box<dyn Fn(&mut BenchReport)>;
        let cases: Vec<(&str, Change)> = vec![
            ("input shape", Box::new(|r| r.model.input_shape = [3, 8, 8])),
            ("classes", Box::new(|r| r.model.num_classes = 5)),
            ("batch sizes", Box::new(|r| r.latency.truncate(1))),
            (
                "test data",
                Box::new(|r| r.data.test_fingerprint = "ef".repeat(32)),
            ),
            (
                "test data",
                Box::new(|r| r.data.source = "../data/mnist".into()),
            ),
            (
                "calibration",
                Box::new(|r| r.calibration.workload = "other".into()),
            ),
            ("threads", Box::new(|r| r.device.threads = 4)),
        ];
        for (what, change) in cases {
            let mut now = base.clone();
            change(&mut now);
            let err = compare(
                &now,
                &base,
                Path::new("report.json"),
                Path::new("baseline.json"),
                &GateSettings::default(),
            )
            .unwrap_err()
            .to_string();
            assert!(
                err.contains(what) && err.contains("report.json") && err.contains("baseline.json"),
                "{what}: {err}"
            );
        }
    }

    #[test]
    fn other_model_host_or_kernels_only_warn() {
        let base = report(1.0, 20.0, 2.0, 0.02, 300);
        let mut now = base.clone();
        now.model.sha256 = "ff".repeat(32);
        now.device.host.cpu_model = "another cpu".into();
        now.device.kernels = Some(0);
        let outcome = compare(
            &now,
            &base,
            Path::new("r"),
            Path::new("b"),
            &GateSettings::default(),
        )
        .unwrap();
        assert!(outcome.passed);
        assert_eq!(outcome.warnings.len(), 3, "{:?}", outcome.warnings);
        assert!(
            outcome
                .warnings
                .iter()
                .any(|w| w
                    == "tract's own kernels vs edgenas' kernels, generation 4 in the baseline"),
            "{:?}",
            outcome.warnings
        );
        let table = render_table(&outcome);
        assert!(table.contains("gate: pass") && table.contains("note: another model"));
        for header in [
            "metric",
            "baseline",
            "now",
            "change %",
            "threshold %",
            "verdict",
        ] {
            assert!(table.contains(header), "{table}");
        }
    }
}
