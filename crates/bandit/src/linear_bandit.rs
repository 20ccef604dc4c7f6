//! The router: K arms with linear posteriors, one selection rule, seeded randomness.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, ensure_finite, ensure_len};
use crate::mask::ArmMask;
use crate::parallel;
use crate::params::BanditParams;
use crate::policy::Policy;
use crate::posterior::{ArmPosterior, dot};
use crate::prior::Prior;
use crate::propensity::{
    epsilon_greedy_propensities, one_hot, thompson_choice_propensities, thompson_propensities,
    uniform_propensities,
};

/// Stream of the ChaCha generator used for propensity estimates; choices use stream 0.
const PROPENSITY_STREAM: u64 = 1;

/// One routing decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// The chosen arm.
    pub arm: usize,
    /// Probability that the policy chooses this arm for this context (given the state and
    /// mask): exact for deterministic, uniform, ε-greedy and LinUCB policies, a Monte-Carlo
    /// estimate for Thompson sampling, `None` when Thompson propensities are switched off
    /// ([`BanditParams::propensity_draws`] = 0). Equals `distribution.probabilities[arm]`.
    pub propensity: Option<f64>,
    /// The policy's whole distribution over arms for this context, from which `arm` was
    /// drawn (what off-policy evaluation needs beyond the chosen arm's propensity); `None`
    /// exactly when `propensity` is.
    pub distribution: Option<ArmDistribution>,
}

/// A router's probabilities of choosing each arm for one context.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArmDistribution {
    /// P(arm k), `[K]`, summing to 1; 0 for masked arms.
    pub probabilities: Vec<f64>,
    /// Monte-Carlo draws behind the estimate (Thompson sampling; each probability's standard
    /// error is at most 0.5/√draws), `None` when the probabilities are exact. A choice's
    /// distribution counts the choice's own draw among them, which lifts the chosen arm by
    /// 1/draws and lowers the others by the same share.
    pub draws: Option<usize>,
}

impl Choice {
    /// A choice drawn from `distribution` (its propensity read from it).
    fn drawn(arm: usize, distribution: ArmDistribution) -> Self {
        Self {
            arm,
            propensity: Some(distribution.probabilities[arm]),
            distribution: Some(distribution),
        }
    }
}

impl ArmDistribution {
    fn exact(probabilities: Vec<f64>) -> Self {
        Self {
            probabilities,
            draws: None,
        }
    }
}

/// One observed reward for one routed context.
#[derive(Clone, Copy, Debug)]
pub struct Feedback<'a> {
    /// The arm that judged the pair.
    pub arm: usize,
    /// The pair's context e, `[d]`.
    pub context: &'a [f64],
    /// The normalised reward (see the `reward-norm` crate).
    pub reward: f64,
}

/// A contextual router over K arms with d-dimensional contexts.
///
/// Every learning policy keeps, per arm, the Gaussian posterior of a Bayesian linear model
/// r = wᵀe + ε with prior N(μ0_k, λ0⁻¹ I) (see the crate docs). Selection is batched: all N
/// contexts of a training batch are scored with one triangular solve of N right-hand sides
/// per arm. Feedback is delayed: select for the batch, train, then [`update_batch`].
///
/// Randomness comes from a ChaCha8 generator seeded once: the same seed and the same calls
/// give the same choices on every machine. Draws are consumed context by context, K normals
/// per context for Thompson sampling (masked arms included), so selecting a batch at once
/// or one context at a time gives the same choices.
///
/// [`update_batch`]: LinearBandit::update_batch
#[derive(Clone, Debug)]
pub struct LinearBandit {
    pub(crate) policy: Policy,
    pub(crate) params: BanditParams,
    pub(crate) prior: Prior,
    /// One posterior per arm for learning policies; empty otherwise.
    pub(crate) arms: Vec<ArmPosterior>,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) propensity_rng: ChaCha8Rng,
}

impl LinearBandit {
    /// A router at its prior.
    ///
    /// Errors if `params` or `policy` are invalid for `prior` (e.g. a fixed arm ≥ K).
    pub fn new(policy: Policy, prior: Prior, params: BanditParams, seed: u64) -> Result<Self> {
        let rng = ChaCha8Rng::seed_from_u64(seed);
        let mut propensity_rng = rng.clone();
        propensity_rng.set_stream(PROPENSITY_STREAM);
        let arms = if policy.learns() {
            (0..prior.n_arms())
                .map(|arm| ArmPosterior::from_prior(prior.mean(arm), params.lambda0, params.jitter))
                .collect()
        } else {
            Vec::new()
        };
        Self::from_parts(policy, prior, params, arms, rng, propensity_rng)
    }

    /// Assembles a router, validating every part.
    pub(crate) fn from_parts(
        policy: Policy,
        prior: Prior,
        params: BanditParams,
        arms: Vec<ArmPosterior>,
        rng: ChaCha8Rng,
        propensity_rng: ChaCha8Rng,
    ) -> Result<Self> {
        params.check()?;
        policy.check(prior.n_arms())?;
        Ok(Self {
            policy,
            params,
            prior,
            arms,
            rng,
            propensity_rng,
        })
    }

    /// Number of arms K.
    pub fn n_arms(&self) -> usize {
        self.prior.n_arms()
    }

    /// Context dimension d.
    pub fn dim(&self) -> usize {
        self.prior.dim()
    }

    /// The selection rule.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The hyperparameters.
    pub fn params(&self) -> &BanditParams {
        &self.params
    }

    /// The prior (arm names and μ0).
    pub fn prior(&self) -> &Prior {
        &self.prior
    }

    /// Routes one context `[d]`. Same as [`select_batch`](Self::select_batch) with N = 1.
    pub fn select(&mut self, context: &[f64], mask: &ArmMask) -> Result<Choice> {
        let mut choices = self.select_batch(context, mask)?;
        Ok(choices.remove(0))
    }

    /// Routes N contexts at once, each independently.
    ///
    /// Errors (leaving the state untouched) if `contexts` is empty or not a whole number of
    /// d-vectors, holds a NaN/inf, the mask has the wrong length or masks every arm, or a
    /// fixed policy's arm is masked.
    ///
    /// # Shapes
    /// `contexts`: `[N, d]` row-major; returns `[N]` choices in context order.
    pub fn select_batch(&mut self, contexts: &[f64], mask: &ArmMask) -> Result<Vec<Choice>> {
        let n_contexts = self.check_contexts(contexts)?;
        self.check_mask(mask)?;
        let (dim, n_arms) = (self.dim(), self.n_arms());
        let choices = match self.policy {
            Policy::Thompson => self.select_thompson(contexts, mask),
            Policy::LinUcb { alpha, random_ties } => {
                let (means, stds) = self.predictive(contexts, mask);
                (0..n_contexts)
                    .map(|j| {
                        let score =
                            |k: usize| means[k * n_contexts + j] + alpha * stds[k * n_contexts + j];
                        if random_ties {
                            let tied = top_arms(mask, score);
                            let arm = tied[self.rng.random_range(0..tied.len())];
                            Choice::drawn(arm, ArmDistribution::exact(spread(&tied, n_arms)))
                        } else {
                            let arm = argmax(mask, score);
                            Choice::drawn(arm, ArmDistribution::exact(one_hot(arm, n_arms)))
                        }
                    })
                    .collect()
            }
            Policy::EpsilonGreedy { epsilon } => contexts
                .chunks_exact(dim)
                .map(|context| {
                    let greedy = argmax(mask, |k| self.arms[k].mean_score(context));
                    let arm = if self.rng.random::<f64>() < epsilon {
                        uniform_arm(&mut self.rng, mask)
                    } else {
                        greedy
                    };
                    let propensities = epsilon_greedy_propensities(greedy, epsilon, mask);
                    Choice::drawn(arm, ArmDistribution::exact(propensities))
                })
                .collect(),
            Policy::OfflineArgmax => contexts
                .chunks_exact(dim)
                .map(|context| {
                    let arm = argmax(mask, |k| dot(self.prior.mean(k), context));
                    Choice::drawn(arm, ArmDistribution::exact(one_hot(arm, n_arms)))
                })
                .collect(),
            Policy::Fixed { arm } => {
                vec![Choice::drawn(arm, ArmDistribution::exact(one_hot(arm, n_arms))); n_contexts]
            }
            Policy::Uniform => (0..n_contexts)
                .map(|_| {
                    let arm = uniform_arm(&mut self.rng, mask);
                    Choice::drawn(arm, ArmDistribution::exact(uniform_propensities(mask)))
                })
                .collect(),
        };
        Ok(choices)
    }

    /// Probability of choosing each arm for `context` `[d]` in the current state, `[K]`,
    /// summing to 1 (0 for masked arms). Thompson sampling is estimated with
    /// [`BanditParams::propensity_draws`] draws from a separate random stream, so calling
    /// this never changes later choices.
    pub fn propensities(&mut self, context: &[f64], mask: &ArmMask) -> Result<Vec<f64>> {
        self.check_contexts(context)?;
        self.check_mask(mask)?;
        let n_arms = self.n_arms();
        Ok(match self.policy {
            Policy::Thompson => {
                if self.params.propensity_draws == 0 {
                    return Err(Error::InvalidParameter {
                        name: "propensity_draws",
                        value: "0".into(),
                        reason: "must be > 0 to estimate Thompson-sampling propensities",
                    });
                }
                let (means, stds) = self.predictive(context, mask);
                let draws = self.params.propensity_draws;
                thompson_propensities(&means, &stds, mask, draws, &mut self.propensity_rng)
            }
            Policy::LinUcb { alpha, random_ties } => {
                let (means, stds) = self.predictive(context, mask);
                let score = |k: usize| means[k] + alpha * stds[k];
                if random_ties {
                    spread(&top_arms(mask, score), n_arms)
                } else {
                    one_hot(argmax(mask, score), n_arms)
                }
            }
            Policy::EpsilonGreedy { epsilon } => {
                let greedy = argmax(mask, |k| self.arms[k].mean_score(context));
                epsilon_greedy_propensities(greedy, epsilon, mask)
            }
            Policy::OfflineArgmax => {
                one_hot(argmax(mask, |k| dot(self.prior.mean(k), context)), n_arms)
            }
            Policy::Fixed { arm } => one_hot(arm, n_arms),
            Policy::Uniform => uniform_propensities(mask),
        })
    }

    /// Absorbs one reward. Same as [`update_batch`](Self::update_batch) with one item.
    pub fn update(&mut self, arm: usize, context: &[f64], reward: f64) -> Result<()> {
        self.update_batch(&[Feedback {
            arm,
            context,
            reward,
        }])
    }

    /// Absorbs a batch of rewards. Each arm's share of the batch is one rank-r update of its
    /// Cholesky factor (O(d² r), one pass over the factor) followed by one recomputation of
    /// its mean; arms are processed in parallel when the batch is large. The result equals
    /// absorbing the rewards one by one up to rounding.
    ///
    /// Every item is validated before any is applied: an arm out of range, a context of the
    /// wrong length, a NaN/inf, or values whose products overflow reject the whole batch and
    /// leave the state bit-identical. Non-learning policies validate and ignore feedback.
    pub fn update_batch(&mut self, feedback: &[Feedback<'_>]) -> Result<()> {
        for (index, item) in feedback.iter().enumerate() {
            self.check_feedback(index, item)?;
        }
        if !self.policy.learns() || feedback.is_empty() {
            return Ok(());
        }
        let BanditParams {
            sigma2,
            jitter,
            refactor_every,
            ..
        } = self.params;
        let dim = self.dim();
        let work: Vec<_> = self
            .arms
            .iter_mut()
            .enumerate()
            .filter_map(|(arm, posterior)| {
                let items: Vec<&Feedback<'_>> =
                    feedback.iter().filter(|item| item.arm == arm).collect();
                (!items.is_empty()).then_some((arm, posterior, items))
            })
            .collect();
        let flops = 2 * dim * dim * feedback.len();
        let outcomes = parallel::map(work, flops, |(arm, posterior, items)| {
            let contexts: Vec<&[f64]> = items.iter().map(|item| item.context).collect();
            let rewards: Vec<f64> = items.iter().map(|item| item.reward).collect();
            let before = posterior.updates();
            posterior.observe(&contexts, &rewards, sigma2);
            let crossed = refactor_every > 0
                && before / refactor_every != posterior.updates() / refactor_every;
            if crossed {
                posterior.refactor(jitter, arm)
            } else {
                Ok(())
            }
        });
        outcomes.into_iter().collect()
    }

    /// The router's current mean weight vector of `arm`, `[d]`: the posterior mean for
    /// learning policies, the prior mean μ0 for the others (which never update).
    pub fn mean(&self, arm: usize) -> Result<&[f64]> {
        self.check_arm(arm)?;
        Ok(match self.arms.get(arm) {
            Some(posterior) => posterior.mean(),
            None => self.prior.mean(arm),
        })
    }

    /// Number of rewards `arm` has absorbed (0 for non-learning policies).
    pub fn updates(&self, arm: usize) -> Result<u64> {
        self.check_arm(arm)?;
        Ok(self.arms.get(arm).map_or(0, ArmPosterior::updates))
    }

    /// The accumulated precision Λ of `arm` = λ0 I + Σ e eᵀ/σ², `[d, d]` row-major and
    /// symmetric (jitter not included).
    pub fn precision(&self, arm: usize) -> Result<Vec<f64>> {
        self.check_arm(arm)?;
        let dim = self.dim();
        let lambda0 = self.params.lambda0;
        let mut out = vec![0.0; dim * dim];
        for i in 0..dim {
            for j in 0..=i {
                let value = match self.arms.get(arm) {
                    Some(posterior) => posterior.precision()[(i, j)],
                    None if i == j => lambda0,
                    None => 0.0,
                };
                out[i * dim + j] = value;
                out[j * dim + i] = value;
            }
        }
        Ok(out)
    }

    /// The lower Cholesky factor L of `arm`'s Λ + jitter I, `[d, d]` row-major (zeros above
    /// the diagonal).
    pub fn cholesky_factor(&self, arm: usize) -> Result<Vec<f64>> {
        self.check_arm(arm)?;
        let dim = self.dim();
        let diag = (self.params.lambda0 + self.params.jitter).sqrt();
        let mut out = vec![0.0; dim * dim];
        for i in 0..dim {
            for j in 0..=i {
                out[i * dim + j] = match self.arms.get(arm) {
                    Some(posterior) => posterior.factor()[(i, j)],
                    None if i == j => diag,
                    None => 0.0,
                };
            }
        }
        Ok(out)
    }

    /// Draws the Thompson-sampling scores s_jk = μ_kᵀe_j + ‖L_k⁻¹e_j‖·ξ_jk that selection
    /// takes the argmax of, consuming the same random draws as
    /// [`select_batch`](Self::select_batch) would. Each s_jk ~ N(μ_kᵀe_j, e_jᵀΛ_k⁻¹e_j), the
    /// law of w̃_kᵀe_j for w̃_k drawn from arm k's posterior. Masked arms score −∞.
    ///
    /// Errors as `select_batch` does, and if the policy keeps no posterior.
    ///
    /// # Shapes
    /// `contexts`: `[N, d]` row-major; returns `[N, K]` row-major.
    pub fn sample_scores(&mut self, contexts: &[f64], mask: &ArmMask) -> Result<Vec<f64>> {
        self.check_contexts(contexts)?;
        self.check_mask(mask)?;
        if !self.policy.learns() {
            return Err(Error::InvalidParameter {
                name: "policy",
                value: self.policy.name().into(),
                reason: "keeps no posterior to sample from",
            });
        }
        Ok(self.draw_thompson(contexts, mask).scores)
    }

    /// Thompson sampling: the argmax of the sampled scores per context.
    fn select_thompson(&mut self, contexts: &[f64], mask: &ArmMask) -> Vec<Choice> {
        let n_arms = self.n_arms();
        let draws = self.draw_thompson(contexts, mask);
        let n_contexts = draws.scores.len() / n_arms;
        let n_draws = self.params.propensity_draws;
        (0..n_contexts)
            .map(|j| {
                let row = &draws.scores[j * n_arms..(j + 1) * n_arms];
                let arm = argmax(mask, |k| row[k]);
                if n_draws == 0 {
                    return Choice {
                        arm,
                        propensity: None,
                        distribution: None,
                    };
                }
                let column = |values: &[f64]| -> Vec<f64> {
                    (0..n_arms).map(|k| values[k * n_contexts + j]).collect()
                };
                let probabilities = thompson_choice_propensities(
                    &column(&draws.means),
                    &column(&draws.stds),
                    mask,
                    n_draws,
                    arm,
                    &mut self.propensity_rng,
                );
                let distribution = ArmDistribution {
                    probabilities,
                    draws: Some(n_draws + 1),
                };
                Choice::drawn(arm, distribution)
            })
            .collect()
    }

    /// Predictive moments and one sampled score per (context, arm).
    fn draw_thompson(&mut self, contexts: &[f64], mask: &ArmMask) -> ThompsonDraws {
        let (means, stds) = self.predictive(contexts, mask);
        let n_arms = self.n_arms();
        let n_contexts = contexts.len() / self.dim();
        let mut scores = Vec::with_capacity(n_contexts * n_arms);
        for j in 0..n_contexts {
            for k in 0..n_arms {
                // One draw per arm, masked or not, keeps the stream independent of masks.
                let xi: f64 = self.rng.sample(StandardNormal);
                scores.push(if mask.is_available(k) {
                    means[k * n_contexts + j] + stds[k * n_contexts + j] * xi
                } else {
                    f64::NEG_INFINITY
                });
            }
        }
        ThompsonDraws {
            means,
            stds,
            scores,
        }
    }

    /// Predictive means μ_kᵀe_j and stds ‖L_k⁻¹e_j‖ of every available arm, arms in
    /// parallel when the batch is large.
    ///
    /// # Shapes
    /// `contexts`: `[N, d]`; returns two `[K, N]` row-major arrays (zeros for masked arms).
    fn predictive(&self, contexts: &[f64], mask: &ArmMask) -> (Vec<f64>, Vec<f64>) {
        let dim = self.dim();
        let n_contexts = contexts.len() / dim;
        let mut means = vec![0.0; self.n_arms() * n_contexts];
        let mut stds = vec![0.0; self.n_arms() * n_contexts];
        let work: Vec<_> = self
            .arms
            .iter()
            .zip(
                means
                    .chunks_mut(n_contexts)
                    .zip(stds.chunks_mut(n_contexts)),
            )
            .enumerate()
            .filter(|(arm, _)| mask.is_available(*arm))
            .map(|(_, task)| task)
            .collect();
        let flops = dim * dim * n_contexts * work.len();
        parallel::map(work, flops, |(posterior, (arm_means, arm_stds))| {
            posterior.predictive(contexts, arm_means, arm_stds)
        });
        (means, stds)
    }

    /// Validates a `[N, d]` batch of contexts and returns N ≥ 1.
    fn check_contexts(&self, contexts: &[f64]) -> Result<usize> {
        let dim = self.dim();
        if contexts.is_empty() || !contexts.len().is_multiple_of(dim) {
            return Err(Error::DimensionMismatch {
                what: format!("contexts (a whole number N >= 1 of d = {dim} vectors)"),
                expected: dim * contexts.len().div_ceil(dim).max(1),
                found: contexts.len(),
            });
        }
        for (j, context) in contexts.chunks_exact(dim).enumerate() {
            ensure_finite(|| format!("context {j}"), context)?;
        }
        Ok(contexts.len() / dim)
    }

    fn check_mask(&self, mask: &ArmMask) -> Result<()> {
        mask.check(self.n_arms())?;
        match self.policy {
            Policy::Fixed { arm } if !mask.is_available(arm) => Err(Error::NoArmAvailable {
                reason: format!("the fixed policy's arm {arm} is masked"),
            }),
            _ => Ok(()),
        }
    }

    fn check_arm(&self, arm: usize) -> Result<()> {
        if arm < self.n_arms() {
            Ok(())
        } else {
            Err(Error::ArmOutOfRange {
                arm,
                n_arms: self.n_arms(),
            })
        }
    }

    fn check_feedback(&self, index: usize, item: &Feedback<'_>) -> Result<()> {
        self.check_arm(item.arm)?;
        ensure_len(
            || format!("context of feedback {index}"),
            self.dim(),
            item.context.len(),
        )?;
        ensure_finite(|| format!("context of feedback {index}"), item.context)?;
        ensure_finite(|| format!("reward of feedback {index}"), &[item.reward])?;
        let norm_sq: f64 = item.context.iter().map(|e| e * e).sum();
        let max_abs = item.context.iter().fold(0.0_f64, |m, e| m.max(e.abs()));
        let sigma2 = self.params.sigma2;
        if !(norm_sq / sigma2).is_finite() || !(item.reward.abs() * max_abs / sigma2).is_finite() {
            return Err(Error::Overflow {
                what: format!("feedback {index}"),
                norm_sq,
                reward: item.reward,
            });
        }
        Ok(())
    }
}

/// Thompson draws for a batch of N contexts over K arms.
struct ThompsonDraws {
    /// μ_kᵀe_j, `[K, N]` row-major.
    means: Vec<f64>,
    /// ‖L_k⁻¹e_j‖, `[K, N]` row-major.
    stds: Vec<f64>,
    /// Sampled scores, `[N, K]` row-major, −∞ for masked arms.
    scores: Vec<f64>,
}

/// The available arm with the largest score; ties go to the lowest index.
fn argmax(mask: &ArmMask, score: impl Fn(usize) -> f64) -> usize {
    let mut best: Option<(usize, f64)> = None;
    for arm in mask.available_arms() {
        let value = score(arm);
        if best.is_none_or(|(_, top)| value > top) {
            best = Some((arm, value));
        }
    }
    best.expect("the mask was checked to have an available arm")
        .0
}

/// Every available arm whose score equals the largest, in index order.
fn top_arms(mask: &ArmMask, score: impl Fn(usize) -> f64) -> Vec<usize> {
    let best = score(argmax(mask, &score));
    mask.available_arms()
        .filter(|&k| score(k) == best)
        .collect()
}

/// Equal probability on each of `arms`, 0 elsewhere, `[n_arms]`.
fn spread(arms: &[usize], n_arms: usize) -> Vec<f64> {
    let mut probabilities = vec![0.0; n_arms];
    for &arm in arms {
        probabilities[arm] = 1.0 / arms.len() as f64;
    }
    probabilities
}

/// A uniformly random available arm (one draw).
fn uniform_arm(rng: &mut ChaCha8Rng, mask: &ArmMask) -> usize {
    let pick = rng.random_range(0..mask.count_available());
    mask.available_arms()
        .nth(pick)
        .expect("pick < number of available arms")
}
