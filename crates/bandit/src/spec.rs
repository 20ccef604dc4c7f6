//! Router specifications: a selection rule, a seed and the posterior hyperparameters, as the
//! TOML files of `configs/bandit/` write them, with the reference presets as named
//! constructors. The trainer and the command line read this one format.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::params::BanditParams;
use crate::policy::Policy;

/// A router as a TOML file describes it (see configs/bandit/).
///
/// ```toml
/// policy = { kind = "thompson" }
/// seed = 0
///
/// [params]
/// lambda0 = 50.0
/// sigma2 = 1.0
/// jitter = 1e-8
/// refactor_every = 1000
/// propensity_draws = 1000
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BanditSpec {
    /// Selection rule, e.g. `{ kind = "thompson" }` or `{ kind = "linucb", alpha = 0.1 }`.
    pub policy: Policy,
    /// Seed of the router's random streams.
    #[serde(default)]
    pub seed: u64,
    /// Hyperparameters of the per-arm posteriors.
    pub params: BanditParams,
}

impl BanditSpec {
    /// BayesianRouter v4 (METHOD.md §3): Thompson sampling, λ0 = 1.
    pub fn bayesian_v4() -> Self {
        Self {
            policy: Policy::Thompson,
            seed: 0,
            params: BanditParams::bayesian_v4(),
        }
    }

    /// BayesianRouter v5 (METHOD.md §3): Thompson sampling with a 50× stronger prior.
    pub fn bayesian_v5() -> Self {
        Self {
            params: BanditParams::bayesian_v5(),
            ..Self::bayesian_v4()
        }
    }

    /// LASeR (METHOD.md §6): LinUCB with exploration weight `alpha` (LASeR uses 0.1) over
    /// A = I, b = 0.
    pub fn laser(alpha: f64) -> Self {
        Self {
            policy: Policy::LinUcb {
                alpha,
                random_ties: false,
            },
            seed: 0,
            params: BanditParams::laser(),
        }
    }

    /// LASeR as its code runs: [`laser`](Self::laser) with ties broken at random.
    pub fn laser_as_coded(alpha: f64) -> Self {
        Self {
            policy: Policy::LinUcb {
                alpha,
                random_ties: true,
            },
            ..Self::laser(alpha)
        }
    }

    /// Parses a spec from TOML text; `origin` names the text in errors (a file path).
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self> {
        let spec: Self = toml::from_str(text).map_err(|err| Error::InvalidFile {
            path: origin.to_path_buf(),
            reason: err.to_string(),
        })?;
        spec.params.check().map_err(|err| Error::InvalidFile {
            path: origin.to_path_buf(),
            reason: err.to_string(),
        })?;
        Ok(spec)
    }

    /// Reads and validates a spec file; unknown keys are errors naming the key and the file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(atomic_write::io_error(path))?;
        Self::from_toml(&text, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shipped config parses and validates, and the v4/v5/LASeR files are the presets.
    #[test]
    fn shipped_configs_are_the_presets() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/bandit");
        for (file, preset) in [
            ("bayesian-v4.toml", BanditSpec::bayesian_v4()),
            ("bayesian-v5.toml", BanditSpec::bayesian_v5()),
            ("laser.toml", BanditSpec::laser(0.1)),
        ] {
            let loaded = BanditSpec::load(&dir.join(file)).unwrap();
            assert_eq!(loaded, preset, "{file}");
        }
    }

    #[test]
    fn unknown_fields_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(
            &path,
            "policy = { kind = \"thompson\" }\n[params]\nlambda0 = 1.0\nsigma2 = 1.0\njitter = 0.0\nrefactor_every = 0\npropensity_draws = 0\nlamda = 3\n",
        )
        .unwrap();
        let err = BanditSpec::load(&path).unwrap_err().to_string();
        assert!(err.contains("lamda") && err.contains("bad.toml"), "{err}");
    }

    #[test]
    fn invalid_params_are_refused_with_the_file() {
        let text = "policy = { kind = \"thompson\" }\n[params]\nlambda0 = -1.0\nsigma2 = 1.0\njitter = 0.0\nrefactor_every = 0\npropensity_draws = 0\n";
        let err = BanditSpec::from_toml(text, Path::new("neg.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("lambda0") && err.contains("neg.toml"), "{err}");
    }
}
