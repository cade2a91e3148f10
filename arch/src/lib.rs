//! The edgenas search space as plain data (docs/algorithms.md §2): the
//! candidate operations and relaxations (`space`), genotypes (`genotype`),
//! their discretization from α (`discretize`), α diagnostics
//! (`diagnostics`), network shapes (`shape`) and fitting a genotype into a
//! latency budget (`repair`), and the tournament search's bookkeeping
//! (`tournament`).
//!
//! No tensors and no IO: the burn networks (`models`), the latency table,
//! the ONNX export and the device-side tools all build on these types, and
//! the device-side tools must not link burn.

pub mod diagnostics;
pub mod discretize;
pub mod genotype;
pub mod repair;
pub mod shape;
pub mod space;
pub mod tournament;

pub use discretize::{discretize, discretize_cell};
pub use genotype::{CellGenotype, Genotype, GenotypeEdge};
pub use shape::{CellShape, NetworkConfig};
pub use space::{
    MASKED_ALPHA, MbConvSpec, NodeOpSets, OpKind, OpSpace, Pointwise, Relaxation, SpaceKind,
    ZeroConfig, ZeroForm, is_masked,
};
