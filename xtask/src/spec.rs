//! Router specifications read from TOML (`configs/router/*.toml`), resolved once into the
//! checked types the bandit crate uses.

use std::path::Path;

use anyhow::{Context, Result};
use bandit::{Policy, RouterParams};
use serde::Deserialize;

/// A router as a TOML file describes it (see configs/router/).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterSpec {
    /// Selection rule, e.g. `{ kind = "thompson" }` or `{ kind = "linucb", alpha = 0.1 }`.
    pub policy: Policy,
    /// Seed of the router's random streams.
    #[serde(default)]
    pub seed: u64,
    /// Hyperparameters of the per-arm posteriors.
    pub params: RouterParams,
}

impl RouterSpec {
    /// The reference BayesianRouter v4 setting (λ0 = 1), used when no config is given.
    pub fn bayesian_v4() -> Self {
        Self {
            policy: Policy::Thompson,
            seed: 0,
            params: RouterParams::bayesian_v4(),
        }
    }

    /// Reads and validates a spec file.
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let spec: Self =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        spec.params
            .check()
            .with_context(|| format!("checking {}", path.display()))?;
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shipped config parses and validates.
    #[test]
    fn shipped_configs_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/router");
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            RouterSpec::load(&path).unwrap();
            count += 1;
        }
        assert!(
            count >= 3,
            "expected the shipped router configs in {}",
            dir.display()
        );
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
        let err = format!("{:#}", RouterSpec::load(&path).unwrap_err());
        assert!(err.contains("lamda") && err.contains("bad.toml"), "{err}");
    }
}
