//! The inputs of the expected-latency penalty P(α) (docs/algorithms.md §4.3) and its f64
//! reference form. Every cell instance of the deployed network gets its own
//! per-edge, per-op latency vectors at its own shapes; search turns them
//! into a differentiable burn expression.

use arch::shape::NetworkConfig;
use arch::space::{OpKind, node_first_edge};
use serde::{Deserialize, Serialize};

use crate::LutError;
use crate::table::Lut;
use crate::template::{Glue, LutKey, cell_output_size, reads_relu};

pub use artifacts::PenaltyKind;

/// Latency vectors of one cell instance of the deployed network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellCosts {
    pub index: usize,
    pub reduction: bool,
    /// `[edge][op]` in α's layout (ms; `zero` costs 0). An op that starts
    /// with a ReLU includes that ReLU's cost.
    pub edges: Vec<Vec<f64>>,
}

/// Everything P(α) needs from a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PenaltyInputs {
    pub ops: Vec<OpKind>,
    pub n_nodes: usize,
    pub cells: Vec<CellCosts>,
    /// True when the vectors are the dissertation's normalized per-op
    /// weights (one weight per op, summing to 1) instead of milliseconds.
    pub normalized: bool,
}

impl PenaltyInputs {
    /// Builds the vectors of every cell instance of `net`, the network the
    /// search will deploy (not necessarily the one the table was profiled
    /// for: any network whose keys the table covers); `ops` is α's column
    /// order. Errors name a missing key.
    pub fn from_lut(
        lut: &Lut,
        net: &NetworkConfig,
        ops: &[OpKind],
        normalize: bool,
    ) -> Result<Self, LutError> {
        let mut cells = Vec::new();
        for shape in net.cell_layout() {
            let out = cell_output_size(&shape);
            let mut edges = Vec::new();
            for node in 0..net.nodes {
                for pred in 0..node + 2 {
                    let (stride, h) = if shape.reduction && pred < 2 {
                        (2, shape.h_prev)
                    } else {
                        (1, out)
                    };
                    let relu = lut.cost(&LutKey::new(Glue::Relu.name(), shape.c, shape.c, h, 1))?;
                    let row = ops
                        .iter()
                        .map(|&op| {
                            if op == OpKind::Zero {
                                return Ok(0.0);
                            }
                            let cost =
                                lut.cost(&LutKey::new(op.name(), shape.c, shape.c, h, stride))?;
                            Ok(cost + if reads_relu(op, stride) { relu } else { 0.0 })
                        })
                        .collect::<Result<Vec<f64>, LutError>>()?;
                    edges.push(row);
                }
            }
            debug_assert_eq!(edges.len(), node_first_edge(net.nodes));
            cells.push(CellCosts {
                index: shape.index,
                reduction: shape.reduction,
                edges,
            });
        }
        let mut inputs = Self {
            ops: ops.to_vec(),
            n_nodes: net.nodes,
            cells,
            normalized: false,
        };
        if normalize {
            let weights = inputs.normalized_weights();
            for cell in &mut inputs.cells {
                for row in &mut cell.edges {
                    row.clone_from(&weights);
                }
            }
            inputs.normalized = true;
        }
        Ok(inputs)
    }

    /// The dissertation's Table 4.6 form: one weight per op, its mean
    /// latency over every edge of the deployed network divided by the sum of
    /// those means (so the weights sum to 1; `zero` gets 0).
    pub fn normalized_weights(&self) -> Vec<f64> {
        let n = self.ops.len();
        let mut mean = vec![0.0; n];
        let mut count = 0.0;
        for cell in &self.cells {
            for row in &cell.edges {
                for (m, v) in mean.iter_mut().zip(row) {
                    *m += v;
                }
                count += 1.0;
            }
        }
        let total: f64 = mean.iter().sum::<f64>() / count;
        mean.iter().map(|m| m / count / total).collect()
    }
}

/// Algorithm 3 for one cell, in f64. `weights` and `latency` are
/// `[edges][ops]` (the relaxation weights w_j[k, o] of each node's incoming
/// edges, and the per-edge op latencies). Returns (cell latency, node
/// latencies l_j).
pub fn algo3_cell(weights: &[Vec<f64>], latency: &[Vec<f64>], n_nodes: usize) -> (f64, Vec<f64>) {
    let mut l = vec![0.0; n_nodes];
    for j in 0..n_nodes {
        let first = node_first_edge(j);
        let mut sum = 0.0;
        for k in 0..j + 2 {
            let e = first + k;
            let path = if k >= 2 { l[k - 2] } else { 0.0 };
            for (w, lat) in weights[e].iter().zip(&latency[e]) {
                sum += w * (lat + path);
            }
        }
        l[j] = sum;
    }
    let soft = arch::diagnostics::softmax(&l);
    let cell = soft.iter().zip(&l).map(|(s, v)| s * v).sum();
    (cell, l)
}

/// The weights Algorithm 3 uses for α (`[edges][ops]`): the relaxation's
/// weights (joint softmax per node for I-DARTS/XDARTS) and, for DARTS cells,
/// each edge's own softmax divided by the node's number of edges, so a
/// node's weights sum to 1 in every relaxation.
pub fn algo3_weights(
    alpha: &[f64],
    n_ops: usize,
    n_nodes: usize,
    relaxation: arch::space::Relaxation,
) -> Vec<Vec<f64>> {
    let flat = arch::diagnostics::relaxation_weights(alpha, n_ops, n_nodes, relaxation);
    let mut rows: Vec<Vec<f64>> = flat.chunks(n_ops).map(<[f64]>::to_vec).collect();
    if !relaxation.is_joint() {
        for j in 0..n_nodes {
            let first = node_first_edge(j);
            for row in &mut rows[first..first + j + 2] {
                for w in row.iter_mut() {
                    *w /= (j + 2) as f64;
                }
            }
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use arch::space::Relaxation;

    /// Golden vectors (test data outside the repository): `expected_latency` of one cell for every
    /// relaxation, to 1e-9 relative.
    #[test]
    fn algo3_reproduces_the_golden_vectors() {
        let shared = std::env::var_os("EDGENAS_SHARED")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared")
            });
        let path = shared.join("spec-vectors/cells.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!("SKIPPED: {} is absent (needs ../shared)", path.display());
            return;
        };
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut checked = 0;
        for case in doc["cases"].as_array().unwrap() {
            let Some(expected) = case.get("expected_latency") else {
                continue;
            };
            let n_nodes = case["n_nodes"].as_u64().unwrap() as usize;
            let rows = |v: &serde_json::Value| -> Vec<Vec<f64>> {
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|r| {
                        r.as_array()
                            .unwrap()
                            .iter()
                            .map(|x| x.as_f64().unwrap())
                            .collect()
                    })
                    .collect()
            };
            let alpha = rows(&case["alpha"]);
            let latency = rows(&case["latency"]);
            let n_ops = alpha[0].len();
            let flat: Vec<f64> = alpha.concat();
            for (name, relaxation) in [
                ("darts", Relaxation::Darts),
                ("idarts", Relaxation::IDarts),
                ("xdarts", Relaxation::XDarts),
            ] {
                let w = algo3_weights(&flat, n_ops, n_nodes, relaxation);
                let (cell, nodes) = algo3_cell(&w, &latency, n_nodes);
                let want = expected[name]["cell"].as_f64().unwrap();
                assert!(
                    ((cell - want) / want).abs() < 1e-9,
                    "{} {name}: cell {cell} vs {want}",
                    case["name"]
                );
                for (got, want) in nodes
                    .iter()
                    .zip(expected[name]["nodes"].as_array().unwrap())
                {
                    let want = want.as_f64().unwrap();
                    assert!(
                        ((got - want) / want).abs() < 1e-9,
                        "{} {name}: node",
                        case["name"]
                    );
                }
                checked += 1;
            }
        }
        assert!(checked >= 12, "only {checked} golden cases had latencies");
    }

    /// A table profiled for a deployed network of L = 5 covers every key of
    /// the same network at L = 8 (the cells' shapes are the same); P(α) must
    /// cost the network the search deploys, cell for cell.
    #[test]
    fn inputs_cover_the_network_asked_for_not_the_tables_own() {
        use crate::template::{NetSize, Template};
        use arch::space::{OpSpace, ZeroConfig};
        let size = |layers| NetSize {
            channels: 8,
            layers,
        };
        let template = Template {
            in_channels: 1,
            image_size: 8,
            num_classes: 10,
            nodes: 2,
            stem_multiplier: 3,
            ops: OpSpace::darts(ZeroConfig::V1).ops().to_vec(),
            search: size(5),
            search_eval: size(5),
            deploy: size(5),
        };
        let lut = Lut::synthetic(&template, |k| 1e-3 * (k.c_in * k.h_in) as f64);
        let net = |layers| {
            NetworkConfig::new(1, 8, 10)
                .with_channels(8)
                .with_layers(layers)
                .with_nodes(2)
                .with_stem_multiplier(3)
        };
        for layers in [5, 8] {
            let inputs = PenaltyInputs::from_lut(&lut, &net(layers), &template.ops, false).unwrap();
            assert_eq!(
                inputs.cells.len(),
                layers,
                "cells of the L = {layers} network"
            );
            let reductions = inputs.cells.iter().filter(|c| c.reduction).count();
            assert_eq!(reductions, 2);
        }
        // The L = 8 network's P at uniform weights is larger: 3 more cells.
        let total = |layers| {
            let inputs = PenaltyInputs::from_lut(&lut, &net(layers), &template.ops, false).unwrap();
            inputs
                .cells
                .iter()
                .flat_map(|c| c.edges.iter().flatten())
                .sum::<f64>()
        };
        assert!(total(8) > total(5) * 1.3, "{} vs {}", total(8), total(5));
    }

    #[test]
    fn moving_mass_from_identity_to_sep5_raises_latency() {
        let ops = 3; // identity, sep_conv_3x3, sep_conv_5x5
        let latency: Vec<Vec<f64>> = (0..5).map(|_| vec![0.01, 0.2, 0.35]).collect();
        let mut alpha = vec![0.0; 5 * ops];
        let base = algo3_cell(
            &algo3_weights(&alpha, ops, 2, Relaxation::Darts),
            &latency,
            2,
        )
        .0;
        for e in 0..5 {
            alpha[e * ops] -= 1.0;
            alpha[e * ops + 2] += 1.0;
        }
        let moved = algo3_cell(
            &algo3_weights(&alpha, ops, 2, Relaxation::Darts),
            &latency,
            2,
        )
        .0;
        assert!(moved > base, "{moved} <= {base}");
    }
}
