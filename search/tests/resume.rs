//! A retraining or search resumed from a checkpoint ends bit for bit where
//! the uninterrupted one does (weights, BatchNorm statistics, α, metrics,
//! test accuracy), whether the checkpoint was taken at the end of an epoch
//! or between two steps, where a signal stops a run.

mod common;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use search::SearchError;
use search::icdarts::{SearchCheckpoint, SearchConfig, run_search_resumable};
use search::progress::Silent;
use search::retrain::{Checkpoints, RetrainConfig, RetrainState, retrain_resumable};

/// A stop request that comes after the `n`-th step (1-based), and never
/// when `n` is 0.
fn stop_after(n: usize) -> Box<dyn FnMut() -> bool> {
    let mut calls = 0;
    Box::new(move || {
        calls += 1;
        n > 0 && calls == n
    })
}

/// burn's device RNG is one per process: the two tests take turns.
static DEVICE_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn bits<M: Module>(m: &M) -> Vec<u32> {
    struct Bits(Vec<u32>);
    impl ModuleVisitor for Bits {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let d = p.val().into_data().convert::<f32>();
            self.0
                .extend(d.as_slice::<f32>().unwrap().iter().map(|v| v.to_bits()));
        }
    }
    let mut b = Bits(Vec::new());
    m.visit(&mut b);
    b.0
}

#[test]
fn a_resumed_retraining_equals_the_uninterrupted_one() {
    let _turn = DEVICE_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let data = datasets::load("builtin:digits").unwrap();
    let device = search::training_device(search::Backend::Flex).unwrap();
    let genotype = models::genotype::random_genotype(
        models::Relaxation::Darts,
        4,
        &models::OpSpace::darts(models::ZeroConfig::V1),
        &mut models::genotype::seeded_picker(9),
    );
    // Drop-path, augmentation and the auxiliary head all draw random numbers.
    let config = RetrainConfig {
        channels: 4,
        layers: 3,
        epochs: 3,
        batch_size: 32,
        train_subset: Some(256),
        drop_path: 0.3,
        crop_padding: 1,
        cutout: 2,
        seed: 4,
        ..Default::default()
    };
    let try_run = |resume: Option<RetrainState>, keep: &mut Vec<RetrainState>, stop| {
        retrain_resumable(
            &config,
            &genotype,
            &data,
            &device,
            &Silent,
            &mut |_| Ok(()),
            Checkpoints {
                resume,
                save: Box::new(|s| {
                    keep.push(s);
                    Ok(())
                }),
                stop,
            },
        )
    };
    let run = |resume, keep: &mut Vec<RetrainState>| try_run(resume, keep, stop_after(0)).unwrap();
    let mut states = Vec::new();
    let whole = run(None, &mut states);
    assert_eq!(states.len(), 3, "one checkpoint per epoch");
    assert!(states.iter().all(|s| s.partial.is_none()));
    let expected = bits(&whole.model);
    let check = |resumed: search::RetrainOutcome, at: &str| {
        assert_eq!(resumed.epochs.len(), 3);
        assert_eq!(resumed.test_accuracy, whole.test_accuracy, "{at}");
        for (a, b) in resumed.epochs.iter().zip(&whole.epochs) {
            assert_eq!(a.train_loss.to_bits(), b.train_loss.to_bits(), "{at}");
            assert_eq!(a.train_accuracy, b.train_accuracy, "{at}");
        }
        let got = bits(&resumed.model);
        let same = got.iter().zip(&expected).filter(|(a, b)| a == b).count();
        assert_eq!(
            same,
            expected.len(),
            "resumed {at}: {same} of {} values equal",
            expected.len()
        );
    };
    // Stopped between two steps (8 per epoch): in the first epoch, after
    // its last step, in the middle of the third. The stop writes one
    // checkpoint, mid-epoch, and returns Interrupted.
    for stop_at in [3, 8, 21] {
        let mut kept = Vec::new();
        let stopped = try_run(None, &mut kept, stop_after(stop_at));
        assert!(
            matches!(stopped, Err(SearchError::Interrupted { .. })),
            "a stop request ends the run as interrupted"
        );
        let state = kept.pop().unwrap();
        assert_eq!(state.step, stop_at);
        let partial = state.partial.as_ref().expect("a mid-epoch checkpoint");
        assert_eq!(partial.steps_done, (stop_at - 1) % 8 + 1);
        check(
            run(Some(state), &mut Vec::new()),
            &format!("after step {stop_at}"),
        );
    }
    // Stopped twice: after step 5, then 6 steps after resuming.
    let mut kept = Vec::new();
    let _ = try_run(None, &mut kept, stop_after(5));
    let first = kept.pop().unwrap();
    let mut kept = Vec::new();
    let again = try_run(Some(first), &mut kept, stop_after(6));
    assert!(matches!(again, Err(SearchError::Interrupted { .. })));
    let second = kept.pop().unwrap();
    assert_eq!(second.step, 11);
    check(run(Some(second), &mut Vec::new()), "after steps 5 and 11");
    // Resume after the first and after the second epoch.
    for done in [2, 1] {
        let state = states.remove(done - 1);
        assert_eq!(state.epochs.len(), done);
        let resumed = run(Some(state), &mut Vec::new());
        assert_eq!(resumed.epochs.len(), 3);
        assert_eq!(resumed.test_accuracy, whole.test_accuracy);
        let got = bits(&resumed.model);
        let same = got.iter().zip(&expected).filter(|(a, b)| a == b).count();
        assert_eq!(
            same,
            expected.len(),
            "resumed after epoch {done}: {same} of {} values equal",
            expected.len()
        );
    }
}

/// The search of `config` on the embedded digits, resumed from `resume`,
/// its checkpoints kept in `keep`, stopped when `stop` says so.
fn search_with(
    config: &SearchConfig,
    resume: Option<SearchCheckpoint>,
    keep: &mut Vec<SearchCheckpoint>,
    stop: Box<dyn FnMut() -> bool>,
) -> Result<search::SearchOutcome, SearchError> {
    let data = datasets::load("builtin:digits").unwrap();
    let device = search::training_device(search::Backend::Flex).unwrap();
    run_search_resumable(
        config,
        &data,
        &device,
        None,
        &Silent,
        &mut |_| Ok(()),
        Checkpoints {
            resume,
            save: Box::new(|c| {
                keep.push(c);
                Ok(())
            }),
            stop,
        },
    )
}

/// A resumed search ended where the uninterrupted one did: genotype, α
/// and every epoch's metrics, bit for bit.
fn assert_same_search(resumed: &search::SearchOutcome, whole: &search::SearchOutcome, at: &str) {
    assert_eq!(resumed.genotype, whole.genotype, "{at}");
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(&resumed.alpha_normal),
        bits(&whole.alpha_normal),
        "α normal, resumed {at}"
    );
    assert_eq!(
        bits(&resumed.alpha_reduce),
        bits(&whole.alpha_reduce),
        "α reduce, resumed {at}"
    );
    assert_eq!(resumed.metrics.len(), whole.metrics.len(), "{at}");
    for (a, b) in resumed.metrics.iter().zip(&whole.metrics) {
        assert_eq!(
            a.loss_search_train.to_bits(),
            b.loss_search_train.to_bits(),
            "{at}"
        );
        assert_eq!(a.search_val_accuracy, b.search_val_accuracy, "{at}");
        assert_eq!(a.eval_val_accuracy, b.eval_val_accuracy, "{at}");
        assert_eq!(
            a.eval_warmup_val_accuracy, b.eval_warmup_val_accuracy,
            "{at}"
        );
        assert_eq!(a.eval_warmup_epochs, b.eval_warmup_epochs, "{at}");
    }
}

#[test]
fn a_resumed_search_equals_the_uninterrupted_one() {
    let _turn = DEVICE_RNG.lock().unwrap_or_else(|e| e.into_inner());
    // Pretraining, then ICDARTS epochs whose E is rebuilt (fresh weights
    // from burn's generator) and warmed up each time.
    let config = SearchConfig {
        epochs: 2,
        // Exactly W warm-up epochs, so the step numbers below are fixed;
        // the adaptive warm-up has its own test.
        warmup_target: 0.0,
        ..common::tiny_search(6)
    };
    let try_run =
        |resume, keep: &mut Vec<SearchCheckpoint>, stop| search_with(&config, resume, keep, stop);
    let run =
        |resume, keep: &mut Vec<SearchCheckpoint>| try_run(resume, keep, stop_after(0)).unwrap();
    let mut states = Vec::new();
    let whole = run(None, &mut states);
    assert_eq!(
        states.len(),
        3,
        "one checkpoint per epoch, pretraining included"
    );
    assert!(
        whole
            .metrics
            .iter()
            .filter(|m| m.phase == "search")
            .all(|m| m.eval_warmup_epochs == Some(1)),
        "warm-up target 0: exactly W epochs"
    );
    let check = |resumed: search::SearchOutcome, at: &str| assert_same_search(&resumed, &whole, at);
    // Stopped between two steps. 4 steps per phase: pretraining is steps
    // 1–4, then each search epoch warms E up (5–8, 13–16) and searches
    // (9–12, 17–20).
    for (stop_at, phase) in [
        (2, "pretrain"),
        (6, "warm-up"),
        (8, "warm-up"),
        (11, "search"),
        (12, "search"),
        (18, "search"),
    ] {
        let mut kept = Vec::new();
        let stopped = try_run(None, &mut kept, stop_after(stop_at));
        match stopped {
            Err(SearchError::Interrupted { phase: p, .. }) => assert_eq!(p, phase),
            other => panic!("stop after step {stop_at}: {:?}", other.err()),
        }
        let state = kept.pop().unwrap();
        assert!(state.within.is_some(), "a mid-epoch checkpoint");
        assert_eq!(state.eval.is_some(), phase != "pretrain");
        check(
            run(Some(state), &mut Vec::new()),
            &format!("after step {stop_at} ({phase})"),
        );
    }
    // Stopped twice in the same epoch, in two phases with the same number
    // of steps done in each (their checkpoint files must not collide).
    let mut kept = Vec::new();
    let _ = try_run(None, &mut kept, stop_after(6));
    let first = kept.pop().unwrap();
    let mut kept = Vec::new();
    let again = try_run(Some(first), &mut kept, stop_after(4));
    assert!(matches!(again, Err(SearchError::Interrupted { .. })));
    check(
        run(Some(kept.pop().unwrap()), &mut Vec::new()),
        "after steps 6 and 10",
    );
    for done in [2, 1] {
        let state = states.remove(done - 1);
        assert_eq!(state.epochs_done, done);
        assert!(state.within.is_none());
        check(
            run(Some(state), &mut Vec::new()),
            &format!("after epoch {done}"),
        );
    }
}

#[test]
fn a_search_whose_teacher_lives_several_epochs_resumes_bit_for_bit() {
    let _turn = DEVICE_RNG.lock().unwrap_or_else(|e| e.into_inner());
    // S_U = 2: E is rebuilt (and warmed up) in search epochs 0 and 2 and
    // keeps training through epoch 1, so the checkpoint after epoch 0 must
    // carry it.
    let config = SearchConfig {
        epochs: 3,
        rebuild_interval: 2,
        warmup_target: 0.0,
        ..common::tiny_search(8)
    };
    let try_run =
        |resume, keep: &mut Vec<SearchCheckpoint>, stop| search_with(&config, resume, keep, stop);
    let mut states = Vec::new();
    let whole = try_run(None, &mut states, stop_after(0)).unwrap();
    // A warm-up accuracy only in the epochs that rebuilt E.
    let warmups: Vec<bool> = whole
        .metrics
        .iter()
        .filter(|m| m.phase == "search")
        .map(|m| m.eval_warmup_val_accuracy.is_some())
        .collect();
    assert_eq!(warmups, [true, false, true]);
    // After search epoch 0 (pretraining is checkpoint 0) E is kept for
    // epoch 1; after epoch 1 the next epoch rebuilds it.
    assert!(states[1].eval.is_some() && states[1].eval_step == 8);
    assert!(states[2].eval.is_none());
    let same = |resumed: search::SearchOutcome, at: &str| assert_same_search(&resumed, &whole, at);
    let after_epoch_0 = states.remove(1);
    same(
        try_run(Some(after_epoch_0), &mut Vec::new(), stop_after(0)).unwrap(),
        "after search epoch 0",
    );
    // Steps: pretraining 1–4; epoch 0 warm-up 5–8, search 9–12; epoch 1
    // search 13–16 (E kept, no warm-up); epoch 2 warm-up 17–20, search 21–24.
    for stop_at in [14, 18] {
        let mut kept = Vec::new();
        let stopped = try_run(None, &mut kept, stop_after(stop_at));
        assert!(matches!(stopped, Err(SearchError::Interrupted { .. })));
        same(
            try_run(Some(kept.pop().unwrap()), &mut Vec::new(), stop_after(0)).unwrap(),
            &format!("after step {stop_at}"),
        );
    }
}

#[test]
fn an_extended_warm_up_resumes_bit_for_bit() {
    let _turn = DEVICE_RNG.lock().unwrap_or_else(|e| e.into_inner());
    // A target no teacher reaches: every rebuilt E gets its one extra
    // warm-up epoch, and its learning rate anneals over the longer life.
    let config = SearchConfig {
        epochs: 2,
        warmup_target: 10.0,
        warmup_extra_epochs: 1,
        ..common::tiny_search(5)
    };
    let try_run =
        |resume, keep: &mut Vec<SearchCheckpoint>, stop| search_with(&config, resume, keep, stop);
    let whole = try_run(None, &mut Vec::new(), stop_after(0)).unwrap();
    let warmups: Vec<_> = whole
        .metrics
        .iter()
        .filter(|m| m.phase == "search")
        .map(|m| m.eval_warmup_epochs)
        .collect();
    assert_eq!(warmups, [Some(2), Some(2)]);
    // Steps: pretraining 1–4; epoch 0 warm-up 5–8, extension 9–12, search
    // 13–16; epoch 1 warm-up 17–20, extension 21–24, search 25–28. A
    // resume that forgot the extension would anneal E's rate over a
    // shorter life from step 13 on.
    for (stop_at, phase) in [(10, "warm-up"), (14, "search"), (22, "warm-up")] {
        let mut kept = Vec::new();
        match try_run(None, &mut kept, stop_after(stop_at)) {
            Err(SearchError::Interrupted { phase: p, .. }) => assert_eq!(p, phase),
            other => panic!("stop after step {stop_at}: {:?}", other.err()),
        }
        assert_same_search(
            &try_run(Some(kept.pop().unwrap()), &mut Vec::new(), stop_after(0)).unwrap(),
            &whole,
            &format!("after step {stop_at} ({phase})"),
        );
    }
}

#[test]
fn the_hessian_diagnostic_leaves_the_search_as_it_was_and_an_early_stop_resumes() {
    let _turn = DEVICE_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let base = SearchConfig {
        epochs: 3,
        ..common::tiny_search(2)
    };
    let run = |config: &SearchConfig, resume, keep: &mut Vec<SearchCheckpoint>| {
        search_with(config, resume, keep, stop_after(0)).unwrap()
    };
    let without = run(
        &SearchConfig {
            hessian_iterations: 0,
            ..base.clone()
        },
        None,
        &mut Vec::new(),
    );
    let with = run(
        &SearchConfig {
            hessian_iterations: 2,
            ..base.clone()
        },
        None,
        &mut Vec::new(),
    );
    // Computing the eigenvalue draws nothing from the search's generators
    // and works on a copy of S (BatchNorm statistics included).
    assert_same_search(&with, &without, "with the Hessian diagnostic");
    let eigenvalues: Vec<(Option<f64>, Option<f64>)> = with
        .metrics
        .iter()
        .map(|m| (m.hessian_eigenvalue_normal, m.hessian_eigenvalue_reduce))
        .collect();
    eprintln!("eigenvalues per epoch: {eigenvalues:?}");
    assert_eq!(eigenvalues[0], (None, None), "not in pretraining");
    assert!(
        eigenvalues[1..]
            .iter()
            .all(|(n, r)| n.is_some_and(f64::is_finite) && r.is_some_and(f64::is_finite))
    );
    assert!(
        without
            .metrics
            .iter()
            .all(|m| m.hessian_eigenvalue_normal.is_none())
    );

    // A rule that fires as soon as it can (k = 1, window 1, any ratio
    // below 1e9): after search epoch 1 it returns epoch 0's architecture.
    let stopping = SearchConfig {
        hessian_iterations: 2,
        early_stop: Some(artifacts::EarlyStop {
            k: 1,
            window: 1,
            ratio: 1e9,
        }),
        ..base.clone()
    };
    let mut states = Vec::new();
    let stopped = run(&stopping, None, &mut states);
    let stop = stopped.early_stop.expect("the rule fired");
    assert_eq!((stop.stopped_after_epoch, stop.returned_epoch), (2, 1));
    assert_eq!(stopped.metrics.len(), 3, "epoch 3 was not run");
    assert_eq!(stopped.genotype, stopped.metrics[1].genotype);
    assert_eq!(stopped.alpha_normal, stopped.metrics[1].alpha_normal);
    // Resumed from the checkpoint of the epoch that fired, it stops there.
    let resumed = run(&stopping, Some(states.pop().unwrap()), &mut Vec::new());
    assert_eq!(resumed.early_stop, stopped.early_stop);
    assert_eq!(resumed.genotype, stopped.genotype);
}

#[test]
fn a_resumed_cdarts_search_equals_the_uninterrupted_one() {
    let _turn = DEVICE_RNG.lock().unwrap_or_else(|e| e.into_inner());
    // CDARTS warms E up on val and updates α and w_E jointly.
    let config = SearchConfig {
        algo: search::Algo::Cdarts,
        epochs: 2,
        warmup_target: 0.0,
        ..common::tiny_search(3)
    };
    let try_run =
        |resume, keep: &mut Vec<SearchCheckpoint>, stop| search_with(&config, resume, keep, stop);
    let whole = try_run(None, &mut Vec::new(), stop_after(0)).unwrap();
    let searched: Vec<_> = whole
        .metrics
        .iter()
        .filter(|m| m.phase == "search")
        .collect();
    assert!(
        searched
            .iter()
            .all(|m| m.kd_train.is_some() && m.eval_val_accuracy.is_some())
    );
    // Steps as in the ICDARTS test: pretraining 1–4, warm-up 5–8, search
    // 9–12, warm-up 13–16, search 17–20.
    for (stop_at, phase) in [(6, "warm-up"), (11, "search"), (18, "search")] {
        let mut kept = Vec::new();
        match try_run(None, &mut kept, stop_after(stop_at)) {
            Err(SearchError::Interrupted { phase: p, .. }) => assert_eq!(p, phase),
            other => panic!("stop after step {stop_at}: {:?}", other.err()),
        }
        assert_same_search(
            &try_run(Some(kept.pop().unwrap()), &mut Vec::new(), stop_after(0)).unwrap(),
            &whole,
            &format!("CDARTS after step {stop_at} ({phase})"),
        );
    }
    // Not ICDARTS under another name.
    let icdarts = try_run_with(&SearchConfig {
        algo: search::Algo::Icdarts,
        ..config.clone()
    });
    assert_ne!(
        icdarts.alpha_normal, whole.alpha_normal,
        "CDARTS and ICDARTS move α differently"
    );
}

fn try_run_with(config: &SearchConfig) -> search::SearchOutcome {
    search_with(config, None, &mut Vec::new(), stop_after(0)).unwrap()
}
