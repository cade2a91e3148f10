//! `validate`: how well a table predicts end-to-end latency. Random
//! genotypes of the space are built as the deployed evaluation network,
//! measured whole on the table's own backend, and compared with `predict`.

use models::genotype::{Genotype, random_genotype};
use models::space::{OpSpace, Relaxation};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::LutError;
use crate::measure::measure_network;
use crate::predict::predict;
use crate::stats::{Stats, kendall, rmse_pct, spearman, within_pct};
use crate::table::Lut;

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
    pub rows: Vec<Sample>,
}

/// Samples `n` genotypes (cycling through DARTS, I-DARTS and XDARTS cells so
/// that the sizes spread), measures each and compares.
pub fn validate(
    lut: &Lut,
    n: usize,
    seed: u64,
    on_sample: &mut dyn FnMut(usize, usize),
) -> Result<ValidationReport, LutError> {
    if n < 2 {
        return Err(LutError::Runtime(
            "validate needs at least 2 samples".into(),
        ));
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
        let measured =
            Stats::from_samples(&measure_network(&genotype, &config, &lut.device.profile)?);
        rows.push(Sample {
            error_pct: (predicted - measured.median) / measured.median * 100.0,
            genotype,
            predicted_ms: predicted,
            measured,
        });
    }
    on_sample(n, n);
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
        rows,
    })
}
