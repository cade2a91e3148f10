//! Progress reporting hooks: the library reports, the binary draws bars.

/// One running loop (an epoch, a warm-up).
pub trait ProgressBar {
    fn inc(&self);
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
