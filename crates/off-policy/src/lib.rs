//! Off-policy evaluation (OPE) of reward-model routers from routing logs.
//!
//! A logging router chose one reward model (arm) a_i for each of N contexts x_i, with
//! probability π0(a_i|x_i), and a value y_i was observed for that choice only (e.g. 1 when
//! the chosen reward model ranked the pair correctly). Off-policy evaluation estimates what
//! another router, the target π, would have scored on the same contexts,
//! V(π) = E_x[Σ_a π(a|x) r(x, a)], without running it. This crate is the arithmetic only:
//! the caller reads the logs and supplies, per row, the logged arm, its propensity, the
//! value and a cluster id ([`LoggedRow`]), the target's probabilities on every arm
//! ([`TargetProbabilities`], exact or the frequencies of D draws of a stochastic router),
//! and the reward model q̂ of the direct method ([`fit_q_hat`] fits one on the log).
//!
//! # Estimators
//! With w_i = π(a_i|x_i)/π0(a_i|x_i) and DM_i = Σ_a π(a|x_i) q̂(x_i, a), every estimator is
//! a ratio of per-row sums, V̂ = Σ_i num_i / Σ_i den_i:
//!
//! | [`Estimator`]     | name        | num_i                                         | den_i |
//! |-------------------|-------------|-----------------------------------------------|-------|
//! | IPS               | `ips`       | min(w_i, clip)·y_i (no clip by default)       | 1     |
//! | SNIPS             | `snips`     | w_i·y_i                                       | w_i   |
//! | direct method     | `dm`        | DM_i                                          | 1     |
//! | doubly robust     | `dr`        | DM_i + w_i (y_i − q̂(x_i, a_i))                | 1     |
//! | switch-DR         | `switch-dr` | DM_i + 1{w_i ≤ τ} w_i (y_i − q̂(x_i, a_i))     | 1     |
//!
//! IPS and DR are unbiased when the logging policy gives every arm the target uses a
//! positive probability (DR also when q̂ is right instead); SNIPS and clipping trade a small
//! bias for much less variance; DM sees arms the logging policy never chose but inherits
//! q̂'s error; switch-DR (Wang, Agarwal & Dudík, ICML 2017, as in the Open Bandit Pipeline)
//! drops the IPS correction where the weight exceeds τ (default
//! [`DEFAULT_SWITCH_TAU`]). The specification syntax (`ips:clip=10`, `switch-dr:tau=5`) is
//! `Estimator`'s `FromStr`.
//!
//! # Intervals: the cluster bootstrap
//! Rows that share a prompt are correlated, so [`evaluate`] resamples clusters
//! ([`LoggedRow::cluster`]) whole, B times with replacement ([`BootstrapConfig`]), and
//! reports the percentile interval of Σ num / Σ den over each resample. The key design
//! decision is the ratio-of-sums form: each cluster's terms are summed once, so a resample
//! costs O(C), and all estimators share the same seeded ChaCha8 resamples. The intervals
//! hold q̂ fixed (fitted once, cross-fitted by cluster, see [`fit_q_hat`]).
//!
//! # Sampled targets: the Monte-Carlo error
//! A Thompson-sampling router has no closed-form probabilities; its rows are frequencies
//! among D draws. That adds noise the bootstrap does not see, reported as
//! [`Estimate::monte_carlo_se`] by the delta method (derivation in [`Estimator`]). It is
//! bounded by SE_MC ≤ max_i R_i / (2√(N·D)) for the estimators with den = 1, where R_i is
//! the spread across arms of row i's coefficient: for IPS with values in [0, y_max] that is
//! y_max / (2 π0_min √(N·D)).
//!
//! # Diagnostics
//! [`WeightDiagnostics`] summarises the weights (Kish's effective sample size
//! (Σw)²/Σw², mean weight, which is 1 in expectation when the propensities are right and the
//! logging policy covers the target, maximum weight, tiny propensities), and
//! [`Warning`]s flag tiny propensities, a low effective sample size, a mean weight far from
//! 1, a target too coarsely sampled for its intervals, noisy Monte-Carlo logging
//! propensities, and target mass on arms the logging policy never chooses (given the
//! logging distribution, [`LoggingDistribution`]). The thresholds are constants such as
//! [`LOW_ESS_FRACTION`].
//!
//! # Example
//! ```
//! use off_policy::{
//!     BootstrapConfig, Estimator, LoggedRow, OpeData, TargetProbabilities, evaluate,
//! };
//!
//! // Two logged decisions over K = 2 arms, each its own cluster.
//! let rows = vec![
//!     LoggedRow { arm: 0, propensity: 0.5, value: 1.0, cluster: 0 },
//!     LoggedRow { arm: 1, propensity: 0.5, value: 0.0, cluster: 1 },
//! ];
//! // The target always picks arm 0: [N = 2, K = 2] row-major.
//! let target = TargetProbabilities { n_arms: 2, values: vec![1.0, 0.0, 1.0, 0.0], draws: None };
//! // No estimator here needs q̂: zeros.
//! let data = OpeData::new(rows, target, vec![0.0; 4])?;
//! let estimators = ["ips", "snips"]
//!     .iter()
//!     .map(|s| s.parse())
//!     .collect::<Result<Vec<Estimator>, _>>()?;
//! let evaluation = evaluate(&data, &estimators, &BootstrapConfig::default(), None)?;
//! // IPS: (2·1 + 0·0)/2 = 1; SNIPS: (2·1)/(2 + 0) = 1.
//! assert_eq!(evaluation.estimates[0].value, 1.0);
//! assert_eq!(evaluation.estimates[1].value, 1.0);
//! # Ok::<(), off_policy::Error>(())
//! ```

mod bootstrap;
mod data;
mod diagnostics;
mod error;
mod estimator;
mod evaluate;
mod reward_model;

pub use crate::{
    bootstrap::BootstrapConfig,
    data::{
        LoggedRow, LoggingDistribution, OpeData, PROBABILITY_SUM_TOLERANCE, TargetProbabilities,
        true_value,
    },
    diagnostics::{
        LOGGING_RELATIVE_SE, LOW_ESS_FRACTION, MEAN_WEIGHT_MIN_ROWS, MEAN_WEIGHT_TOLERANCE,
        MEAN_WEIGHT_Z, TARGET_MONTE_CARLO_SHARE, TINY_PROPENSITY, UNSUPPORTED_TARGET_MASS, Warning,
        WeightDiagnostics,
    },
    error::{Error, Result},
    estimator::{DEFAULT_SWITCH_TAU, Estimator},
    evaluate::{Estimate, Evaluation, evaluate},
    reward_model::{RewardModelKind, cross_fit_fold, fit_q_hat},
};
