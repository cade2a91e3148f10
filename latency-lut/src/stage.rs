//! The `latency-lut` commands as library calls from files: which template
//! to profile, and predict / validate / calibrate a table on disk.

use std::path::{Path, PathBuf};

use artifacts::progress::Progress;
use artifacts::{GenotypeFile, SearchConfig, SearchSummary, write_json};
use serde::Serialize;

use crate::LutError;
use crate::cache::{calibrate_table, template_for};
use crate::measure::Backends;
use crate::predict::{Prediction, predict};
use crate::table::{Calibration, Lut};
use crate::template::{NetSize, Template};
use crate::validate::{ValidationReport, validate};

/// Where a table's template comes from.
#[derive(Debug, Clone)]
pub enum TemplateSource {
    /// A search's `search.json`: its data shape and network sizes.
    SearchSummary(PathBuf),
    /// A dataset (for its image shape and class count) and search sizes.
    Data {
        spec: String,
        config: Box<SearchConfig>,
    },
}

fn table_error(path: &Path, message: impl std::fmt::Display) -> LutError {
    LutError::Table {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// The template of `source` with the deployed network `deploy`.
pub fn resolve_template(source: &TemplateSource, deploy: NetSize) -> Result<Template, LutError> {
    match source {
        TemplateSource::SearchSummary(path) => {
            let summary = SearchSummary::load(path).map_err(|e| table_error(path, e))?;
            Ok(template_for(
                &summary.config,
                summary.data.channels,
                summary.data.image_size,
                summary.data.num_classes,
                deploy,
            ))
        }
        TemplateSource::Data { spec, config } => {
            config
                .validate()
                .map_err(|e| LutError::Runtime(e.to_string()))?;
            let data = datasets::load(spec)
                .map_err(|e| LutError::Runtime(format!("--data {spec}: {e}")))?;
            if data.height != data.width {
                return Err(LutError::Runtime(format!(
                    "--data {spec}: images must be square"
                )));
            }
            Ok(template_for(
                config,
                data.channels,
                data.height,
                data.num_classes,
                deploy,
            ))
        }
    }
}

/// A prediction with what it was made for.
#[derive(Debug, Clone, Serialize)]
pub struct PredictionReport {
    #[serde(flatten)]
    pub prediction: Prediction,
    pub device: String,
    /// C and L of the deployed network predicted.
    pub channels: usize,
    pub layers: usize,
}

/// Predicts the deployed network of the genotype file `genotype` from the
/// table at `lut`.
pub fn predict_file(lut: &Path, genotype: &Path) -> Result<PredictionReport, LutError> {
    let table = Lut::load(lut)?;
    let g = GenotypeFile::load(genotype).map_err(|e| table_error(genotype, e))?;
    if g.n_nodes != table.template.nodes {
        return Err(table_error(
            genotype,
            format!(
                "the genotype has {} nodes per cell, the table's template {}",
                g.n_nodes, table.template.nodes
            ),
        ));
    }
    let config = table.template.deploy_network();
    let prediction = predict(&table, &g, &config)?;
    Ok(PredictionReport {
        prediction,
        device: table.device.profile.name.clone(),
        channels: config.channels,
        layers: config.layers,
    })
}

/// Validates the table at `lut` on `samples` random architectures drawn
/// with `seed`; with `out`, every sample is written there.
pub fn validate_file(
    lut: &Path,
    backends: &Backends,
    samples: usize,
    seed: u64,
    out: Option<&Path>,
    progress: &dyn Progress,
) -> Result<ValidationReport, LutError> {
    let table = Lut::load(lut)?;
    let bar = progress.start("validate", samples);
    let report = validate(&table, backends, samples, seed, &mut |i, n| {
        bar.set(i, n, "")
    })?;
    bar.finish();
    if let Some(out) = out {
        write_json(out, &report).map_err(|e| table_error(out, e.into_io()))?;
    }
    Ok(report)
}

/// Fits the calibration of the table at `lut` and rewrites it.
pub fn calibrate_file(
    lut: &Path,
    backends: &Backends,
    samples: usize,
    seed: u64,
    progress: &dyn Progress,
) -> Result<Calibration, LutError> {
    let mut table = Lut::load(lut)?;
    calibrate_table(&mut table, backends, lut, samples, seed, progress)?;
    Ok(table.calibration.expect("calibrated above"))
}
