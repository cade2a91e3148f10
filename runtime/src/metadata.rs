//! The `metadata_props` that make an exported model self-describing: what it
//! expects as input (shape, normalization), what it outputs (class names),
//! where it came from (genotype, tool version, dataset) and how accurate
//! retraining measured it. Each value is a string; structured ones are JSON.

use std::collections::BTreeMap;

use arch::Genotype;
use serde::{Deserialize, Serialize};

/// Version of the metadata layout.
pub const METADATA_SCHEMA_VERSION: u32 = 1;

/// Everything written into an exported model's `metadata_props`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMetadata {
    pub schema_version: u32,
    pub tool_version: String,
    /// `[C, H, W]` of one input image (the batch dimension is symbolic).
    pub input_shape: [usize; 3],
    pub class_names: Vec<String>,
    /// Per-channel mean and std the input must be normalized with
    /// (`(pixel − mean) / std`, pixels in [0, 1]).
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// The genotype the network was built from.
    pub genotype: Genotype,
    /// The dataset the weights were trained on (as given to `--data`).
    pub dataset: String,
    /// Retraining's final-epoch test accuracy (percent) and sample count.
    pub retrain_test_accuracy: Option<f64>,
    pub retrain_test_samples: Option<usize>,
    /// BatchNorm folded into the convolutions.
    pub bn_folded: bool,
}

const PREFIX: &str = "edgenas.";

/// Missing or malformed edgenas metadata in an ONNX file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MetadataError(pub String);

impl ModelMetadata {
    /// Flattens into `metadata_props` (`edgenas.<field>` → string or JSON).
    ///
    /// ONNX metadata is a free-form string map, so the typed struct goes
    /// through `serde_json::Value` here to become one string per field; no
    /// `Value` leaves this module.
    pub fn to_props(&self) -> BTreeMap<String, String> {
        let value = serde_json::to_value(self).expect("metadata serializes");
        let object = value.as_object().expect("metadata is a JSON object");
        object
            .iter()
            .map(|(k, v)| {
                let s = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (format!("{PREFIX}{k}"), s)
            })
            .collect()
    }

    /// Reads the metadata back from `metadata_props`; the error names the
    /// missing or malformed key.
    pub fn from_props(props: &BTreeMap<String, String>) -> Result<Self, MetadataError> {
        let mut object = serde_json::Map::new();
        for (key, raw) in props {
            let Some(field) = key.strip_prefix(PREFIX) else {
                continue;
            };
            let value = match field {
                "tool_version" | "dataset" => serde_json::Value::String(raw.clone()),
                _ => serde_json::from_str(raw)
                    .map_err(|e| MetadataError(format!("metadata {key}: not valid JSON ({e})")))?,
            };
            object.insert(field.to_string(), value);
        }
        if object.is_empty() {
            return Err(MetadataError(
                "no edgenas metadata (not a model exported by edgenas)".into(),
            ));
        }
        let meta: ModelMetadata = serde_json::from_value(serde_json::Value::Object(object))
            .map_err(|e| MetadataError(format!("edgenas metadata: {e}")))?;
        if meta.schema_version != METADATA_SCHEMA_VERSION {
            return Err(MetadataError(format!(
                "edgenas metadata schema_version {} (this tool reads {METADATA_SCHEMA_VERSION})",
                meta.schema_version
            )));
        }
        Ok(meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The golden model's genotype.
    const GENOTYPE: &str = r#"{"schema_version": 1, "relaxation": "darts", "n_nodes": 4, "normal": {"edges": [{"node": 0, "predecessor": 0, "op": "dil_conv_5x5"}, {"node": 0, "predecessor": 1, "op": "dil_conv_3x3"}, {"node": 1, "predecessor": 0, "op": "sep_conv_3x3"}, {"node": 1, "predecessor": 1, "op": "dil_conv_5x5"}, {"node": 2, "predecessor": 0, "op": "sep_conv_3x3"}, {"node": 2, "predecessor": 3, "op": "dil_conv_3x3"}, {"node": 3, "predecessor": 3, "op": "sep_conv_3x3"}, {"node": 3, "predecessor": 4, "op": "dil_conv_5x5"}], "concat": [0, 1, 2, 3]}, "reduce": {"edges": [{"node": 0, "predecessor": 0, "op": "avg_pool_3x3"}, {"node": 0, "predecessor": 1, "op": "identity"}, {"node": 1, "predecessor": 1, "op": "sep_conv_5x5"}, {"node": 1, "predecessor": 2, "op": "sep_conv_3x3"}, {"node": 2, "predecessor": 0, "op": "max_pool_3x3"}, {"node": 2, "predecessor": 3, "op": "identity"}, {"node": 3, "predecessor": 2, "op": "dil_conv_5x5"}, {"node": 3, "predecessor": 4, "op": "dil_conv_3x3"}], "concat": [0, 1, 2, 3]}}"#;

    #[test]
    fn metadata_round_trips_through_props() {
        let meta = ModelMetadata {
            schema_version: METADATA_SCHEMA_VERSION,
            tool_version: "0.1.0".into(),
            input_shape: [1, 28, 28],
            class_names: vec!["a".into(), "b".into()],
            mean: vec![0.25],
            std: vec![0.5],
            genotype: arch::genotype::Genotype::from_json(GENOTYPE).unwrap(),
            dataset: "builtin:digits".into(),
            retrain_test_accuracy: Some(97.5),
            retrain_test_samples: Some(360),
            bn_folded: true,
        };
        let props = meta.to_props();
        assert_eq!(props["edgenas.dataset"], "builtin:digits");
        assert_eq!(props["edgenas.input_shape"], "[1,28,28]");
        assert_eq!(ModelMetadata::from_props(&props).unwrap(), meta);
    }

    #[test]
    fn missing_or_bad_metadata_is_named() {
        assert!(
            ModelMetadata::from_props(&BTreeMap::new())
                .unwrap_err()
                .0
                .contains("no edgenas metadata")
        );
        let mut props = BTreeMap::new();
        props.insert("edgenas.input_shape".to_string(), "[1,".to_string());
        assert!(
            ModelMetadata::from_props(&props)
                .unwrap_err()
                .0
                .contains("edgenas.input_shape")
        );
    }
}
