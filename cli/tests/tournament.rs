//! `edgenas tournament` end to end at a tiny scale (T = 2: two games, then
//! their union, then the final run): the record's bookkeeping against the
//! games' own α, and resuming after the last game was lost.

use std::path::Path;
use std::process::Output;

use arch::tournament::{keep_top_half, node_scores, unite};
use arch::{NodeOpSets, OpKind, OpSpace};
use serde_json::Value;

mod common;

use common::{edgenas, read_json};

fn tournament(out: &Path, cache: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["tournament", "--tiers", "2", "--ops-per-game", "3"];
    args.extend_from_slice(common::TINY_NETWORK);
    args.extend_from_slice(common::TINY_RUN);
    args.extend_from_slice(&[
        "--nodes",
        "2",
        "--out",
        out.to_str().unwrap(),
        "--lut-cache",
        cache.to_str().unwrap(),
    ]);
    args.extend_from_slice(extra);
    edgenas(&args)
}

/// A game's kept sets recomputed from its own α file.
fn kept_from_alphas(game_dir: &Path, sets: &NodeOpSets) -> NodeOpSets {
    let alphas = read_json(&game_dir.join("alphas.json"));
    let ops: Vec<OpKind> = serde_json::from_value(alphas["ops"].clone()).unwrap();
    let space = OpSpace::from_ops(ops);
    let relaxation = serde_json::from_value(alphas["relaxation"].clone()).unwrap();
    let flat = |cell: &str| -> Vec<f32> {
        let rows: Vec<Vec<f32>> = serde_json::from_value(alphas[cell].clone()).unwrap();
        rows.concat()
    };
    NodeOpSets {
        normal: keep_top_half(&node_scores(
            &flat("normal"),
            &space,
            &sets.normal,
            relaxation,
        )),
        reduce: keep_top_half(&node_scores(
            &flat("reduce"),
            &space,
            &sets.reduce,
            relaxation,
        )),
    }
}

#[test]
fn a_two_tier_tournament_keeps_unites_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("t");
    let cache = tmp.path().join("lut-cache");
    let run = tournament(&out, &cache, &[]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let record = read_json(&out.join("tournament.json"));
    let games = record["games"].as_array().unwrap();
    assert_eq!(games.len(), 2, "two tiers");
    let tier1 = games[0].as_array().unwrap();
    let tier2 = games[1].as_array().unwrap();
    assert_eq!((tier1.len(), tier2.len()), (2, 1));
    let sets = |g: &Value| -> NodeOpSets { serde_json::from_value(g["sets"].clone()).unwrap() };
    let kept = |g: &Value| -> NodeOpSets { serde_json::from_value(g["kept"].clone()).unwrap() };
    for g in tier1 {
        // The draws: 3 distinct ops of the dynamic space per node.
        for set in sets(g).normal.iter().chain(&sets(g).reduce) {
            assert_eq!(set.len(), 3, "{set:?}");
            assert!(set.iter().all(|op| *op != OpKind::Zero));
        }
        // Each game searched on exactly its sets, and kept the top half
        // of each node by its own α.
        let dir = out.join(g["folder"].as_str().unwrap());
        let job = read_json(&dir.with_extension("job.json"));
        assert_eq!(
            serde_json::from_value::<NodeOpSets>(job["config"]["node_ops"].clone()).unwrap(),
            sets(g)
        );
        assert_eq!(kept(g), kept_from_alphas(&dir, &sets(g)));
        for set in kept(g).normal.iter().chain(&kept(g).reduce) {
            assert_eq!(set.len(), 2);
        }
    }
    // Tier 2 searches on the union of tier 1's kept ops, node by node.
    assert_eq!(sets(&tier2[0]), unite(&kept(&tier1[0]), &kept(&tier1[1])));
    // The genotype is the last game's, and uses only its ops per node.
    let genotype = read_json(&out.join("genotype.json"));
    let last = read_json(&out.join("tier2/game0/genotype.json"));
    assert_eq!(genotype["normal"], last["normal"]);
    let final_sets = sets(&tier2[0]);
    for (cell, node_sets) in [
        ("normal", &final_sets.normal),
        ("reduce", &final_sets.reduce),
    ] {
        for edge in genotype[cell]["edges"].as_array().unwrap() {
            let node = edge["node"].as_u64().unwrap() as usize;
            let op: OpKind = serde_json::from_value(edge["op"].clone()).unwrap();
            assert!(node_sets[node].contains(&op), "{cell} node {node}: {op}");
        }
    }
    // The final run retrained, exported and measured it.
    let summary = read_json(&out.join("final/run.json"));
    assert_eq!(summary["genotype_source"], "given");
    assert_eq!(summary["genotype"]["normal"], genotype["normal"]);
    assert_eq!(summary["tract_accuracy"], summary["test_accuracy"]);

    // Lose the last game and the final run, as an interruption during tier
    // 2 would: --resume keeps tier 1 (not run again) and replays the rest
    // to the same genotype.
    let game0_log = out.join("tier1/game0.log");
    let before = std::fs::metadata(&game0_log).unwrap().modified().unwrap();
    std::fs::remove_dir_all(out.join("tier2")).unwrap();
    std::fs::remove_dir_all(out.join("final")).unwrap();
    let again = tournament(&out, &cache, &["--resume"]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        std::fs::metadata(&game0_log).unwrap().modified().unwrap(),
        before,
        "tier 1's games were not run again"
    );
    let resumed = read_json(&out.join("genotype.json"));
    assert_eq!(
        resumed, genotype,
        "the replayed tier gives the same genotype"
    );

    // Other settings do not resume this tournament.
    let other = tournament(&out, &cache, &["--resume", "--seed", "5"]);
    assert!(!other.status.success());
    assert!(String::from_utf8_lossy(&other.stderr).contains("other settings"));
    // A zero configuration has no meaning in the dynamic space.
    let zero = tournament(&tmp.path().join("z"), &cache, &["--zero", "v2"]);
    assert!(!zero.status.success());
    assert!(String::from_utf8_lossy(&zero.stderr).contains("no `zero` op"));
}

/// `edgenas run --genotype G` retrains G instead of searching, with ops
/// outside the search's space (the table then covers them) and a `zero`
/// edge (dropped: V2–V4 genotypes keep them).
#[test]
fn run_retrains_a_given_genotype() {
    let tmp = tempfile::tempdir().unwrap();
    let g = tmp.path().join("g.json");
    let edge = |node: usize, pred: usize, op: &str| {
        format!(r#"{{"node":{node},"predecessor":{pred},"op":"{op}"}}"#)
    };
    let cell = |ops: [&str; 4]| {
        format!(
            r#"{{"edges":[{},{},{},{}],"concat":[0,1]}}"#,
            edge(0, 0, ops[0]),
            edge(0, 1, ops[1]),
            edge(1, 1, ops[2]),
            edge(1, 2, ops[3])
        )
    };
    std::fs::write(
        &g,
        format!(
            r#"{{"schema_version":1,"relaxation":"darts","n_nodes":2,"normal":{},"reduce":{}}}"#,
            cell(["mbconv_se_3x3", "act_tanh", "zero", "conv_9x1_1x9"]),
            cell([
                "fused_mbconv_3x3",
                "dw_conv_5x5",
                "batch_norm",
                "max_pool_5x5"
            ]),
        ),
    )
    .unwrap();
    let out = tmp.path().join("run");
    let mut args = vec!["run", "--genotype", g.to_str().unwrap(), "--nodes", "2"];
    args.extend_from_slice(common::TINY_NETWORK);
    args.extend_from_slice(common::TINY_RUN);
    let cache = tmp.path().join("lut-cache");
    args.extend_from_slice(&[
        "--out",
        out.to_str().unwrap(),
        "--lut-cache",
        cache.to_str().unwrap(),
    ]);
    let run = edgenas(&args);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let summary = read_json(&out.join("run.json"));
    let given = read_json(&g);
    assert_eq!(summary["genotype_source"], "given");
    assert_eq!(summary["genotype"]["normal"], given["normal"]);
    assert_eq!(summary["genotype"]["reduce"], given["reduce"]);
    assert_eq!(summary["tract_accuracy"], summary["test_accuracy"]);
    assert!(!out.join("search/search.json").exists(), "no search ran");
    // A genotype of other cells than --nodes is refused.
    let mut args = vec!["run", "--genotype", g.to_str().unwrap(), "--nodes", "3"];
    args.extend_from_slice(common::TINY_NETWORK);
    let bad_out = tmp.path().join("bad");
    args.extend_from_slice(&["--out", bad_out.to_str().unwrap()]);
    let bad = edgenas(&args);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("2 nodes per cell"));
}
