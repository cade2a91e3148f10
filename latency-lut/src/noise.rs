//! How noisy the host was while a table or a validation was measured, and
//! whether a validation can claim its accuracy (docs/algorithms.md §4.2).
//!
//! Every key and every network is timed alternately with the reference
//! workload, round by round, so its time is known as a ratio to the
//! reference measured in the same moments. Two numbers describe the host:
//!
//! * **drift**: how far the reference's own median moved between the
//!   measured items, `(p90 − p10) / p50` over the items. This is the
//!   host's change of speed (frequency states, a neighbour's bursts) that
//!   the ratios cancel; it is reported, not held against the result.
//! * **repeat noise**: what the ratios do not cancel. Validation and
//!   calibration time every network in two passes, one after the other;
//!   the root mean square of `ln(ratio in pass 1 / ratio in pass 2)` over
//!   the networks, halved (the pooled median of two passes has about half
//!   the variance of one pass, and a difference twice it), estimates the
//!   relative error of one network's measured ratio, in percent.
//! * **profile shift**: validation also measures again the first networks
//!   of the table's calibration, which were measured in the table's unit
//!   when it was calibrated; `√(mean ln²(now / then))` over them, in
//!   percent, says whether the host's state now compares with the
//!   profile's. A neighbour that interrupts a 1 ms network more often,
//!   relatively, than the 0.24 ms reference shifts every ratio alike, which
//!   the two passes cannot see.

use serde::{Deserialize, Serialize};

use crate::stats::Stats;
use crate::table::EntryReference;
use runtime::quantile;

/// The host's noise over the items (keys or networks) of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostNoise {
    /// Keys or networks measured.
    pub items: usize,
    /// The reference workload's median per item: lowest, median, highest
    /// (ms).
    pub reference_min_ms: f64,
    pub reference_median_ms: f64,
    pub reference_max_ms: f64,
    /// `(p90 − p10) / p50` of the reference's medians per item, percent:
    /// how far the host's speed moved during the run (the ratios cancel
    /// it).
    pub drift_pct: f64,
    /// The median over items of the per-round ratios' relative spread
    /// `(p90 − p10) / p50`, percent: the noise within one item's rounds.
    pub round_spread_pct: f64,
    /// The estimated relative error (percent) of one network's measured
    /// ratio, from two passes (`None` for keys, measured once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_noise_pct: Option<f64>,
    /// How far the table's calibration networks moved since the table was
    /// calibrated, percent (validation of a calibrated table only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_shift_pct: Option<f64>,
}

/// One network measured in two passes: each pass's median value (a ratio
/// to the reference, or milliseconds without one).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Passes {
    pub first: f64,
    pub second: f64,
}

/// `(p90 − p10) / p50` of `values` in percent, with their extremes and
/// median; `None` for no values.
fn spread_of(values: &[f64]) -> Option<(f64, f64, f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = quantile(&sorted, 0.5);
    let spread = (quantile(&sorted, 0.9) - quantile(&sorted, 0.1)) / median * 100.0;
    Some((sorted[0], median, sorted[sorted.len() - 1], spread))
}

/// The estimated relative error (percent) of the pooled value of two
/// passes: `√(mean ln²(first / second)) / 2 · 100`.
pub fn repeat_noise_pct(passes: &[Passes]) -> f64 {
    if passes.is_empty() {
        return 0.0;
    }
    let mean_square = passes
        .iter()
        .map(|p| (p.first / p.second).ln().powi(2))
        .sum::<f64>()
        / passes.len() as f64;
    mean_square.sqrt() / 2.0 * 100.0
}

/// How far values measured now moved from the same items measured then:
/// `√(mean ln²(now / then)) · 100` (0 for no items).
pub fn profile_shift_pct(now: &[f64], then: &[f64]) -> f64 {
    let n = now.len().min(then.len());
    if n == 0 {
        return 0.0;
    }
    let mean_square = now
        .iter()
        .zip(then)
        .map(|(a, b)| (a / b).ln().powi(2))
        .sum::<f64>()
        / n as f64;
    mean_square.sqrt() * 100.0
}

impl HostNoise {
    /// The noise of a profile's keys, from each key's reference measurement
    /// (`None` for no keys).
    pub fn of_keys(keys: &[&EntryReference]) -> Option<Self> {
        let medians: Vec<f64> = keys.iter().map(|k| k.median_ms).collect();
        let spreads: Vec<f64> = keys.iter().map(|k| k.ratio.spread()).collect();
        Self::of(&medians, &spreads, None)
    }

    /// The noise of items with these reference medians (ms) and per-round
    /// ratio spreads (fractions), and, for networks measured twice, their
    /// passes (`None` for no items).
    pub fn of(
        reference_medians: &[f64],
        ratio_spreads: &[f64],
        passes: Option<&[Passes]>,
    ) -> Option<Self> {
        let (min, median, max, drift) = spread_of(reference_medians)?;
        let mut spreads = ratio_spreads.to_vec();
        spreads.sort_by(f64::total_cmp);
        Some(Self {
            items: reference_medians.len(),
            reference_min_ms: min,
            reference_median_ms: median,
            reference_max_ms: max,
            drift_pct: drift,
            round_spread_pct: if spreads.is_empty() {
                0.0
            } else {
                quantile(&spreads, 0.5) * 100.0
            },
            repeat_noise_pct: passes.map(repeat_noise_pct),
            profile_shift_pct: None,
        })
    }
}

/// The median of the pooled per-round values of both passes, as [`Stats`].
pub fn pooled(first: &[f64], second: &[f64]) -> Stats {
    let all: Vec<f64> = first.iter().chain(second).copied().collect();
    Stats::from_samples(&all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(median_ms: f64, ratios: &[f64]) -> EntryReference {
        EntryReference {
            ratio: Stats::from_samples(ratios),
            median_ms,
        }
    }

    #[test]
    fn the_drift_is_the_spread_of_the_reference_medians() {
        // Ten keys, the host 1.6× slower for the last three (a speed
        // state switch): the ratios do not move, the reference does.
        let keys: Vec<EntryReference> = (0..10)
            .map(|i| key(if i < 7 { 0.2 } else { 0.32 }, &[0.5, 0.5, 0.6]))
            .collect();
        let refs: Vec<&EntryReference> = keys.iter().collect();
        let noise = HostNoise::of_keys(&refs).unwrap();
        assert_eq!(noise.items, 10);
        assert_eq!(
            (noise.reference_min_ms, noise.reference_max_ms),
            (0.2, 0.32)
        );
        assert!((noise.reference_median_ms - 0.2).abs() < 1e-12);
        // p10 = 0.2, p90 = 0.32 (linear interpolation over 10 values: 0.2 + 0.1·… ).
        let mut sorted: Vec<f64> = keys.iter().map(|k| k.median_ms).collect();
        sorted.sort_by(f64::total_cmp);
        let expected = (quantile(&sorted, 0.9) - quantile(&sorted, 0.1)) / 0.2 * 100.0;
        assert!((noise.drift_pct - expected).abs() < 1e-9);
        // Each key's ratios spread by (p90 − p10) / p50 = (0.58 − 0.5) / 0.5.
        assert!((noise.round_spread_pct - 16.0).abs() < 1e-9);
        assert_eq!(noise.repeat_noise_pct, None);
        assert_eq!(HostNoise::of_keys(&[]), None);
    }

    #[test]
    fn repeat_noise_is_half_the_rms_log_ratio_of_the_passes() {
        let same = [Passes {
            first: 2.0,
            second: 2.0,
        }; 3];
        assert_eq!(repeat_noise_pct(&same), 0.0);
        // Every network 10 % apart between passes, either way round.
        let apart = [
            Passes {
                first: 1.1,
                second: 1.0,
            },
            Passes {
                first: 1.0,
                second: 1.1,
            },
        ];
        let expected = 1.1f64.ln() / 2.0 * 100.0;
        assert!((repeat_noise_pct(&apart) - expected).abs() < 1e-9);
        let noise = HostNoise::of(&[0.2, 0.2], &[0.1, 0.3], Some(&apart)).unwrap();
        assert!((noise.round_spread_pct - 20.0).abs() < 1e-9);
        assert_eq!(noise.repeat_noise_pct, Some(repeat_noise_pct(&apart)));
        assert_eq!(repeat_noise_pct(&[]), 0.0);
    }

    #[test]
    fn the_profile_shift_is_the_rms_log_ratio_of_now_and_then() {
        assert_eq!(profile_shift_pct(&[0.5, 0.7], &[0.5, 0.7]), 0.0);
        // Every control 13 % slower against the reference than when the
        // table was calibrated (a same-core neighbour's bias).
        let shift = profile_shift_pct(&[1.13, 0.565], &[1.0, 0.5]);
        assert!((shift - 1.13f64.ln() * 100.0).abs() < 1e-9);
        assert_eq!(profile_shift_pct(&[], &[]), 0.0);
    }

    #[test]
    fn pooling_keeps_every_round() {
        let s = pooled(&[1.0, 2.0], &[3.0]);
        assert_eq!((s.count, s.median), (3, 2.0));
    }
}
