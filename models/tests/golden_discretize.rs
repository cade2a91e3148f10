//! The discretization golden vectors of `shared/spec-vectors/cells.json`
//! (SPEC §2.2): every case, every relaxation, exact match.
//!
//! The file lives outside the crate; set `EDGENAS_SHARED` to the `shared/`
//! directory if it is not at `../../shared` from this crate. When it cannot
//! be found the test says SKIPPED on stderr rather than passing silently.

use std::path::PathBuf;

use models::discretize::discretize_cell;
use models::space::cell_edges;
use models::{OpKind, OpSpace, Relaxation};
use serde_json::Value;

const RELAXATIONS: [Relaxation; 3] = [Relaxation::Darts, Relaxation::IDarts, Relaxation::XDarts];

fn golden_path() -> PathBuf {
    std::env::var_os("EDGENAS_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
        .join("spec-vectors/cells.json")
}

/// A kept input as the golden file writes it: `[node, predecessor, op]`.
type Triple = (usize, usize, String);

fn triples(value: &Value, what: &str) -> Vec<Triple> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("{what}: not a list"))
        .iter()
        .map(|t| {
            (
                t[0].as_u64().expect("node") as usize,
                t[1].as_u64().expect("predecessor") as usize,
                t[2].as_str().expect("op name").to_string(),
            )
        })
        .collect()
}

#[test]
fn golden_vectors_discretize_exactly() {
    let path = golden_path();
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!(
            "SKIPPED: golden vectors {} not found (set EDGENAS_SHARED to the shared/ directory)",
            path.display()
        );
        return;
    };
    let doc: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{}: invalid json: {e}", path.display()));
    let cases = doc["cases"].as_array().expect("a `cases` list");
    assert!(!cases.is_empty(), "{}: no cases", path.display());

    let mut failures = Vec::new();
    let mut checked = 0;
    for case in cases {
        let name = case["name"].as_str().expect("case name");
        let ops: Vec<OpKind> = case["ops"]
            .as_array()
            .expect("ops")
            .iter()
            .map(|o| {
                let o = o.as_str().expect("op name");
                o.parse().unwrap_or_else(|e| panic!("case {name}: {e}"))
            })
            .collect();
        let space = OpSpace::from_ops(ops);
        let n_nodes = case["n_nodes"].as_u64().expect("n_nodes") as usize;

        // The α rows must be laid out as ours are, or nothing below means
        // anything.
        let edge_order: Vec<(usize, usize)> = case["edge_order"]
            .as_array()
            .expect("edge_order")
            .iter()
            .map(|e| {
                (
                    e[0].as_u64().unwrap() as usize,
                    e[1].as_u64().unwrap() as usize,
                )
            })
            .collect();
        assert_eq!(edge_order, cell_edges(n_nodes), "case {name}: edge order");

        let rows = case["alpha"].as_array().expect("alpha");
        assert!(
            rows.iter()
                .all(|r| r.as_array().is_some_and(|r| r.len() == space.len())),
            "case {name}: every α row needs {} values",
            space.len()
        );
        let alpha: Vec<f64> = rows
            .iter()
            .flat_map(|row| row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
            .collect();

        for relaxation in RELAXATIONS {
            let want = triples(
                &case["expected"][relaxation.name()],
                &format!("case {name}, expected.{relaxation}"),
            );
            let cell = discretize_cell(&alpha, &space, n_nodes, relaxation);
            let got: Vec<Triple> = cell
                .edges
                .iter()
                .map(|e| (e.node, e.predecessor, e.op.name().to_string()))
                .collect();
            if got != want {
                eprintln!("FAILED: case {name}, {relaxation}\n  want {want:?}\n  got  {got:?}");
                failures.push(format!("{name}/{relaxation}"));
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} (case, relaxation) pairs differ: {}",
        failures.len(),
        failures.join(", ")
    );
    eprintln!("checked {checked} (case, relaxation) pairs");
}
