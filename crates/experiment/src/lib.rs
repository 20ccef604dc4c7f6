//! `cargo xtask experiment`: the paper's comparison end to end, in a miniature world where
//! every model is trained by this workspace and the ground truth is checkable.
//!
//! Stages (each cached by the hash of what it reads, see [`StageCache`]):
//! 1. the task suite (synthetic-tasks: the configured domains with their verifiers, disjoint
//!    splits) and a byte-level BPE tokenizer trained on it ([`train_tokenizer`]);
//! 2. a tiny Llama policy, seeded and warm-started by supervised fine-tuning ([`policy`]);
//! 3. learned reward models: classifiers on the SFT decoder trained with a Bradley–Terry loss
//!    on different domain subsets, plus one length-biased ([`reward_models`]);
//! 4. offline routing data from the policy's samples, judged by every RM, split three ways,
//!    and one offline router per condition ([`offline`]);
//! 5. every strategy × seed through rlhf-trainer's online DPO loop ([`online`]);
//! 6. results.json, report.md and SVG plots ([`report`]), with the ablations
//!    ([`ablations`]).
//!
//! Entry point: [`run_experiment`] with an [`ExperimentConfig`] (the embedded default:
//! [`ExperimentConfig::embedded`]).

pub mod ablations;
mod cache;
mod config;
mod error;
pub mod evaluation;
mod given;
mod gsm8k_split;
pub mod offline;
pub mod online;
pub mod ope_check;
pub mod panel;
mod pipeline;
pub mod policy;
pub mod premise;
pub mod report;
mod results;
pub mod reward_models;
mod tokenizer;
mod workers;

pub use crate::{
    cache::{STAGE_FILE, STAGES_VERSION, Stage, StageCache, key_of},
    config::{
        AblationsConfig, DEFAULT_CONFIG, EvalConfig, Experiment, ExperimentConfig,
        ExperimentOverrides, OfflineConfig, OnlineConfig, PolicyConfig, RewardModelsConfig, RmBias,
        RmConfig, SftConfig, TokenizerConfig, expand_strategies,
    },
    error::{Error, Result},
    given::{GivenWorldConfig, HeldOutConfig, WorldFiles, run_given_world},
    gsm8k_split::{Gsm8kSplitFiles, Gsm8kSplitSizes, split_gsm8k},
    pipeline::{Event, Options, Outcome, run_experiment},
    results::{
        Ablation, DomainScores, ImplicitMargin, MarginStats, OfflineRouterTable, Results,
        RmAccuracy, RoutingRow, RunResult, Summary, Timings,
    },
    tokenizer::{IM_END, IM_START, PAD, train_tokenizer},
};
