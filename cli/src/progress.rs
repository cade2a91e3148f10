//! indicatif progress bars for the library's progress hooks (drawn on stderr,
//! hidden when stderr is not a terminal).

use indicatif::{ProgressBar, ProgressStyle};
use search::progress::{Progress, ProgressBar as Bar};

pub struct Bars;

struct IndicatifBar(ProgressBar);

impl Bar for IndicatifBar {
    fn inc(&self) {
        self.0.inc(1);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bars {
    fn start(&self, label: &str, total: usize) -> Box<dyn Bar> {
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template("{prefix:>28} [{bar:30}] {pos}/{len} {per_sec} ETA {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        Box::new(IndicatifBar(bar))
    }
}
