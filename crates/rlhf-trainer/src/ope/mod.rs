//! Off-policy evaluation of routers on a training run's routing log (the `off-policy`
//! crate has the estimators; this module is what connects them to a run).
//!
//! ```text
//! routing.jsonl ──log──▶ rows observing the value (correct label, or reward), the logging
//!      │                 router's propensity and whole arm distribution, line-checked
//!      │
//! samples.jsonl + prompts + an export ──contexts──▶ e(x, a, b) per row (or the logged ones)
//!      │
//! a target (uniform, fixed RM, export argmax / Thompson, frozen state) ──target──▶ π(a|x)
//!      │                          a learning bandit config ──replay──▶ accepted rows
//!      ▼
//! off_policy::evaluate ──▶ IPS, SNIPS, DM, DR, switch-DR with intervals and diagnostics
//! ```
//!
//! The value `correct` is observed on every visited pair the verifier decides, whichever RM
//! judged it, so which rows enter does not depend on the logging router's choices; the
//! trainer logs the verifier's verdict on visited pairs for this reason (kept pairs alone
//! would drop the pairs an RM tied, a choice-dependent selection). The cluster of a row is
//! its prompt.

mod contexts;
mod evaluate;
mod log;
mod replay;
mod run;
mod target;

pub use self::{
    contexts::{logged_contexts, rebuild_contexts},
    evaluate::{OpeReport, OpeRequest, TargetReport, evaluate_log},
    log::{LoggedPairs, LoggedValue, logged_pairs, read_routing_log},
    replay::{ReplayOutcome, ReplayReport, replay_target},
    run::{BaseContexts, RunLog},
    target::{Target, target_probabilities, target_router},
};
