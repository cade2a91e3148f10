//! Random search (docs/algorithms.md §3): reproducible from its seed, it
//! returns the candidate best on `val`, and under a latency budget it draws
//! only genotypes predicted within it.

mod common;

use burn::tensor::Tensor;
use models::{Alphas, Genotype, OpKind, Relaxation};
use search::progress::Silent;
use search::{Algo, AlphaPenalty, PenaltyKind, PenaltySettings, SearchConfig, run_search};

fn tiny(seed: u64) -> SearchConfig {
    SearchConfig {
        algo: Algo::Random,
        random_candidates: 3,
        epochs: 1,
        ..common::tiny_search(seed)
    }
}

/// "Latency": 1 ms per separable convolution in the normal cell, under a
/// budget of 1 ms.
struct SepCount;

impl AlphaPenalty for SepCount {
    fn expected(&self, alphas: &Alphas, _: Relaxation) -> Tensor<1> {
        alphas.normal.val().sum().mul_scalar(0.0)
    }
    fn predicted_ms(&self, g: &Genotype) -> f64 {
        g.normal
            .edges
            .iter()
            .filter(|e| matches!(e.op, OpKind::SepConv3x3 | OpKind::SepConv5x5))
            .count() as f64
    }
    fn settings(&self) -> Option<PenaltySettings> {
        Some(PenaltySettings::new(0.0, PenaltyKind::Algo3, false).with_budget(Some(1.0)))
    }
}

#[test]
fn random_search_is_reproducible_and_keeps_the_best_candidate() {
    let data = datasets::load("builtin:digits").unwrap();
    let device = search::training_device(search::Backend::Flex).unwrap();
    let run = |config: &SearchConfig, penalty: Option<&dyn AlphaPenalty>| {
        run_search(config, &data, &device, penalty, &Silent, &mut |_| Ok(())).unwrap()
    };
    let first = run(&tiny(4), None);
    assert_eq!(first.metrics.len(), 3, "one line per candidate");
    assert!(first.metrics.iter().all(|m| m.phase == "random"));
    let best = first
        .metrics
        .iter()
        .map(|m| m.search_val_accuracy)
        .fold(f64::MIN, f64::max);
    let chosen = first
        .metrics
        .iter()
        .find(|m| m.search_val_accuracy == best)
        .unwrap();
    assert_eq!(
        first.genotype, chosen.genotype,
        "the first of the best on val"
    );
    let distinct: std::collections::HashSet<String> = first
        .metrics
        .iter()
        .map(|m| m.genotype.to_string())
        .collect();
    assert_eq!(distinct.len(), 3, "three different draws");

    let again = run(&tiny(4), None);
    assert_eq!(again.genotype, first.genotype);
    for (a, b) in again.metrics.iter().zip(&first.metrics) {
        assert_eq!(a.search_val_accuracy, b.search_val_accuracy);
        assert_eq!(a.loss_search_train.to_bits(), b.loss_search_train.to_bits());
    }

    let budgeted = run(&tiny(4), Some(&SepCount));
    for m in &budgeted.metrics {
        assert!(
            m.predicted_latency_ms.is_some_and(|ms| ms <= 1.0),
            "a draw over the budget: {:?}",
            m.predicted_latency_ms
        );
    }
}
