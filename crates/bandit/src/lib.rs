//! Contextual bandits that pick one reward model (arm) per candidate preference pair: the
//! online router. (The workspace calls this stage "the bandit" and the offline stage's neural
//! network "the offline router".)
//!
//! This is the online stage of BayesianRouter ("Reward Model Routing in Alignment", Wu & Lu,
//! ICLR 2026, arXiv 2510.02850; the project's METHOD.md §3) and the baselines it is compared
//! with: LASeR's LinUCB (arXiv 2410.01735), ε-greedy, the offline router alone, a fixed arm,
//! and uniform random. One type, [`LinearBandit`], runs them all; a [`Policy`] says how it
//! scores a context.
//!
//! # The model
//! Each arm k has a Bayesian linear model of the reward, r = w_kᵀe + ε with ε ~ N(0, σ²) and
//! prior w_k ~ N(μ0_k, λ0⁻¹ I), where μ0_k is the offline router's vector for that reward
//! model ([`Prior`]). The posterior is kept in information form,
//! Λ_k = λ0 I + Σ e eᵀ/σ², b_k = λ0 μ0_k + Σ r e/σ², μ_k = Λ_k⁻¹ b_k.
//!
//! # Key design decision: a Cholesky factor updated in O(d²)
//! The reference implementation recomputes a full eigendecomposition of Λ_k (O(d³)) after
//! every reward and draws a full weight vector per arm and pair. Here each arm keeps the
//! lower Cholesky factor L_k of Λ_k (plus a jitter on the diagonal):
//! - a reward is a rank-1 update of L_k with e/σ, then μ_k by two triangular solves: O(d²),
//!   not O(d³); a batch of delayed feedback is one rank-r update per arm and one new mean;
//! - a Thompson draw for context e only needs the scalar w̃ᵀe ~ N(μᵀe, ‖L⁻¹e‖²), so it is
//!   s_k = μ_kᵀe + ‖L_k⁻¹e‖·ξ with ξ ~ N(0, 1), the same distribution as scoring a sampled
//!   weight vector; a whole batch of N contexts costs one triangular solve with N
//!   right-hand sides per arm;
//! - Λ_k is also accumulated exactly, and L_k is refactorised from it every
//!   [`BanditParams::refactor_every`] updates to bound rounding drift;
//! - arms are independent, so large batches spread them over the cores, each arm on one
//!   thread with sequential kernels: results never depend on the core count.
//!
//! # Why faer
//! The linear algebra comes from [faer](https://docs.rs/faer): a well-kept, pure-Rust crate
//! whose triangular solves with many right-hand sides are blocked and SIMD-vectorised (they
//! run at matrix-multiply speed, which is what batched selection is made of), and which ships
//! the rank-r Cholesky update this crate is built on. nalgebra has a rank-1 update too, but
//! solves a matrix of right-hand sides one column at a time, unblocked. This crate writes
//! only what faer lacks: the packing of triangles for state files, the scalar-sample form of
//! Thompson sampling, and the per-arm threading.
//!
//! # Reproducibility and robustness
//! - Seeded ChaCha8 streams: the same seed and calls give the same choices on any machine.
//!   Propensity estimates use a separate stream and never change choices.
//! - Bad input (NaN/inf, wrong length, arm out of range) is an [`Error`] that leaves the
//!   router bit-identical; a batch of feedback is validated whole before any is applied.
//! - [`LinearBandit::save`] writes a versioned JSON state atomically; [`LinearBandit::load`]
//!   refuses a state with another K or d.
//!
//! # Example
//! ```
//! use bandit::{ArmMask, LinearBandit, Policy, Prior, BanditParams};
//!
//! let prior = Prior::new(vec![
//!     ("math-rm".to_string(), vec![1.0, 0.0]),
//!     ("chat-rm".to_string(), vec![0.0, 1.0]),
//! ])?;
//! let mut bandit = LinearBandit::new(Policy::Thompson, prior, BanditParams::bayesian_v5(), 7)?;
//! // Two candidate pairs' contexts, [N = 2, d = 2] row-major.
//! let contexts = [0.9, 0.1, 0.2, 0.8];
//! let choices = bandit.select_batch(&contexts, &ArmMask::all(2))?;
//! // ... score the pairs with the chosen RMs, train, normalise the per-pair rewards ...
//! for (choice, context) in choices.iter().zip(contexts.chunks(2)) {
//!     bandit.update(choice.arm, context, 0.5)?;
//! }
//! # Ok::<(), bandit::Error>(())
//! ```

mod error;
mod files;
mod linear_bandit;
mod mask;
mod parallel;
mod params;
mod policy;
mod posterior;
mod prior;
mod propensity;
mod replay;
mod spec;
mod state;

pub use crate::{
    error::{Error, Result},
    linear_bandit::{ArmDistribution, Choice, Feedback, LinearBandit},
    mask::ArmMask,
    params::BanditParams,
    policy::Policy,
    prior::{PRIOR_FORMAT, PRIOR_VERSION, Prior},
    replay::replay_reward_log,
    spec::BanditSpec,
    state::{
        ArmSummary, POSTERIOR_FORMAT, POSTERIOR_VERSION, PosteriorSummary, STATE_FORMAT,
        STATE_VERSION,
    },
};

/// The old name of [`LinearBandit`], kept for one release.
#[deprecated(since = "0.1.0", note = "renamed LinearBandit")]
pub type LinearRouter = LinearBandit;
/// The old name of [`BanditParams`], kept for one release.
#[deprecated(since = "0.1.0", note = "renamed BanditParams")]
pub type RouterParams = BanditParams;
/// The old name of [`BanditSpec`], kept for one release.
#[deprecated(since = "0.1.0", note = "renamed BanditSpec")]
pub type RouterSpec = BanditSpec;
