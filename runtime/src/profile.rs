//! Per-node times of an optimized tract plan, as [`crate::TractPlan::profile`]
//! measures them and device-bench reports them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Time spent in one node of the optimized graph, averaged over the
/// profiled runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeTime {
    /// Node name in the optimized graph (tract keeps the ONNX names of the
    /// nodes it does not fuse, e.g. `cell0/node1/from_c_k-1/sep_conv_3x3/...`).
    pub name: String,
    /// tract's operator after optimization (`Conv`, `OptMatMul`, `Add`…).
    pub op: String,
    pub mean_ms: f64,
    /// Share of the summed node times, percent.
    pub percent: f64,
}

/// Per-node times of one plan, slowest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Runs the means are taken over.
    pub runs: usize,
    /// Sum of the node means: the plan's time without tract's per-run
    /// overhead (state set-up, input copy).
    pub nodes_total_ms: f64,
    pub nodes: Vec<NodeTime>,
    /// The same times summed per operator kind, slowest first.
    pub by_op: Vec<OpTime>,
}

/// Time of all nodes of one operator kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpTime {
    pub op: String,
    pub nodes: usize,
    pub mean_ms: f64,
    pub percent: f64,
}

impl Profile {
    /// The profile of `(name, op, total time)` per node over `runs` runs
    /// (at least 1 is divided by). Nodes that never ran (constants, or
    /// nodes tract evaluates outside the plan) are left out.
    pub fn from_totals(
        totals: impl IntoIterator<Item = (String, String, Duration)>,
        runs: usize,
    ) -> Self {
        let runs = runs.max(1);
        let mut nodes: Vec<NodeTime> = totals
            .into_iter()
            .filter(|(_, _, t)| !t.is_zero())
            .map(|(name, op, t)| NodeTime {
                name,
                op,
                mean_ms: t.as_secs_f64() * 1e3 / runs as f64,
                percent: 0.0,
            })
            .collect();
        let total: f64 = nodes.iter().map(|n| n.mean_ms).sum();
        let share = |ms: f64| if total > 0.0 { 100.0 * ms / total } else { 0.0 };
        for n in &mut nodes {
            n.percent = share(n.mean_ms);
        }
        nodes.sort_by(|a, b| b.mean_ms.total_cmp(&a.mean_ms));
        let mut by_op: Vec<OpTime> = Vec::new();
        for n in &nodes {
            match by_op.iter_mut().find(|o| o.op == n.op) {
                Some(o) => {
                    o.nodes += 1;
                    o.mean_ms += n.mean_ms;
                }
                None => by_op.push(OpTime {
                    op: n.op.clone(),
                    nodes: 1,
                    mean_ms: n.mean_ms,
                    percent: 0.0,
                }),
            }
        }
        for o in &mut by_op {
            o.percent = share(o.mean_ms);
        }
        by_op.sort_by(|a, b| b.mean_ms.total_cmp(&a.mean_ms));
        Self {
            runs,
            nodes_total_ms: total,
            nodes,
            by_op,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_and_ops_are_sorted_and_shared_out() {
        let ms = Duration::from_millis;
        let p = Profile::from_totals(
            [
                ("a".into(), "Conv".into(), ms(2)),
                ("b".into(), "Add".into(), ms(4)),
                ("c".into(), "Conv".into(), ms(6)),
                ("d".into(), "Const".into(), Duration::ZERO),
            ],
            2,
        );
        assert_eq!(p.runs, 2);
        let names: Vec<&str> = p.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["c", "b", "a"]);
        assert!((p.nodes_total_ms - 6.0).abs() < 1e-12);
        assert_eq!(p.by_op[0].op, "Conv");
        assert_eq!(p.by_op[0].nodes, 2);
        assert!((p.by_op[0].percent - 400.0 / 6.0).abs() < 1e-9);
        assert!((p.nodes.iter().map(|n| n.percent).sum::<f64>() - 100.0).abs() < 1e-9);
    }
}
