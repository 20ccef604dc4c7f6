//! What each strategy of [`StrategyConfig`] is made of: how pairs are judged, where routing
//! contexts come from, and the bandit (if any) with its prior.
//!
//! | strategy | judge | context | bandit |
//! |---|---|---|---|
//! | `bayesian` | the routed RM | offline e(x, a, b) | Thompson, prior μ0 = offline v̂_k |
//! | `online-only` | the routed RM | offline e(x, a, b) | Thompson, prior μ0 = 0 |
//! | `offline-only` | the routed RM | offline e(x, a, b) | argmax μ0ᵀe, never updated |
//! | `epsilon-greedy` | the routed RM | offline e(x, a, b) | ε-greedy on the posterior mean (offline prior) |
//! | `laser` | the routed RM | mean prompt-token embedding of the batch (or prompt) | LinUCB, μ0 = 0 |
//! | `random` | the routed RM | constant 1 | uniform |
//! | `single` | the named RM | constant 1 | fixed arm |
//! | `ensemble`, `majority` | all K RMs | — | — |
//! | `oracle` | the `[oracle]` verifier (its ties dropped) | — | — |
//! | `oracle-coin` | the `[oracle]` verifier, a seeded coin deciding its ties | — | — |
//!
//! Non-contextual routers (random, single) are contextual routers over the constant context
//! `e = [1]`, so every routed strategy shares one code path: arm masks, propensities, state
//! files.

use bandit::{BanditParams, BanditSpec, LinearBandit, Policy, Prior};
use burn::prelude::*;
use lm::CausalLm;

use crate::config::{BayesianPreset, StrategyConfig, TrainerConfig};
use crate::error::{Error, Result};

/// How a strategy labels a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Labeller {
    /// The RM the bandit picked for the pair.
    Routed,
    /// The mean of every RM's standardised scores.
    Ensemble,
    /// The majority of every RM's verdicts.
    Majority,
    /// The oracle verifier; with `coin_ties`, a seeded coin decides the pairs it ties.
    Oracle {
        /// Whether a coin decides the verifier's ties (`oracle-coin`) instead of dropping
        /// them (`oracle`).
        coin_ties: bool,
    },
}

/// Where a routed strategy's contexts come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContextKind {
    /// The offline router's e(x, a, b), one per pair.
    Pair,
    /// LASeR: the mean input-token embedding of the batch's prompts (one context per batch),
    /// or of each prompt (`per_prompt`).
    PromptEmbedding {
        /// One context (and one arm) per prompt instead of per batch.
        per_prompt: bool,
    },
    /// The constant `e = [1]`.
    Constant,
}

/// LASeR's context of one prompt: the mean of its tokens' input embeddings under `policy`
/// (on `device`, the policy's), `[d_model]`.
pub fn mean_prompt_embedding(policy: &CausalLm, ids: &[u32], device: &Device) -> Vec<f64> {
    let ids = Tensor::<1, Int>::from_data(
        TensorData::new(
            ids.iter().map(|&t| i64::from(t)).collect::<Vec<_>>(),
            [ids.len()],
        ),
        device,
    );
    // [len, d] → [d]
    policy
        .token_embeddings(ids)
        .mean_dim(0)
        .try_into_vec_as::<f64>()
        .expect("a float tensor converts to f64")
}

/// A strategy resolved against the pool: judge, contexts and bandit.
pub struct Strategy {
    /// The config's description.
    pub config: StrategyConfig,
    /// How pairs are judged.
    pub labeller: Labeller,
    /// The contexts of routed strategies (`None` for the others).
    pub context: Option<ContextKind>,
    /// The bandit (`None` for ensemble, majority and oracle).
    pub bandit: Option<LinearBandit>,
}

impl Strategy {
    /// Builds the strategy of `config` for a pool with RMs `names` (arm order), given the
    /// offline router's prior when the run has one and the policy's embedding width (LASeR's
    /// context dimension).
    pub fn new(
        config: &TrainerConfig,
        names: &[String],
        offline_prior: Option<&Prior>,
        policy_width: usize,
    ) -> Result<Self> {
        let strategy = &config.strategy;
        let Some(routing) = Routing::of(strategy, names, offline_prior, policy_width)? else {
            return Ok(Self {
                config: strategy.clone(),
                labeller: match strategy {
                    StrategyConfig::Ensemble => Labeller::Ensemble,
                    StrategyConfig::Majority => Labeller::Majority,
                    _ => Labeller::Oracle {
                        coin_ties: matches!(strategy, StrategyConfig::OracleCoin),
                    },
                },
                context: None,
                bandit: None,
            });
        };
        Ok(Self {
            config: strategy.clone(),
            labeller: Labeller::Routed,
            context: Some(routing.context),
            bandit: Some(LinearBandit::new(
                routing.policy,
                routing.prior,
                routing.params,
                config.seed,
            )?),
        })
    }

    /// Whether the bandit learns from rewards (and so is updated after each step).
    pub fn learns(&self) -> bool {
        self.bandit.as_ref().is_some_and(|r| r.policy().learns())
    }
}

/// How a routed strategy routes: its contexts, and its bandit's policy, prior and
/// parameters.
struct Routing {
    context: ContextKind,
    policy: Policy,
    prior: Prior,
    params: BanditParams,
}

impl Routing {
    /// The routing of `strategy` (`None` for the strategies every RM or the oracle labels).
    fn of(
        strategy: &StrategyConfig,
        names: &[String],
        offline_prior: Option<&Prior>,
        policy_width: usize,
    ) -> Result<Option<Self>> {
        let offline = || {
            offline_prior.cloned().ok_or_else(|| {
                Error::Mismatch(format!(
                    "strategy `{}` needs the offline router's export (`data.router`)",
                    strategy.name()
                ))
            })
        };
        let zero_prior = |dim: usize| {
            Prior::new(
                names
                    .iter()
                    .map(|name| (name.clone(), vec![0.0; dim]))
                    .collect(),
            )
        };
        let preset = |preset: BayesianPreset| match preset {
            BayesianPreset::V4 => BanditSpec::bayesian_v4(),
            BayesianPreset::V5 => BanditSpec::bayesian_v5(),
        };
        let routing = |context, policy, prior, params| {
            Ok(Some(Self {
                context,
                policy,
                prior,
                params,
            }))
        };
        let v5 = BanditParams::bayesian_v5;
        match strategy {
            StrategyConfig::Bayesian {
                preset: which,
                bandit,
                sigma2,
            } => {
                let mut spec = match bandit {
                    Some(path) => BanditSpec::load(path)?,
                    None => preset(*which),
                };
                if let Some(sigma2) = sigma2 {
                    spec.params.sigma2 = *sigma2;
                    spec.params.check()?;
                }
                routing(ContextKind::Pair, spec.policy, offline()?, spec.params)
            }
            StrategyConfig::OnlineOnly { preset: which } => {
                let spec = preset(*which);
                let prior = zero_prior(offline()?.dim())?;
                routing(ContextKind::Pair, spec.policy, prior, spec.params)
            }
            StrategyConfig::OfflineOnly => {
                routing(ContextKind::Pair, Policy::OfflineArgmax, offline()?, v5())
            }
            StrategyConfig::EpsilonGreedy { epsilon } => {
                let policy = Policy::EpsilonGreedy { epsilon: *epsilon };
                routing(ContextKind::Pair, policy, offline()?, v5())
            }
            StrategyConfig::Laser {
                alpha,
                per_prompt,
                as_coded,
            } => {
                let spec = if *as_coded {
                    BanditSpec::laser_as_coded(*alpha)
                } else {
                    BanditSpec::laser(*alpha)
                };
                let context = ContextKind::PromptEmbedding {
                    per_prompt: *per_prompt,
                };
                routing(context, spec.policy, zero_prior(policy_width)?, spec.params)
            }
            StrategyConfig::Random => {
                routing(ContextKind::Constant, Policy::Uniform, zero_prior(1)?, v5())
            }
            StrategyConfig::Single { rm } => {
                let arm = names.iter().position(|n| n == rm).ok_or_else(|| {
                    Error::Mismatch(format!(
                        "strategy `single` names RM {rm:?}, which the pool does not have (it \
                         has {names:?})"
                    ))
                })?;
                let policy = Policy::Fixed { arm };
                routing(ContextKind::Constant, policy, zero_prior(1)?, v5())
            }
            StrategyConfig::Ensemble
            | StrategyConfig::Majority
            | StrategyConfig::Oracle
            | StrategyConfig::OracleCoin => Ok(None),
        }
    }
}
