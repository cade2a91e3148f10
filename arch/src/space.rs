//! The search space's vocabulary: candidate operations, zero-op configurations,
//! relaxations, and the edge layout of a cell (docs/algorithms.md §2.1–2.2).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One candidate operation of the DARTS space (docs/algorithms.md §2.1, space 3), plus `zero`.
///
/// The declaration order is the canonical op order used for tie-breaking
/// (docs/algorithms.md §2.2) and for the columns of α.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Zero,
    #[serde(rename = "max_pool_3x3")]
    MaxPool3x3,
    #[serde(rename = "avg_pool_3x3")]
    AvgPool3x3,
    Identity,
    #[serde(rename = "sep_conv_3x3")]
    SepConv3x3,
    #[serde(rename = "sep_conv_5x5")]
    SepConv5x5,
    #[serde(rename = "dil_conv_3x3")]
    DilConv3x3,
    #[serde(rename = "dil_conv_5x5")]
    DilConv5x5,
    // Op space 2 (simple, NASNet).
    #[serde(rename = "min_conv_3x3")]
    MinConv3x3,
    #[serde(rename = "min_conv_5x5")]
    MinConv5x5,
    #[serde(rename = "std_conv_3x3")]
    StdConv3x3,
    #[serde(rename = "std_conv_5x5")]
    StdConv5x5,
    #[serde(rename = "conv_7x1_1x7")]
    Conv7x1x1x7,
    #[serde(rename = "conv_9x1_1x9")]
    Conv9x1x1x9,
    // Op space 1 (basic).
    #[serde(rename = "conv_3x3")]
    Conv3x3,
    #[serde(rename = "conv_5x5")]
    Conv5x5,
    #[serde(rename = "dw_conv_3x3")]
    DwConv3x3,
    #[serde(rename = "dw_conv_5x5")]
    DwConv5x5,
    #[serde(rename = "act_relu")]
    ActRelu,
    #[serde(rename = "act_leaky_relu")]
    ActLeakyRelu,
    #[serde(rename = "act_sigmoid")]
    ActSigmoid,
    #[serde(rename = "act_tanh")]
    ActTanh,
    #[serde(rename = "batch_norm")]
    BatchNorm,
    // The dynamic space's larger pools.
    #[serde(rename = "max_pool_5x5")]
    MaxPool5x5,
    #[serde(rename = "avg_pool_5x5")]
    AvgPool5x5,
    // Op space 4 (MBConv) and the dynamic space's variants.
    #[serde(rename = "mbconv_3x3")]
    MbConv3x3,
    #[serde(rename = "mbconv_5x5")]
    MbConv5x5,
    #[serde(rename = "mbconv_se_3x3")]
    MbConvSe3x3,
    #[serde(rename = "mbconv_se_3x3_e4")]
    MbConvSe3x3E4,
    #[serde(rename = "mbconv_se_3x3_e6")]
    MbConvSe3x3E6,
    #[serde(rename = "mbconv_se_5x5")]
    MbConvSe5x5,
    #[serde(rename = "mbconv_se_5x5_e4")]
    MbConvSe5x5E4,
    #[serde(rename = "mbconv_se_5x5_e6")]
    MbConvSe5x5E6,
    #[serde(rename = "fused_mbconv_3x3")]
    FusedMbConv3x3,
    #[serde(rename = "fused_mbconv_3x3_e4")]
    FusedMbConv3x3E4,
    #[serde(rename = "fused_mbconv_3x3_e6")]
    FusedMbConv3x3E6,
}

impl OpKind {
    /// Every op edgenas knows, in canonical order, `zero` first.
    pub const ALL: [OpKind; 36] = [
        OpKind::Zero,
        OpKind::MaxPool3x3,
        OpKind::AvgPool3x3,
        OpKind::Identity,
        OpKind::SepConv3x3,
        OpKind::SepConv5x5,
        OpKind::DilConv3x3,
        OpKind::DilConv5x5,
        OpKind::MinConv3x3,
        OpKind::MinConv5x5,
        OpKind::StdConv3x3,
        OpKind::StdConv5x5,
        OpKind::Conv7x1x1x7,
        OpKind::Conv9x1x1x9,
        OpKind::Conv3x3,
        OpKind::Conv5x5,
        OpKind::DwConv3x3,
        OpKind::DwConv5x5,
        OpKind::ActRelu,
        OpKind::ActLeakyRelu,
        OpKind::ActSigmoid,
        OpKind::ActTanh,
        OpKind::BatchNorm,
        OpKind::MaxPool5x5,
        OpKind::AvgPool5x5,
        OpKind::MbConv3x3,
        OpKind::MbConv5x5,
        OpKind::MbConvSe3x3,
        OpKind::MbConvSe3x3E4,
        OpKind::MbConvSe3x3E6,
        OpKind::MbConvSe5x5,
        OpKind::MbConvSe5x5E4,
        OpKind::MbConvSe5x5E6,
        OpKind::FusedMbConv3x3,
        OpKind::FusedMbConv3x3E4,
        OpKind::FusedMbConv3x3E6,
    ];

    /// Op space 3 (DARTS) in canonical order, `zero` first.
    pub const DARTS: [OpKind; 8] = [
        OpKind::Zero,
        OpKind::MaxPool3x3,
        OpKind::AvgPool3x3,
        OpKind::Identity,
        OpKind::SepConv3x3,
        OpKind::SepConv5x5,
        OpKind::DilConv3x3,
        OpKind::DilConv5x5,
    ];

    /// Op space 2 (simple, NASNet) in canonical order, `zero` first: the
    /// pools and identity, then plain convolutions.
    pub const SIMPLE: [OpKind; 10] = [
        OpKind::Zero,
        OpKind::MaxPool3x3,
        OpKind::AvgPool3x3,
        OpKind::Identity,
        OpKind::MinConv3x3,
        OpKind::MinConv5x5,
        OpKind::StdConv3x3,
        OpKind::StdConv5x5,
        OpKind::Conv7x1x1x7,
        OpKind::Conv9x1x1x9,
    ];

    /// Op space 1 (basic) in canonical order, `zero` first: the pools and
    /// identity, plain and depthwise convolutions, activations and BN.
    pub const BASIC: [OpKind; 13] = [
        OpKind::Zero,
        OpKind::MaxPool3x3,
        OpKind::AvgPool3x3,
        OpKind::Identity,
        OpKind::Conv3x3,
        OpKind::Conv5x5,
        OpKind::DwConv3x3,
        OpKind::DwConv5x5,
        OpKind::ActRelu,
        OpKind::ActLeakyRelu,
        OpKind::ActSigmoid,
        OpKind::ActTanh,
        OpKind::BatchNorm,
    ];

    /// Op space 4 (MBConv) in canonical order, `zero` first: the pools and
    /// identity, MobileNetV2's block, EfficientNet's block with
    /// squeeze-excitation (expansion 1, as the dissertation's Table 4.1
    /// has it) and EfficientNetV2's fused block (expansion 1).
    pub const MBCONV: [OpKind; 7] = [
        OpKind::Zero,
        OpKind::MaxPool3x3,
        OpKind::AvgPool3x3,
        OpKind::Identity,
        OpKind::MbConv3x3,
        OpKind::MbConvSe3x3,
        OpKind::FusedMbConv3x3,
    ];

    /// The dynamic space of the tournament search (docs/algorithms.md §5):
    /// every op but `zero` — the union of spaces 1–4 plus 5×5 pools,
    /// MBConv 5×5 and the expansion ratios 1, 4 and 6.
    pub fn dynamic() -> Vec<OpKind> {
        OpKind::ALL
            .into_iter()
            .filter(|op| *op != OpKind::Zero)
            .collect()
    }

    /// The inverted-residual block `self` is, if it is one.
    pub fn mbconv(self) -> Option<MbConvSpec> {
        let spec = |kernel, expansion, se, fused| {
            Some(MbConvSpec {
                kernel,
                expansion,
                se,
                fused,
            })
        };
        match self {
            OpKind::MbConv3x3 => spec(3, 6, false, false),
            OpKind::MbConv5x5 => spec(5, 6, false, false),
            OpKind::MbConvSe3x3 => spec(3, 1, true, false),
            OpKind::MbConvSe3x3E4 => spec(3, 4, true, false),
            OpKind::MbConvSe3x3E6 => spec(3, 6, true, false),
            OpKind::MbConvSe5x5 => spec(5, 1, true, false),
            OpKind::MbConvSe5x5E4 => spec(5, 4, true, false),
            OpKind::MbConvSe5x5E6 => spec(5, 6, true, false),
            OpKind::FusedMbConv3x3 => spec(3, 1, false, true),
            OpKind::FusedMbConv3x3E4 => spec(3, 4, false, true),
            OpKind::FusedMbConv3x3E6 => spec(3, 6, false, true),
            _ => None,
        }
    }

    /// The element-wise function `self` applies (op space 1's activations
    /// and `batch_norm`), if it is one; at stride 2 a FactorizedReduce
    /// comes first.
    pub fn pointwise(self) -> Option<Pointwise> {
        match self {
            OpKind::ActRelu => Some(Pointwise::Relu),
            OpKind::ActLeakyRelu => Some(Pointwise::LeakyRelu),
            OpKind::ActSigmoid => Some(Pointwise::Sigmoid),
            OpKind::ActTanh => Some(Pointwise::Tanh),
            OpKind::BatchNorm => Some(Pointwise::BatchNorm),
            _ => None,
        }
    }

    /// `(kernel, depthwise)` of op space 1's single convolutions.
    pub fn plain_conv(self) -> Option<(usize, bool)> {
        match self {
            OpKind::Conv3x3 => Some((3, false)),
            OpKind::Conv5x5 => Some((5, false)),
            OpKind::DwConv3x3 => Some((3, true)),
            OpKind::DwConv5x5 => Some((5, true)),
            _ => None,
        }
    }

    /// The window of a pooling op, if `self` is one.
    pub fn pool_kernel(self) -> Option<usize> {
        match self {
            OpKind::MaxPool3x3 | OpKind::AvgPool3x3 => Some(3),
            OpKind::MaxPool5x5 | OpKind::AvgPool5x5 => Some(5),
            _ => None,
        }
    }

    /// The name used in genotypes, LUT keys and ONNX node names.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Zero => "zero",
            OpKind::MaxPool3x3 => "max_pool_3x3",
            OpKind::AvgPool3x3 => "avg_pool_3x3",
            OpKind::Identity => "identity",
            OpKind::SepConv3x3 => "sep_conv_3x3",
            OpKind::SepConv5x5 => "sep_conv_5x5",
            OpKind::DilConv3x3 => "dil_conv_3x3",
            OpKind::DilConv5x5 => "dil_conv_5x5",
            OpKind::MinConv3x3 => "min_conv_3x3",
            OpKind::MinConv5x5 => "min_conv_5x5",
            OpKind::StdConv3x3 => "std_conv_3x3",
            OpKind::StdConv5x5 => "std_conv_5x5",
            OpKind::Conv7x1x1x7 => "conv_7x1_1x7",
            OpKind::Conv9x1x1x9 => "conv_9x1_1x9",
            OpKind::Conv3x3 => "conv_3x3",
            OpKind::Conv5x5 => "conv_5x5",
            OpKind::DwConv3x3 => "dw_conv_3x3",
            OpKind::DwConv5x5 => "dw_conv_5x5",
            OpKind::ActRelu => "act_relu",
            OpKind::ActLeakyRelu => "act_leaky_relu",
            OpKind::ActSigmoid => "act_sigmoid",
            OpKind::ActTanh => "act_tanh",
            OpKind::BatchNorm => "batch_norm",
            OpKind::MaxPool5x5 => "max_pool_5x5",
            OpKind::AvgPool5x5 => "avg_pool_5x5",
            OpKind::MbConv3x3 => "mbconv_3x3",
            OpKind::MbConv5x5 => "mbconv_5x5",
            OpKind::MbConvSe3x3 => "mbconv_se_3x3",
            OpKind::MbConvSe3x3E4 => "mbconv_se_3x3_e4",
            OpKind::MbConvSe3x3E6 => "mbconv_se_3x3_e6",
            OpKind::MbConvSe5x5 => "mbconv_se_5x5",
            OpKind::MbConvSe5x5E4 => "mbconv_se_5x5_e4",
            OpKind::MbConvSe5x5E6 => "mbconv_se_5x5_e6",
            OpKind::FusedMbConv3x3 => "fused_mbconv_3x3",
            OpKind::FusedMbConv3x3E4 => "fused_mbconv_3x3_e4",
            OpKind::FusedMbConv3x3E6 => "fused_mbconv_3x3_e6",
        }
    }

    /// True for ops without weights (pools, identity at stride 1, zero).
    pub fn is_parameter_free(self) -> bool {
        self.pool_kernel().is_some()
            || matches!(
                self,
                OpKind::Zero
                    | OpKind::Identity
                    | OpKind::ActRelu
                    | OpKind::ActLeakyRelu
                    | OpKind::ActSigmoid
                    | OpKind::ActTanh
            )
    }
}

/// An inverted-residual block of op space 4 and the dynamic space
/// (docs/algorithms.md §2.1): a 1×1 expansion to `expansion`·C channels
/// (none at expansion 1), ReLU6, a depthwise `kernel`×`kernel` convolution
/// carrying the stride, ReLU6, squeeze-excitation if `se`, a 1×1
/// projection back to C, BN. `fused` replaces the expansion and the
/// depthwise convolution by one `kernel`×`kernel` convolution (kept at
/// expansion 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MbConvSpec {
    pub kernel: usize,
    pub expansion: usize,
    pub se: bool,
    pub fused: bool,
}

impl MbConvSpec {
    /// Channels of squeeze-excitation's bottleneck on a C-channel block:
    /// C/4, at least 1 (EfficientNet's ratio 0.25 of the block's input).
    pub fn se_channels(c: usize) -> usize {
        (c / 4).max(1)
    }
}

/// The element-wise ops of op space 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pointwise {
    Relu,
    /// Slope 0.01 below zero (PyTorch's and ONNX's default).
    LeakyRelu,
    Sigmoid,
    Tanh,
    /// Non-affine in the search network, affine after retraining.
    BatchNorm,
}

/// Slope of `act_leaky_relu` below zero.
pub const LEAKY_RELU_SLOPE: f64 = 0.01;

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for OpKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OpKind::ALL
            .into_iter()
            .find(|op| op.name() == s)
            .ok_or_else(|| format!("unknown operation `{s}`"))
    }
}

/// How the `zero` operation takes part in the search (docs/algorithms.md §2.1, Table 3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ZeroConfig {
    /// DARTS/CDARTS: `zero` is a candidate in the search network and excluded
    /// at discretization.
    V0,
    /// Default: `zero` is not a candidate at all.
    #[default]
    V1,
    /// `zero` outputs uniform random noise in the search network, the
    /// search-phase evaluation network and the retrained network.
    V2,
    /// Noise in the search and search-phase evaluation networks; the
    /// retrained network drops `zero` edges.
    V3,
    /// Noise in the search network; both evaluation networks drop `zero`
    /// edges.
    V4,
}

/// What a `zero` edge computes in one network (docs/algorithms.md §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ZeroForm {
    /// A tensor of zeros: the edge is dropped.
    #[default]
    Zeros,
    /// Uniform noise in [0, 1) of the output's shape while training (an
    /// autodiff device), its mean 0.5 at inference (like dropout's
    /// inference-time rescaling: a deployed network is deterministic).
    Noise,
}

/// The mean of the `zero` op's uniform noise in [0, 1): what a noise edge
/// computes at inference (search, retraining and export alike).
pub const ZERO_NOISE_MEAN: f32 = 0.5;

impl ZeroConfig {
    pub const ALL: [ZeroConfig; 5] = [
        ZeroConfig::V0,
        ZeroConfig::V1,
        ZeroConfig::V2,
        ZeroConfig::V3,
        ZeroConfig::V4,
    ];

    /// True when `zero` is a column of α.
    pub fn is_candidate(self) -> bool {
        self != ZeroConfig::V1
    }

    /// True when discretization may keep `zero` (V2–V4; V0 never does).
    pub fn kept_at_discretization(self) -> bool {
        matches!(self, ZeroConfig::V2 | ZeroConfig::V3 | ZeroConfig::V4)
    }

    /// `zero` in the search network S.
    pub fn in_search(self) -> ZeroForm {
        if self.kept_at_discretization() {
            ZeroForm::Noise
        } else {
            ZeroForm::Zeros
        }
    }

    /// `zero` edges of the search-phase evaluation network E.
    pub fn in_search_eval(self) -> ZeroForm {
        match self {
            ZeroConfig::V2 | ZeroConfig::V3 => ZeroForm::Noise,
            _ => ZeroForm::Zeros,
        }
    }

    /// `zero` edges of the retrained (deployed) network.
    pub fn in_retrain(self) -> ZeroForm {
        match self {
            ZeroConfig::V2 => ZeroForm::Noise,
            _ => ZeroForm::Zeros,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ZeroConfig::V0 => "v0",
            ZeroConfig::V1 => "v1",
            ZeroConfig::V2 => "v2",
            ZeroConfig::V3 => "v3",
            ZeroConfig::V4 => "v4",
        }
    }
}

impl fmt::Display for ZeroConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for ZeroForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ZeroForm::Zeros => "zeros",
            ZeroForm::Noise => "noise",
        })
    }
}

impl FromStr for ZeroForm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "zeros" | "drop" => Ok(ZeroForm::Zeros),
            "noise" => Ok(ZeroForm::Noise),
            _ => Err(format!(
                "unknown zero-edge form `{s}` (expected zeros or noise)"
            )),
        }
    }
}

/// Which of the dissertation's operation spaces a search draws its
/// candidates from (docs/algorithms.md §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum SpaceKind {
    /// Op space 1, basic: plain and depthwise convolutions, activations,
    /// BN, identity, pools.
    #[serde(rename = "1")]
    Basic,
    /// Op space 2, simple (NASNet): plain, ReLU-first and 1×N/N×1
    /// convolutions, identity, pools.
    #[serde(rename = "2")]
    Simple,
    /// Op space 3, DARTS: separable and dilated convolutions, identity,
    /// pools.
    #[default]
    #[serde(rename = "3")]
    Darts,
    /// Op space 4, MBConv: MobileNetV2, EfficientNet (with
    /// squeeze-excitation) and EfficientNetV2 (fused) blocks, identity,
    /// pools.
    #[serde(rename = "4")]
    Mbconv,
}

impl SpaceKind {
    /// The space's number in the dissertation (Table 3.3 / §2.1).
    pub fn number(self) -> u8 {
        match self {
            SpaceKind::Basic => 1,
            SpaceKind::Simple => 2,
            SpaceKind::Darts => 3,
            SpaceKind::Mbconv => 4,
        }
    }
}

impl fmt::Display for SpaceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number())
    }
}

impl FromStr for SpaceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "1" | "basic" => Ok(SpaceKind::Basic),
            "2" | "simple" => Ok(SpaceKind::Simple),
            "3" | "darts" => Ok(SpaceKind::Darts),
            "4" | "mbconv" => Ok(SpaceKind::Mbconv),
            _ => Err(format!("unknown op space `{s}` (expected 1, 2, 3 or 4)")),
        }
    }
}

impl FromStr for ZeroConfig {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        ZeroConfig::ALL
            .into_iter()
            .find(|z| z.name() == lower)
            .ok_or_else(|| {
                format!("unknown zero-op configuration `{s}` (expected v0, v1, v2, v3 or v4)")
            })
    }
}

/// The candidate operations of every mixed edge, in α column order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OpSpace {
    ops: Vec<OpKind>,
    /// How `zero` (when it is a column) behaves: absent in spaces written
    /// before V2–V4 existed, which read as V1 (a `zero` column then acts
    /// as V0's).
    #[serde(default)]
    zero: ZeroConfig,
}

impl OpSpace {
    /// The DARTS space (docs/algorithms.md §2.1 space 3) under a zero-op configuration.
    pub fn darts(zero: ZeroConfig) -> Self {
        Self::with_zero(&OpKind::DARTS, zero)
    }

    /// Op space `kind` under a zero-op configuration.
    pub fn of(kind: SpaceKind, zero: ZeroConfig) -> Self {
        match kind {
            SpaceKind::Basic => Self::with_zero(&OpKind::BASIC, zero),
            SpaceKind::Simple => Self::with_zero(&OpKind::SIMPLE, zero),
            SpaceKind::Darts => Self::darts(zero),
            SpaceKind::Mbconv => Self::with_zero(&OpKind::MBCONV, zero),
        }
    }

    fn with_zero(ops: &[OpKind], zero: ZeroConfig) -> Self {
        let ops = ops
            .iter()
            .copied()
            .filter(|op| zero.is_candidate() || *op != OpKind::Zero)
            .collect();
        Self { ops, zero }
    }

    /// A space from an explicit op list (kept in the given column order);
    /// a `zero` in it acts as V0's.
    pub fn from_ops(ops: Vec<OpKind>) -> Self {
        Self {
            ops,
            zero: ZeroConfig::V1,
        }
    }

    /// The zero-op configuration the space was made under.
    pub fn zero(&self) -> ZeroConfig {
        self.zero
    }

    /// What `zero` computes in the search network: noise under V2–V4,
    /// else nothing (V0: w·zero(x) = 0 is not computed).
    pub fn zero_in_search(&self) -> ZeroForm {
        self.zero.in_search()
    }

    /// True when discretization may keep `op` (never `zero` under V0).
    pub fn keeps(&self, op: OpKind) -> bool {
        op != OpKind::Zero || self.zero.kept_at_discretization()
    }

    pub fn ops(&self) -> &[OpKind] {
        &self.ops
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The column of `op` in α, if it is a candidate.
    pub fn position(&self, op: OpKind) -> Option<usize> {
        self.ops.iter().position(|o| *o == op)
    }
}

/// α's value for a column an edge does not offer (a tournament game's
/// node lacks that op): softmax gives it exactly 0 in f32 and f64, so its
/// gradient is 0, discretization never picks it and P(α) never counts it.
pub const MASKED_ALPHA: f32 = -1e9;

/// True for an α entry that is [`MASKED_ALPHA`] (not a candidate).
pub fn is_masked(alpha: f32) -> bool {
    alpha <= MASKED_ALPHA / 2.0
}

/// Per-node candidate op sets, one list per intermediate node of each cell
/// type: every edge into node j of a normal cell mixes `normal[j]`. The
/// tournament search's games (docs/algorithms.md §5) search on these; a
/// plain search offers every node the whole space.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeOpSets {
    pub normal: Vec<Vec<OpKind>>,
    pub reduce: Vec<Vec<OpKind>>,
}

impl NodeOpSets {
    /// α's columns: every op of any node, in canonical order.
    pub fn union(&self) -> OpSpace {
        let mut ops: Vec<OpKind> = self
            .normal
            .iter()
            .chain(&self.reduce)
            .flatten()
            .copied()
            .collect();
        ops.sort_unstable();
        ops.dedup();
        OpSpace::from_ops(ops)
    }

    /// The nodes' sets of one cell type.
    pub fn cell(&self, reduction: bool) -> &[Vec<OpKind>] {
        if reduction {
            &self.reduce
        } else {
            &self.normal
        }
    }

    /// For each edge of one cell type (α row order), whether each column of
    /// `space` is one of its node's candidates.
    pub fn mask(&self, space: &OpSpace, reduction: bool) -> Vec<Vec<bool>> {
        cell_edges(self.cell(reduction).len())
            .into_iter()
            .map(|(node, _)| {
                let set = &self.cell(reduction)[node];
                space.ops().iter().map(|op| set.contains(op)).collect()
            })
            .collect()
    }

    /// Checks the sets against a cell of `nodes` nodes: one non-empty set
    /// per node and cell type, no op twice in a set.
    pub fn validate(&self, nodes: usize) -> Result<(), String> {
        for (cell, sets) in [("normal", &self.normal), ("reduce", &self.reduce)] {
            if sets.len() != nodes {
                return Err(format!(
                    "{cell} cells have {} node op sets, the cells have {nodes} nodes",
                    sets.len()
                ));
            }
            for (j, set) in sets.iter().enumerate() {
                if set.is_empty() {
                    return Err(format!("{cell} node {j} has no candidate op"));
                }
                let mut sorted = set.clone();
                sorted.sort_unstable();
                sorted.dedup();
                if sorted.len() != set.len() {
                    return Err(format!("{cell} node {j} lists an op twice"));
                }
            }
        }
        Ok(())
    }
}

/// How a cell's α is relaxed in the search network and discretized (docs/algorithms.md §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Relaxation {
    /// Softmax per edge; keep the 2 strongest edges per node.
    #[default]
    Darts,
    /// One softmax over all (edge, op) pairs entering a node; keep 2 pairs.
    #[serde(rename = "idarts")]
    IDarts,
    /// Joint softmax as I-DARTS; node j keeps j + 2 pairs.
    #[serde(rename = "xdarts")]
    XDarts,
}

impl Relaxation {
    pub fn name(self) -> &'static str {
        match self {
            Relaxation::Darts => "darts",
            Relaxation::IDarts => "idarts",
            Relaxation::XDarts => "xdarts",
        }
    }

    /// True when the softmax runs jointly over all (edge, op) pairs of a node.
    pub fn is_joint(self) -> bool {
        !matches!(self, Relaxation::Darts)
    }
}

impl fmt::Display for Relaxation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Relaxation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "darts" => Ok(Relaxation::Darts),
            "idarts" => Ok(Relaxation::IDarts),
            "xdarts" => Ok(Relaxation::XDarts),
            _ => Err(format!(
                "unknown cell relaxation `{s}` (expected darts, idarts or xdarts)"
            )),
        }
    }
}

/// The edges of a cell with `n_nodes` intermediate nodes, in α row order:
/// `(node, predecessor)` with node j (0-based) fed by predecessors
/// `0..j + 2` — 0 = c_{k-2}, 1 = c_{k-1}, p >= 2 = intermediate node p - 2.
pub fn cell_edges(n_nodes: usize) -> Vec<(usize, usize)> {
    (0..n_nodes)
        .flat_map(|node| (0..node + 2).map(move |pred| (node, pred)))
        .collect()
}

/// Index of the first α row of `node`'s incoming edges.
pub fn node_first_edge(node: usize) -> usize {
    // Σ_{i<node} (i + 2) = node·(node + 3)/2
    node * (node + 3) / 2
}

/// Number of mixed edges in a cell: Σ_j (j + 2).
pub fn edge_count(n_nodes: usize) -> usize {
    node_first_edge(n_nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_layout_matches_spec() {
        assert_eq!(edge_count(4), 14);
        let edges = cell_edges(4);
        assert_eq!(edges.len(), 14);
        assert_eq!(edges[0], (0, 0));
        assert_eq!(edges[2], (1, 0));
        assert_eq!(edges[13], (3, 4));
        for node in 0..4 {
            assert_eq!(edges[node_first_edge(node)], (node, 0));
        }
    }

    #[test]
    fn spaces_parse_and_hold_their_ops() {
        assert_eq!("2".parse::<SpaceKind>().unwrap(), SpaceKind::Simple);
        assert_eq!("3".parse::<SpaceKind>().unwrap(), SpaceKind::Darts);
        assert_eq!("1".parse::<SpaceKind>().unwrap(), SpaceKind::Basic);
        assert_eq!("4".parse::<SpaceKind>().unwrap(), SpaceKind::Mbconv);
        assert!("7".parse::<SpaceKind>().is_err());
        assert_eq!(OpSpace::of(SpaceKind::Basic, ZeroConfig::V1).len(), 12);
        assert_eq!(OpSpace::of(SpaceKind::Mbconv, ZeroConfig::V1).len(), 6);
        // The dynamic space is the union of spaces 1-4 and more, without zero.
        let dynamic = OpKind::dynamic();
        assert_eq!(dynamic.len(), OpKind::ALL.len() - 1);
        for kind in [
            SpaceKind::Basic,
            SpaceKind::Simple,
            SpaceKind::Darts,
            SpaceKind::Mbconv,
        ] {
            for op in OpSpace::of(kind, ZeroConfig::V1).ops() {
                assert!(dynamic.contains(op), "{op} of space {kind}");
            }
        }
        assert_eq!(serde_json::to_string(&SpaceKind::Simple).unwrap(), "\"2\"");
        let simple = OpSpace::of(SpaceKind::Simple, ZeroConfig::V1);
        assert_eq!(simple.len(), 9);
        assert!(!simple.ops().contains(&OpKind::SepConv3x3));
        assert!(simple.ops().contains(&OpKind::Conv9x1x1x9));
        assert_eq!(
            OpSpace::of(SpaceKind::Simple, ZeroConfig::V0).ops()[0],
            OpKind::Zero
        );
        assert_eq!(
            OpSpace::of(SpaceKind::Darts, ZeroConfig::V1),
            OpSpace::darts(ZeroConfig::V1)
        );
    }

    #[test]
    fn op_names_round_trip() {
        for op in OpKind::ALL {
            assert_eq!(op.name().parse::<OpKind>().unwrap(), op);
            let json = serde_json::to_string(&op).unwrap();
            assert_eq!(json, format!("\"{}\"", op.name()));
        }
        assert!("conv_4x4".parse::<OpKind>().is_err());
        // The activation ops are not named like the cell glue's `relu`.
        assert!("relu".parse::<OpKind>().is_err());
    }

    /// The dissertation's Table 3.1, phase by phase.
    #[test]
    fn zero_configurations_follow_table_3_1() {
        use ZeroForm::{Noise, Zeros};
        let table = [
            (ZeroConfig::V0, true, false, Zeros, Zeros, Zeros),
            (ZeroConfig::V1, false, false, Zeros, Zeros, Zeros),
            (ZeroConfig::V2, true, true, Noise, Noise, Noise),
            (ZeroConfig::V3, true, true, Noise, Noise, Zeros),
            (ZeroConfig::V4, true, true, Noise, Zeros, Zeros),
        ];
        for (zero, candidate, kept, search, search_eval, retrain) in table {
            assert_eq!(zero.is_candidate(), candidate, "{zero}");
            assert_eq!(zero.kept_at_discretization(), kept, "{zero}");
            assert_eq!(zero.in_search(), search, "{zero}");
            assert_eq!(zero.in_search_eval(), search_eval, "{zero}");
            assert_eq!(zero.in_retrain(), retrain, "{zero}");
            assert_eq!(zero.name().parse::<ZeroConfig>(), Ok(zero));
            let space = OpSpace::darts(zero);
            assert_eq!(space.ops().contains(&OpKind::Zero), candidate, "{zero}");
            assert_eq!(space.keeps(OpKind::Zero), kept, "{zero}");
            assert!(space.keeps(OpKind::Identity));
        }
        assert!("v5".parse::<ZeroConfig>().is_err());
        // A space written before V2–V4 (no `zero` field) reads as V0's.
        let old: OpSpace = serde_json::from_str(r#"{"ops": ["zero", "identity"]}"#).unwrap();
        assert!(!old.keeps(OpKind::Zero));
    }

    #[test]
    fn spaces_follow_zero_config() {
        assert_eq!(OpSpace::darts(ZeroConfig::V1).len(), 7);
        assert_eq!(OpSpace::darts(ZeroConfig::V0).ops()[0], OpKind::Zero);
        assert_eq!(OpSpace::darts(ZeroConfig::V1).ops()[0], OpKind::MaxPool3x3);
    }
}
