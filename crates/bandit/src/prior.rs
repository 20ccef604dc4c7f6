//! Per-arm prior means: the offline router's RM vectors, and their JSON file format.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, ensure_finite, ensure_len};
use atomic_write::{read_json, write_json_compact};

use crate::files::check_format;

/// Format tag of a prior file.
pub const PRIOR_FORMAT: &str = "bandit-prior";
/// Version of the prior file format this build writes and reads.
pub const PRIOR_VERSION: u32 = 1;

/// Prior means μ0 of K arms over d-dimensional contexts, with the arms' names.
///
/// For BayesianRouter these are the offline router's L2-normalised Bradley–Terry vectors v̂_k,
/// so that μ0_kᵀe is exactly the offline router's score (METHOD.md §3). A zero prior gives
/// the "online-only" baseline and LASeR's LinUCB.
#[derive(Clone, Debug, PartialEq)]
pub struct Prior {
    names: Vec<String>,
    dim: usize,
    /// `[K, d]` row-major.
    means: Vec<f64>,
}

/// The JSON form of a prior (see docs/FORMATS.md).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PriorFile {
    pub(crate) format: String,
    pub(crate) version: u32,
    pub(crate) dim: usize,
    pub(crate) arms: Vec<PriorArm>,
}

/// One arm of a [`PriorFile`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PriorArm {
    pub(crate) name: String,
    pub(crate) mean: Vec<f64>,
}

impl Prior {
    /// Builds a prior from one named mean vector per arm.
    ///
    /// Errors on no arms, d = 0, duplicate names, a mean of the wrong length, or a NaN/inf.
    pub fn new(arms: Vec<(String, Vec<f64>)>) -> Result<Self> {
        let dim = arms.first().map_or(0, |(_, mean)| mean.len());
        if arms.is_empty() || dim == 0 {
            return Err(Error::InvalidParameter {
                name: "prior",
                value: format!("{} arms of dimension {dim}", arms.len()),
                reason: "needs at least one arm and d >= 1",
            });
        }
        let mut names = Vec::with_capacity(arms.len());
        let mut means = Vec::with_capacity(arms.len() * dim);
        for (arm, (name, mean)) in arms.into_iter().enumerate() {
            ensure_len(
                || format!("prior mean of arm {arm} ({name})"),
                dim,
                mean.len(),
            )?;
            ensure_finite(|| format!("prior mean of arm {arm} ({name})"), &mean)?;
            if names.contains(&name) {
                return Err(Error::InvalidParameter {
                    name: "prior",
                    value: name,
                    reason: "arm names must be unique",
                });
            }
            names.push(name);
            means.extend(mean);
        }
        Ok(Self { names, dim, means })
    }

    /// A zero prior over `n_arms` arms named `arm-0`, `arm-1`, ….
    pub fn zeros(n_arms: usize, dim: usize) -> Result<Self> {
        Self::new(
            (0..n_arms)
                .map(|arm| (format!("arm-{arm}"), vec![0.0; dim]))
                .collect(),
        )
    }

    /// Number of arms K.
    pub fn n_arms(&self) -> usize {
        self.names.len()
    }

    /// Context dimension d.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The arms' names, in arm order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Prior mean μ0 of `arm`, `[d]`.
    ///
    /// # Panics
    /// If `arm >= n_arms()`.
    pub fn mean(&self, arm: usize) -> &[f64] {
        &self.means[arm * self.dim..(arm + 1) * self.dim]
    }

    /// Reads a prior file, checking its format tag, version and content.
    pub fn load(path: &Path) -> Result<Self> {
        let file: PriorFile = read_json(path)?;
        Self::from_file(file, path)
    }

    /// Writes the prior file atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        Ok(write_json_compact(path, &self.to_file())?)
    }

    pub(crate) fn to_file(&self) -> PriorFile {
        PriorFile {
            format: PRIOR_FORMAT.into(),
            version: PRIOR_VERSION,
            dim: self.dim,
            arms: (0..self.n_arms())
                .map(|arm| PriorArm {
                    name: self.names[arm].clone(),
                    mean: self.mean(arm).to_vec(),
                })
                .collect(),
        }
    }

    pub(crate) fn from_file(file: PriorFile, path: &Path) -> Result<Self> {
        check_format(
            path,
            (&file.format, file.version),
            (PRIOR_FORMAT, PRIOR_VERSION),
        )?;
        let declared = file.dim;
        let prior = Self::new(
            file.arms
                .into_iter()
                .map(|arm| (arm.name, arm.mean))
                .collect(),
        )
        .map_err(|err| Error::InvalidFile {
            path: path.to_path_buf(),
            reason: err.to_string(),
        })?;
        if prior.dim != declared {
            return Err(Error::InvalidFile {
                path: path.to_path_buf(),
                reason: format!("field `dim` is {declared} but the means have {}", prior.dim),
            });
        }
        Ok(prior)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prior.json");
        let prior = Prior::new(vec![
            ("math".into(), vec![0.6, 0.8]),
            ("safety".into(), vec![-1.0, 0.0]),
        ])
        .unwrap();
        prior.save(&path).unwrap();
        assert_eq!(Prior::load(&path).unwrap(), prior);
    }

    #[test]
    fn names_what_is_wrong() {
        let err = Prior::new(vec![("a".into(), vec![0.0, 1.0]), ("b".into(), vec![1.0])])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("arm 1 (b)") && err.contains("expected 2"),
            "{err}"
        );

        let err = Prior::new(vec![("a".into(), vec![0.0, f64::NAN])])
            .unwrap_err()
            .to_string();
        assert!(err.contains("index 1"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prior.json");
        std::fs::write(
            &path,
            r#"{"format":"bandit-prior","version":9,"dim":1,"arms":[]}"#,
        )
        .unwrap();
        let err = Prior::load(&path).unwrap_err().to_string();
        assert!(err.contains("v9") && err.contains("prior.json"), "{err}");
    }
}
