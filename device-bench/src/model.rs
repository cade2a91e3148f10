//! An exported model as device-bench reads it: the bytes and their
//! fingerprint, the edgenas metadata, and the input/output the graph
//! declares, checked against each other before tract sees the model.

use std::path::{Path, PathBuf};

use ::runtime::ModelMetadata;
use onnx_protobuf::ValueInfoProto;
use onnx_protobuf::tensor_shape_proto::dimension;
use sha2::{Digest, Sha256};

use crate::error::BenchError;

/// A model file, read and checked.
#[derive(Debug, Clone)]
pub struct ModelFile {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    /// Hex SHA-256 of the file.
    pub sha256: String,
    pub metadata: ModelMetadata,
    /// `[C, H, W]` of one input image, as the graph declares it.
    pub input_shape: [usize; 3],
    pub num_classes: usize,
    /// Nodes of the ONNX graph (before tract's optimization).
    pub onnx_nodes: usize,
}

impl ModelFile {
    /// Reads `path` and checks that it is an edgenas export: ONNX, one
    /// `[batch, C, H, W]` input, one `[batch, classes]` output, metadata
    /// that agrees with both.
    pub fn read(path: &Path) -> Result<Self, BenchError> {
        let bytes = std::fs::read(path).map_err(|source| BenchError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let model_error = |message: String| BenchError::Model {
            path: path.to_path_buf(),
            message,
        };
        let proto = ::runtime::onnx::from_bytes(&bytes).map_err(|e| BenchError::NotOnnx {
            path: path.to_path_buf(),
            message: ::runtime::error::one_line(e),
        })?;
        let Some(graph) = proto.graph.as_ref() else {
            return Err(BenchError::NotOnnx {
                path: path.to_path_buf(),
                message: "no graph".into(),
            });
        };
        if graph.node.is_empty() {
            return Err(BenchError::NotOnnx {
                path: path.to_path_buf(),
                message: "the graph has no nodes".into(),
            });
        }
        let metadata = ModelMetadata::from_props(&::runtime::onnx::metadata(&proto))
            .map_err(|m| {
                model_error(format!(
                    "{m}; device-bench needs the metadata `edgenas export` writes (input shape, normalization, class names)"
                ))
            })?;

        // Old exporters list initializers among the inputs; the image input
        // is the one that is not an initializer.
        let initializers: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
        let inputs: Vec<&ValueInfoProto> = graph
            .input
            .iter()
            .filter(|i| !initializers.contains(&i.name.as_str()))
            .collect();
        let [input] = inputs.as_slice() else {
            return Err(model_error(format!(
                "expected one graph input, found {}",
                inputs.len()
            )));
        };
        let [output] = graph.output.as_slice() else {
            return Err(model_error(format!(
                "expected one graph output, found {}",
                graph.output.len()
            )));
        };
        let input_dims = dims(input).map_err(&model_error)?;
        let output_dims = dims(output).map_err(&model_error)?;
        let input_shape: [usize; 3] = match input_dims.as_slice() {
            [_, c, h, w] => [
                fixed(c, &input.name, "channel").map_err(&model_error)?,
                fixed(h, &input.name, "height").map_err(&model_error)?,
                fixed(w, &input.name, "width").map_err(&model_error)?,
            ],
            _ => {
                return Err(model_error(format!(
                    "input {:?} has {} dimensions, expected [batch, C, H, W]",
                    input.name,
                    input_dims.len()
                )));
            }
        };
        let num_classes = match output_dims.as_slice() {
            [_, Dim::Fixed(k)] => *k,
            _ => {
                return Err(model_error(format!(
                    "output {:?} is not [batch, classes]",
                    output.name
                )));
            }
        };
        if metadata.input_shape != input_shape {
            return Err(model_error(format!(
                "the metadata says input {} but the graph declares {}",
                shape_text(metadata.input_shape),
                shape_text(input_shape)
            )));
        }
        let channels = input_shape[0];
        if metadata.mean.len() != channels || metadata.std.len() != channels {
            return Err(model_error(format!(
                "the metadata normalization has {} means and {} stds for {channels} input channels",
                metadata.mean.len(),
                metadata.std.len()
            )));
        }
        if metadata.std.iter().any(|s| !s.is_finite() || *s <= 0.0) {
            return Err(model_error(format!(
                "the metadata normalization std {:?} is not positive",
                metadata.std
            )));
        }
        if metadata.class_names.len() != num_classes {
            return Err(model_error(format!(
                "the metadata names {} classes but the graph outputs {num_classes}",
                metadata.class_names.len()
            )));
        }
        // A model trained into NaN still runs (every prediction the same
        // class); its weights say so before anything is measured.
        for tensor in &graph.initializer {
            let bad = non_finite_values(tensor);
            if bad > 0 {
                return Err(model_error(format!(
                    "weight tensor {:?} has {bad} NaN or infinite value(s): the model is broken; retrain it",
                    tensor.name
                )));
            }
        }
        let onnx_nodes = graph.node.len();
        let sha256 = hex(&Sha256::digest(&bytes));
        Ok(Self {
            path: path.to_path_buf(),
            bytes,
            sha256,
            metadata,
            input_shape,
            num_classes,
            onnx_nodes,
        })
    }
}

/// One dimension of a declared tensor.
#[derive(Debug, Clone, PartialEq)]
enum Dim {
    Fixed(usize),
    Symbolic,
}

fn dims(value: &ValueInfoProto) -> Result<Vec<Dim>, String> {
    let shape = value
        .type_
        .as_ref()
        .and_then(|t| match &t.value {
            Some(onnx_protobuf::type_proto::Value::TensorType(tensor)) => tensor.shape.as_ref(),
            _ => None,
        })
        .ok_or_else(|| format!("{:?} declares no tensor shape", value.name))?;
    Ok(shape
        .dim
        .iter()
        .map(|d| match d.value {
            Some(dimension::Value::DimValue(v)) if v > 0 => Dim::Fixed(v as usize),
            _ => Dim::Symbolic,
        })
        .collect())
}

fn fixed(dim: &Dim, name: &str, what: &str) -> Result<usize, String> {
    match dim {
        Dim::Fixed(v) => Ok(*v),
        Dim::Symbolic => Err(format!("input {name:?} has a symbolic {what} dimension")),
    }
}

/// `1×8×8`.
pub fn shape_text(shape: [usize; 3]) -> String {
    format!("{}×{}×{}", shape[0], shape[1], shape[2])
}

/// NaN or infinite values of a float initializer (`float_data` or
/// little-endian `raw_data`); 0 for other element types.
fn non_finite_values(tensor: &onnx_protobuf::TensorProto) -> usize {
    const FLOAT: i32 = 1;
    if tensor.data_type != FLOAT {
        return 0;
    }
    let from_list = tensor.float_data.iter().filter(|v| !v.is_finite()).count();
    let from_raw = tensor
        .raw_data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .filter(|v| !v.is_finite())
        .count();
    from_list + from_raw
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
