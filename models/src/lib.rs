//! The edgenas search space on burn: operations, cells, the search and
//! evaluation networks (docs/algorithms.md §2) and the custom kernels they
//! run on. The tensor-free vocabulary (op kinds, genotypes, discretization,
//! network shapes) lives in `arch` and is re-exported here.
//!
//! This crate knows nothing about search, profiling or export, and does no
//! IO.

pub use arch::{diagnostics, discretize, genotype, repair, space, tournament};

pub mod kernels;
pub mod network;
pub mod ops;

pub use arch::{
    CellGenotype, Genotype, GenotypeEdge, OpKind, OpSpace, Relaxation, ZeroConfig, discretize_cell,
};
pub use network::{
    Alphas, DistillHeads, EvalNetwork, EvalNetworkConfig, NetworkConfig, SearchNetwork,
    SearchNetworkConfig,
};
