//! The DARTS-ES diagnostic (docs/algorithms.md §7).
//!
//! On a smooth function of α computed with burn (softmax mixing weights, a
//! linear read-out, cross-entropy) the central-difference Hessian-vector
//! products and their power iteration match a Hessian built from second
//! differences of the same loss evaluated independently in f64 on the
//! host. On a search, computing the eigenvalue leaves the search's result
//! bit for bit as it was.

// Dense linear algebra on small matrices reads clearest with indices.
#![allow(clippy::needless_range_loop)]

use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use search::batch::DataRng;
use search::hessian::{EPSILON, hvp_by_differences, power_iteration};

const EDGES: usize = 3;
const OPS: usize = 4;
const CLASSES: usize = 3;
const SAMPLES: usize = 5;

/// logits[b][c] = Σ_{e,k} softmax(α_e)_k · W[e·OPS + k][b·CLASSES + c];
/// L = mean cross-entropy against `labels`.
struct Smooth {
    w: Vec<f32>,
    labels: Vec<usize>,
}

impl Smooth {
    fn new(rng: &mut DataRng) -> Self {
        let w = (0..EDGES * OPS * SAMPLES * CLASSES)
            .map(|_| 4.0 * (rng.random::<f32>() - 0.5))
            .collect();
        let labels = (0..SAMPLES).map(|b| b % CLASSES).collect();
        Self { w, labels }
    }

    /// ∇L by burn's autodiff.
    fn gradient(&self, alpha: &[f32], device: &Device) -> Vec<f32> {
        let alphas =
            models::Alphas::from_values(alpha.to_vec(), vec![0.0; EDGES * OPS], EDGES, OPS, device);
        let weights =
            burn::tensor::activation::softmax(alphas.normal.val(), 1).reshape([1, EDGES * OPS]);
        let w = Tensor::<2>::from_data(
            TensorData::new(self.w.clone(), [EDGES * OPS, SAMPLES * CLASSES]),
            device,
        );
        let logits = weights.matmul(w).reshape([SAMPLES, CLASSES]);
        let labels = Tensor::<1, Int>::from_data(
            TensorData::new(
                self.labels.iter().map(|&l| l as i64).collect::<Vec<_>>(),
                [SAMPLES],
            ),
            device,
        );
        let loss = search::train::cross_entropy(logits, labels);
        let mut grads = loss.backward();
        let g = burn::optim::GradientsParams::from_module(&mut grads, &alphas);
        g.get::<2>(alphas.normal.id)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    }

    /// L in f64 on the host, without burn.
    fn loss(&self, alpha: &[f64]) -> f64 {
        let mut mix = [0.0; EDGES * OPS];
        for e in 0..EDGES {
            let row = &alpha[e * OPS..(e + 1) * OPS];
            let top = row.iter().cloned().fold(f64::MIN, f64::max);
            let z: f64 = row.iter().map(|a| (a - top).exp()).sum();
            for k in 0..OPS {
                mix[e * OPS + k] = (row[k] - top).exp() / z;
            }
        }
        let mut total = 0.0;
        for b in 0..SAMPLES {
            let logits: Vec<f64> = (0..CLASSES)
                .map(|c| {
                    (0..EDGES * OPS)
                        .map(|i| mix[i] * self.w[i * SAMPLES * CLASSES + b * CLASSES + c] as f64)
                        .sum()
                })
                .collect();
            let top = logits.iter().cloned().fold(f64::MIN, f64::max);
            let log_z = top + logits.iter().map(|l| (l - top).exp()).sum::<f64>().ln();
            total += log_z - logits[self.labels[b]];
        }
        total / SAMPLES as f64
    }

    /// The Hessian by second differences of the f64 loss.
    fn hessian(&self, alpha: &[f32], h: f64) -> Vec<Vec<f64>> {
        let n = alpha.len();
        let x: Vec<f64> = alpha.iter().map(|&a| a as f64).collect();
        let at = |i: usize, si: f64, j: usize, sj: f64| {
            let mut a = x.clone();
            a[i] += si * h;
            a[j] += sj * h;
            self.loss(&a)
        };
        let mut hessian = vec![vec![0.0; n]; n];
        for i in 0..n {
            for j in i..n {
                let v = (at(i, 1.0, j, 1.0) - at(i, 1.0, j, -1.0) - at(i, -1.0, j, 1.0)
                    + at(i, -1.0, j, -1.0))
                    / (4.0 * h * h);
                hessian[i][j] = v;
                hessian[j][i] = v;
            }
        }
        hessian
    }
}

/// The eigenvalue of largest magnitude of a symmetric matrix (cyclic
/// Jacobi rotations).
fn dominant_of_symmetric(mut a: Vec<Vec<f64>>) -> f64 {
    let n = a.len();
    for _ in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        if off < 1e-24 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q] == 0.0 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = if theta == 0.0 {
                    1.0
                } else {
                    theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt())
                };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k][p], a[k][q]);
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p][k], a[q][k]);
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
            }
        }
    }
    (0..n)
        .map(|i| a[i][i])
        .fold(0.0, |m: f64, v| if v.abs() > m.abs() { v } else { m })
}

#[test]
fn hessian_vector_products_match_a_finite_difference_hessian() {
    let device = Device::flex().autodiff();
    let mut rng = DataRng::seed_from_u64(7);
    let f = Smooth::new(&mut rng);
    let alpha: Vec<f32> = (0..EDGES * OPS)
        .map(|_| rng.random::<f32>() - 0.5)
        .collect();
    let reference = f.hessian(&alpha, 1e-3);
    let mut gradient = |x: &[f32]| f.gradient(x, &device);

    for trial in 0..3 {
        let v: Vec<f32> = (0..alpha.len())
            .map(|_| rng.random::<f32>() - 0.5)
            .collect();
        let norm = v.iter().map(|x| (x * x) as f64).sum::<f64>().sqrt();
        let v: Vec<f32> = v.iter().map(|x| (*x as f64 / norm) as f32).collect();
        let expected: Vec<f64> = reference
            .iter()
            .map(|row| row.iter().zip(&v).map(|(h, x)| h * *x as f64).sum())
            .collect();
        let got = hvp_by_differences(&mut gradient, &alpha, &v, EPSILON);
        let error = got
            .iter()
            .zip(&expected)
            .map(|(g, e)| (*g as f64 - e).powi(2))
            .sum::<f64>()
            .sqrt();
        let size = expected.iter().map(|e| e * e).sum::<f64>().sqrt();
        eprintln!("trial {trial}: ‖H·v‖ {size:.4}, ‖HVP − H·v‖ {error:.2e}");
        assert!(size > 1e-2, "a Hessian this flat tests nothing");
        assert!(
            error <= 0.01 * size,
            "HVP off by {:.2} % of ‖H·v‖",
            100.0 * error / size
        );
    }

    let dense = dominant_of_symmetric(reference);
    let mut hvp = |v: &[f32]| hvp_by_differences(&mut gradient, &alpha, v, EPSILON);
    let power = power_iteration(&mut hvp, alpha.len(), 100, &mut DataRng::seed_from_u64(1));
    eprintln!("dominant eigenvalue: power iteration {power:.5}, dense Hessian {dense:.5}");
    assert!(
        (power - dense).abs() <= 0.02 * dense.abs(),
        "power iteration {power} vs the dense Hessian's {dense}"
    );
}
