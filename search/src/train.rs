//! Shared training pieces: losses, global-norm gradient clipping, the cosine
//! schedule and accuracy evaluation.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Gradients;
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Int, Tensor};

/// Mean cross-entropy of `logits` `[batch, classes]` against `labels` `[batch]`.
pub fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let [n, _] = logits.dims();
    let log_p = log_softmax(logits, 1);
    log_p.gather(1, labels.reshape([n, 1])).mean().neg()
}

/// Knowledge distillation KD(S‖E) = T²/N · Σ_i KL(p_E,i ‖ q_S,i) with
/// p = softmax(f_E/T), q = softmax(f_S/T) (docs/algorithms.md §3). The teacher's logits are
/// detached here, so no gradient can reach the evaluation network through KD.
pub fn distillation(student: Tensor<2>, teacher: Tensor<2>, temperature: f64) -> Tensor<1> {
    mutual_distillation(student, teacher.detach(), temperature)
}

/// The same KD(S‖E) with the gradient flowing into both networks: CDARTS
/// minimizes it over α and w_E jointly (dissertation Eq. 3.6–3.7).
pub fn mutual_distillation(student: Tensor<2>, teacher: Tensor<2>, temperature: f64) -> Tensor<1> {
    let [n, _] = student.dims();
    let teacher = teacher.div_scalar(temperature);
    let p = softmax(teacher.clone(), 1);
    let log_p = log_softmax(teacher, 1);
    let log_q = log_softmax(student.div_scalar(temperature), 1);
    (p * (log_p - log_q))
        .sum()
        .mul_scalar(temperature * temperature / n as f64)
}

/// Cosine annealing from `base` to 0 over `total` steps (SGDR without restarts).
pub fn cosine_lr(base: f64, step: usize, total: usize) -> f64 {
    if total == 0 {
        return base;
    }
    let t = (step.min(total)) as f64 / total as f64;
    0.5 * base * (1.0 + (std::f64::consts::PI * t).cos())
}

/// One SGD step of `module` on its share of `grads` (the gradients of a
/// backward pass), after global-norm clipping at `max_norm`: the update
/// every weight training loop of the search and retraining makes.
pub fn clipped_step<M: Module>(
    optimizer: &mut ModuleOptimizer,
    lr: f64,
    module: M,
    grads: &mut Gradients,
    max_norm: f64,
) -> (M, f64) {
    let mut g = GradientsParams::from_module(grads, &module);
    let norm = clip_global_norm(&mut g, &module, max_norm);
    (optimizer.step(lr, module, g), norm)
}

/// Scales all gradients of `module` so that their global L2 norm is at most
/// `max_norm` (PyTorch's `clip_grad_norm_`, the DARTS convention). burn's own
/// clipping works per tensor, which changes the update direction.
///
/// Returns the norm before clipping.
pub fn clip_global_norm<M: Module>(grads: &mut GradientsParams, module: &M, max_norm: f64) -> f64 {
    struct SquaredNorm<'a> {
        grads: &'a GradientsParams,
        total: f64,
    }
    impl ModuleVisitor for SquaredNorm<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.get::<D>(param.id) {
                self.total += g.powi_scalar(2).sum().into_scalar::<f32>() as f64;
            }
        }
    }
    struct Scale<'a> {
        grads: &'a mut GradientsParams,
        factor: f64,
    }
    impl ModuleVisitor for Scale<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.remove::<D>(param.id) {
                self.grads.register(param.id, g.mul_scalar(self.factor));
            }
        }
    }

    let mut norm = SquaredNorm { grads, total: 0.0 };
    module.visit(&mut norm);
    let total = norm.total.sqrt();
    if total > max_norm {
        let factor = max_norm / (total + 1e-6);
        module.visit(&mut Scale { grads, factor });
    }
    total
}

/// Number of correct predictions of `logits` `[batch, classes]`.
pub fn correct(logits: Tensor<2>, labels: &[u8]) -> usize {
    let pred = logits
        .argmax(1)
        .into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .expect("argmax gives integers");
    pred.iter()
        .zip(labels)
        .filter(|(p, l)| **p == **l as i64)
        .count()
}

/// How many parameter and running-statistic values of `module` are NaN or
/// infinite: a run must not write such a model.
pub fn non_finite_values<M: Module>(module: &M) -> usize {
    struct Count(usize);
    impl ModuleVisitor for Count {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let data = param.val().into_data().convert::<f32>();
            if let Ok(values) = data.as_slice::<f32>() {
                self.0 += values.iter().filter(|v| !v.is_finite()).count();
            }
        }
    }
    let mut count = Count(0);
    module.visit(&mut count);
    count.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn t2(v: Vec<f32>, shape: [usize; 2]) -> Tensor<2> {
        Tensor::from_data(TensorData::new(v, shape), &Device::flex())
    }

    #[test]
    fn cross_entropy_matches_hand_computation() {
        let logits = t2(vec![1.0, 2.0, 3.0, 0.0, 0.0, 0.0], [2, 3]);
        let labels =
            Tensor::<1, Int>::from_data(TensorData::new(vec![2i64, 0], [2]), &Device::flex());
        let got = cross_entropy(logits, labels).into_scalar::<f32>() as f64;
        let lse = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
        let want = ((lse - 3.0) + 3f64.ln()) / 2.0;
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }

    #[test]
    fn distillation_is_zero_for_equal_logits_and_positive_otherwise() {
        let a = t2(vec![1.0, -1.0, 0.5, 0.2, 0.1, 0.0], [2, 3]);
        let same = distillation(a.clone(), a.clone(), 2.0).into_scalar::<f32>();
        assert!(same.abs() < 1e-6);
        let b = t2(vec![0.0, 3.0, 0.5, -2.0, 0.1, 1.0], [2, 3]);
        let kd = distillation(a, b, 2.0).into_scalar::<f32>();
        assert!(kd > 0.01, "{kd}");
    }

    #[test]
    fn cosine_goes_from_base_to_zero() {
        assert_eq!(cosine_lr(0.08, 0, 100), 0.08);
        assert!((cosine_lr(0.08, 50, 100) - 0.04).abs() < 1e-12);
        assert!(cosine_lr(0.08, 100, 100).abs() < 1e-12);
    }
}
