//! Checkable answers: the answer extraction of GSM8K and MMLU exactly as
//! lm-evaluation-harness does it ([`gsm8k`], [`mmlu`]) and the [`Verifier`]s built on it.
//! The canonical answers of the miniature experiment's synthetic tasks (add, reverse, sort,
//! count) are in [`synthetic`].
//!
//! One implementation serves everything that needs to know whether an answer is right: the
//! benchmarks' scoring (eval-harness), verifiable rewards and the oracle (rm-pool), and the
//! labelling of preference data (offline-router). It is a leaf so that none of them pulls in
//! another's dependencies for it (a reward-model pool does not need the benchmark harness).

pub mod gsm8k;
pub mod mmlu;
pub mod synthetic;
mod verifier;

pub use crate::verifier::{Error, Verifier, VerifierTask};
