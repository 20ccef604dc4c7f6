//! The folder of one offline-router training run (`output` of its config), named in one
//! place: `judged.jsonl` (the records as judged, when training judged them), `checkpoints/`
//! (step checkpoints), `metrics.jsonl`, and the two exports `best/` (chosen on validation)
//! and `final/` (the last step).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The layout of a training run's folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunLayout {
    dir: PathBuf,
}

impl RunLayout {
    /// The layout of run folder `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The run folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The records as training judged them (written when any record lacked a judgment).
    pub fn judged(&self) -> PathBuf {
        self.dir.join("judged.jsonl")
    }

    /// Step checkpoints.
    pub fn checkpoints(&self) -> PathBuf {
        self.dir.join("checkpoints")
    }

    /// One line per update and per validation.
    pub fn metrics(&self) -> PathBuf {
        self.dir.join("metrics.jsonl")
    }

    /// The export chosen on the validation records.
    pub fn best(&self) -> PathBuf {
        self.dir.join("best")
    }

    /// The export of the last step (or of the best, when training stopped early).
    pub fn final_export(&self) -> PathBuf {
        self.dir.join("final")
    }

    /// What `eval --run` compares: `best/` and `final/`, on `data` or else the run's
    /// `judged.jsonl` (an error, naming the run, when training did not write one).
    pub fn evaluation_inputs(&self, data: Option<&Path>) -> Result<(Vec<PathBuf>, PathBuf)> {
        let records = match data {
            Some(data) => data.to_path_buf(),
            None if self.judged().exists() => self.judged(),
            None => {
                return Err(Error::Input(format!(
                    "{} has no judged.jsonl (its records were judged already, so training did \
                     not write one): pass the records with --data FILE",
                    self.dir.display()
                )));
            }
        };
        Ok((vec![self.best(), self.final_export()], records))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_without_judged_records_needs_data() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunLayout::new(dir.path());
        let err = run.evaluation_inputs(None).unwrap_err().to_string();
        assert!(
            err.contains("judged.jsonl") && err.contains("--data"),
            "{err}"
        );
        let (exports, records) = run.evaluation_inputs(Some(Path::new("r.jsonl"))).unwrap();
        assert_eq!(exports, [dir.path().join("best"), dir.path().join("final")]);
        assert_eq!(records, Path::new("r.jsonl"));
        std::fs::write(run.judged(), "").unwrap();
        assert_eq!(run.evaluation_inputs(None).unwrap().1, run.judged());
    }
}
