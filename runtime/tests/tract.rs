//! `TractModel` on small graphs written with `GraphBuilder`: one parse,
//! plans per batch size, several inputs, timers, the profile, the
//! test-only slowdown and errors that name the model.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use runtime::onnx::{self, GraphBuilder, Port};
use runtime::timing::{self, Schedule};
use runtime::{RuntimeError, TractAction, TractModel};

/// `y = relu(a + b)` over `[3, 4]` rows.
fn add_relu() -> Vec<u8> {
    let mut g = GraphBuilder::new();
    let (a, b) = (g.input_name("a"), g.input_name("b"));
    let sum = g.node("Add", "cell0/add", &[&a, &b], vec![]);
    let y = g.node("Relu", "cell0/relu", &[&sum], vec![]);
    let port = |name: &str| Port {
        name: name.into(),
        dims: vec![3, 4],
    };
    let model = g.finish(
        "add_relu",
        &[port(&a), port(&b)],
        &[(port("y"), y)],
        &BTreeMap::new(),
    );
    onnx::to_bytes(&model)
}

#[test]
fn one_parse_plans_every_batch_size() {
    let model = TractModel::from_bytes("add_relu.onnx", &add_relu()).unwrap();
    assert_eq!(model.input_count(), 2);
    for batch in [1, 5] {
        let shape = vec![batch, 3, 4];
        let plan = model.plan(&[shape.clone(), shape.clone()]).unwrap();
        assert_eq!(plan.batch(), batch);
        assert!(plan.node_count() > 0);
        let n = batch * 12;
        let a: Vec<f32> = (0..n).map(|i| i as f32 - 6.0).collect();
        let b = vec![1.0; n];
        let (out_shape, y) = plan.run(&[&a, &b]).unwrap();
        assert_eq!(out_shape, shape);
        let expected: Vec<f32> = a.iter().map(|v| (v + 1.0).max(0.0)).collect();
        assert_eq!(y, expected);

        let times = plan.time_runs(&[&a, &b], 2, 3).unwrap();
        assert_eq!(times.len(), 3);
        let (mut shared, mut copied) = (
            plan.timer(&[&a, &b]).unwrap(),
            plan.copying_timer(&[&a, &b]).unwrap(),
        );
        let both =
            timing::interleaved(&mut [&mut shared, &mut copied], Schedule::alternating(1, 4))
                .unwrap();
        assert!(
            both.iter()
                .all(|t| t.len() == 4 && t.iter().all(|ms| *ms >= 0.0))
        );

        let profile = plan.profile(&[&a, &b], 3).unwrap();
        assert_eq!(profile.runs, 3);
        assert!(!profile.nodes.is_empty());
        assert!(profile.nodes.iter().any(|n| n.name.starts_with("cell0/")));
    }
}

#[test]
fn the_slowdown_is_part_of_every_timed_run() {
    let model = TractModel::from_bytes("add_relu.onnx", &add_relu())
        .unwrap()
        .with_slowdown(Duration::from_millis(3));
    let plan = model.plan(&[vec![1, 3, 4], vec![1, 3, 4]]).unwrap();
    let x = vec![0.5; 12];
    let mut timer = plan.timer(&[&x, &x]).unwrap();
    assert!(timer().unwrap() >= 3.0);
    assert!(
        plan.time_runs(&[&x, &x], 0, 2)
            .unwrap()
            .iter()
            .all(|ms| *ms >= 3.0)
    );
}

#[test]
fn errors_name_the_model_and_the_action() {
    let err = TractModel::load(Path::new("/no/such/model.onnx"))
        .err()
        .unwrap();
    assert!(matches!(err, RuntimeError::Read { .. }));
    assert!(err.to_string().contains("/no/such/model.onnx"), "{err}");

    let err = TractModel::from_bytes("broken.onnx", b"\xff\xff not onnx")
        .err()
        .unwrap();
    assert!(matches!(
        err,
        RuntimeError::Tract {
            action: TractAction::Load,
            ..
        }
    ));
    let text = err.to_string();
    assert!(
        text.starts_with("broken.onnx: tract cannot load the model: ") && !text.contains('\n'),
        "{text}"
    );

    let model = TractModel::from_bytes("add_relu.onnx", &add_relu()).unwrap();
    let err = model.plan(&[vec![1, 3, 4]]).err().unwrap();
    assert_eq!(
        err.to_string(),
        "add_relu.onnx: the model has 2 inputs, 1 were given"
    );
    let plan = model.plan(&[vec![1, 3, 4], vec![1, 3, 4]]).unwrap();
    let err = plan.run(&[&[0.0; 12], &[0.0; 5]]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("add_relu.onnx: tract cannot run the model: "),
        "{err}"
    );
}
