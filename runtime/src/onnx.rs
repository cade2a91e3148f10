//! A small ONNX graph writer over `onnx-protobuf`: named nodes, f32/i64
//! initializers, one float input with a symbolic batch dimension, one output,
//! and string metadata. Everything that writes ONNX in edgenas (the exported
//! evaluation network and the latency table's single-op graphs) goes through
//! it, so what the table measures is what gets deployed.

use std::collections::{BTreeMap, HashMap, HashSet};

use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::tensor_shape_proto::{Dimension, dimension};
use onnx_protobuf::type_proto::{self, Value};
use onnx_protobuf::{
    AttributeProto, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

/// Opset 17 and IR version 8: loaded by tract-onnx 0.23 and by every
/// onnxruntime since 1.13, and it has everything the DARTS space needs.
pub const OPSET: i64 = 17;
pub const IR_VERSION: i64 = 8;

/// Name of the symbolic batch dimension of every graph input and output.
pub const BATCH_DIM: &str = "batch";

/// One attribute value of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
}

/// A graph input or output: its name and its dimensions after the batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    pub name: String,
    pub dims: Vec<usize>,
}

/// Accumulates nodes and initializers; `finish` turns them into a model.
#[derive(Default)]
pub struct GraphBuilder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    names: HashSet<String>,
    /// The output of every node added so far, keyed by what it computes
    /// (see `node`).
    computed: HashMap<String, String>,
}

impl GraphBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reserves `name`, or `name_1`, `name_2`… when it is already taken, so
    /// that every value in the graph has a unique, readable name.
    fn unique(&mut self, name: &str) -> String {
        let mut candidate = name.to_string();
        let mut i = 1;
        while self.names.contains(&candidate) {
            candidate = format!("{name}_{i}");
            i += 1;
        }
        self.names.insert(candidate.clone());
        candidate
    }

    /// Adds an f32 constant (a weight) and returns its name.
    pub fn weight(&mut self, name: &str, dims: &[usize], values: &[f32]) -> String {
        assert_eq!(
            dims.iter().product::<usize>(),
            values.len(),
            "initializer {name}: dims {dims:?} do not match {} values",
            values.len()
        );
        let name = self.unique(name);
        let mut t = TensorProto::new();
        t.name = name.clone();
        t.data_type = DataType::FLOAT as i32;
        t.dims = dims.iter().map(|&d| d as i64).collect();
        t.raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializers.push(t);
        name
    }

    /// Adds an i64 constant (shapes, axes) and returns its name.
    pub fn ints(&mut self, name: &str, values: &[i64]) -> String {
        let name = self.unique(name);
        let mut t = TensorProto::new();
        t.name = name.clone();
        t.data_type = DataType::INT64 as i32;
        t.dims = vec![values.len() as i64];
        t.raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializers.push(t);
        name
    }

    /// Adds a node with one output named after the node, and returns that
    /// output's name.
    ///
    /// A node that computes exactly what an earlier node computes (same op,
    /// same inputs — in any order for `Add` — and same attributes) is not
    /// added: the earlier node's output is returned instead. Weights are
    /// unique initializers, so only weight-free ops (pools, ReLU, sums) ever
    /// match. XDARTS cells produce such repeats — one edge may carry several
    /// ops, so a node can add the same pools of c_{k-2} as an earlier node —
    /// and tract 0.23.9 fails on one such graph at run time ("eval() called
    /// on a Dummy op"); emitting each computation once avoids that and the
    /// duplicate work in every runtime.
    pub fn node(
        &mut self,
        op_type: &str,
        name: &str,
        inputs: &[&str],
        attrs: Vec<(&str, Attr)>,
    ) -> String {
        let mut operands: Vec<&str> = inputs.to_vec();
        if op_type == "Add" {
            operands.sort_unstable();
        }
        let key = format!("{op_type}({}){attrs:?}", operands.join(","));
        if let Some(earlier) = self.computed.get(&key) {
            return earlier.clone();
        }
        let name = self.unique(name);
        self.computed.insert(key, name.clone());
        let mut n = NodeProto::new();
        n.op_type = op_type.to_string();
        n.name = name.clone();
        n.input = inputs.iter().map(|s| s.to_string()).collect();
        n.output = vec![name.clone()];
        n.attribute = attrs
            .into_iter()
            .map(|(key, value)| {
                let mut a = AttributeProto::new();
                a.name = key.to_string();
                match value {
                    Attr::Int(i) => {
                        a.type_ = AttributeType::INT.into();
                        a.i = i;
                    }
                    Attr::Ints(v) => {
                        a.type_ = AttributeType::INTS.into();
                        a.ints = v;
                    }
                    Attr::Float(f) => {
                        a.type_ = AttributeType::FLOAT.into();
                        a.f = f;
                    }
                }
                a
            })
            .collect();
        self.nodes.push(n);
        name
    }

    /// Reserves the name of a graph input so no node takes it.
    pub fn input_name(&mut self, name: &str) -> String {
        self.unique(name)
    }

    /// Number of nodes so far.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Closes the graph: `inputs` and `outputs` get the symbolic batch
    /// dimension in front of their dims. `output_values` names the value each
    /// output port is connected to (an `Identity` node renames it when the
    /// names differ).
    pub fn finish(
        mut self,
        graph_name: &str,
        inputs: &[Port],
        outputs: &[(Port, String)],
        metadata: &BTreeMap<String, String>,
    ) -> ModelProto {
        for (port, value) in outputs {
            if &port.name != value {
                let mut n = NodeProto::new();
                n.op_type = "Identity".into();
                n.name = format!("{}/identity", port.name);
                n.input = vec![value.clone()];
                n.output = vec![port.name.clone()];
                self.nodes.push(n);
            }
        }
        let mut g = GraphProto::new();
        g.name = graph_name.to_string();
        g.node = self.nodes;
        g.initializer = self.initializers;
        g.input = inputs.iter().map(value_info).collect();
        g.output = outputs.iter().map(|(p, _)| value_info(p)).collect();

        let mut m = ModelProto::new();
        m.ir_version = IR_VERSION;
        let mut opset = OperatorSetIdProto::new();
        opset.domain = String::new();
        opset.version = OPSET;
        m.opset_import = vec![opset];
        m.producer_name = "edgenas".into();
        m.producer_version = env!("CARGO_PKG_VERSION").into();
        m.graph = Some(g).into();
        m.metadata_props = metadata
            .iter()
            .map(|(k, v)| {
                let mut e = StringStringEntryProto::new();
                e.key = k.clone();
                e.value = v.clone();
                e
            })
            .collect();
        m
    }
}

fn value_info(port: &Port) -> ValueInfoProto {
    let mut dims = vec![Dimension {
        value: Some(dimension::Value::DimParam(BATCH_DIM.into())),
        ..Default::default()
    }];
    dims.extend(port.dims.iter().map(|&d| Dimension {
        value: Some(dimension::Value::DimValue(d as i64)),
        ..Default::default()
    }));
    let shape = TensorShapeProto {
        dim: dims,
        ..Default::default()
    };
    let tensor = type_proto::Tensor {
        elem_type: DataType::FLOAT as i32,
        shape: Some(shape).into(),
        ..Default::default()
    };
    let ty = TypeProto {
        value: Some(Value::TensorType(tensor)),
        ..Default::default()
    };
    ValueInfoProto {
        name: port.name.clone(),
        type_: Some(ty).into(),
        ..Default::default()
    }
}

/// Serializes a model to bytes.
pub fn to_bytes(model: &ModelProto) -> Vec<u8> {
    model
        .write_to_bytes()
        .expect("an in-memory ONNX model always serializes")
}

/// Parses ONNX bytes (used to read metadata back).
pub fn from_bytes(bytes: &[u8]) -> Result<ModelProto, protobuf::Error> {
    ModelProto::parse_from_bytes(bytes)
}

/// The `metadata_props` of a model as a map.
pub fn metadata(model: &ModelProto) -> BTreeMap<String, String> {
    model
        .metadata_props
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect()
}
