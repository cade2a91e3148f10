//! A retraining resumed from a checkpoint ends bit for bit where the
//! uninterrupted one does: weights, BatchNorm statistics, test accuracy.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use search::icdarts::{SearchCheckpoint, SearchConfig, run_search_resumable};
use search::progress::Silent;
use search::retrain::{Checkpoints, RetrainConfig, RetrainState, retrain_resumable};

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
    let run = |resume: Option<RetrainState>, keep: &mut Vec<RetrainState>| {
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
            },
        )
        .unwrap()
    };
    let mut states = Vec::new();
    let whole = run(None, &mut states);
    assert_eq!(states.len(), 3, "one checkpoint per epoch");
    let expected = bits(&whole.model);
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

#[test]
fn a_resumed_search_equals_the_uninterrupted_one() {
    let _turn = DEVICE_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let data = datasets::load("builtin:digits").unwrap();
    let device = search::training_device(search::Backend::Flex).unwrap();
    // Pretraining, then ICDARTS epochs whose E is rebuilt (fresh weights
    // from burn's generator) and warmed up each time.
    let config = SearchConfig {
        channels: 4,
        layers: 3,
        nodes: 2,
        eval_channels: 4,
        eval_layers: 3,
        batch_size: 32,
        pretrain_epochs: 1,
        epochs: 2,
        warmup_epochs: 1,
        train_subset: Some(256),
        seed: 6,
        ..SearchConfig::default()
    };
    let run = |resume: Option<SearchCheckpoint>, keep: &mut Vec<SearchCheckpoint>| {
        run_search_resumable(
            &config,
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
            },
        )
        .unwrap()
    };
    let mut states = Vec::new();
    let whole = run(None, &mut states);
    assert_eq!(
        states.len(),
        3,
        "one checkpoint per epoch, pretraining included"
    );
    for done in [2, 1] {
        let state = states.remove(done - 1);
        assert_eq!(state.epochs_done, done);
        let resumed = run(Some(state), &mut Vec::new());
        assert_eq!(resumed.genotype, whole.genotype);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&resumed.alpha_normal),
            bits(&whole.alpha_normal),
            "α normal after resuming at {done}"
        );
        assert_eq!(bits(&resumed.alpha_reduce), bits(&whole.alpha_reduce));
        assert_eq!(resumed.metrics.len(), whole.metrics.len());
        for (a, b) in resumed.metrics.iter().zip(&whole.metrics) {
            assert_eq!(a.loss_search_train.to_bits(), b.loss_search_train.to_bits());
            assert_eq!(a.search_val_accuracy, b.search_val_accuracy);
        }
    }
}
