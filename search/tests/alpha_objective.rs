//! The α objective is open for an extra differentiable term (the latency
//! penalty δ·P(α) of docs/algorithms.md §4.3): a term passed to `run_search` must move α,
//! and only α's optimizer sees it.

use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor};
use datasets::{Dataset, Split};
use models::{Alphas, OpKind, Relaxation};
use search::progress::Silent;
use search::{AlphaPenalty, SearchConfig, run_search};

/// 64 random 1×6×6 images in 4 classes (the labels are learnable: the class
/// sets the mean brightness).
fn tiny_dataset() -> Dataset {
    let n = 64;
    let images: Vec<f32> = (0..n * 36)
        .map(|i| ((i * 7919) % 97) as f32 / 97.0 + (i / 36 % 4) as f32)
        .collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 4) as u8).collect();
    let split = Split::new(images, labels, 36);
    Dataset {
        name: "tiny".into(),
        source: "generated".into(),
        channels: 1,
        height: 6,
        width: 6,
        num_classes: 4,
        class_names: (0..4).map(|c| c.to_string()).collect(),
        train: split.clone(),
        test: split,
    }
}

/// Rewards the weight of `identity` on every edge of both cell types.
struct FavourIdentity {
    column: usize,
}

impl AlphaPenalty for FavourIdentity {
    fn penalty(&self, alphas: &Alphas, _relaxation: Relaxation) -> Tensor<1> {
        let term = |a: Tensor<2>| {
            let [edges, ops] = a.dims();
            softmax(a, 1)
                .slice([0..edges, self.column..self.column + 1])
                .sum()
                .div_scalar(ops as f64)
        };
        (term(alphas.normal.val()) + term(alphas.reduce.val())).mul_scalar(-10.0)
    }

    fn report(&self, _: &Alphas, _: Relaxation, _: &models::Genotype) -> (f64, f64) {
        (0.0, 0.0)
    }
}

fn identity_margin(alpha: &[f32], n_ops: usize, column: usize) -> f64 {
    alpha
        .chunks(n_ops)
        .map(|row| {
            let others = row.iter().enumerate().filter(|(c, _)| *c != column);
            let max_other = others.map(|(_, v)| *v).fold(f32::MIN, f32::max);
            (row[column] - max_other) as f64
        })
        .sum::<f64>()
        / (alpha.len() / n_ops) as f64
}

#[test]
fn an_extra_alpha_term_moves_alpha() {
    let data = tiny_dataset();
    let config = SearchConfig {
        channels: 4,
        layers: 3,
        nodes: 2,
        eval_channels: 4,
        eval_layers: 3,
        batch_size: 16,
        epochs: 5,
        pretrain_epochs: 0,
        warmup_epochs: 1,
        seed: 3,
        ..SearchConfig::default()
    };
    let column = config.space().position(OpKind::Identity).unwrap();
    let n_ops = config.space().len();
    let device = Device::flex().autodiff();
    let mut ignore = |_: &search::EpochMetrics| Ok(());
    let plain = run_search(&config, &data, &device, None, &Silent, &mut ignore).unwrap();
    let penalty = FavourIdentity { column };
    let favoured = run_search(
        &config,
        &data,
        &device,
        Some(&penalty),
        &Silent,
        &mut ignore,
    )
    .unwrap();

    let before = identity_margin(&plain.alpha_normal, n_ops, column);
    let after = identity_margin(&favoured.alpha_normal, n_ops, column);
    assert!(
        after > before + 1e-3,
        "the extra term should raise identity's α: margin {before} → {after}"
    );
    // Every edge now prefers identity in the genotype's normal cell.
    assert!(
        favoured
            .genotype
            .normal
            .edges
            .iter()
            .all(|e| e.op == OpKind::Identity)
    );
}
