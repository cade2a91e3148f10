//! `validate`: how well a table predicts end-to-end latency. Random
//! genotypes of the space are built as the deployed evaluation network,
//! measured whole on the table's own backend, and compared with `predict`.

use arch::genotype::{Genotype, random_genotype};
use arch::space::{OpSpace, Relaxation};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::LutError;
use crate::measure::Backends;
use crate::predict::predict;
use crate::stats::{Stats, kendall, rmse_pct, spearman, within_pct};
use crate::table::{Calibration, Lut};

/// One sampled architecture.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sample {
    pub genotype: Genotype,
    pub predicted_ms: f64,
    pub measured: Stats,
    /// (predicted − measured) / measured, percent.
    pub error_pct: f64,
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
    pub measured_min_ms: f64,
    pub measured_max_ms: f64,
    /// Whether the table's calibration was applied.
    pub calibrated: bool,
    pub rows: Vec<Sample>,
}

/// Samples `n` genotypes (cycling through DARTS, I-DARTS and XDARTS cells so
/// that the sizes spread), measures each and compares.
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
    let rows = sample_and_measure(lut, backends, n, seed, on_sample)?;
    let p: Vec<f64> = rows.iter().map(|r| r.predicted_ms).collect();
    let m: Vec<f64> = rows.iter().map(|r| r.measured.median).collect();
    Ok(ValidationReport {
        samples: n,
        spearman: spearman(&p, &m),
        kendall: kendall(&p, &m),
        rmse_pct: rmse_pct(&p, &m),
        within_10pct: within_pct(&p, &m, 0.10),
        mean_error_pct: rows.iter().map(|r| r.error_pct).sum::<f64>() / n as f64,
        measured_min_ms: m.iter().copied().fold(f64::INFINITY, f64::min),
        measured_max_ms: m.iter().copied().fold(0.0, f64::max),
        calibrated: lut.calibration.is_some(),
        rows,
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
    let rows = sample_and_measure(&raw, backends, n, seed, on_sample)?;
    let points: Vec<(f64, f64)> = rows
        .iter()
        .map(|r| (r.predicted_ms, r.measured.median))
        .collect();
    let (scale, offset_ms) = fit(&points)?;
    let fitted: Vec<f64> = rows
        .iter()
        .map(|r| scale * r.predicted_ms + offset_ms)
        .collect();
    let measured: Vec<f64> = rows.iter().map(|r| r.measured.median).collect();
    Ok(Calibration {
        scale,
        offset_ms,
        samples: n,
        seed,
        fit_rmse_pct: rmse_pct(&fitted, &measured),
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

fn sample_and_measure(
    lut: &Lut,
    backends: &Backends,
    n: usize,
    seed: u64,
    on_sample: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Sample>, LutError> {
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
    let template = &lut.template;
    let space = OpSpace::from_ops(template.ops.clone());
    let config = template.deploy_network();
    let mut rng = StdRng::seed_from_u64(seed);
    let relaxations = [Relaxation::Darts, Relaxation::IDarts, Relaxation::XDarts];
    let mut rows = Vec::with_capacity(n);
    for i in 0..n {
        on_sample(i, n);
        let relaxation = relaxations[i % relaxations.len()];
        let genotype = random_genotype(relaxation, template.nodes, &space, &mut |k| {
            rng.random_range(0..k)
        });
        let predicted = predict(lut, &genotype, &config)?.total_ms;
        let measured = Stats::from_samples(&backend.measure_network(
            &genotype,
            &config,
            &lut.device.profile,
        )?);
        rows.push(Sample {
            error_pct: (predicted - measured.median) / measured.median * 100.0,
            genotype,
            predicted_ms: predicted,
            measured,
        });
    }
    on_sample(n, n);
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::fit;

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
}
