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
//! judged it: the trainer records the verifier's verdict on visited pairs, not only kept
//! ones, since kept pairs alone would drop the pairs an RM tied, a selection by the logged
//! arm. Which pairs are visited still depends on earlier pairs' ties (the lazy draw stops at
//! its quota), so the estimand is the target's value *on the pairs this run visited*; each
//! row's own arm is drawn independently of whether it is visited, which is what the
//! estimators need. Strategies that share one arm across pairs (LASeR) break that and are
//! refused; re-routed rows (their propensity is conditional on a failure) are left out and
//! counted. The cluster of a row is its prompt.

mod contexts;
mod evaluate;
mod log;
mod replay;
mod run;
mod target;

pub use self::{
    contexts::{Slot, logged_contexts, rebuild_contexts, samples_by_slot},
    evaluate::{OpeReport, OpeRequest, TargetReport, evaluate_log},
    log::{LoggedPairs, LoggedValue, logged_pairs, read_routing_log},
    replay::{ReplayOutcome, ReplayReport, replay_target},
    run::{BaseContexts, RunLog},
    target::{Target, target_probabilities, target_router},
};
