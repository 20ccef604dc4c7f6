//! Online DPO with reward-model routing: the loop BayesianRouter exists for ("Reward Model
//! Routing in Alignment", Wu & Lu, ICLR 2026, arXiv 2510.02850; the project's METHOD.md §5),
//! with every baseline it is compared with running through the same loop.
//!
//! Per iteration ([`Trainer::step`]): B prompts ([`PromptSchedule`], epoch-wise without
//! replacement) → n sampled responses each (lm `generate`) → the n(n−1)/2 candidate pairs →
//! their contexts (the offline router's e(x, a, b), one batched call, each distinct response
//! embedded once) → one RM per pair ([`Strategy`]: Thompson with the offline prior, LinUCB,
//! …) → lazy judging ([`LazyDraw`]: up to `pairs_per_prompt` non-tied pairs per prompt,
//! without replacement, scoring only what the draw visits) → a DPO step on the kept pairs
//! ([`dpo_step`]) → per-pair losses → the normaliser ([`Normalizer`]) → the bandit update
//! (or, as an ablation, the verifier's verdict on each routed label: [`RewardSource`]).
//!
//! Outputs (the run folder): `metrics.jsonl`, `routing.jsonl`, `samples.jsonl`
//! ([`RoutingRecord`], [`SampleRecord`]), checkpoints, and `final/` (the policy as a Hugging
//! Face folder, the PEFT adapter, the router state). Formats: docs/FORMATS.md.
//!
//! Key design decision: every random draw of an iteration is derived from (seed, iteration,
//! prompt, sample) except the router's own stream, which its state file carries; so a
//! checkpoint holds little more than weights, moments and the router, and a resumed run
//! continues bit for bit on the CPU.

mod checkpoint;
mod config;
mod dpo;
mod draw;
mod error;
mod labels;
mod logs;
mod normalizer;
pub mod ope;
mod prompts;
mod strategy;
mod trainer;

pub use crate::{
    checkpoint::{
        BANDIT_STATE_FILE, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, Checkpoint, OPTIMIZER_FILE,
    },
    config::{
        BayesianPreset, DataConfig, DpoConfig, Generator, Overrides, PairsConfig, PolicyConfig,
        RewardSource, SamplingConfig, StrategyConfig, TrainerConfig, first_difference,
    },
    dpo::{DpoLoss, DpoMetrics, DpoStep, Objective, TokenPair, dpo_loss, dpo_step},
    draw::{LazyDraw, candidate_pairs, visiting_order},
    error::{Error, Result},
    labels::{Judgment, PairId, winner},
    logs::{
        LogLengths, METRICS_FILE, ROUTING_FILE, RoutingRecord, RunLogs, SAMPLES_FILE, SampleRecord,
    },
    normalizer::{Normalizer, NormalizerKind},
    prompts::{Prompt, PromptSchedule, read_prompts, write_prompts},
    strategy::{ContextKind, Labeller, Strategy, mean_prompt_embedding},
    trainer::{IterationReport, RUN_CONFIG_FILE, RunSummary, Trainer},
};
