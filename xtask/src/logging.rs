//! Logging for every command: the libraries emit `tracing` events, this installs the one
//! subscriber (filtered by `RUST_LOG`, default `info`) and prints its lines on stderr around
//! the progress bars, which are drawn through [`bars`] so that a line never tears a bar.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use indicatif::{MultiProgress, ProgressBar};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The progress bars of this process; add a bar here to keep log lines off it.
pub fn bars() -> &'static MultiProgress {
    static BARS: OnceLock<MultiProgress> = OnceLock::new();
    BARS.get_or_init(MultiProgress::new)
}

/// A new progress bar of `len` steps, drawn through [`bars`].
pub fn bar(len: u64) -> ProgressBar {
    bars().add(ProgressBar::new(len))
}

/// Installs the subscriber: `RUST_LOG` (e.g. `rlhf_trainer=debug`) filters, `info` by default.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Another subscriber already installed (a test harness) is fine.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(AroundBars)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// Writes each log line with the progress bars suspended.
struct AroundBars;

/// One log line, buffered until the formatter is done with it.
struct Line(Vec<u8>);

impl Write for Line {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        let bytes = std::mem::take(&mut self.0);
        bars().suspend(|| {
            let _ = std::io::stderr().write_all(&bytes);
        });
    }
}

impl<'a> MakeWriter<'a> for AroundBars {
    type Writer = Line;

    fn make_writer(&'a self) -> Self::Writer {
        Line(Vec::new())
    }
}
