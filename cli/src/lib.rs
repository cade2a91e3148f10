//! The `edgenas` command line: each subcommand in `commands/<name>.rs`
//! parses its flags into a typed configuration, makes one library call
//! (mostly into `pipeline`) and prints the result. Logging, errors and
//! progress bars come from the `ui` crate, shared with the device-side
//! binaries. The PyTorch race is a separate developer tool,
//! `bench/harness` (`cargo run --release -p edgenas-bench`).

pub mod commands;

pub use runtime::memory::keep_freed_memory;
pub use ui::{exit_with, init_logging};

/// On SIGINT or SIGTERM: a training loop finishes its current step and
/// writes a checkpoint of where it stands (a second signal stops at once);
/// a sweep's runs in flight are sent SIGTERM and waited for, so they do the
/// same; then the staging folders of the outputs in progress are removed
/// (destructors do not run when a signal ends the process), the kept
/// checkpoints are announced, and the process exits 130 or 143 like a
/// shell. Nothing but resumable checkpoints is left beside `--out`.
pub fn clean_up_on_signals() {
    // How long a step and its checkpoint may take before the process stops
    // without them.
    const STEP_LIMIT: std::time::Duration = std::time::Duration::from_secs(300);
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = match signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) {
        Ok(s) => s,
        Err(err) => {
            log::warn!(
                "cannot watch SIGINT/SIGTERM ({err}); an interrupted run may leave a .partial folder"
            );
            return;
        }
    };
    std::thread::spawn(move || {
        let signal = signals.forever().next();
        if let Some(signal) = signal {
            let name = if signal == SIGINT {
                "SIGINT"
            } else {
                "SIGTERM"
            };
            artifacts::io::mark_interrupted();
            let training = artifacts::io::request_stop();
            let runs = pipeline::sweep::terminate_runs();
            for job in pipeline::executor::cancel_jobs() {
                eprintln!(
                    "interrupted ({name}): cancelled SLURM job {job} (its tasks get SIGTERM and checkpoint); `sweep --resume` resubmits the unfinished runs"
                );
            }
            if training || !runs.is_empty() {
                eprintln!(
                    "interrupted ({name}): finishing the current step to write a checkpoint (send {name} again to stop at once)"
                );
                let mut again = || signals.pending().next().is_some();
                let settled = artifacts::io::wait_for_step_loops(STEP_LIMIT, &mut again)
                    && pipeline::sweep::wait_for_runs(&runs, STEP_LIMIT, &mut again);
                if !settled {
                    eprintln!("stopping without the current step's checkpoint");
                }
            }
            if !runs.is_empty() {
                eprintln!(
                    "interrupted ({name}): stopped {} child run(s) (sweep runs or tournament games); `--resume` keeps the finished ones and continues the others",
                    runs.len()
                );
            }
            let removed = artifacts::io::remove_active_staging();
            if removed.is_empty() {
                eprintln!("interrupted ({name})");
            } else {
                let names: Vec<String> = removed.iter().map(|p| p.display().to_string()).collect();
                eprintln!(
                    "interrupted ({name}): nothing written; removed the unfinished {}",
                    names.join(", ")
                );
            }
            for checkpoint in artifacts::io::settle_checkpoints() {
                eprintln!(
                    "the last checkpoint is kept in {}: run the same command with --resume to continue",
                    checkpoint.display()
                );
            }
            std::process::exit(128 + signal);
        }
    });
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
