//! The one progress-bar style of the binaries: indicatif bars on stderr for
//! the libraries' progress hooks (hidden when stderr is not a terminal).

use indicatif::{ProgressBar, ProgressStyle};
use search::progress::{Progress, ProgressBar as Bar};

pub struct Bars;

struct IndicatifBar(ProgressBar);

impl Bar for IndicatifBar {
    fn inc(&self) {
        self.0.inc(1);
    }
    fn set(&self, done: usize, total: usize, item: &str) {
        self.0.set_length(total as u64);
        self.0.set_position(done as u64);
        if !item.is_empty() {
            self.0.set_message(item.to_string());
        }
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bars {
    fn start(&self, label: &str, total: usize) -> Box<dyn Bar> {
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>28} [{bar:30}] {pos}/{len} {per_sec} ETA {eta} {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        Box::new(IndicatifBar(bar))
    }
}
