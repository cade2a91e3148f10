//! Summary statistics of repeated latency measurements: the one
//! [`quantile`] every crate uses, and device-bench's [`LatencyStats`].

use serde::{Deserialize, Serialize};

/// Linear-interpolated quantile of sorted values (`q` in [0, 1]).
///
/// # Panics
/// If `sorted` is empty.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    assert!(!sorted.is_empty(), "quantile of no values");
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// `samples` sorted ascending, with their mean and population standard
/// deviation: what every summary here starts from.
pub fn sorted_mean_std(samples: &[f64]) -> (Vec<f64>, f64, f64) {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    let mean = sorted.iter().sum::<f64>() / n;
    let var = sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (sorted, mean, var.sqrt())
}

/// Latency of one workload at one batch size, in milliseconds per
/// inference (one inference = one call with the whole batch).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    /// Images per inference.
    pub batch: usize,
    /// Untimed runs before the measured ones.
    pub warmup: usize,
    /// Measured runs.
    pub count: usize,
    pub mean_ms: f64,
    pub std_ms: f64,
    pub min_ms: f64,
    pub p10_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Images per second at the median latency: `batch / p50`.
    pub throughput_ips: f64,
    /// Relative spread `(p90 − p10) / p50`: the run's own noise, which the
    /// regression gate scales its threshold with.
    pub spread: f64,
}

impl LatencyStats {
    /// Statistics of `samples` (ms per inference of `batch` images).
    ///
    /// # Panics
    /// If `samples` is empty.
    pub fn from_samples(samples: &[f64], batch: usize, warmup: usize) -> Self {
        let (sorted, mean, std) = sorted_mean_std(samples);
        let p50 = quantile(&sorted, 0.5);
        let (p10, p90) = (quantile(&sorted, 0.1), quantile(&sorted, 0.9));
        Self {
            batch,
            warmup,
            count: sorted.len(),
            mean_ms: mean,
            std_ms: std,
            min_ms: sorted[0],
            p10_ms: p10,
            p50_ms: p50,
            p90_ms: p90,
            p99_ms: quantile(&sorted, 0.99),
            max_ms: sorted[sorted.len() - 1],
            throughput_ips: if p50 > 0.0 {
                batch as f64 * 1e3 / p50
            } else {
                0.0
            },
            spread: if p50 > 0.0 { (p90 - p10) / p50 } else { 0.0 },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let s = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&s, 0.0), 1.0);
        assert_eq!(quantile(&s, 0.5), 3.0);
        assert_eq!(quantile(&s, 1.0), 5.0);
        assert!((quantile(&s, 0.1) - 1.4).abs() < 1e-12);
        assert_eq!(quantile(&[2.0, 4.0], 0.5), 3.0);
    }

    #[test]
    fn stats_of_known_samples() {
        let s = LatencyStats::from_samples(&[5.0, 1.0, 3.0, 2.0, 4.0], 2, 1);
        assert_eq!((s.count, s.batch, s.warmup), (5, 2, 1));
        assert_eq!(
            (s.min_ms, s.p50_ms, s.max_ms, s.mean_ms),
            (1.0, 3.0, 5.0, 3.0)
        );
        assert!((s.p10_ms - 1.4).abs() < 1e-12);
        assert!((s.p90_ms - 4.6).abs() < 1e-12);
        assert!((s.p99_ms - 4.96).abs() < 1e-12);
        assert!((s.std_ms - 2f64.sqrt()).abs() < 1e-12);
        assert!((s.throughput_ips - 2.0 * 1e3 / 3.0).abs() < 1e-9);
        assert!((s.spread - 3.2 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn one_sample_has_no_spread() {
        let s = LatencyStats::from_samples(&[2.0], 1, 0);
        assert_eq!(
            (s.p10_ms, s.p99_ms, s.spread, s.std_ms),
            (2.0, 2.0, 0.0, 0.0)
        );
        assert_eq!(s.throughput_ips, 500.0);
    }
}
