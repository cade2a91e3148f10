//! The progress hook every stage reports through: the libraries report,
//! the binaries draw (one indicatif style in `cli`), tests stay silent.

/// One running loop (an epoch, a warm-up, a profile).
pub trait ProgressBar {
    /// One more step done.
    fn inc(&self);
    /// `done` of `total` steps done, working on `item` (for loops whose
    /// length is known only as they run).
    fn set(&self, done: usize, total: usize, item: &str) {
        let _ = (done, total, item);
    }
    fn finish(&self);
}

/// Starts progress bars for long loops.
pub trait Progress {
    fn start(&self, label: &str, total: usize) -> Box<dyn ProgressBar>;
}

/// Reports nothing (tests, library use).
pub struct Silent;

struct SilentBar;

impl ProgressBar for SilentBar {
    fn inc(&self) {}
    fn finish(&self) {}
}

impl Progress for Silent {
    fn start(&self, _label: &str, _total: usize) -> Box<dyn ProgressBar> {
        Box::new(SilentBar)
    }
}
