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

/// Runs `work` on a worker thread of a rayon pool sized like rayon's global
/// one (RAYON_NUM_THREADS, else every core).
///
/// burn-flex and the custom kernels of `models::kernels` parallelize every
/// op with rayon. Called from a thread outside the pool, each of those many
/// small parallel loops is handed to the pool and the caller sleeps until it
/// is done: a futex wake-up and a context switch per op, 15 % of a search
/// step on one thread (measured with perf). From a worker thread the loops
/// run in place and only idle workers are woken. The pool's threads get a
/// 64 MiB stack, like a main thread's, for deep autodiff graphs.
pub fn on_worker_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    match rayon::ThreadPoolBuilder::new()
        .stack_size(64 << 20)
        .thread_name(|i| format!("edgenas-worker-{i}"))
        .build()
    {
        Ok(pool) => pool.install(work),
        Err(err) => {
            log::warn!("cannot start a rayon pool ({err}); running on the main thread");
            work()
        }
    }
}
