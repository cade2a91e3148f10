//! `edgenas export`: the retrained evaluation network as a self-describing
//! ONNX model, verified against burn with tract on real test images.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::{Device, Tensor, TensorData};
use clap::Args;
use export::{
    EmitOptions, METADATA_SCHEMA_VERSION, ModelMetadata, TractModel, eval_network_to_onnx, onnx,
};
use search::report::{MODEL_FILE, ModelFile};
use serde::Serialize;

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A retrain folder (with model.json and weights.bpk) or a run folder
    /// of `edgenas run` (its retrain/ is used).
    #[arg(long)]
    pub run: PathBuf,
    /// The ONNX file to write (atomically).
    #[arg(long)]
    pub out: PathBuf,
    /// Keep BatchNormalization nodes instead of folding them into the
    /// convolutions.
    #[arg(long)]
    pub no_fold_bn: bool,
    /// Skip the tract-vs-burn parity check on test images.
    #[arg(long)]
    pub no_verify: bool,
    /// Test images used by the parity check.
    #[arg(long, default_value_t = 64)]
    pub verify_images: usize,
    /// Also write OUT.check.json: the verification images (normalized) and
    /// burn's logits for them, so other runtimes can be checked against
    /// burn (bench/interop/ort_check.py does it for onnxruntime).
    #[arg(long)]
    pub write_check: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The verification sample written by `--write-check`.
#[derive(Debug, Serialize)]
pub struct CheckFile {
    pub input_name: &'static str,
    pub input_shape: [usize; 4],
    pub inputs: Vec<f32>,
    pub burn_logits: Vec<f32>,
}

/// What an export produced.
#[derive(Debug, Serialize)]
pub struct ExportSummary {
    pub model_path: PathBuf,
    pub bytes: usize,
    pub nodes: usize,
    pub bn_folded: bool,
    /// Parity with burn on `verify_images` real test images (None with
    /// --no-verify).
    pub max_abs_error: Option<f64>,
    pub max_rel_error: Option<f64>,
    pub verify_images: usize,
}

/// The retrain folder inside `run` (a run folder or a retrain folder).
pub fn retrain_dir(run: &Path) -> Result<PathBuf> {
    if run.join(MODEL_FILE).is_file() {
        return Ok(run.to_path_buf());
    }
    let nested = run.join("retrain");
    if nested.join(MODEL_FILE).is_file() {
        return Ok(nested);
    }
    bail!(
        "{}: no {MODEL_FILE} here or in retrain/ (run `edgenas retrain` or `edgenas run` first)",
        run.display()
    )
}

/// Largest relative error allowed between tract and burn.
pub const PARITY_TOLERANCE: f64 = 1e-4;

pub fn export_model(
    run: &Path,
    out: &Path,
    fold_bn: bool,
    verify_images: Option<usize>,
) -> Result<ExportSummary> {
    export_model_with_check(run, out, fold_bn, verify_images, false)
}

pub fn export_model_with_check(
    run: &Path,
    out: &Path,
    fold_bn: bool,
    verify_images: Option<usize>,
    write_check: bool,
) -> Result<ExportSummary> {
    if write_check && verify_images.is_none() {
        bail!("--write-check needs the verification pass (drop --no-verify)");
    }
    let dir = retrain_dir(run)?;
    let device = Device::flex();
    let (file, net): (ModelFile, _) = ModelFile::load_model(&dir, &device)?;
    let config = &file.network;
    let metadata = ModelMetadata {
        schema_version: METADATA_SCHEMA_VERSION,
        tool_version: search::report::tool_version(),
        input_shape: [config.in_channels, config.image_size, config.image_size],
        class_names: file.data.class_names.clone(),
        mean: file.normalization.mean.clone(),
        std: file.normalization.std.clone(),
        genotype: serde_json::to_value(&file.genotype)?,
        dataset: file.data.source.clone(),
        retrain_test_accuracy: Some(file.test_accuracy),
        retrain_test_samples: Some(file.test_samples),
        bn_folded: fold_bn,
    };
    let model = eval_network_to_onnx(
        &net,
        &file.genotype,
        config,
        EmitOptions { fold_bn },
        &metadata.to_props(),
    );
    let bytes = onnx::to_bytes(&model);
    let nodes = model.graph.node.len();

    // Verify before writing: a model that disagrees with burn is not shipped.
    let (mut max_abs, mut max_rel, mut n) = (None, None, 0);
    let mut check = None;
    if let Some(wanted) = verify_images {
        let data = datasets::load(&file.data.source)
            .with_context(|| format!("verifying on {}", file.data.source))?;
        n = wanted.min(data.test.len).max(1);
        let (c, h) = (config.in_channels, config.image_size);
        let images =
            file.normalization
                .apply(&data.test.images[..n * data.test.image_len], c, h, h);
        let expected: Vec<f32> = net
            .logits(Tensor::<4>::from_data(
                TensorData::new(images.clone(), [n, c, h, h]),
                &device,
            ))
            .into_data()
            .try_to_vec()
            .expect("f32 logits");
        let tract = TractModel::from_bytes(&bytes, &[vec![n, c, h, h]])
            .map_err(|e| anyhow::anyhow!("tract cannot load the exported model: {e}"))?;
        let (_, got) = tract
            .run(&[&images])
            .map_err(|e| anyhow::anyhow!("tract cannot run the exported model: {e}"))?;
        let scale = expected
            .iter()
            .fold(0f64, |m, v| m.max(f64::from(v.abs())))
            .max(1e-12);
        let abs = got
            .iter()
            .zip(&expected)
            .fold(0f64, |m, (a, b)| m.max(f64::from((a - b).abs())));
        let rel = abs / scale;
        log::info!(
            "parity on {n} test images: max abs error {abs:.3e}, relative {rel:.3e} (tract vs burn)"
        );
        if rel > PARITY_TOLERANCE {
            bail!(
                "the exported model disagrees with burn: relative error {rel:.3e} > {PARITY_TOLERANCE:e} (nothing written; --no-verify skips this check)"
            );
        }
        (max_abs, max_rel) = (Some(abs), Some(rel));
        check = Some(CheckFile {
            input_name: export::INPUT_NAME,
            input_shape: [n, c, h, h],
            inputs: images,
            burn_logits: expected,
        });
    }
    models::artifact::write_atomic(out, &bytes)
        .with_context(|| format!("--out {}", out.display()))?;
    if write_check && let Some(check) = &check {
        let path = check_path(out);
        models::artifact::write_atomic(&path, serde_json::to_string(check)?.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ExportSummary {
        model_path: out.to_path_buf(),
        bytes: bytes.len(),
        nodes,
        bn_folded: fold_bn,
        max_abs_error: max_abs,
        max_rel_error: max_rel,
        verify_images: n,
    })
}

/// `model.onnx` → `model.onnx.check.json`.
pub fn check_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".check.json");
    out.with_file_name(name)
}

pub fn run(args: ExportArgs) -> Result<()> {
    let summary = export_model_with_check(
        &args.run,
        &args.out,
        !args.no_fold_bn,
        (!args.no_verify).then_some(args.verify_images),
        args.write_check,
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        eprintln!(
            "wrote {} ({} nodes, {} bytes{})",
            summary.model_path.display(),
            summary.nodes,
            summary.bytes,
            summary
                .max_rel_error
                .map(|r| format!(", parity with burn: relative error {r:.2e}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}
