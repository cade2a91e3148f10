//! Predicted latency of a discretized network (docs/algorithms.md §4.2): the per-run
//! overhead plus the cost of every part the exported graph contains, each
//! looked up at its own shape. The walk mirrors `export::network` exactly:
//! one ReLU per rectified value, one `Add` per extra node input, one concat
//! per cell, and each distinct computation once.

use std::collections::BTreeSet;

use arch::genotype::Genotype;
use arch::shape::{CellShape, NetworkConfig};
use arch::space::OpKind;
use serde::{Deserialize, Serialize};

use crate::LutError;
use crate::table::Lut;
use crate::template::{Glue, LutKey, cell_output_size, preprocess0_key, reads_relu};

/// One line of the breakdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartLatency {
    /// `overhead`, `stem`, `cell3 (reduce)`, `classifier`.
    pub part: String,
    pub ms: f64,
    /// The keys looked up for this part, with their cost.
    pub items: Vec<(LutKey, f64)>,
}

/// Predicted latency with its per-part breakdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The prediction: `sum_ms`, calibrated when the table has a calibration.
    pub total_ms: f64,
    /// Sum of the parts' table costs (docs/algorithms.md §4.2's sum of medians).
    pub sum_ms: f64,
    pub calibrated: bool,
    pub parts: Vec<PartLatency>,
}

/// Identity of a value in the network, for the once-per-value ReLU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Value {
    /// Output of the stem (-1) or of cell i.
    CellOut(isize),
    /// Preprocessed input p (0, 1) or node p − 2 of cell i.
    State(usize, usize),
}

/// One term of a node's sum, for the once-per-computation export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Term {
    /// A weight-free op (a pool, or identity at stride 1) of predecessor
    /// p: the same value wherever it appears in the cell.
    Shared(OpKind, usize),
    /// An op with weights: edge k of node j, unique.
    Unique(usize, usize),
}

impl Term {
    fn of(op: OpKind, predecessor: usize, stride: usize, node: usize, k: usize) -> Self {
        let weight_free = matches!(op, OpKind::MaxPool3x3 | OpKind::AvgPool3x3)
            || (op == OpKind::Identity && stride == 1);
        if weight_free {
            Term::Shared(op, predecessor)
        } else {
            Term::Unique(node, k)
        }
    }
}

struct Part<'a> {
    lut: &'a Lut,
    items: Vec<(LutKey, f64)>,
}

impl Part<'_> {
    fn add(&mut self, key: LutKey) -> Result<(), LutError> {
        let cost = self.lut.cost(&key)?;
        self.items.push((key, cost));
        Ok(())
    }

    fn finish(self, name: String) -> PartLatency {
        PartLatency {
            part: name,
            ms: self.items.iter().map(|(_, c)| c).sum(),
            items: self.items,
        }
    }
}

/// Predicts the latency of the evaluation network of `genotype` with
/// `config` from `lut`. Errors name the first missing key.
pub fn predict(
    lut: &Lut,
    genotype: &Genotype,
    config: &NetworkConfig,
) -> Result<Prediction, LutError> {
    let mut parts = Vec::new();
    let mut rectified: BTreeSet<Value> = BTreeSet::new();
    let relu = |part: &mut Part, rectified: &mut BTreeSet<Value>, v: Value, c: usize, h: usize| {
        if rectified.insert(v) {
            part.add(LutKey::new(Glue::Relu.name(), c, c, h, 1))
        } else {
            Ok(())
        }
    };

    let overhead = LutKey::overhead(config.in_channels, config.image_size);
    let mut part = Part { lut, items: vec![] };
    part.add(overhead)?;
    parts.push(part.finish("overhead".into()));

    let c_stem = config.stem_multiplier * config.channels;
    let mut part = Part { lut, items: vec![] };
    part.add(LutKey::new(
        Glue::Stem.name(),
        config.in_channels,
        c_stem,
        config.image_size,
        1,
    ))?;
    parts.push(part.finish("stem".into()));

    let layout = config.cell_layout();
    let live_cells = live_cells(genotype, &layout);
    // The values feeding cell i: s0 = output of cell i−2, s1 = of cell i−1.
    let (mut v0, mut v1) = (Value::CellOut(-1), Value::CellOut(-1));
    for shape in &layout {
        let i = shape.index;
        let cell = if shape.reduction {
            &genotype.reduce
        } else {
            &genotype.normal
        };
        let kind = if shape.reduction { "reduce" } else { "normal" };
        if !live_cells[i] {
            parts.push(PartLatency {
                part: format!("cell{i} ({kind}, dead: pruned by the runtime)"),
                ms: 0.0,
                items: vec![],
            });
            (v0, v1) = (v1, Value::CellOut(i as isize));
            continue;
        }
        let live = cell.live_states(genotype.n_nodes);
        let mut part = Part { lut, items: vec![] };
        if live[0] {
            relu(
                &mut part,
                &mut rectified,
                v0,
                shape.c_prev_prev,
                shape.h_prev_prev,
            )?;
            part.add(preprocess0_key(shape))?;
        }
        if live[1] {
            relu(&mut part, &mut rectified, v1, shape.c_prev, shape.h_prev)?;
            part.add(LutKey::new(
                Glue::ConvBn1x1.name(),
                shape.c_prev,
                shape.c,
                shape.h_prev,
                1,
            ))?;
        }
        let out = cell_output_size(shape);
        // The export emits each distinct computation once
        // (`runtime::onnx::GraphBuilder::node`): a weight-free op of a state
        // that an earlier node already applied, and an `Add` chain whose
        // terms so far repeat an earlier node's, cost nothing the second time.
        let mut shared: BTreeSet<Term> = BTreeSet::new();
        let mut sums: BTreeSet<Vec<Term>> = BTreeSet::new();
        for node in (0..genotype.n_nodes).filter(|&node| live[node + 2]) {
            let inputs: Vec<_> = cell.node_inputs(node).collect();
            let mut terms = Vec::with_capacity(inputs.len());
            for (k, edge) in inputs.iter().enumerate() {
                // A `zero` edge (V2–V4) is dropped, or adds a constant
                // after the node's sum: costed as nothing (one broadcast
                // Add at most, within the table's noise).
                if edge.op == OpKind::Zero {
                    continue;
                }
                let p = edge.predecessor;
                let (stride, h) = if shape.reduction && p < 2 {
                    (2, shape.h_prev)
                } else {
                    (1, out)
                };
                let term = Term::of(edge.op, p, stride, node, k);
                terms.push(term);
                if matches!(term, Term::Shared(..)) && !shared.insert(term) {
                    continue;
                }
                if reads_relu(edge.op, stride) {
                    relu(&mut part, &mut rectified, Value::State(i, p), shape.c, h)?;
                }
                part.add(LutKey::new(edge.op.name(), shape.c, shape.c, h, stride))?;
            }
            for k in 1..terms.len() {
                let mut chain = terms[..=k].to_vec();
                chain[..2].sort_unstable();
                if sums.insert(chain) {
                    part.add(LutKey::new(Glue::Add.name(), shape.c, shape.c, out, 1))?;
                }
            }
        }
        part.add(LutKey::new(
            Glue::Concat.name(),
            shape.c,
            cell.concat.len() * shape.c,
            out,
            1,
        ))?;
        parts.push(part.finish(format!("cell{i} ({kind})")));
        (v0, v1) = (v1, Value::CellOut(i as isize));
    }

    let last = layout.last().expect("a network has cells");
    let last_cell = if last.reduction {
        &genotype.reduce
    } else {
        &genotype.normal
    };
    let mut part = Part { lut, items: vec![] };
    part.add(LutKey::new(
        Glue::Classifier.name(),
        last_cell.concat.len() * last.c,
        config.num_classes,
        cell_output_size(last),
        1,
    ))?;
    parts.push(part.finish("classifier".into()));

    let sum_ms: f64 = parts.iter().map(|p| p.ms).sum();
    let total_ms = lut
        .calibration
        .as_ref()
        .map_or(sum_ms, |c| c.scale * sum_ms + c.offset_ms);
    Ok(Prediction {
        total_ms,
        sum_ms,
        calibrated: lut.calibration.is_some(),
        parts,
    })
}

/// Which cells the network output depends on. The last cell feeds the
/// classifier; a live cell keeps cell i − 2 alive when it reads c_{k-2} and
/// cell i − 1 when it reads c_{k-1}. A genotype whose normal cell never
/// reads c_{k-1} can leave whole cells dead, and tract prunes them from the
/// plan, so they cost nothing.
fn live_cells(genotype: &Genotype, layout: &[CellShape]) -> Vec<bool> {
    let mut live = vec![false; layout.len()];
    if let Some(last) = live.last_mut() {
        *last = true;
    }
    for shape in layout.iter().rev() {
        let i = shape.index;
        if !live[i] {
            continue;
        }
        let cell = if shape.reduction {
            &genotype.reduce
        } else {
            &genotype.normal
        };
        let states = cell.live_states(genotype.n_nodes);
        if states[0] && i >= 2 {
            live[i - 2] = true;
        }
        if states[1] && i >= 1 {
            live[i - 1] = true;
        }
    }
    live
}
