//! The paper's benchmarks, scored exactly as their official tools score them: GSM8K as
//! lm-evaluation-harness does (strict and flexible exact match), with more to come (MMLU,
//! AlpacaEval 2's length-controlled win rate, Arena-Hard's Bradley–Terry scores, MT-Bench).
//!
//! The scoring half needs no model: it reads predictions files and returns metrics.

pub mod alpaca_eval;
pub mod arena_hard;
pub mod data;
mod error;
pub mod gsm8k;
mod jsonl;
mod logistic;
pub mod mmlu;
pub mod mt_bench;
pub mod routing;
mod stats;

pub use crate::{
    error::{Error, Result},
    jsonl::{parse_jsonl, read_json, read_jsonl},
    stats::MeanStderr,
};
