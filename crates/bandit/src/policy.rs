//! Which arm-selection rule a router applies.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// An arm-selection rule. All rules share the per-arm linear posteriors of
/// [`LinearBandit`](crate::LinearBandit); they differ in how a context is scored.
///
/// | policy | score of arm k for context e | learns | propensity |
/// |---|---|---|---|
/// | `Thompson` | μ_kᵀe + ‖L_k⁻¹e‖·ξ_k, ξ_k ~ N(0,1) | yes | Monte-Carlo |
/// | `LinUcb` | μ_kᵀe + α‖L_k⁻¹e‖ | yes | exact (1, or 1/ties) |
/// | `EpsilonGreedy` | μ_kᵀe, uniform arm with probability ε | yes | exact |
/// | `OfflineArgmax` | μ0_kᵀe (the offline router) | no | exact (1) |
/// | `Fixed` | always one arm (a single-RM baseline) | no | exact (1) |
/// | `Uniform` | uniform over available arms | no | exact (1/K) |
///
/// Ties go to the lowest arm index, except for LinUCB with `random_ties` (LASeR's code),
/// which draws uniformly among the tied arms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Policy {
    /// Linear Thompson sampling from the Gaussian posterior (BayesianRouter, METHOD.md §3).
    Thompson,
    /// LinUCB with exploration weight `alpha` ≥ 0 (LASeR uses 0.1 with a zero prior, λ0 = 1).
    #[serde(rename = "linucb")]
    LinUcb {
        /// Width of the confidence bonus, in reward units per unit of predictive std.
        alpha: f64,
        /// Break ties between top-scoring arms uniformly at random (as LASeR's code does)
        /// instead of by the lowest index. Written only when set, so the files of the
        /// lowest-index rule are unchanged.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        random_ties: bool,
    },
    /// Greedy on the posterior mean, exploring uniformly with probability `epsilon` ∈ [0, 1].
    EpsilonGreedy {
        /// Exploration probability.
        epsilon: f64,
    },
    /// Argmax of the prior means μ0ᵀe: the offline router alone, never updated.
    OfflineArgmax,
    /// Always the same arm.
    Fixed {
        /// The arm index.
        arm: usize,
    },
    /// Uniformly random among the available arms.
    Uniform,
}

impl Policy {
    /// Whether updates change this policy's future choices (and so whether the router keeps
    /// posteriors for it).
    pub fn learns(&self) -> bool {
        matches!(
            self,
            Self::Thompson | Self::LinUcb { .. } | Self::EpsilonGreedy { .. }
        )
    }

    /// A short stable name for logs and reports.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Thompson => "thompson",
            Self::LinUcb { .. } => "linucb",
            Self::EpsilonGreedy { .. } => "epsilon_greedy",
            Self::OfflineArgmax => "offline_argmax",
            Self::Fixed { .. } => "fixed",
            Self::Uniform => "uniform",
        }
    }

    /// Validates the policy's own parameters against a router with `n_arms` arms.
    pub fn check(&self, n_arms: usize) -> Result<()> {
        match *self {
            Self::LinUcb { alpha, .. } if !(alpha.is_finite() && alpha >= 0.0) => {
                Err(Error::InvalidParameter {
                    name: "alpha",
                    value: alpha.to_string(),
                    reason: "must be finite and >= 0",
                })
            }
            Self::EpsilonGreedy { epsilon } if !(0.0..=1.0).contains(&epsilon) => {
                Err(Error::InvalidParameter {
                    name: "epsilon",
                    value: epsilon.to_string(),
                    reason: "must be in [0, 1]",
                })
            }
            Self::Fixed { arm } if arm >= n_arms => Err(Error::ArmOutOfRange { arm, n_arms }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_form_is_tagged() {
        let json = serde_json::to_string(&Policy::LinUcb {
            alpha: 0.1,
            random_ties: false,
        })
        .unwrap();
        assert_eq!(json, r#"{"kind":"linucb","alpha":0.1}"#);
        let coded = Policy::LinUcb {
            alpha: 0.1,
            random_ties: true,
        };
        let json = serde_json::to_string(&coded).unwrap();
        assert_eq!(json, r#"{"kind":"linucb","alpha":0.1,"random_ties":true}"#);
        assert_eq!(serde_json::from_str::<Policy>(&json).unwrap(), coded);
        let back: Policy = serde_json::from_str(r#"{"kind":"thompson"}"#).unwrap();
        assert_eq!(back, Policy::Thompson);
    }

    #[test]
    fn checks_parameters() {
        assert!(
            Policy::LinUcb {
                alpha: -1.0,
                random_ties: false
            }
            .check(4)
            .is_err()
        );
        assert!(Policy::EpsilonGreedy { epsilon: 1.5 }.check(4).is_err());
        assert!(Policy::Fixed { arm: 4 }.check(4).is_err());
        assert!(Policy::Fixed { arm: 3 }.check(4).is_ok());
    }
}
