//! One module per subcommand.

pub mod bench;
pub mod export;
pub mod lut;
pub mod retrain;
pub mod run;
pub mod search;
pub mod sweep;
