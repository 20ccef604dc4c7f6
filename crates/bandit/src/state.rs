//! Saving and restoring a router (versioned JSON, atomic writes), and the posterior summary.

use std::path::Path;

use faer::Mat;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use atomic_write::{read_json, write_json_compact};

use crate::files::check_format;
use crate::linear_bandit::LinearBandit;
use crate::params::BanditParams;
use crate::policy::Policy;
use crate::posterior::ArmPosterior;
use crate::prior::{Prior, PriorFile};

/// Format tag of a saved router state.
pub const STATE_FORMAT: &str = "bandit-router-state";
/// Version of the router-state format this build writes and reads.
pub const STATE_VERSION: u32 = 1;
/// Format tag of a posterior summary.
pub const POSTERIOR_FORMAT: &str = "bandit-posterior";
/// Version of the posterior-summary format this build writes.
pub const POSTERIOR_VERSION: u32 = 1;

/// Everything needed to continue exactly where a router stopped: the Cholesky factor is
/// saved as it is (not recomputed), and so are both random streams, so that save → load →
/// continue makes the same choices as never saving. f64 values round-trip exactly.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    format: String,
    version: u32,
    policy: Policy,
    params: BanditParams,
    prior: PriorFile,
    arms: Vec<ArmState>,
    rng: ChaCha8Rng,
    propensity_rng: ChaCha8Rng,
}

/// One arm's posterior; triangles packed column by column (j = 0..d, i = j..d).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArmState {
    updates: u64,
    info: Vec<f64>,
    precision_lower: Vec<f64>,
    factor_lower: Vec<f64>,
}

/// Per-arm posterior mean and precision, the output of `cargo xtask router replay`
/// (see docs/FORMATS.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PosteriorSummary {
    /// Always [`POSTERIOR_FORMAT`].
    pub format: String,
    /// Always [`POSTERIOR_VERSION`].
    pub version: u32,
    /// Context dimension d.
    pub dim: usize,
    /// One entry per arm, in arm order.
    pub arms: Vec<ArmSummary>,
}

/// One arm of a [`PosteriorSummary`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArmSummary {
    /// The arm's name from the prior.
    pub name: String,
    /// Rewards absorbed.
    pub updates: u64,
    /// Posterior mean μ, `[d]`.
    pub mean: Vec<f64>,
    /// Precision Λ = λ0 I + Σ e eᵀ/σ², `[d][d]`, symmetric.
    pub precision: Vec<Vec<f64>>,
}

impl PosteriorSummary {
    /// Writes the summary as JSON, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        Ok(write_json_compact(path, self)?)
    }
}

impl LinearBandit {
    /// Writes the complete state atomically (temporary file + rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let state = StateFile {
            format: STATE_FORMAT.into(),
            version: STATE_VERSION,
            policy: self.policy.clone(),
            params: self.params.clone(),
            prior: self.prior.to_file(),
            arms: self
                .arms
                .iter()
                .map(|arm| ArmState {
                    updates: arm.updates(),
                    info: arm.info().to_vec(),
                    precision_lower: pack_lower(arm.precision()),
                    factor_lower: pack_lower(arm.factor()),
                })
                .collect(),
            rng: self.rng.clone(),
            propensity_rng: self.propensity_rng.clone(),
        };
        Ok(write_json_compact(path, &state)?)
    }

    /// Restores a router saved by [`save`](Self::save), checking that it has `n_arms` arms
    /// over `dim`-dimensional contexts, and that every saved array is complete and finite.
    pub fn load(path: &Path, n_arms: usize, dim: usize) -> Result<Self> {
        let state: StateFile = read_json(path)?;
        check_format(
            path,
            (&state.format, state.version),
            (STATE_FORMAT, STATE_VERSION),
        )?;
        let prior = Prior::from_file(state.prior, path)?;
        let shape_error = |what, expected, found| Error::ShapeMismatch {
            path: path.to_path_buf(),
            what,
            expected,
            found,
        };
        if prior.n_arms() != n_arms {
            return Err(shape_error("number of arms", n_arms, prior.n_arms()));
        }
        if prior.dim() != dim {
            return Err(shape_error("context dimension", dim, prior.dim()));
        }
        let expected_arms = if state.policy.learns() { n_arms } else { 0 };
        let invalid = |reason: String| Error::InvalidFile {
            path: path.to_path_buf(),
            reason,
        };
        if state.arms.len() != expected_arms {
            return Err(invalid(format!(
                "field `arms` has {} posteriors, expected {expected_arms} for policy `{}`",
                state.arms.len(),
                state.policy.name()
            )));
        }
        let arms = state
            .arms
            .into_iter()
            .enumerate()
            .map(|(arm, saved)| restore_arm(arm, saved, dim).map_err(invalid))
            .collect::<Result<Vec<_>>>()?;
        LinearBandit::from_parts(
            state.policy,
            prior,
            state.params,
            arms,
            state.rng,
            state.propensity_rng,
        )
        .map_err(|err| invalid(err.to_string()))
    }

    /// Per-arm posterior means and precisions (see [`PosteriorSummary`]).
    pub fn posterior_summary(&self) -> PosteriorSummary {
        let dim = self.dim();
        let arms = (0..self.n_arms())
            .map(|arm| {
                let precision = self.precision(arm).expect("arm < n_arms");
                ArmSummary {
                    name: self.prior.names()[arm].clone(),
                    updates: self.updates(arm).expect("arm < n_arms"),
                    mean: self.mean(arm).expect("arm < n_arms").to_vec(),
                    precision: precision.chunks_exact(dim).map(<[f64]>::to_vec).collect(),
                }
            })
            .collect();
        PosteriorSummary {
            format: POSTERIOR_FORMAT.into(),
            version: POSTERIOR_VERSION,
            dim,
            arms,
        }
    }
}

/// Validates one saved arm and rebuilds its posterior.
fn restore_arm(
    arm: usize,
    saved: ArmState,
    dim: usize,
) -> std::result::Result<ArmPosterior, String> {
    let packed = dim * (dim + 1) / 2;
    for (field, values, expected) in [
        ("info", &saved.info, dim),
        ("precision_lower", &saved.precision_lower, packed),
        ("factor_lower", &saved.factor_lower, packed),
    ] {
        if values.len() != expected {
            return Err(format!(
                "arms[{arm}].{field}: expected {expected} values, found {}",
                values.len()
            ));
        }
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(format!("arms[{arm}].{field}[{index}] is not finite"));
        }
    }
    let factor = unpack_lower(&saved.factor_lower, dim);
    if let Some(i) = (0..dim).find(|&i| factor[(i, i)] <= 0.0) {
        return Err(format!(
            "arms[{arm}].factor_lower: diagonal entry {i} is not positive"
        ));
    }
    Ok(ArmPosterior::from_parts(
        unpack_lower(&saved.precision_lower, dim),
        factor,
        saved.info,
        saved.updates,
    ))
}

/// Lower triangle, column by column.
fn pack_lower(matrix: faer::MatRef<'_, f64>) -> Vec<f64> {
    let dim = matrix.nrows();
    (0..dim)
        .flat_map(|j| (j..dim).map(move |i| matrix[(i, j)]))
        .collect()
}

/// Inverse of [`pack_lower`], zeros above the diagonal.
fn unpack_lower(packed: &[f64], dim: usize) -> Mat<f64> {
    let mut matrix = Mat::zeros(dim, dim);
    let mut values = packed.iter();
    for j in 0..dim {
        for i in j..dim {
            matrix[(i, j)] = *values.next().expect("length checked by the caller");
        }
    }
    matrix
}
