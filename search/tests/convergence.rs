//! The default search must search (docs/algorithms.md §3): on the embedded
//! digits at the default settings, each rebuilt teacher E is trained when
//! it starts teaching, and α leaves its initialization far enough that the
//! genotype is not noise.

use search::progress::Silent;
use search::{SearchConfig, run_search, training_device};

#[test]
fn the_default_digits_search_trains_its_teachers_and_moves_alpha() {
    let data = datasets::load("builtin:digits").unwrap();
    let config = SearchConfig::default();
    let device = training_device(search::Backend::Flex).unwrap();
    let outcome = run_search(&config, &data, &device, None, &Silent, &mut |_| Ok(())).unwrap();
    let searched: Vec<_> = outcome
        .metrics
        .iter()
        .filter(|m| m.phase == "search")
        .collect();
    assert_eq!(searched.len(), config.epochs);
    // 10 classes: chance is 10 %. A teacher well below its student teaches
    // noise. Measured on seeds 0–2 (`edgenas search --seed S`), E/S after
    // warm-up per search epoch was 0.70–0.96 before the per-epoch reseeding
    // of burn's generator (checkpoints) and 0.80–1.02 after; the minimum
    // over a run was 0.88/0.70/0.84 and 0.797/0.89/0.86. So "≥ 0.8 × S in
    // every epoch" holds in 4 of 6 runs, not robustly (issue 14). What
    // holds in all six, and is asserted: every teacher ≥ 0.7 × S, and
    // ≥ 0.8 × S on average over the search.
    let ratios: Vec<f64> = searched
        .iter()
        .map(|m| {
            let teacher = m
                .eval_warmup_val_accuracy
                .expect("ICDARTS measures E after its warm-up");
            teacher / m.search_val_accuracy
        })
        .collect();
    for (m, r) in searched.iter().zip(&ratios) {
        assert!(
            *r >= 0.7,
            "epoch {}: E at {:.2} × S after warm-up (S at {:.1} %)",
            m.epoch,
            r,
            m.search_val_accuracy
        );
    }
    let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
    assert!(mean >= 0.8, "E at {mean:.2} × S on average after warm-up");
    let last = searched.last().unwrap();
    for (cell, std) in [
        ("normal", last.alpha_std_normal),
        ("reduce", last.alpha_std_reduce),
    ] {
        assert!(std >= 0.02, "final σ_α of the {cell} cell is {std:.4}");
    }
    assert!(
        (outcome.lr_alpha - 3e-4 * 10_000.0 / 92.0).abs() < 1e-9,
        "α's rate is scaled to the 92 α steps of this search: {}",
        outcome.lr_alpha
    );
}
