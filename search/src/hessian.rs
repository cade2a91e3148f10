//! The DARTS-ES diagnostic (docs/algorithms.md §7): the dominant eigenvalue
//! of ∇²_α L_val, the Hessian of the search network's validation loss with
//! respect to α, and the early-stopping rule built on it.
//!
//! burn's autodiff is first order (no double backward), so the
//! Hessian-vector products are central differences of ∇_α L_val:
//! H·v ≈ (∇_α L(α + εv) − ∇_α L(α − εv)) / 2ε with ‖v‖ = 1. The power
//! iteration runs separately on the normal and the reduction block of α
//! (the other block held fixed), on one validation batch drawn from the
//! seed and the epoch, with S's weights fixed.

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use models::{Alphas, SearchNetwork, SearchNetworkConfig};
use rand::{Rng, SeedableRng};

use crate::batch::{Batch, DataRng};
use crate::train::cross_entropy;

/// Step of the central differences along a unit vector, the scale at
/// which the curvature is measured. A ReLU network's loss is only
/// piecewise smooth in α: on the tiny network of `tests/hessian.rs` the
/// gradient's differences along one α were 0.11 / 0.11 / −0.002 per unit
/// at steps 1e-3 / 1e-4 / 1e-5 (kinks at the larger steps, f32 rounding at
/// the smallest), and the column-wise Hessian was far from symmetric at
/// every step. So the diagnostic is the curvature at scale ε = 1e-2, the
/// step DARTS's own second-order approximation takes (0.01/‖∇‖ in w), and
/// a rise of it over epochs, not its exact value, is what the stopping
/// rule reads. On a smooth function the same code matches the exact
/// Hessian (`tests/hessian.rs`).
pub const EPSILON: f32 = 1e-2;

/// H·v ≈ (∇f(x + εv) − ∇f(x − εv)) / 2ε for the gradient `gradient` of f.
pub fn hvp_by_differences(
    gradient: &mut dyn FnMut(&[f32]) -> Vec<f32>,
    x: &[f32],
    v: &[f32],
    epsilon: f32,
) -> Vec<f32> {
    let mut at = |sign: f32| -> Vec<f32> {
        let moved: Vec<f32> = x
            .iter()
            .zip(v)
            .map(|(a, d)| a + sign * epsilon * d)
            .collect();
        gradient(&moved)
    };
    let (plus, minus) = (at(1.0), at(-1.0));
    plus.iter()
        .zip(&minus)
        .map(|(p, m)| (p - m) / (2.0 * epsilon))
        .collect()
}

/// The dominant eigenvalue (largest in magnitude, with its sign: the
/// Rayleigh quotient vᵀHv of the last iterate) of the `n`×`n` operator
/// `hvp`, by `iterations` power-iteration steps from a random unit vector
/// of `rng`.
pub fn power_iteration(
    hvp: &mut dyn FnMut(&[f32]) -> Vec<f32>,
    n: usize,
    iterations: usize,
    rng: &mut DataRng,
) -> f64 {
    let mut v: Vec<f32> = (0..n).map(|_| rng.random::<f32>() - 0.5).collect();
    normalize(&mut v);
    let mut eigenvalue = 0.0;
    for _ in 0..iterations {
        let hv = hvp(&v);
        eigenvalue = dot(&v, &hv);
        v = hv;
        if normalize(&mut v) == 0.0 {
            return 0.0;
        }
    }
    eigenvalue
}

/// L_val and ∇_α L_val of a fixed network on one batch, as functions of
/// α's values.
pub struct ValLoss<'a> {
    net: SearchNetwork,
    batch: &'a Batch,
    shape: [usize; 2],
    device: Device,
}

impl<'a> ValLoss<'a> {
    /// `net`'s loss on `batch`. The network is copied through its record,
    /// so its BatchNorm running statistics (updated by every training-mode
    /// forward pass) are the copy's own and the search is left as it was.
    pub fn new(
        config: &SearchNetworkConfig,
        net: &SearchNetwork,
        batch: &'a Batch,
        device: &Device,
    ) -> Self {
        let copy = config
            .init(device)
            .load_record(net.clone().into_record())
            .no_grad();
        Self {
            net: copy,
            batch,
            shape: config.alpha_shape(),
            device: device.clone(),
        }
    }

    fn alphas(&self, normal: &[f32], reduce: &[f32]) -> Alphas {
        let [edges, ops] = self.shape;
        Alphas::from_values(normal.to_vec(), reduce.to_vec(), edges, ops, &self.device)
    }

    /// L_val (cross-entropy of S on the batch, training-mode BatchNorm as
    /// in the α step).
    pub fn loss(&self, normal: &[f32], reduce: &[f32]) -> f64 {
        let alphas = self.alphas(normal, reduce).no_grad();
        self.loss_tensor(&alphas).into_scalar::<f32>() as f64
    }

    fn loss_tensor(&self, alphas: &Alphas) -> Tensor<1> {
        let logits = self.net.forward(self.batch.images.clone(), alphas);
        cross_entropy(logits, self.batch.labels.clone())
    }

    /// ∇_α L_val: (normal, reduce), row-major like α.
    pub fn gradient(&self, normal: &[f32], reduce: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let alphas = self.alphas(normal, reduce);
        let mut grads = self.loss_tensor(&alphas).backward();
        let g = GradientsParams::from_module(&mut grads, &alphas);
        let read = |p: &burn::module::Param<Tensor<2>>, n: usize| {
            g.get::<2>(p.id).map_or_else(
                || vec![0.0; n],
                |t| t.into_data().try_to_vec::<f32>().expect("f32 gradient"),
            )
        };
        (
            read(&alphas.normal, normal.len()),
            read(&alphas.reduce, reduce.len()),
        )
    }

    /// H·v for the block `block` of α at (normal, reduce), `v` of that
    /// block's length, by central differences of the gradient at step
    /// `epsilon`.
    pub fn hvp(
        &self,
        normal: &[f32],
        reduce: &[f32],
        block: Block,
        v: &[f32],
        epsilon: f32,
    ) -> Vec<f32> {
        let x = match block {
            Block::Normal => normal,
            Block::Reduce => reduce,
        };
        let mut gradient = |moved: &[f32]| match block {
            Block::Normal => self.gradient(moved, reduce).0,
            Block::Reduce => self.gradient(normal, moved).1,
        };
        hvp_by_differences(&mut gradient, x, v, epsilon)
    }
}

/// One cell type's block of α.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Block {
    Normal,
    Reduce,
}

/// The dominant eigenvalue of `block`'s Hessian at scale [`EPSILON`].
pub fn dominant_eigenvalue(
    loss: &ValLoss,
    normal: &[f32],
    reduce: &[f32],
    block: Block,
    iterations: usize,
    rng: &mut DataRng,
) -> f64 {
    let n = match block {
        Block::Normal => normal.len(),
        Block::Reduce => reduce.len(),
    };
    let mut hvp = |v: &[f32]| loss.hvp(normal, reduce, block, v, EPSILON);
    power_iteration(&mut hvp, n, iterations, rng)
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

/// Scales `v` to unit length; returns its former length.
fn normalize(v: &mut [f32]) -> f64 {
    let norm = dot(v, v).sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x = (*x as f64 / norm) as f32);
    }
    norm
}

/// The dominant eigenvalues of the normal and reduction blocks of
/// ∇²_α L_val after a search epoch: S and α as they stand, on a batch of
/// `batch_size` `val` images drawn from `seed` and the epoch (the search's
/// own data order is untouched).
#[allow(clippy::too_many_arguments)]
pub fn epoch_eigenvalues(
    config: &SearchNetworkConfig,
    net: &SearchNetwork,
    alphas: &Alphas,
    val: &crate::batch::Batches,
    batch_size: usize,
    iterations: usize,
    seed: u64,
    epoch: usize,
    device: &Device,
) -> (f64, f64) {
    let mut rng = DataRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ epoch as u64);
    let order = val.shuffled(&mut rng);
    let batch = val.batch(&order[..batch_size.min(order.len())], device);
    let loss = ValLoss::new(config, net, &batch, device);
    let (normal, reduce) = alphas.to_values();
    let normal_eig =
        dominant_eigenvalue(&loss, &normal, &reduce, Block::Normal, iterations, &mut rng);
    let reduce_eig =
        dominant_eigenvalue(&loss, &normal, &reduce, Block::Reduce, iterations, &mut rng);
    (normal_eig, reduce_eig)
}

/// DARTS-ES's stopping rule (Zela et al. 2020, §4): with λ̄(i) the mean
/// dominant eigenvalue over the `window` search epochs ending at i, stop
/// at epoch i when λ̄(i − k) / λ̄(i) < `ratio` and return the architecture
/// of epoch i − k. `eigenvalues` are one per search epoch so far (the
/// larger of the two blocks'); the answer is the epoch to return to.
pub fn early_stop(eigenvalues: &[f64], k: usize, window: usize, ratio: f64) -> Option<usize> {
    let i = eigenvalues.len().checked_sub(1)?;
    let earlier = i.checked_sub(k)?;
    if earlier + 1 < window {
        return None;
    }
    let mean = |end: usize| {
        let start = end + 1 - window;
        eigenvalues[start..=end].iter().sum::<f64>() / window as f64
    };
    let (then, now) = (mean(earlier), mean(i));
    (now > 0.0 && then / now < ratio).then_some(earlier)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_waits_for_full_windows_and_stops_on_a_rapid_rise() {
        // k = 2, window 2, ratio 0.75: λ̄(1) = 1, λ̄(3) = 1.5 → 0.67 < 0.75.
        let rising = [1.0, 1.0, 1.0, 2.0];
        assert_eq!(
            early_stop(&rising[..3], 2, 2, 0.75),
            None,
            "λ̄(0) has one epoch"
        );
        assert_eq!(early_stop(&rising, 2, 2, 0.75), Some(1));
        // λ̄(1) = 1, λ̄(3) = 1.25 → 0.8: not yet.
        assert_eq!(early_stop(&[1.0, 1.0, 1.0, 1.5], 2, 2, 0.75), None);
        // A falling or flat eigenvalue never stops the search.
        assert_eq!(early_stop(&[3.0, 2.0, 1.0, 0.5], 1, 1, 0.75), None);
        assert_eq!(early_stop(&[], 1, 1, 0.75), None);
    }
}
