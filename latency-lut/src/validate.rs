//! `validate`: how well a table predicts end-to-end latency. Random
//! genotypes of the space are built as the deployed evaluation network,
//! measured whole on the table's own backend, and compared with `predict`.
//!
//! Each network is timed alternately with the reference workload, so its
//! measurement is a ratio to the reference in the same moments, the unit
//! the table's entries were measured in: the host's speed at the time of
//! the profile and now cancels out (docs/algorithms.md §4.2). Every network
//! is measured in two passes, one after the other over all networks, so
//! the run also measures how far a ratio moves between two measurements,
//! and the calibration's first networks are measured again, so it sees
//! how far the host's state moved since the profile in a way the
//! reference does not cancel ([`crate::noise`]). Above
//! [`MAX_REPEAT_NOISE_PCT`] or [`MAX_PROFILE_SHIFT_PCT`] the verdict is
//! that the statistics cannot be claimed.

use arch::genotype::{Genotype, random_genotype};
use arch::space::{OpSpace, Relaxation};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::LutError;
use crate::measure::{Backends, Timed};
use crate::noise::{HostNoise, Passes, pooled, profile_shift_pct};
use crate::predict::predict;
use crate::stats::{Stats, kendall, rmse_pct, spearman, within_pct};
use crate::table::{Calibration, LUT_SCHEMA_V1, Lut};
use crate::template::Template;

/// The largest repeat noise (percent, [`crate::noise`]) at which a
/// validation's statistics are claimed: a network's measured ratio then
/// moves by less than a third of the ±10 % band. See docs/algorithms.md
/// §4.2 for the measurements behind it.
pub const MAX_REPEAT_NOISE_PCT: f64 = 3.0;

/// The largest shift (percent, [`crate::noise`]) of the calibration's
/// networks since the table was calibrated at which a validation's
/// statistics are claimed. Accurate runs shifted by at most 2.9 %, the
/// first inaccurate one by 4.2 % (docs/algorithms.md §4.2).
pub const MAX_PROFILE_SHIFT_PCT: f64 = 4.0;

/// How many of the calibration's networks `validate` measures again.
pub const CONTROL_NETWORKS: usize = 10;

/// One sampled architecture.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sample {
    pub genotype: Genotype,
    /// The table's prediction (ms, in the table's unit: the reference
    /// workload's speed while the table was profiled).
    pub predicted_ms: f64,
    /// The network's milliseconds as measured now, both passes.
    pub measured: Stats,
    /// The network's per-round ratios to the reference workload, both
    /// passes (tables with a reference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<Stats>,
    /// The reference's median over the network's rounds (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_ms: Option<f64>,
    /// The median of each pass: a ratio, or milliseconds without a
    /// reference.
    pub passes: Passes,
    /// The measurement in the table's unit: the median ratio times the
    /// table's reference time (ms); the median milliseconds without a
    /// reference.
    pub measured_ms: f64,
    /// (predicted − measured) / measured in the table's unit, percent.
    pub error_pct: f64,
}

/// Whether the host was quiet enough for a validation's statistics to mean
/// what they say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub measurable: bool,
    /// The repeat noise measured (percent), when there is one.
    pub noise_pct: Option<f64>,
    /// The largest repeat noise accepted (percent).
    pub threshold_pct: f64,
    /// How far the calibration's networks moved since the table was
    /// calibrated (percent), when the table has them.
    pub profile_shift_pct: Option<f64>,
    /// The largest shift accepted (percent).
    pub profile_shift_threshold_pct: f64,
    /// Why, in words.
    pub reason: String,
}

impl Verdict {
    /// The verdict on a run with this noise (`None`: measured without a
    /// reference workload, so nothing cancels the host's state).
    pub fn of(noise: Option<&HostNoise>) -> Self {
        let noise_pct = noise.and_then(|n| n.repeat_noise_pct);
        let shift = noise.and_then(|n| n.profile_shift_pct);
        let (measurable, reason) = match (noise_pct, shift) {
            (None, _) => (
                false,
                "measured without the reference workload: the host's speed is neither cancelled nor measured".to_string(),
            ),
            (Some(pct), _) if pct > MAX_REPEAT_NOISE_PCT => (
                false,
                format!(
                    "a network's ratio to the reference moved by {pct:.1} % between two passes, more than the {MAX_REPEAT_NOISE_PCT} % at which ±10 % can be told apart: the host is too noisy to measure the table's accuracy; run again when it is quieter"
                ),
            ),
            (Some(_), Some(shift)) if shift > MAX_PROFILE_SHIFT_PCT => (
                false,
                format!(
                    "the calibration's networks moved by {shift:.1} % against the reference since the table was calibrated, more than {MAX_PROFILE_SHIFT_PCT} %: the host's state now is not the profile's in a way the reference does not cancel (a neighbour on the same core, another load), so the comparison would measure the host, not the table; run again in the profile's conditions, or profile again"
                ),
            ),
            (Some(pct), Some(shift)) => (
                true,
                format!(
                    "a network's ratio to the reference moved by {pct:.1} % between two passes (at most {MAX_REPEAT_NOISE_PCT} %) and the calibration's networks by {shift:.1} % since the table was calibrated (at most {MAX_PROFILE_SHIFT_PCT} %)"
                ),
            ),
            (Some(pct), None) => (
                true,
                format!(
                    "a network's ratio to the reference moved by {pct:.1} % between two passes (at most {MAX_REPEAT_NOISE_PCT} %); the table has no calibration networks, so the host's state was not compared with the profile's"
                ),
            ),
        };
        Self {
            measurable,
            noise_pct,
            threshold_pct: MAX_REPEAT_NOISE_PCT,
            profile_shift_pct: shift,
            profile_shift_threshold_pct: MAX_PROFILE_SHIFT_PCT,
            reason,
        }
    }
}

/// What a validation or calibration compares its predictions in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Units {
    /// Ratios to the reference workload, as milliseconds at the table's
    /// reference time.
    Reference,
    /// Milliseconds as measured (tables without a reference workload).
    Ms,
}

/// The statistics nn-Meter reports, over all samples.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidationReport {
    pub samples: usize,
    pub spearman: f64,
    pub kendall: f64,
    pub rmse_pct: f64,
    /// Share of architectures predicted within ±10 % (percent).
    pub within_10pct: f64,
    /// Mean signed error (percent): > 0 means the table over-predicts.
    pub mean_error_pct: f64,
    /// The measured networks' medians now, in milliseconds.
    pub measured_min_ms: f64,
    pub measured_max_ms: f64,
    /// Whether the table's calibration was applied.
    pub calibrated: bool,
    pub units: Units,
    /// The host's noise during the run.
    pub noise: Option<HostNoise>,
    pub verdict: Verdict,
    pub rows: Vec<Sample>,
    /// The calibration's networks measured again (not in the statistics).
    pub controls: Vec<Sample>,
}

/// Samples `n` genotypes (cycling through DARTS, I-DARTS and XDARTS cells so
/// that the sizes spread), measures each in two passes with the first
/// [`CONTROL_NETWORKS`] networks of the table's calibration, compares, and
/// gives the verdict on the host's noise.
pub fn validate(
    lut: &Lut,
    backends: &Backends,
    n: usize,
    seed: u64,
    on_sample: &mut dyn FnMut(usize, usize),
) -> Result<ValidationReport, LutError> {
    if n < 2 {
        return Err(LutError::Runtime(
            "validate needs at least 2 samples".into(),
        ));
    }
    if let Some(c) = &lut.calibration
        && c.seed == seed
    {
        return Err(LutError::Runtime(format!(
            "seed {seed} sampled the calibration set; validate on other architectures (--seed)"
        )));
    }
    // The calibration's first networks are measured again, in the same
    // passes: how far they moved since the table was calibrated says
    // whether the host's state now compares with the profile's.
    let controls = match &lut.calibration {
        Some(c) => {
            let k = CONTROL_NETWORKS.min(c.measured_ms.len());
            draw(&lut.template, c.samples, c.seed)
                .into_iter()
                .take(k)
                .zip(c.measured_ms.iter().copied())
                .collect()
        }
        None => Vec::new(),
    };
    let (control_genotypes, then): (Vec<Genotype>, Vec<f64>) = controls.into_iter().unzip();
    let mut genotypes = draw(&lut.template, n, seed);
    genotypes.extend(control_genotypes);
    let Measurement {
        mut rows,
        mut noise,
        units,
    } = measure(lut, backends, genotypes, on_sample)?;
    let controls = rows.split_off(n);
    if let Some(noise) = &mut noise
        && !controls.is_empty()
    {
        let now: Vec<f64> = controls.iter().map(|r| r.measured_ms).collect();
        noise.profile_shift_pct = Some(profile_shift_pct(&now, &then));
    }
    let p: Vec<f64> = rows.iter().map(|r| r.predicted_ms).collect();
    let m: Vec<f64> = rows.iter().map(|r| r.measured_ms).collect();
    let now: Vec<f64> = rows.iter().map(|r| r.measured.median).collect();
    Ok(ValidationReport {
        samples: n,
        spearman: spearman(&p, &m),
        kendall: kendall(&p, &m),
        rmse_pct: rmse_pct(&p, &m),
        within_10pct: within_pct(&p, &m, 0.10),
        mean_error_pct: rows.iter().map(|r| r.error_pct).sum::<f64>() / n as f64,
        measured_min_ms: now.iter().copied().fold(f64::INFINITY, f64::min),
        measured_max_ms: now.iter().copied().fold(0.0, f64::max),
        calibrated: lut.calibration.is_some(),
        units,
        verdict: Verdict::of(noise.as_ref()),
        noise,
        rows,
        controls,
    })
}

/// Fits `measured ≈ scale · sum + offset` (least squares on relative
/// error, so small and large networks weigh alike) on `n` architectures
/// sampled with `seed`, and returns the calibration.
pub fn calibrate(
    lut: &Lut,
    backends: &Backends,
    n: usize,
    seed: u64,
    on_sample: &mut dyn FnMut(usize, usize),
) -> Result<Calibration, LutError> {
    if n < 3 {
        return Err(LutError::Runtime(
            "calibrate needs at least 3 samples".into(),
        ));
    }
    let mut raw = lut.clone();
    raw.calibration = None;
    let genotypes = draw(&lut.template, n, seed);
    let Measurement { rows, noise, .. } = measure(&raw, backends, genotypes, on_sample)?;
    let points: Vec<(f64, f64)> = rows
        .iter()
        .map(|r| (r.predicted_ms, r.measured_ms))
        .collect();
    let (scale, offset_ms) = fit(&points)?;
    let fitted: Vec<f64> = rows
        .iter()
        .map(|r| scale * r.predicted_ms + offset_ms)
        .collect();
    let measured: Vec<f64> = rows.iter().map(|r| r.measured_ms).collect();
    Ok(Calibration {
        scale,
        offset_ms,
        samples: n,
        seed,
        fit_rmse_pct: rmse_pct(&fitted, &measured),
        noise,
        measured_ms: measured,
    })
}

/// The weighted least-squares fit `measured ≈ scale · predicted + offset`
/// (weights 1/m²: minimizes Σ ((a·x + b − m)/m)²) of `(predicted,
/// measured)` points. A fit whose scale is not positive (measured latency
/// not growing with the table's sum over these samples) is an error: such a
/// calibration would turn cheaper networks into slower predictions, and
/// the table loader refuses it.
pub fn fit(points: &[(f64, f64)]) -> Result<(f64, f64), LutError> {
    let (mut sxx, mut sx, mut s1, mut sxm, mut sm) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &(x, m) in points {
        let w = 1.0 / (m * m);
        sxx += w * x * x;
        sx += w * x;
        s1 += w;
        sxm += w * x * m;
        sm += w * m;
    }
    let det = sxx * s1 - sx * sx;
    if !det.is_finite() || det.abs() < f64::EPSILON {
        return Err(LutError::Runtime("calibration: degenerate sample".into()));
    }
    let scale = (sxm * s1 - sx * sm) / det;
    let offset_ms = (sxx * sm - sx * sxm) / det;
    if !(scale.is_finite() && scale > 0.0 && offset_ms.is_finite()) {
        return Err(LutError::Runtime(format!(
            "calibration: the fit over {} networks gives scale {scale:.4} and offset {offset_ms:.4} ms: the measured latency does not grow with the table's prediction (the networks' spread is below this machine's timing noise, or a fixed cost dominates); nothing was written — measure again on a quieter machine or with more --samples",
            points.len()
        )));
    }
    Ok((scale, offset_ms))
}

/// The samples of a validation or calibration and the host's noise.
struct Measurement {
    rows: Vec<Sample>,
    noise: Option<HostNoise>,
    units: Units,
}

/// `n` random genotypes of `template`'s space drawn with `seed`, cycling
/// through DARTS, I-DARTS and XDARTS cells so that the sizes spread.
fn draw(template: &Template, n: usize, seed: u64) -> Vec<Genotype> {
    let space = OpSpace::from_ops(template.ops.clone());
    let mut rng = StdRng::seed_from_u64(seed);
    let relaxations = [Relaxation::Darts, Relaxation::IDarts, Relaxation::XDarts];
    (0..n)
        .map(|i| {
            let relaxation = relaxations[i % relaxations.len()];
            random_genotype(relaxation, template.nodes, &space, &mut |k| {
                rng.random_range(0..k)
            })
        })
        .collect()
}

/// Measures the deployed network of every genotype on the table's backend
/// and compares it with the table's prediction.
fn measure(
    lut: &Lut,
    backends: &Backends,
    genotypes: Vec<Genotype>,
    on_sample: &mut dyn FnMut(usize, usize),
) -> Result<Measurement, LutError> {
    if lut.schema_version == LUT_SCHEMA_V1 {
        return Err(LutError::WithoutReference);
    }
    let backend = backends.for_profile(&lut.device.profile)?;
    // Predictions of one machine's table against another machine's
    // measurements mean little; say so rather than refuse (a table is
    // sometimes checked on a twin board on purpose).
    let here = backend.describe(&lut.device.profile).host;
    if here != lut.device.host {
        log::warn!(
            "the table was measured on {} ({} cores, {}), the networks now on {} ({} cores, {})",
            lut.device.host.cpu_model,
            lut.device.host.cores,
            lut.device.host.os,
            here.cpu_model,
            here.cores,
            here.os
        );
    }
    let config = lut.template.deploy_network();
    let n = genotypes.len();
    // Two passes over all networks, each with half the profile's repeats:
    // the second measures every network again, a pass later.
    let profile = &lut.device.profile;
    let repeats = profile.repeats.div_ceil(2);
    let mut passes: [Vec<Timed>; 2] = [Vec::with_capacity(n), Vec::with_capacity(n)];
    for (pass, timed) in passes.iter_mut().enumerate() {
        for (i, genotype) in genotypes.iter().enumerate() {
            on_sample(pass * n + i, 2 * n);
            timed.push(backend.measure_network(genotype, &config, profile, repeats)?);
        }
    }
    on_sample(2 * n, 2 * n);
    let [first, second] = passes;
    let mut rows = Vec::with_capacity(n);
    for ((genotype, a), b) in genotypes.into_iter().zip(first).zip(second) {
        let predicted = predict(lut, &genotype, &config)?.total_ms;
        let unit = lut.reference.as_ref().map(|r| r.median_ms);
        let row = Sample::compare(genotype, predicted, [&a, &b], unit).ok_or_else(|| {
            LutError::Runtime(format!(
                "the table's entries are ratios to the reference workload, but the {} backend timed the networks without it",
                profile.backend.name()
            ))
        })?;
        rows.push(row);
    }
    let (noise, units) = match &lut.reference {
        Some(_) => {
            let medians: Vec<f64> = rows.iter().filter_map(|r| r.reference_ms).collect();
            let spreads: Vec<f64> = rows
                .iter()
                .filter_map(|r| r.ratio.map(|s| s.spread()))
                .collect();
            let passes: Vec<Passes> = rows.iter().map(|r| r.passes).collect();
            (
                HostNoise::of(&medians, &spreads, Some(&passes)),
                Units::Reference,
            )
        }
        None => (None, Units::Ms),
    };
    Ok(Measurement { rows, noise, units })
}

impl Sample {
    /// The comparison of `predicted` (ms in the table's unit) with a
    /// network measured in two `passes`. With `unit`, the table's reference
    /// time (ms), the measurement is the median per-round ratio to the
    /// reference over both passes, times `unit`: what the network costs at
    /// the speed the table was profiled at, whatever the host's speed now.
    /// Without it, the median milliseconds. `None` when the table has a
    /// unit but a pass was timed without the reference.
    pub fn compare(
        genotype: Genotype,
        predicted_ms: f64,
        passes: [&Timed; 2],
        unit: Option<f64>,
    ) -> Option<Self> {
        let [a, b] = passes;
        let measured = pooled(&a.times_ms, &b.times_ms);
        let median = |values: &[f64]| Stats::from_samples(values).median;
        let (ratio, reference_ms, passes, measured_ms) = match unit {
            Some(unit) => {
                let (ra, rb) = (a.ratios()?, b.ratios()?);
                let ratio = pooled(&ra, &rb);
                let reference = pooled(a.reference_ms.as_deref()?, b.reference_ms.as_deref()?);
                let passes = Passes {
                    first: median(&ra),
                    second: median(&rb),
                };
                (
                    Some(ratio),
                    Some(reference.median),
                    passes,
                    ratio.median * unit,
                )
            }
            None => {
                let passes = Passes {
                    first: median(&a.times_ms),
                    second: median(&b.times_ms),
                };
                (None, None, passes, measured.median)
            }
        };
        Some(Self {
            error_pct: (predicted_ms - measured_ms) / measured_ms * 100.0,
            genotype,
            predicted_ms,
            measured,
            ratio,
            reference_ms,
            passes,
            measured_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arch::space::ZeroConfig;

    fn genotype() -> Genotype {
        let space = OpSpace::darts(ZeroConfig::V1);
        random_genotype(
            Relaxation::Darts,
            4,
            &space,
            &mut arch::genotype::seeded_picker(0),
        )
    }

    /// A network timed with the reference: `network` ms and `reference` ms
    /// per round, both scaled by the host's `speed` factor.
    fn timed(network: &[f64], reference: &[f64], slowdown: f64) -> Timed {
        Timed {
            times_ms: network.iter().map(|t| t * slowdown).collect(),
            reference_ms: Some(reference.iter().map(|t| t * slowdown).collect()),
        }
    }

    #[test]
    fn a_comparison_in_the_reference_unit_cancels_the_host_speed() {
        // The table was profiled with the reference at 0.2 ms; the network
        // costs 2.5 references. Now the host runs 1.6× slower in the second
        // pass (a speed state switch): its milliseconds move, its ratio not.
        let (network, reference) = ([0.5, 0.52, 0.5], [0.2, 0.2, 0.21]);
        let quick = timed(&network, &reference, 1.0);
        let slow = timed(&network, &reference, 1.6);
        let row = Sample::compare(genotype(), 0.5, [&quick, &slow], Some(0.2)).unwrap();
        assert!((row.measured_ms - 0.5).abs() < 1e-12, "{row:?}");
        assert!(row.error_pct.abs() < 1e-9);
        assert!((row.passes.first - row.passes.second).abs() < 1e-12);
        assert_eq!(row.ratio.unwrap().count, 6);
        // The milliseconds are reported as measured, both passes pooled.
        assert!(row.measured.median > 0.5 && row.reference_ms.unwrap() > 0.2);
        // The same network now measured 10 % slower than the reference
        // predicts it: an error of −1/1.1.
        let heavier = timed(&[0.55, 0.572, 0.55], &reference, 1.0);
        let row = Sample::compare(genotype(), 0.5, [&heavier, &heavier], Some(0.2)).unwrap();
        assert!((row.error_pct - (0.5 / 0.55 - 1.0) * 100.0).abs() < 1e-9);
    }

    #[test]
    fn without_a_unit_the_milliseconds_are_compared() {
        let alone = Timed::alone(vec![0.4, 0.5, 0.6]);
        let row = Sample::compare(genotype(), 0.55, [&alone, &alone], None).unwrap();
        assert_eq!(
            (row.measured_ms, row.ratio, row.reference_ms),
            (0.5, None, None)
        );
        assert!((row.error_pct - 10.0).abs() < 1e-9);
        // A table in the reference's unit needs the reference's times.
        assert!(Sample::compare(genotype(), 0.55, [&alone, &alone], Some(0.2)).is_none());
    }

    #[test]
    fn the_fit_recovers_a_line_and_refuses_a_non_positive_scale() {
        let (scale, offset) = fit(&[(1.0, 1.7), (2.0, 3.2), (4.0, 6.2)]).unwrap();
        assert!((scale - 1.5).abs() < 1e-9 && (offset - 0.2).abs() < 1e-9);
        // Measured latency falling as the prediction grows: refused.
        let err = fit(&[(1.0, 3.0), (2.0, 2.9), (4.0, 2.5)]).unwrap_err();
        assert!(err.to_string().contains("does not grow"), "{err}");
        // One network size only: degenerate.
        assert!(fit(&[(1.0, 2.0), (1.0, 2.1)]).is_err());
    }

    #[test]
    fn the_verdict_follows_the_repeat_noise_and_the_shift() {
        let noise = |pct: f64, shift: Option<f64>| {
            let passes = [Passes {
                first: (2.0 * pct / 100.0).exp(),
                second: 1.0,
            }];
            let mut noise = HostNoise::of(&[0.2], &[0.1], Some(&passes)).unwrap();
            noise.profile_shift_pct = shift;
            noise
        };
        let quiet = Verdict::of(Some(&noise(1.0, Some(2.0))));
        assert!(quiet.measurable, "{quiet:?}");
        assert!((quiet.noise_pct.unwrap() - 1.0).abs() < 1e-9);
        assert_eq!(quiet.profile_shift_pct, Some(2.0));
        let at = MAX_REPEAT_NOISE_PCT - 1e-6;
        assert!(Verdict::of(Some(&noise(at, Some(MAX_PROFILE_SHIFT_PCT)))).measurable);
        let noisy = Verdict::of(Some(&noise(MAX_REPEAT_NOISE_PCT + 0.5, Some(0.0))));
        assert!(
            !noisy.measurable && noisy.reason.contains("too noisy"),
            "{noisy:?}"
        );
        let shifted = Verdict::of(Some(&noise(1.0, Some(MAX_PROFILE_SHIFT_PCT + 1.0))));
        assert!(
            !shifted.measurable && shifted.reason.contains("since the table was calibrated"),
            "{shifted:?}"
        );
        let uncalibrated = Verdict::of(Some(&noise(1.0, None)));
        assert!(uncalibrated.measurable && uncalibrated.reason.contains("no calibration networks"));
        let unreferenced = Verdict::of(None);
        assert!(!unreferenced.measurable && unreferenced.noise_pct.is_none());
        assert!(unreferenced.reason.contains("without the reference"));
    }
}
