//! The command-line front ends of edgenas: `edgenas` (search, retrain, the
//! main job, export, benchmarks) and `latency-lut` (latency tables). The
//! binaries only parse arguments and call the library crates; each
//! subcommand lives in `commands/<name>.rs`.

pub mod commands;
pub mod progress;

/// Logs to stderr at `info` unless RUST_LOG says otherwise.
pub fn init_logging() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_secs()
        .init();
}

/// Prints an error as one line (the chain of causes, outermost first) and
/// exits with `code`.
pub fn exit_with(err: anyhow::Error, code: i32) -> ! {
    let chain: Vec<String> = err.chain().map(|c| c.to_string()).collect();
    eprintln!("error: {}", chain.join(": "));
    std::process::exit(code);
}
