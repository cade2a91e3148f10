//! The export stage run from files: a retrain folder (model.json +
//! weights.bpk) in, a verified, self-describing ONNX file out.

use std::path::{Path, PathBuf};

use artifacts::{ArtifactError, ModelFile, tool_version, write_atomic};
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use models::{EvalNetwork, EvalNetworkConfig};
use serde::{Deserialize, Serialize};

use crate::metadata::{METADATA_SCHEMA_VERSION, ModelMetadata};
use crate::network::{INPUT_NAME, eval_network_to_onnx};
use crate::onnx;
use runtime::layers::EmitOptions;
use runtime::{RuntimeError, TractModel};

/// Largest relative error allowed between tract and burn.
pub const PARITY_TOLERANCE: f64 = 1e-4;

/// How to export.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportOptions {
    /// Fold BatchNormalization into the preceding convolutions.
    pub fold_bn: bool,
    /// Check tract against burn on this many real test images before
    /// writing (None skips the check).
    pub verify_images: Option<usize>,
    /// Also write `OUT.check.json` (the verification images and burn's
    /// logits) for checking other runtimes.
    pub write_check: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            fold_bn: true,
            verify_images: Some(64),
            write_check: false,
        }
    }
}

/// What an export produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportSummary {
    pub model_path: PathBuf,
    pub bytes: usize,
    pub nodes: usize,
    pub bn_folded: bool,
    /// Parity with burn on `verify_images` real test images (None without
    /// the check).
    pub max_abs_error: Option<f64>,
    pub max_rel_error: Option<f64>,
    pub verify_images: usize,
}

/// The verification sample written by `write_check`.
#[derive(Debug, Serialize)]
pub struct CheckFile {
    pub input_name: &'static str,
    pub input_shape: [usize; 4],
    pub inputs: Vec<f32>,
    pub burn_logits: Vec<f32>,
}

/// Why an export failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error("{path}: {message}")]
    Weights { path: PathBuf, message: String },
    #[error("verifying on {source_name}: {error}")]
    Data {
        source_name: String,
        #[source]
        error: datasets::DataError,
    },
    /// tract failed on the exported bytes (the message names the output
    /// file they were going to and what tract was doing).
    #[error(transparent)]
    Tract(#[from] RuntimeError),
    #[error(
        "the exported model disagrees with burn: relative error {rel:.3e} > {PARITY_TOLERANCE:e} (nothing written; --no-verify skips this check)"
    )]
    Parity { rel: f64 },
    #[error("{0}")]
    Options(&'static str),
}

/// Reads a retrain folder's `model.json` and the weights next to it into a
/// ready network on `device`.
pub fn load_retrained(
    dir: &Path,
    device: &Device,
) -> Result<(ModelFile, EvalNetwork), ExportError> {
    let file = ModelFile::load(dir)?;
    let weights = dir.join(&file.weights);
    let record = burn::store::ModuleRecord::load(&weights).map_err(|e| ExportError::Weights {
        path: weights.clone(),
        message: format!("cannot read weights: {e}"),
    })?;
    let model = EvalNetworkConfig::new(file.network.clone(), file.genotype.clone())
        .with_auxiliary(file.config.aux_weight > 0.0)
        .with_zero(file.config.zero)
        .init(device)
        .try_load_record(record)
        .map_err(|e| ExportError::Weights {
            path: weights,
            message: format!("weights do not fit the network in model.json: {e}"),
        })?;
    Ok((file, model))
}

/// `model.onnx` → `model.onnx.check.json`.
pub fn check_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".check.json");
    out.with_file_name(name)
}

/// Exports the retrained network of `run` (a retrain folder or a folder of
/// `edgenas run`) to `out`, verified against burn with tract on real test
/// images before anything is written.
pub fn export_run(
    run: &Path,
    out: &Path,
    options: &ExportOptions,
) -> Result<ExportSummary, ExportError> {
    if options.write_check && options.verify_images.is_none() {
        return Err(ExportError::Options(
            "--write-check needs the verification pass (drop --no-verify)",
        ));
    }
    let dir = ModelFile::find_dir(run)?;
    let device = Device::flex();
    let (file, net) = load_retrained(&dir, &device)?;
    let config = &file.network;
    let metadata = ModelMetadata {
        schema_version: METADATA_SCHEMA_VERSION,
        tool_version: tool_version(),
        input_shape: [config.in_channels, config.image_size, config.image_size],
        class_names: file.data.class_names.clone(),
        mean: file.normalization.mean.clone(),
        std: file.normalization.std.clone(),
        genotype: file.genotype.clone(),
        dataset: file.data.source.clone(),
        retrain_test_accuracy: Some(file.test_accuracy),
        retrain_test_samples: Some(file.test_samples),
        bn_folded: options.fold_bn,
    };
    let model = eval_network_to_onnx(
        &net,
        &file.genotype,
        config,
        EmitOptions {
            fold_bn: options.fold_bn,
        },
        &metadata.to_props(),
    );
    let bytes = onnx::to_bytes(&model);
    let nodes = model.graph.node.len();

    // Verify before writing: a model that disagrees with burn is not shipped.
    let (mut max_abs, mut max_rel, mut n) = (None, None, 0);
    let mut check = None;
    if let Some(wanted) = options.verify_images {
        let data = datasets::load(&file.data.source).map_err(|error| ExportError::Data {
            source_name: file.data.source.clone(),
            error,
        })?;
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
        let tract = TractModel::from_bytes(out, &bytes)?.plan(&[vec![n, c, h, h]])?;
        let (_, got) = tract.run(&[&images])?;
        let (abs, rel) = max_errors(&got, &expected);
        log::info!(
            "parity on {n} test images: max abs error {abs:.3e}, relative {rel:.3e} (tract vs burn)"
        );
        if rel > PARITY_TOLERANCE {
            return Err(ExportError::Parity { rel });
        }
        (max_abs, max_rel) = (Some(abs), Some(rel));
        check = Some(CheckFile {
            input_name: INPUT_NAME,
            input_shape: [n, c, h, h],
            inputs: images,
            burn_logits: expected,
        });
    }
    write_atomic(out, &bytes)?;
    if options.write_check
        && let Some(check) = &check
    {
        let text = serde_json::to_string(check).expect("check files serialize");
        write_atomic(&check_path(out), text.as_bytes())?;
    }
    Ok(ExportSummary {
        model_path: out.to_path_buf(),
        bytes: bytes.len(),
        nodes,
        bn_folded: options.fold_bn,
        max_abs_error: max_abs,
        max_rel_error: max_rel,
        verify_images: n,
    })
}

/// Largest absolute difference, and that difference relative to the
/// largest |expected| value.
fn max_errors(got: &[f32], expected: &[f32]) -> (f64, f64) {
    let scale = expected
        .iter()
        .fold(0f64, |m, v| m.max(f64::from(v.abs())))
        .max(1e-12);
    let abs = got
        .iter()
        .zip(expected)
        .fold(0f64, |m, (a, b)| m.max(f64::from((a - b).abs())));
    (abs, abs / scale)
}
