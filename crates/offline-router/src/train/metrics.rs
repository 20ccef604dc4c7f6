//! metrics.jsonl of the offline router's training: one line per update and per validation.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One update, as written to metrics.jsonl.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    /// Updates done, this one included.
    pub step: usize,
    /// 0-based epoch.
    pub epoch: usize,
    /// Learning rate used.
    pub lr: f64,
    /// Weighted loss.
    pub loss: f64,
    /// L_bt.
    pub bt: f64,
    /// L_cls.
    pub cls: f64,
    /// L_reg.
    pub reg: f64,
    /// Gradient norm before clipping (`None` when the update was skipped).
    pub grad_norm: Option<f64>,
}

/// One validation, as written to metrics.jsonl.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValidationMetrics {
    /// Updates done.
    pub step: usize,
    /// Routing accuracy (records with a correct RM).
    pub routing_accuracy: f64,
    /// Weighted loss.
    pub loss: f64,
    /// Whether this is the best so far (the `best/` export was rewritten).
    pub best: bool,
}

/// metrics.jsonl, appended line by line; on resume, lines after the resumed step are
/// dropped first so the file tells one history.
pub(super) struct MetricsFile {
    file: std::fs::File,
    path: PathBuf,
}

impl MetricsFile {
    pub(super) fn open(path: &Path, resumed_step: usize) -> Result<Self> {
        let kept = if resumed_step > 0 && path.exists() {
            let text = std::fs::read_to_string(path).map_err(atomic_write::io_error(path))?;
            text.lines()
                .filter(|line| {
                    serde_json::from_str::<serde_json::Value>(line)
                        .ok()
                        .and_then(|v| v.get("step").and_then(|s| s.as_u64()))
                        .is_some_and(|s| s as usize <= resumed_step)
                })
                .map(|line| format!("{line}\n"))
                .collect::<String>()
        } else {
            String::new()
        };
        std::fs::write(path, kept).map_err(atomic_write::io_error(path))?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(atomic_write::io_error(path))?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    pub(super) fn write(&mut self, line: &impl Serialize) -> Result<()> {
        let text = serde_json::to_string(line)
            .map_err(|err| Error::Input(format!("serialising metrics: {err}")))?;
        Ok(writeln!(self.file, "{text}").map_err(atomic_write::io_error(&self.path))?)
    }
}
