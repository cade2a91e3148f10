//! Pieces several of the search's test files share.
#![allow(dead_code)] // each test file uses its own subset

use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use search::batch::Batch;

/// A batch of 6 random 1×8×8 images with labels in 0..4.
pub fn random_batch(device: &Device, seed: u64) -> Batch {
    let images = Tensor::<4>::random([6, 1, 8, 8], Distribution::Normal(0.0, 1.0), device);
    let labels_host: Vec<u8> = (0..6).map(|i| ((i * 7 + seed) % 4) as u8).collect();
    let labels = Tensor::<1, Int>::from_data(
        TensorData::new(
            labels_host.iter().map(|&l| l as i64).collect::<Vec<_>>(),
            [6],
        ),
        device,
    );
    Batch {
        images,
        labels,
        labels_host,
    }
}

/// A deliberately tiny search on 256 digits (4 steps per epoch): C = 4,
/// L = 3, N = 2 for S and E, one pretraining and one warm-up epoch; the
/// callers set the epochs and whatever else they test.
pub fn tiny_search(seed: u64) -> search::SearchConfig {
    search::SearchConfig {
        channels: 4,
        layers: 3,
        nodes: 2,
        eval_channels: 4,
        eval_layers: 3,
        batch_size: 32,
        pretrain_epochs: 1,
        warmup_epochs: 1,
        train_subset: Some(256),
        seed,
        ..search::SearchConfig::default()
    }
}
