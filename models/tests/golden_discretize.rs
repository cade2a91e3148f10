//! The discretization golden vectors of `shared/spec-vectors/cells.json`
//! (docs/algorithms.md §2.2): every case, every relaxation, exact match.

use std::path::PathBuf;

use models::discretize::discretize_cell_f64;
use models::{OpKind, OpSpace, Relaxation};
use serde_json::Value;

fn shared_dir() -> PathBuf {
    std::env::var_os("EDGENAS_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
}

#[test]
fn golden_vectors_discretize_exactly() {
    let path = shared_dir().join("spec-vectors/cells.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!(
            "SKIPPED: golden vectors {} not found (set EDGENAS_SHARED)",
            path.display()
        );
        return;
    };
    let doc: Value = serde_json::from_str(&text).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 9, "expected the 9 published cases");
    let mut checked = 0;
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let ops: Vec<OpKind> = case["ops"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_str().unwrap().parse().unwrap())
            .collect();
        let space = OpSpace::from_ops(ops);
        let n_nodes = case["n_nodes"].as_u64().unwrap() as usize;
        let edge_order: Vec<(u64, u64)> = case["edge_order"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e[0].as_u64().unwrap(), e[1].as_u64().unwrap()))
            .collect();
        let ours: Vec<(u64, u64)> = models::space::cell_edges(n_nodes)
            .into_iter()
            .map(|(n, p)| (n as u64, p as u64))
            .collect();
        assert_eq!(edge_order, ours, "{name}: edge order");
        let alpha: Vec<f64> = case["alpha"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
            .collect();
        for relaxation in [Relaxation::Darts, Relaxation::IDarts, Relaxation::XDarts] {
            let cell = discretize_cell_f64(&alpha, &space, n_nodes, relaxation);
            let got: Vec<(u64, u64, String)> = cell
                .edges
                .iter()
                .map(|e| (e.node as u64, e.predecessor as u64, e.op.name().to_string()))
                .collect();
            let want: Vec<(u64, u64, String)> = case["expected"][relaxation.name()]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    (
                        t[0].as_u64().unwrap(),
                        t[1].as_u64().unwrap(),
                        t[2].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            assert_eq!(got, want, "case {name}, relaxation {relaxation}");
            checked += 1;
        }
    }
    eprintln!("checked {checked} (case, relaxation) pairs");
}
