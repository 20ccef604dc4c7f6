//! The offline stage of BayesianRouter (METHOD.md §2): a multi-task router that learns, from
//! preference records judged by every RM of a pool, which RM to trust for which pair, and
//! exports its per-RM Bradley–Terry vectors as the online Thompson router's prior means
//! together with the context function e(prompt, a, b).
//!
//! Data flow: records (TRL pairs JSONL) → [`score_missing`] (rm-pool scores both responses;
//! verdict and margin per RM) → [`routing_records`] (arm order) → [`split_by_prompt`]
//! (train / validation / test, by prompt) →
//! BT edges ([`record_edges`], optional [`balance`]) → [`train`]: a siamese encoder
//! ([`encoder`]: any lm decoder, last-token pooling, or BERT, mean pooling; frozen, LoRA or
//! full) embeds each distinct (prompt, response) once, [`RouterHead`] fuses each pair into a
//! unit context e and scores the three heads, [`losses`] weighs them → AdamW → checkpoints,
//! keep-best on validation routing accuracy, and an export ([`RouterExport`]) that the
//! online side loads ([`RouterExport::prior`], [`RouterExport::into_context_function`]) and
//! that records its split ([`SplitRecord`]), so that [`evaluate_exports`] reports the test
//! part and refuses records a checkpoint was trained or selected on.
//!
//! Where the data comes from: [`build`] makes verifier-grounded pairs (GSM8K, MMLU) by
//! sampling a policy and labelling answers with the task's checker, which never joins the
//! routed pool.
//!
//! Key design decision: a frozen backbone embeds every distinct text once for the whole run
//! (the reference re-encodes every pair at every step), which makes CPU training of the head
//! on real backbones a matter of minutes.

pub mod build;
mod config;
mod dataset;
mod edges;
mod error;
mod eval;
mod export;
mod layout;
mod loss;
mod model;
mod records;
mod scoring;
mod split;
mod train;

pub use crate::{
    config::{CheckpointConfig, DataConfig, OptimConfig, Schedule, TrainConfig},
    dataset::{RoutingRecord, margin_scales, routing_records},
    edges::{Edges, balance, net_wins, record_edges},
    error::{Error, Result},
    eval::{EvalSplit, ExportEvaluation, RoutedExport, evaluate_exports},
    export::{export_split, write_export},
    layout::RunLayout,
    loss::{LossTargets, LossWeights, Losses, bce_with_logits, bt_loss, losses},
    model::{Embeddings, RouterModel, TextTable},
    records::{JudgedPair, Judgment, read_records, write_records},
    scoring::score_missing,
    split::{
        DataSplit, Part, SPLIT_FILE, SPLIT_FORMAT, SPLIT_VERSION, SplitFractions, SplitRecord,
        prompt_key, split_by_prompt,
    },
    train::{
        CHECKPOINT_FORMAT, CHECKPOINT_VERSION, PreparedData, StepMetrics, TrainEvent, TrainSummary,
        ValidationMetrics, latest_checkpoint, prepare_data, train,
    },
};
// The export's format, encoder and head live in router-export (the online side reads them
// without this crate); re-exported so that offline code names them from one place.
pub use router_export::{
    BackboneKey, CandidateGroup, ContextFunction, EXPORT_FILE, EXPORT_FORMAT, EXPORT_VERSION,
    EncoderSpec, ExportMeta, HeadOutput, PairRef, RouterExport, RouterHead, TEXT_FORMAT, encoder,
};
