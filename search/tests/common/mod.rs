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
