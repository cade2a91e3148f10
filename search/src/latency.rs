//! The expected-latency penalty δ·P(α) (docs/algorithms.md §4.3) as a differentiable burn
//! expression over the measured table's per-edge latency vectors of every
//! cell instance of the deployed network.

use artifacts::{PenaltyKind, PenaltySettings};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor, TensorData};
use latency_lut::penalty::PenaltyInputs;
use latency_lut::{Lut, LutError, predict};
use models::genotype::Genotype;
use models::network::{Alphas, NetworkConfig, mixing_weights};
use models::space::{Relaxation, node_first_edge};

/// δ·P(α) built from a latency table.
pub struct LatencyPenalty {
    pub inputs: PenaltyInputs,
    /// δ, P, units and the table's identity, as `search.json` records them.
    pub settings: PenaltySettings,
    /// The table and deployed network `report` predicts the genotype with.
    predictor: Option<(Lut, NetworkConfig)>,
}

impl LatencyPenalty {
    /// Checks that `lut` covers `needed` (the search's own template) before
    /// any training, then prepares the per-cell latency vectors.
    /// `settings` gives δ, P and the units; the table's fingerprint, device
    /// and deployed network are recorded into the penalty's settings.
    pub fn new(
        lut: Lut,
        needed: &latency_lut::Template,
        settings: &PenaltySettings,
    ) -> Result<Self, LutError> {
        lut.check_covers(needed)?;
        let deploy = needed.deploy_network();
        let inputs = PenaltyInputs::from_lut(&lut, &deploy, &needed.ops, settings.normalize)?;
        let mut settings = settings.clone();
        settings.lut_fingerprint = Some(lut.fingerprint.clone());
        settings.lut_hash = lut.file_hash.clone();
        settings.lut_device = Some(lut.device.profile.name.clone());
        settings.deploy_network = Some((deploy.channels, deploy.layers));
        Ok(Self {
            inputs,
            settings,
            predictor: Some((lut, deploy)),
        })
    }

    /// A penalty over explicit latency vectors (no table: `report` then has
    /// no predicted latency).
    pub fn from_inputs(inputs: PenaltyInputs, kind: PenaltyKind, coef: f64) -> Self {
        let settings = PenaltySettings::new(coef, kind, inputs.normalized);
        Self {
            inputs,
            settings,
            predictor: None,
        }
    }

    /// Predicted latency (ms) of the deployed network of `genotype` by the
    /// calibrated table; None without a table.
    pub fn predict(&self, genotype: &Genotype) -> Option<f64> {
        self.predictor
            .as_ref()
            .and_then(|(lut, deploy)| predict(lut, genotype, deploy).ok())
            .map(|p| p.total_ms)
    }

    /// P(α) (unscaled) as a `[1]` tensor on α's device: milliseconds, the
    /// normalized weights' units with `normalize`, or unitless P(α)/budget
    /// under a latency budget.
    pub fn expected_latency(&self, alphas: &Alphas, relaxation: Relaxation) -> Tensor<1> {
        let n_nodes = self.inputs.n_nodes;
        let smooth_max = self.settings.kind == PenaltyKind::Algo3;
        let weights = |alpha: Tensor<2>| -> Tensor<2> {
            let w = mixing_weights(alpha, relaxation, n_nodes);
            if relaxation.is_joint() || !smooth_max {
                // The expected sum is Σ_edges Σ_o softmax·lat with each
                // edge's own softmax (docs/algorithms.md §4.3).
                return w;
            }
            // Algorithm 3 on DARTS cells: each edge's softmax divided by its
            // node's edge count, so a node's weights sum to 1.
            let [edges, _] = w.dims();
            let scale: Vec<f32> = (0..n_nodes)
                .flat_map(|j| std::iter::repeat_n(1.0 / (j + 2) as f32, j + 2))
                .collect();
            debug_assert_eq!(scale.len(), edges);
            let device = w.device();
            w * Tensor::<2>::from_data(TensorData::new(scale, [edges, 1]), &device)
        };
        let w_normal = weights(alphas.normal.val());
        let w_reduce = weights(alphas.reduce.val());
        let device = w_normal.device();
        let mut total: Option<Tensor<1>> = None;
        for cell in &self.inputs.cells {
            let w = if cell.reduction { &w_reduce } else { &w_normal };
            let latency = latency_tensor(&cell.edges, &device);
            let term = match self.settings.kind {
                PenaltyKind::ExpectedSum => (w.clone() * latency).sum(),
                PenaltyKind::Algo3 => algo3(w.clone(), latency, n_nodes),
            };
            total = Some(match total {
                Some(t) => t + term,
                None => term,
            });
        }
        let total = total.expect("a network has cells");
        match self.settings.budget_ms {
            Some(budget) => total.div_scalar(budget),
            None => total,
        }
    }
}

fn latency_tensor(rows: &[Vec<f64>], device: &Device) -> Tensor<2> {
    let ops = rows[0].len();
    let flat: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), ops]), device)
}

/// Algorithm 3 of docs/algorithms.md §4.3 on one cell: `w` and `latency` are `[edges, ops]`.
fn algo3(w: Tensor<2>, latency: Tensor<2>, n_nodes: usize) -> Tensor<1> {
    let [edges, _] = w.dims();
    // Σ_o w·lat per edge, and Σ_o w (the weight of the path term) per edge.
    let expected = (w.clone() * latency).sum_dim(1).reshape([edges]);
    let mass = w.sum_dim(1).reshape([edges]);
    let mut l: Vec<Tensor<1>> = Vec::with_capacity(n_nodes);
    for j in 0..n_nodes {
        let first = node_first_edge(j);
        let mut lj = expected.clone().slice(first..first + j + 2).sum();
        for k in 2..j + 2 {
            let e = first + k;
            lj = lj + mass.clone().slice(e..e + 1) * l[k - 2].clone();
        }
        l.push(lj);
    }
    let l = Tensor::cat(l, 0).reshape([1, n_nodes]);
    (softmax(l.clone(), 1) * l).sum()
}

impl crate::icdarts::AlphaPenalty for LatencyPenalty {
    fn expected(&self, alphas: &Alphas, relaxation: Relaxation) -> Tensor<1> {
        self.expected_latency(alphas, relaxation)
    }

    fn predicted_ms(&self, genotype: &Genotype) -> f64 {
        self.predict(genotype).unwrap_or(f64::NAN)
    }

    fn settings(&self) -> Option<PenaltySettings> {
        Some(self.settings.clone())
    }
}
