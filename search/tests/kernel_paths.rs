//! A seeded search finds the same α, bit for bit, and so the same genotype
//! on the custom kernels as on burn's own ops (`EDGENAS_REFERENCE_KERNELS`):
//! the kernels compute burn's values exactly (models/tests/kernels.rs), and
//! this checks that nothing else in a whole search — pretraining, α and
//! weight steps, E's rebuilds and warm-ups, BatchNorm statistics,
//! FactorizedReduce, the pools — depends on the kernel choice. A search is
//! chaotic: before the kernels matched burn to the bit, the two paths'
//! default digits searches shared 1–3 of 8 edges per cell
//! (docs/results/search-convergence.md).
//!
//! One test only: the kernel choice is process-wide.

mod common;

use search::progress::Silent;
use search::{SearchConfig, run_search, training_device};

#[test]
fn the_kernel_paths_search_to_the_same_alpha_bit_for_bit() {
    let data = datasets::load("builtin:digits").unwrap();
    // Every op of the DARTS space in 4-node cells, two search epochs (two
    // rebuilds of E); small enough for a test.
    let config = SearchConfig {
        nodes: 4,
        epochs: 2,
        hessian_iterations: 0,
        ..common::tiny_search(3)
    };
    let device = training_device(search::Backend::Flex).unwrap();
    let search = |reference: bool| {
        models::kernels::use_reference_kernels(reference);
        let outcome = run_search(&config, &data, &device, None, &Silent, &mut |_| Ok(())).unwrap();
        models::kernels::use_reference_kernels(false);
        outcome
    };
    let (custom, burn) = (search(false), search(true));
    let same_bits = |what: &str, a: &[f32], b: &[f32]| {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        let differ: Vec<_> = (0..a.len())
            .filter(|&i| a[i].to_bits() != b[i].to_bits())
            .collect();
        assert!(
            differ.is_empty(),
            "{what}: {} of {} values differ between the kernel paths (first at {}: {} vs burn's {})",
            differ.len(),
            a.len(),
            differ[0],
            a[differ[0]],
            b[differ[0]]
        );
    };
    same_bits("normal α", &custom.alpha_normal, &burn.alpha_normal);
    same_bits("reduce α", &custom.alpha_reduce, &burn.alpha_reduce);
    assert_eq!(custom.genotype, burn.genotype);
    for (c, b) in custom.metrics.iter().zip(&burn.metrics) {
        assert_eq!(
            c.search_val_accuracy.to_bits(),
            b.search_val_accuracy.to_bits()
        );
    }
    // α moved: the comparison is not between two initializations.
    let spread = |a: &[f32]| {
        let mean = a.iter().sum::<f32>() / a.len() as f32;
        a.iter().map(|v| (v - mean).abs()).fold(0.0, f32::max)
    };
    assert!(spread(&custom.alpha_normal) > 0.05, "α stayed at its start");
}
