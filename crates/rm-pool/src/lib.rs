//! A pool of reward models behind one interface, local and remote, so that a router can
//! call exactly one RM per preference pair.
//!
//! - [`RewardModel`]: score a batch of (conversation, response) items, one `f32` each,
//!   higher = better; verdicts come from scores ([`Verdict`]).
//! - Backends: sequence-classification RMs on disk, LLM judges (verdict-token margin or
//!   expected rating), embedding similarity (to a reference or to the question), verifiable
//!   rewards (GSM8K, MMLU, exact, regex — answer-check's extraction), and remote RMs over HTTP
//!   (vLLM pooling/classify, OpenRLHF `get_reward`) with timeouts, retries and a circuit
//!   breaker.
//! - [`RmPool`]: the RMs by arm index, each (item, RM) scored at most once (cache), call
//!   accounting, score statistics, and the K× baselines (ensemble mean, majority vote).
//! - [`PoolConfig`]: the pool as a TOML file (configs/rm-pool.toml).
//!
//! (An RM as the benchmarks' pairwise judge lives with the other judges, in eval-harness's
//! `judge::reward_model`.)

pub mod backends;
mod config;
mod error;
mod item;
mod pairs;
mod pool;
mod reward_model;
mod score_file;
mod truncate;

pub use crate::{
    config::{PoolConfig, RmSpec},
    error::{Error, Result},
    item::ScoreItem,
    pairs::{PreferencePair, read_pairs},
    pool::{RmPool, RmStats, ScoreMoments, Verdict},
    reward_model::{RewardModel, RmInfo},
    score_file::{SCORES_FORMAT, SCORES_VERSION, score_file_path},
};
