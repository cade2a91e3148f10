//! One module per subcommand.

pub mod baseline;
pub mod check;
pub mod run;
