//! Every way the pipeline can fail, each naming the stage and, where there
//! is one, the file.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("--data {spec}: {source}")]
    Data {
        spec: String,
        #[source]
        source: datasets::DataError,
    },
    #[error(transparent)]
    Config(#[from] artifacts::ConfigError),
    #[error(transparent)]
    Search(#[from] search::SearchError),
    #[error("latency table {path}: {source}")]
    Lut {
        path: PathBuf,
        #[source]
        source: latency_lut::LutError,
    },
    #[error("device {spec}: {source}")]
    Device {
        spec: String,
        #[source]
        source: latency_lut::LutError,
    },
    #[error("export: {0}")]
    Export(#[from] export::ExportError),
    #[error("device-bench on the exported model: {0}")]
    Bench(#[from] device_bench::BenchError),
    #[error(transparent)]
    Artifact(#[from] artifacts::ArtifactError),
    /// Loading or running an ONNX model with tract (the error names it).
    #[error(transparent)]
    Runtime(#[from] runtime::RuntimeError),
    /// The `--remote` device: no token, unreachable, busy, or refusing.
    #[error(transparent)]
    Remote(#[from] runtime::remote::RemoteError),
    /// Options that contradict each other.
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Sweep(String),
}
