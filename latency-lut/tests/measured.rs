//! Real measurements with tract: relations that hold on any CPU, a small
//! template profiled end to end against the reference workload (resumable
//! partial file, prediction of every genotype), validation in the
//! reference's unit with the host's noise, and rejection of corrupt,
//! truncated, wrong-schema and wrong-device tables.

use std::path::Path;
use std::sync::Mutex;

use arch::genotype::random_genotype;
use arch::space::{OpSpace, Relaxation, ZeroConfig};
use latency_lut::measure::{Backend, Backends, Tract};
use latency_lut::profile::{partial_path, profile};
use latency_lut::validate::{MAX_PROFILE_SHIFT_PCT, MAX_REPEAT_NOISE_PCT, Units};
use latency_lut::{DeviceProfile, Lut, LutKey, NetSize, Stats, Template, predict};

/// Tests that time things hold this, so that they do not time each other.
static TIMING: Mutex<()> = Mutex::new(());

fn timing() -> std::sync::MutexGuard<'static, ()> {
    TIMING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn quick_cpu() -> DeviceProfile {
    DeviceProfile {
        warmup: 5,
        repeats: 30,
        ..DeviceProfile::cpu()
    }
}

fn median(key: &LutKey, profile: &DeviceProfile) -> f64 {
    Stats::from_samples(&Tract.measure_key(key, profile).unwrap().times_ms).median
}

#[test]
fn sep5_is_slower_than_sep3_is_slower_than_identity() {
    let _timing = timing();
    let profile = DeviceProfile {
        repeats: 60,
        ..quick_cpu()
    };
    // A shape large enough that the kernels, not the dispatch, dominate.
    let key = |op: &str| LutKey::new(op, 32, 32, 16, 1);
    let (sep5, sep3, id) = (
        median(&key("sep_conv_5x5"), &profile),
        median(&key("sep_conv_3x3"), &profile),
        median(&key("identity"), &profile),
    );
    assert!(
        sep5 > sep3 && sep3 > id,
        "sep5 {sep5} ms, sep3 {sep3} ms, identity {id} ms"
    );
    // Stride 2 halves the output: the strided sep_conv is cheaper.
    let strided = median(&LutKey::new("sep_conv_3x3", 32, 32, 16, 2), &profile);
    assert!(
        strided < sep3,
        "stride 2 {strided} ms vs stride 1 {sep3} ms"
    );
}

fn small_template() -> Template {
    Template {
        in_channels: 1,
        image_size: 8,
        num_classes: 10,
        nodes: 2,
        stem_multiplier: 3,
        ops: OpSpace::darts(ZeroConfig::V1).ops().to_vec(),
        search: NetSize {
            channels: 4,
            layers: 3,
        },
        search_eval: NetSize {
            channels: 4,
            layers: 3,
        },
        deploy: NetSize {
            channels: 8,
            layers: 3,
        },
    }
}

/// `template` profiled with `quick_cpu` into a temporary folder (kept
/// alive by the returned guard).
fn profiled(template: &Template) -> (tempfile::TempDir, Lut) {
    let dir = tempfile::tempdir().unwrap();
    let lut = profile(
        template,
        &quick_cpu(),
        &Backends::tract_only(),
        &dir.path().join("lut.json"),
        &mut |_, _, _| {},
    )
    .unwrap();
    (dir, lut)
}

fn edge(node: usize, predecessor: usize, op: arch::space::OpKind) -> arch::genotype::GenotypeEdge {
    arch::genotype::GenotypeEdge {
        node,
        predecessor,
        op,
    }
}

#[test]
fn profile_covers_the_template_and_predicts_any_genotype() {
    let _timing = timing();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lut.json");
    let template = small_template();
    let mut calls = 0;
    let lut = profile(
        &template,
        &quick_cpu(),
        &Backends::tract_only(),
        &out,
        &mut |_, _, _| calls += 1,
    )
    .unwrap();
    assert!(calls > template.keys().len());
    assert!(!partial_path(&out).exists(), "partial file left behind");
    let loaded = Lut::load(&out).unwrap();
    assert!(loaded == lut, "the table does not round-trip through JSON");
    loaded.check_covers(&template).unwrap();
    // Every key was timed against the reference workload; the table's unit
    // is the median of the reference's times, one per key.
    let reference = loaded
        .reference
        .as_ref()
        .expect("a tract table has a reference");
    assert_eq!(reference.workload, runtime::reference::REFERENCE_WORKLOAD);
    assert_eq!(reference.noise.items, loaded.entries.len());
    assert_eq!(reference.median_ms, reference.noise.reference_median_ms);
    assert!(
        loaded.entries.iter().all(|e| e
            .reference
            .as_ref()
            .is_some_and(|r| r.ratio.count == 30 && r.median_ms > 0.0)),
        "an entry without its reference measurement"
    );
    let space = OpSpace::from_ops(template.ops.clone());
    let mut state = 1u64;
    for relaxation in [Relaxation::Darts, Relaxation::IDarts, Relaxation::XDarts] {
        let g = random_genotype(relaxation, 2, &space, &mut |n| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            (state >> 33) as usize % n
        });
        let p = predict(&loaded, &g, &template.deploy_network()).unwrap();
        let sum: f64 = p.parts.iter().map(|x| x.ms).sum();
        assert!(p.total_ms > 0.0 && (p.total_ms - sum).abs() < 1e-12);
        assert_eq!(p.parts.len(), 3 + 3, "overhead, stem, 3 cells, classifier");
    }
    // A bigger deployed network needs keys the table lacks: named.
    let mut bigger = template.clone();
    bigger.deploy.channels = 12;
    let err = loaded.check_covers(&bigger).unwrap_err().to_string();
    assert!(err.contains("no entry") && err.contains("c_in=12"), "{err}");
}

#[test]
fn cells_the_output_does_not_read_cost_nothing() {
    let _timing = timing();
    use arch::genotype::{CellGenotype, Genotype};
    use arch::space::OpKind;
    let template = small_template();
    let (_dir, lut) = profiled(&template);
    // XDARTS cells that never read c_{k-1}: each cell reads only cell i − 2.
    let only_prev_prev = CellGenotype {
        edges: vec![
            edge(0, 0, OpKind::SepConv3x3),
            edge(0, 0, OpKind::Identity),
            edge(1, 0, OpKind::SepConv5x5),
            edge(1, 0, OpKind::MaxPool3x3),
            edge(1, 2, OpKind::SepConv3x3),
        ],
        concat: vec![0, 1],
    };
    let g = Genotype {
        schema_version: arch::genotype::GENOTYPE_SCHEMA_VERSION,
        relaxation: Relaxation::XDarts,
        n_nodes: 2,
        normal: only_prev_prev.clone(),
        reduce: only_prev_prev,
    };
    g.validate().unwrap();
    let p = predict(&lut, &g, &template.deploy_network()).unwrap();
    // 3 cells: cell 2 feeds the classifier and reads cell 0; cell 1 is dead.
    let cell = |i: usize| {
        p.parts
            .iter()
            .find(|x| x.part.starts_with(&format!("cell{i} ")))
            .unwrap()
    };
    assert!(cell(0).ms > 0.0 && cell(2).ms > 0.0);
    assert!(
        cell(1).part.contains("dead") && cell(1).items.is_empty(),
        "{:?}",
        cell(1)
    );
    // Nothing reads c_{k-1}, so no cell pays for its preprocessing conv.
    for i in [0, 2] {
        let convs = cell(i)
            .items
            .iter()
            .filter(|(k, _)| k.op == "conv_bn_1x1")
            .count();
        let reduces = cell(i)
            .items
            .iter()
            .filter(|(k, _)| k.op == "factorized_reduce")
            .count();
        assert_eq!(convs + reduces, 1, "cell{i}: {:?}", cell(i).items);
    }
}

#[test]
fn an_interrupted_profile_resumes_from_its_partial_file() {
    let _timing = timing();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lut.json");
    let template = small_template();
    let profile_cfg = quick_cpu();
    // Simulate an interruption: a partial table holding the first 5 entries.
    let full = profile(
        &template,
        &profile_cfg,
        &Backends::tract_only(),
        &dir.path().join("full.json"),
        &mut |_, _, _| {},
    )
    .unwrap();
    let first: Vec<_> = full.entries[..5].to_vec();
    let partial = Lut::new(full.device.clone(), template.clone(), first.clone());
    partial.save(&partial_path(&out)).unwrap();
    let resumed = profile(
        &template,
        &profile_cfg,
        &Backends::tract_only(),
        &out,
        &mut |_, _, _| {},
    )
    .unwrap();
    for e in &first {
        assert_eq!(
            resumed.get(&e.key),
            Some(&e.stats),
            "{} was measured again",
            e.key
        );
    }
    assert_eq!(resumed.entries.len(), full.entries.len());
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn bad_tables_are_rejected_with_the_file_and_problem() {
    let _timing = timing();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lut.json");
    let template = small_template();
    profile(
        &template,
        &quick_cpu(),
        &Backends::tract_only(),
        &out,
        &mut |_, _, _| {},
    )
    .unwrap();
    let good = std::fs::read_to_string(&out).unwrap();

    let cases = [
        (
            "truncated.json",
            good[..good.len() / 2].to_string(),
            "truncated",
        ),
        ("corrupt.json", good.replacen('{', "{]", 1), "corrupt"),
        (
            "other.json",
            "{\"kind\": \"genotype\"}".to_string(),
            "not a latency table",
        ),
        (
            "schema.json",
            good.replacen("\"schema_version\": 2", "\"schema_version\": 9", 1),
            "schema_version",
        ),
        (
            "fields.json",
            good.replacen("\"median\"", "\"middle\"", 1),
            "wrong schema",
        ),
        (
            "edited.json",
            good.replacen("\"batch\": 1", "\"batch\": 2", 1),
            "fingerprint",
        ),
    ];
    // A calibration that would make predictions negative, zero or
    // meaningless (it was accepted, and search used it).
    let with_calibration = |scale: f64| {
        let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
        v["calibration"] = serde_json::json!({
            "scale": scale, "offset_ms": 0.0, "samples": 5, "seed": 1, "fit_rmse_pct": 3.0
        });
        serde_json::to_string(&v).unwrap()
    };
    // The reference workload's parts, edited apart.
    let edited = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
        edit(&mut v);
        serde_json::to_string(&v).unwrap()
    };
    let cases = cases.into_iter().chain([
        (
            "negative-scale.json",
            with_calibration(-1.0),
            "invalid calibration",
        ),
        (
            "zero-scale.json",
            with_calibration(0.0),
            "invalid calibration",
        ),
        (
            "unreferenced-entry.json",
            edited(&|v| {
                v["entries"][0].as_object_mut().unwrap().remove("reference");
            }),
            "1 of its",
        ),
        (
            "no-table-reference.json",
            edited(&|v| {
                v.as_object_mut().unwrap().remove("reference");
            }),
            "records none",
        ),
        (
            "other-workload.json",
            edited(&|v| v["reference"]["workload"] = "edgenas-conv-v0".into()),
            "\"edgenas-conv-v0\"",
        ),
        (
            "zero-reference.json",
            edited(&|v| v["reference"]["median_ms"] = 0.0.into()),
            "invalid reference time",
        ),
        (
            "bad-ratio.json",
            edited(&|v| v["entries"][0]["reference"]["ratio"]["median"] = (-1.0).into()),
            "invalid reference measurement",
        ),
        (
            "v1-with-reference.json",
            edited(&|v| v["schema_version"] = 1.into()),
            "schema_version 1",
        ),
    ]);
    Lut::load(&write(
        dir.path(),
        "calibrated.json",
        &with_calibration(1.2),
    ))
    .unwrap();
    for (name, text, problem) in cases {
        let p = write(dir.path(), name, &text);
        let err = Lut::load(&p).unwrap_err().to_string();
        assert!(err.contains(name) && err.contains(problem), "{name}: {err}");
    }
    let lut = Lut::load(&out).unwrap();
    let err = lut.expect_device(&out, "jetson").unwrap_err().to_string();
    assert!(err.contains("lut.json") && err.contains("\"cpu\""), "{err}");
}

/// Two runs on one empty cache: the second waits for the first's profile
/// and calibration and reuses them (both used to profile and calibrate, the
/// last writer won, and the first run's records cited a table that was
/// gone). A cached table that does not load is an error naming it.
#[test]
fn concurrent_runs_share_one_cached_table() {
    let _timing = timing();
    let dir = tempfile::tempdir().unwrap();
    let template = small_template();
    let profile = quick_cpu();
    let cache = latency_lut::Cache::new(dir.path());
    let (a, b) = std::thread::scope(|s| {
        let run = || {
            cache
                .get_or_profile(
                    &profile,
                    &template,
                    &Backends::tract_only(),
                    &artifacts::progress::Silent,
                )
                .unwrap()
        };
        let a = s.spawn(run);
        let b = s.spawn(run);
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(a.1, b.1);
    let (ca, cb) = (a.0.calibration.unwrap(), b.0.calibration.unwrap());
    assert_eq!((ca.scale, ca.offset_ms), (cb.scale, cb.offset_ms));
    assert_eq!(a.0.entries.len(), b.0.entries.len());
    // Both cite the bytes of the one file on disk.
    let on_disk = latency_lut::table::file_sha256(&std::fs::read(&a.1).unwrap());
    assert_eq!(a.0.file_hash.as_deref(), Some(on_disk.as_str()));
    assert_eq!(b.0.file_hash, a.0.file_hash);

    std::fs::write(&a.1, b"{\"kind\": ").unwrap();
    let err = cache
        .get_or_profile(
            &profile,
            &template,
            &Backends::tract_only(),
            &artifacts::progress::Silent,
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&a.1.display().to_string()) && err.contains("delete it"),
        "{err}"
    );
}

/// latency-lut measures tract only; a burn-cuda (jetson) profile fails
/// before any measurement and says where such a table is measured.
#[test]
fn jetson_without_a_burn_backend_fails_at_once_with_instructions() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("jetson.json");
    let err = profile(
        &small_template(),
        &DeviceProfile::jetson(),
        &Backends::tract_only(),
        &out,
        &mut |_, _, _| panic!("measured something on a jetson profile without CUDA"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("--features cuda") && err.contains("jetson"),
        "{err}"
    );
    assert!(!out.exists() && !partial_path(&out).exists());
}

#[test]
fn calibration_is_stored_applied_and_kept_apart_from_validation() {
    let _timing = timing();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lut.json");
    let template = small_template();
    let mut lut = profile(
        &template,
        &quick_cpu(),
        &Backends::tract_only(),
        &out,
        &mut |_, _, _| {},
    )
    .unwrap();
    let c = latency_lut::validate::calibrate(&lut, &Backends::tract_only(), 6, 5, &mut |_, _| {})
        .unwrap();
    assert!(c.scale.is_finite() && c.offset_ms.is_finite() && c.fit_rmse_pct.is_finite());
    assert_eq!((c.samples, c.seed), (6, 5));
    lut.calibration = Some(c.clone());
    lut.save(&out).unwrap();
    let lut = Lut::load(&out).unwrap();
    assert_eq!(lut.calibration.as_ref(), Some(&c));
    // The calibration is applied to predictions.
    let g = random_genotype(
        Relaxation::Darts,
        2,
        &OpSpace::from_ops(template.ops.clone()),
        &mut |n| n - 1,
    );
    let p = predict(&lut, &g, &template.deploy_network()).unwrap();
    assert!(p.calibrated);
    assert!((p.total_ms - (c.scale * p.sum_ms + c.offset_ms)).abs() < 1e-12);
    // Validating on the calibration's own architectures is refused.
    let err = latency_lut::validate::validate(&lut, &Backends::tract_only(), 3, 5, &mut |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("calibration"), "{err}");
    let report =
        latency_lut::validate::validate(&lut, &Backends::tract_only(), 3, 6, &mut |_, _| {})
            .unwrap();
    assert!(report.calibrated && report.samples == 3);
    // Both measured in the reference's unit, each network in two passes of
    // half the repeats, with the host's noise and a verdict on it.
    // The calibration keeps each network's measurement; validation measures
    // them again (all 6 here) and reports how far they moved.
    let noise = c.noise.as_ref().expect("the calibration's noise");
    assert_eq!((noise.items, noise.repeat_noise_pct.is_some()), (6, true));
    assert_eq!(c.measured_ms.len(), 6);
    assert_eq!(report.units, Units::Reference);
    let noise = report.noise.as_ref().expect("the validation's noise");
    assert_eq!(
        noise.items,
        3 + 6,
        "the samples and the calibration's networks"
    );
    assert_eq!(report.verdict.noise_pct, noise.repeat_noise_pct);
    let shift = noise
        .profile_shift_pct
        .expect("the calibration networks' shift");
    assert_eq!(report.verdict.profile_shift_pct, Some(shift));
    assert_eq!(
        report.verdict.measurable,
        noise.repeat_noise_pct.unwrap() <= MAX_REPEAT_NOISE_PCT && shift <= MAX_PROFILE_SHIFT_PCT
    );
    assert_eq!(report.rows.len(), 3);
    for row in &report.rows {
        let ratio = row.ratio.expect("a ratio to the reference");
        assert_eq!((ratio.count, row.measured.count), (30, 30));
        let unit = lut.reference.as_ref().unwrap().median_ms;
        assert!((row.measured_ms - ratio.median * unit).abs() < 1e-12);
    }
}

/// A table of schema 1 (profiled before the reference workload) still
/// loads and predicts from its milliseconds; validate and calibrate refuse
/// it and say why, before measuring anything.
#[test]
fn a_schema_1_table_predicts_but_is_not_validated() {
    let _timing = timing();
    let template = small_template();
    let (dir, lut) = profiled(&template);
    let mut v = serde_json::to_value(&lut).unwrap();
    v["schema_version"] = 1.into();
    v.as_object_mut().unwrap().remove("reference");
    for e in v["entries"].as_array_mut().unwrap() {
        e.as_object_mut().unwrap().remove("reference");
    }
    let path = write(dir.path(), "v1.json", &v.to_string());
    let old = Lut::load(&path).unwrap();
    assert_eq!((old.schema_version, old.reference.is_none()), (1, true));
    let overhead = old.overhead_ms();
    for e in old.entries.iter().filter(|e| e.key.op != "overhead") {
        let expected = (e.stats.median - overhead).max(0.0);
        assert_eq!(old.cost(&e.key).unwrap(), expected, "{}", e.key);
    }
    let g = random_genotype(
        Relaxation::Darts,
        2,
        &OpSpace::from_ops(template.ops.clone()),
        &mut |n| n - 1,
    );
    assert!(
        predict(&old, &g, &template.deploy_network())
            .unwrap()
            .total_ms
            > 0.0
    );
    let refused = |err: latency_lut::LutError| {
        let err = err.to_string();
        assert!(
            err.contains("schema_version 1") && err.contains("profile it again"),
            "{err}"
        );
    };
    let backends = Backends::tract_only();
    let mut measured = |_: usize, _: usize| panic!("measured a network for a schema 1 table");
    refused(latency_lut::validate::validate(&old, &backends, 3, 6, &mut measured).unwrap_err());
    refused(latency_lut::validate::calibrate(&old, &backends, 3, 6, &mut measured).unwrap_err());
}

/// The exporter emits each distinct computation once, so a node that
/// repeats an earlier node's pools (XDARTS lets one edge carry several ops)
/// must not pay for them twice: predict's pools and Adds match the ONNX
/// graph's node for node.
#[test]
fn repeated_pools_cost_what_the_exported_graph_contains() {
    let _timing = timing();
    use arch::genotype::{CellGenotype, Genotype};
    use arch::space::OpKind;
    let mut template = small_template();
    template.nodes = 3;
    let (_dir, lut) = profiled(&template);
    let repeating = CellGenotype {
        edges: vec![
            edge(0, 0, OpKind::MaxPool3x3),
            edge(0, 0, OpKind::AvgPool3x3),
            edge(1, 0, OpKind::MaxPool3x3),
            edge(1, 0, OpKind::AvgPool3x3),
            edge(1, 2, OpKind::Identity),
            edge(2, 0, OpKind::MaxPool3x3),
            edge(2, 0, OpKind::AvgPool3x3),
            edge(2, 1, OpKind::SepConv3x3),
            edge(2, 3, OpKind::Identity),
        ],
        concat: vec![0, 1, 2],
    };
    let g = Genotype {
        schema_version: arch::genotype::GENOTYPE_SCHEMA_VERSION,
        relaxation: Relaxation::XDarts,
        n_nodes: 3,
        normal: repeating.clone(),
        reduce: repeating,
    };
    g.validate().unwrap();
    let config = template.deploy_network();
    let p = predict(&lut, &g, &config).unwrap();
    let predicted = |op: &str| {
        p.parts
            .iter()
            .flat_map(|part| &part.items)
            .filter(|(k, _)| k.op == op)
            .count()
    };
    // The graph export writes (export/tests/synthetic.rs checks that the
    // synthetic network's graph is node for node the exported one).
    let net = runtime::layers::Synthetic::new(0)
        .network(&g, &config)
        .unwrap();
    let model = runtime::layers::network_to_onnx(
        &net,
        &g,
        &config,
        runtime::layers::EmitOptions { fold_bn: true },
        &Default::default(),
    );
    let exported = |op: &str| {
        model
            .graph
            .node
            .iter()
            .filter(|n| n.op_type == op && n.name.starts_with("cell"))
            .count()
    };
    for (key, onnx_op) in [
        ("max_pool_3x3", "MaxPool"),
        ("avg_pool_3x3", "AveragePool"),
        ("add", "Add"),
    ] {
        assert_eq!(predicted(key), exported(onnx_op), "{key} vs {onnx_op}");
    }
    // Per cell: one max pool, one average pool, and Adds for node 0's pair,
    // node 1's extra identity and node 2's two extra terms.
    assert_eq!(exported("MaxPool"), 3);
    assert_eq!(exported("Add"), 3 * 4);
}
