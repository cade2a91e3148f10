//! One module per subcommand.

pub mod bench;
pub mod retrain;
pub mod run;
pub mod search;
