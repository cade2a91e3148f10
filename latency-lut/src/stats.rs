//! Robust summary statistics of repeated timings, and the rank/error
//! statistics `validate` reports.

use runtime::quantile;
use serde::{Deserialize, Serialize};

/// Summary of repeated measurements in milliseconds (the layout of the
/// entries of committed `lut.json` tables; device-bench's reports use
/// [`runtime::LatencyStats`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub count: usize,
    pub mean: f64,
    pub median: f64,
    pub p10: f64,
    pub p90: f64,
    pub std: f64,
}

impl Stats {
    pub fn from_samples(samples: &[f64]) -> Self {
        let (sorted, mean, std) = runtime::stats::sorted_mean_std(samples);
        Self {
            count: sorted.len(),
            mean,
            median: quantile(&sorted, 0.5),
            p10: quantile(&sorted, 0.1),
            p90: quantile(&sorted, 0.9),
            std,
        }
    }
}

impl Stats {
    /// Finite, non-negative, ordered quantiles, at least one sample: what a
    /// table's loader accepts.
    pub fn is_valid(&self) -> bool {
        let finite = [self.mean, self.median, self.p10, self.p90, self.std]
            .iter()
            .all(|v| v.is_finite() && *v >= 0.0);
        finite && self.count > 0 && self.p10 <= self.median && self.median <= self.p90
    }

    /// The relative spread `(p90 − p10) / median` (0 for a zero median).
    pub fn spread(&self) -> f64 {
        if self.median > 0.0 {
            (self.p90 - self.p10) / self.median
        } else {
            0.0
        }
    }
}

/// Ranks (1-based, ties get their average rank).
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut r = vec![0.0; values.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && values[idx[j + 1]] == values[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            r[idx[k]] = avg;
        }
        i = j + 1;
    }
    r
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let ma = a.iter().sum::<f64>() / n;
    let mb = b.iter().sum::<f64>() / n;
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// Spearman's rank correlation (Pearson of the ranks).
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    pearson(&ranks(a), &ranks(b))
}

/// Kendall's τ-b.
pub fn kendall(a: &[f64], b: &[f64]) -> f64 {
    let (mut concordant, mut discordant, mut ties_a, mut ties_b) = (0f64, 0f64, 0f64, 0f64);
    for i in 0..a.len() {
        for j in i + 1..a.len() {
            let da = (a[i] - a[j]).signum() * f64::from(a[i] != a[j]);
            let db = (b[i] - b[j]).signum() * f64::from(b[i] != b[j]);
            if da == 0.0 && db == 0.0 {
                continue;
            } else if da == 0.0 {
                ties_a += 1.0;
            } else if db == 0.0 {
                ties_b += 1.0;
            } else if da == db {
                concordant += 1.0;
            } else {
                discordant += 1.0;
            }
        }
    }
    (concordant - discordant)
        / ((concordant + discordant + ties_a) * (concordant + discordant + ties_b)).sqrt()
}

/// Root mean square of the relative errors (percent) of `predicted` vs
/// `measured`.
pub fn rmse_pct(predicted: &[f64], measured: &[f64]) -> f64 {
    let n = predicted.len() as f64;
    (predicted
        .iter()
        .zip(measured)
        .map(|(p, m)| ((p - m) / m).powi(2))
        .sum::<f64>()
        / n)
        .sqrt()
        * 100.0
}

/// Share (percent) of predictions within ±`tolerance` (a fraction) of the
/// measurement.
pub fn within_pct(predicted: &[f64], measured: &[f64], tolerance: f64) -> f64 {
    let hits = predicted
        .iter()
        .zip(measured)
        .filter(|(p, m)| ((*p - *m) / *m).abs() <= tolerance)
        .count();
    100.0 * hits as f64 / predicted.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_of_known_samples() {
        let s = Stats::from_samples(&[5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!(s.count, 5);
        assert_eq!(s.median, 3.0);
        assert_eq!(s.mean, 3.0);
        assert!((s.p10 - 1.4).abs() < 1e-12);
        assert!((s.p90 - 4.6).abs() < 1e-12);
        assert!((s.std - 2f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn rank_correlations_by_hand() {
        let a = [1.0, 2.0, 3.0, 4.0];
        assert!((spearman(&a, &[10.0, 20.0, 30.0, 40.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&a, &[4.0, 3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        // One swapped pair of 6: τ = (5 − 1) / 6.
        assert!((kendall(&a, &[1.0, 3.0, 2.0, 4.0]) - 4.0 / 6.0).abs() < 1e-12);
        // Spearman with one adjacent swap: 1 − 6·2 / (4·15) = 0.8.
        assert!((spearman(&a, &[1.0, 3.0, 2.0, 4.0]) - 0.8).abs() < 1e-12);
    }

    #[test]
    fn relative_error_metrics() {
        let measured = [1.0, 2.0, 4.0, 10.0];
        let predicted = [1.05, 2.4, 4.0, 9.5];
        assert_eq!(within_pct(&predicted, &measured, 0.10), 75.0);
        let expected =
            ((0.05f64.powi(2) + 0.2f64.powi(2) + 0.0 + 0.05f64.powi(2)) / 4.0).sqrt() * 100.0;
        assert!((rmse_pct(&predicted, &measured) - expected).abs() < 1e-9);
    }
}
