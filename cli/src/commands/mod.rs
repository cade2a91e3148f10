//! One module per subcommand: each parses its flags into a typed
//! configuration, makes one library call and prints the result. Flags that
//! several commands share are declared once in `args`.

pub mod args;
pub mod compare;
pub mod draw;
pub mod experiment;
pub mod export;
pub mod report;
pub mod retrain;
pub mod run;
pub mod search;
pub mod sweep;
pub mod tournament;
