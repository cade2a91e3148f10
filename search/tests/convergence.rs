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
    for m in &searched {
        let teacher = m
            .eval_warmup_val_accuracy
            .expect("ICDARTS measures E after its warm-up");
        // 10 classes: chance is 10 %. A teacher well below its student
        // teaches noise.
        assert!(
            teacher >= 0.8 * m.search_val_accuracy,
            "epoch {}: E at {teacher:.1} % after warm-up, S at {:.1} %",
            m.epoch,
            m.search_val_accuracy
        );
    }
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
