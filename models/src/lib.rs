//! The edgenas search space: operations, cells, the search and evaluation
//! networks, genotypes and their discretization from α (SPEC §2).
//!
//! This crate knows nothing about search, profiling or export; its only IO
//! is [`artifact::write_atomic`], the atomic file writer every crate shares.

pub mod artifact;
pub mod diagnostics;
pub mod discretize;
pub mod genotype;
pub mod kernels;
pub mod network;
pub mod ops;
pub mod space;

pub use discretize::{discretize, discretize_cell};
pub use genotype::{CellGenotype, Genotype, GenotypeEdge};
pub use network::{
    Alphas, EvalNetwork, EvalNetworkConfig, NetworkConfig, SearchNetwork, SearchNetworkConfig,
};
pub use space::{OpKind, OpSpace, Relaxation, ZeroConfig};
