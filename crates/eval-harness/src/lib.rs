//! The paper's benchmarks, scored exactly as their official tools score them:
//! [`gsm8k`] (lm-evaluation-harness's strict and flexible exact match), [`mmlu`]
//! (lm-evaluation-harness's prompt and log-likelihood accuracy), [`alpaca_eval`] (raw and
//! length-controlled win rates), [`arena_hard`] (v0.1 Bradley–Terry scores and v2 bootstrap
//! means), [`mt_bench`] (FastChat's rating parsing and averages), and the RM/router metrics
//! shared with the offline router ([`routing`]); [`rm_accuracy`] measures a pool's RMs, their
//! majority vote and their oracle on preference pairs; [`data`] reads the benchmark files.
//!
//! The scoring half needs no model: it reads predictions or judgment files and returns
//! metrics. [`run`] produces predictions with an `lm` model (GSM8K, MMLU, chat replies),
//! [`judge`] grades with an OpenAI-compatible endpoint or a local model (MT-Bench
//! single-answer grading, AlpacaEval 2's weighted annotator, Arena-Hard's two-game pairwise
//! judging, each with the official prompts; [`judge::pairwise`] pairs a model's answers with
//! the baselines and judges them by an LLM or by an RM of a pool), and [`outputs`] writes
//! answers in the official tools' input formats. [`benchmark`] chains them into one run
//! (answer, write, judge, score) as `cargo xtask eval run` does; long steps report
//! [`Progress`] to the caller.

pub mod alpaca_eval;
pub mod arena_hard;
pub mod benchmark;
pub mod data;
mod error;
pub mod gsm8k;
pub mod judge;
mod logistic;
pub mod mmlu;
pub mod mt_bench;
pub mod outputs;
pub mod progress;
pub mod python_literals;
pub mod python_random;
pub mod rm_accuracy;
pub mod routing;
pub mod run;
mod stats;

pub use crate::{
    error::{Error, Result},
    progress::{OnProgress, Progress},
    stats::MeanStderr,
};
