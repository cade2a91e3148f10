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
    fn expected(&self, alphas: &Alphas, _relaxation: Relaxation) -> Tensor<1> {
        let term = |a: Tensor<2>| {
            let [edges, ops] = a.dims();
            softmax(a, 1)
                .slice([0..edges, self.column..self.column + 1])
                .sum()
                .div_scalar(ops as f64)
        };
        (term(alphas.normal.val()) + term(alphas.reduce.val())).mul_scalar(-10.0)
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

/// A search small enough for the tiny data: C = 4, L = 3, N = 2, no
/// pretraining, one warm-up epoch.
fn tiny_config(epochs: usize, seed: u64) -> SearchConfig {
    SearchConfig {
        channels: 4,
        layers: 3,
        nodes: 2,
        eval_channels: 4,
        eval_layers: 3,
        batch_size: 16,
        epochs,
        pretrain_epochs: 0,
        warmup_epochs: 1,
        seed,
        ..SearchConfig::default()
    }
}

#[test]
fn an_extra_alpha_term_moves_alpha() {
    let data = tiny_dataset();
    let config = tiny_config(5, 3);
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

/// A table whose costs grow with the op's arithmetic (a stand-in for a
/// measured one: the budget logic only needs consistent predictions).
fn synthetic_table(config: &SearchConfig) -> (latency_lut::Lut, latency_lut::Template) {
    let template = latency_lut::template_for(
        config,
        1,
        6,
        4,
        artifacts::NetSize {
            channels: config.eval_channels,
            layers: config.eval_layers,
        },
    );
    let lut = latency_lut::Lut::synthetic(&template, |k| {
        let per_op = match k.op.as_str() {
            "sep_conv_5x5" => 5.0,
            "sep_conv_3x3" => 3.0,
            "dil_conv_5x5" => 4.0,
            "dil_conv_3x3" => 2.0,
            "max_pool_3x3" | "avg_pool_3x3" => 0.5,
            "identity" => 0.1,
            _ => 0.3,
        };
        1e-3 * per_op * (k.c_in * k.h_in * k.w_in) as f64
    });
    (lut, template)
}

#[test]
fn a_budget_search_ends_within_budget_and_logs_every_alpha_step() {
    use artifacts::{PenaltyKind, PenaltySettings};
    use search::latency::LatencyPenalty;
    let data = tiny_dataset();
    let config = tiny_config(3, 5);
    let (lut, template) = synthetic_table(&config);
    let device = Device::flex().autodiff();
    let fixed = LatencyPenalty::new(
        lut.clone(),
        &template,
        &PenaltySettings::new(0.0, PenaltyKind::Algo3, false),
    )
    .unwrap();
    let mut ignore = |_: &search::EpochMetrics| Ok(());
    let plain = run_search(&config, &data, &device, Some(&fixed), &Silent, &mut ignore).unwrap();
    let unconstrained = fixed.predict(&plain.genotype).unwrap();
    let space = config.space();
    let (_, fastest) =
        models::repair::cheapest(config.relaxation, config.nodes, &space, &mut |g| {
            Ok::<f64, std::convert::Infallible>(fixed.predict(g).unwrap())
        })
        .unwrap();
    assert!(fastest < unconstrained, "{fastest} vs {unconstrained}");

    // A budget halfway between the fastest genotype and the unconstrained
    // result binds.
    let budget = fastest + 0.5 * (unconstrained - fastest);
    let settings = PenaltySettings::new(0.0, PenaltyKind::Algo3, false).with_budget(Some(budget));
    let penalty = LatencyPenalty::new(lut.clone(), &template, &settings).unwrap();
    let mut epochs = Vec::new();
    let mut keep = |m: &search::EpochMetrics| {
        epochs.push(m.clone());
        Ok(())
    };
    let out = run_search(&config, &data, &device, Some(&penalty), &Silent, &mut keep).unwrap();
    let b = out.budget.expect("a budget search reports its outcome");
    let predicted = penalty.predict(&out.genotype).unwrap();
    assert!(predicted <= budget, "{predicted} > budget {budget}");
    assert_eq!(b.predicted_ms, predicted);
    assert_eq!(b.budget_ms, budget);
    assert!((b.cheapest_ms - fastest).abs() < 1e-12);
    // The repairs account for the way from the discretized genotype.
    let saved: f64 = b.repairs.iter().map(|r| r.saved_ms).sum();
    if !b.replaced_by_cheapest {
        assert!((b.discretized_ms - saved - predicted).abs() < 1e-9);
    }
    // Every α step is logged with δ, P(α)/budget and the prediction; δ
    // starts at 0.
    let steps: Vec<&artifacts::AlphaStep> = epochs.iter().flat_map(|m| &m.alpha_steps).collect();
    let per_epoch = (data.train.len / 2).div_ceil(config.batch_size);
    assert_eq!(steps.len(), config.epochs * per_epoch);
    assert_eq!(steps[0].coef, 0.0);
    assert!(
        steps
            .iter()
            .all(|s| s.coef.is_finite() && s.penalty > 0.0 && s.predicted_ms > 0.0)
    );
    assert!(settings.budget_two_sided, "two-sided is the default");
    for w in steps.windows(2) {
        // δ moves by rate·(predicted/budget − 1) after each step, first
        // multiplied by the decay when the violation's sign opposes δ
        // (under budget with δ > 0, over budget with δ < 0); two-sided, δ
        // may go below 0.
        let ratio = w[0].predicted_ms / budget;
        let opposed = (ratio <= 1.0 && w[0].coef > 0.0) || (ratio > 1.0 && w[0].coef < 0.0);
        let kept = if opposed { settings.budget_decay } else { 1.0 };
        let want = kept * w[0].coef + settings.budget_rate * (ratio - 1.0);
        assert!((w[1].coef - want).abs() < 1e-9, "{} vs {want}", w[1].coef);
    }

    // A budget below the fastest genotype is refused before any training.
    let impossible =
        PenaltySettings::new(0.0, PenaltyKind::Algo3, false).with_budget(Some(0.5 * fastest));
    let penalty = LatencyPenalty::new(lut, &template, &impossible).unwrap();
    let mut trained = false;
    let mut flag = |_: &search::EpochMetrics| {
        trained = true;
        Ok(())
    };
    let err = match run_search(&config, &data, &device, Some(&penalty), &Silent, &mut flag) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("an impossible budget was accepted"),
    };
    assert!(!trained);
    assert!(err.contains(&format!("{fastest:.3} ms")), "{err}");
}
