//! How much latency ratios move by chance: the noise a gate threshold is
//! scaled from ([`crate::gate`]), and the run-to-run range a baseline of
//! several runs records ([`crate::report::Baseline::from_runs`]).
//!
//! All in percent of the compared medians. The relative spread of one run
//! is `s = (p90 − p10) / p50`; medians of n samples are compared, not
//! single samples, and one sample's spread overstates a median's by about
//! √n, so each spread enters as `s² / n`.

use ::runtime::quantile;

/// The noise of comparing medians, percent: `√Σ s²/n` over
/// `(spread s, samples n)` of the compared runs (n at least 1).
pub fn medians_noise_pct(spreads: &[(f64, usize)]) -> f64 {
    spreads
        .iter()
        .map(|(s, n)| s * s / (*n).max(1) as f64)
        .sum::<f64>()
        .sqrt()
        * 100.0
}

/// The noise a gate threshold is scaled from, percent, given the noise of
/// the paired per-round ratios (`None` when a report predates them), that
/// of the four timings (model and calibration, now and in the baseline),
/// and whether the baseline pools several runs.
///
/// The paired ratios' spread measures the noise within a run; how far runs
/// drift apart only a pooled baseline knows (its run-to-run range is a
/// floor of the threshold). Against a single-run baseline the wider
/// four-timing estimate stays in force: two runs of one model under a busy
/// test suite moved batch-32 ratios by 16 % while their paired noise said
/// 7 %.
pub fn gate_noise_pct(paired: Option<f64>, timings: f64, pooled_baseline: bool) -> f64 {
    match (paired, pooled_baseline) {
        (Some(paired), true) => paired,
        (Some(paired), false) => paired.max(timings),
        (None, _) => timings,
    }
}

/// The median of the ratios of several runs and their range
/// `(max − min) / median` in percent.
///
/// # Panics
/// If `ratios` is empty.
pub fn median_and_range_pct(ratios: &[f64]) -> (f64, f64) {
    let mut sorted = ratios.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = quantile(&sorted, 0.5);
    let range = (sorted[sorted.len() - 1] - sorted[0]) / median * 100.0;
    (median, range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_of_medians_and_of_the_gate() {
        let n = medians_noise_pct(&[(0.3, 9), (0.4, 16), (0.1, 0)]);
        assert!((n - (0.01f64 + 0.01 + 0.01).sqrt() * 100.0).abs() < 1e-9);
        assert_eq!(gate_noise_pct(Some(2.0), 5.0, true), 2.0);
        assert_eq!(gate_noise_pct(Some(2.0), 5.0, false), 5.0);
        assert_eq!(gate_noise_pct(None, 5.0, true), 5.0);
    }

    #[test]
    fn median_and_range_of_runs() {
        let (median, range) = median_and_range_pct(&[2.2, 2.0, 2.1]);
        assert!((median - 2.1).abs() < 1e-12);
        assert!((range - 0.2 / 2.1 * 100.0).abs() < 1e-9);
    }
}
