//! The contracts between edgenas stages: every file one stage writes and
//! another reads, as serde types (docs/algorithms.md §7, ARCHITECTURE.md
//! "Artifacts"), plus the atomic writer and the staged output folder that
//! every stage uses.
//!
//! No burn and no tract: the device-side tools (`latency-lut`,
//! `device-bench`) read these files too. No `serde_json::Value` crosses a
//! stage boundary; a stage reads a file into one of these types or fails
//! with an error naming the file.

pub mod config;
pub mod error;
pub mod io;
pub mod progress;
pub mod retrain;
pub mod run;
pub mod search;

pub use config::ConfigError;
pub use config::{
    Algo, Backend, EarlyStop, NetSize, PenaltyKind, PenaltySettings, RetrainConfig,
    RetrainSettings, SearchConfig,
};
pub use error::ArtifactError;
pub use io::{FileHeader, StagedDir, read_json, tool_version, write_atomic, write_json};
pub use retrain::{ModelFile, RetrainEpoch};
pub use run::RunSummary;
pub use search::{
    AlphaStep, AlphasFile, BudgetOutcome, DataInfo, EarlyStopOutcome, EpochMetrics, GenotypeFile,
    SearchSummary,
};

/// Version of the JSON artifacts written by the search, retraining and run
/// stages.
pub const ARTIFACT_SCHEMA_VERSION: u32 = 1;

pub const GENOTYPE_FILE: &str = "genotype.json";
pub const ALPHAS_FILE: &str = "alphas.json";
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const SEARCH_FILE: &str = "search.json";
pub const WEIGHTS_FILE: &str = "weights.bpk";
pub const MODEL_FILE: &str = "model.json";
pub const RUN_FILE: &str = "run.json";
pub const ONNX_FILE: &str = "model.onnx";
pub const REPORT_FILE: &str = "report.json";
