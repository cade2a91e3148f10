//! The process's allocator policy for inference: keep freed memory for
//! the next run instead of handing it back to the kernel.
//!
//! tract allocates every node's output afresh on every run and frees it
//! when the last consumer is done. At batch 32 those tensors are megabytes.
//! glibc's malloc serves blocks that large with `mmap` and returns the top
//! of its heap to the kernel once it is free, so a run can fault in every
//! page of its activations again. How often depends on the sizes the
//! process allocated earlier (glibc raises its `mmap` threshold to the
//! largest block freed so far), so two processes timing the same model
//! disagree. On the development machine the calibration net at batch 32
//! took 5.2–5.9 ms in six processes, and 3.1–3.5 ms in nine with the
//! policy below. onnxruntime keeps its own arena for the same reason.
//!
//! [`keep_freed_memory`] sets glibc's thresholds so freed blocks stay in
//! the heap: blocks up to 32 MiB (glibc's largest `mmap` threshold) come
//! from the heap, and its top is trimmed only past 2 GiB free. The
//! process's resident memory then stays at its peak. Every edgenas binary
//! that runs models calls it first; an application embedding the runtime
//! decides for itself (an arena allocator does the same job).

/// The largest `mmap` threshold glibc accepts on 64-bit targets.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: i32 = 32 << 20;

/// What [`keep_freed_memory`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocatorPolicy {
    /// glibc now keeps freed blocks in the heap.
    KeepFreed,
    /// `GLIBC_TUNABLES` already sets malloc's behaviour; left as it is.
    UserTunables,
    /// Not glibc (or glibc refused): the allocator's defaults stay.
    Unchanged,
}

/// Makes glibc's malloc keep freed memory for reuse (see the module
/// docs). Call it once at the start of `main`, before threads start. A
/// `GLIBC_TUNABLES` that sets any `glibc.malloc.` option wins.
pub fn keep_freed_memory() -> AllocatorPolicy {
    let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    let policy = if tunables.contains("glibc.malloc.") {
        AllocatorPolicy::UserTunables
    } else {
        set_thresholds()
    };
    log::debug!("allocator policy: {policy:?}");
    policy
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_thresholds() -> AllocatorPolicy {
    // SAFETY: mallopt only changes malloc's parameters; it is documented
    // as safe to call at any time and returns 0 on a rejected value.
    let ok = unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX) == 1
    };
    if ok {
        AllocatorPolicy::KeepFreed
    } else {
        AllocatorPolicy::Unchanged
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_thresholds() -> AllocatorPolicy {
    AllocatorPolicy::Unchanged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_accepts_the_thresholds() {
        // The test harness does not set GLIBC_TUNABLES; if a user's shell
        // does, the policy must step aside instead.
        let expected = match std::env::var("GLIBC_TUNABLES") {
            Ok(t) if t.contains("glibc.malloc.") => AllocatorPolicy::UserTunables,
            _ => AllocatorPolicy::KeepFreed,
        };
        assert_eq!(keep_freed_memory(), expected);
    }
}
