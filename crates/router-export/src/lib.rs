//! The offline router's export (METHOD.md §2, "Export"): what the offline stage hands to the
//! online one. `router.safetensors` holds the fusion layer and the per-RM heads, the K unit
//! Bradley–Terry vectors (the bandit's prior means) and, in its metadata, the RM names in
//! arm order and what rebuilds the encoder; a trained backbone sits beside it as a Hugging
//! Face folder `encoder/`.
//!
//! Readers ([`RouterExport::load`]) get the bandit prior ([`RouterExport::prior`]) and the
//! context function e(prompt, a, b) ([`RouterExport::into_context_function`],
//! [`ContextFunction::candidate_contexts`] for a batch of sampled responses). The writer
//! ([`write_export_files`]) is what the offline trainer calls. The encoder ([`encoder`]) and
//! the head ([`RouterHead`]) are defined here because both sides run them.
//!
//! Key design decision: this crate sits low in the graph (lm, bandit, burn), so the online
//! trainer reads an export without depending on the offline trainer, its judging or the
//! benchmarks.

pub mod encoder;
mod error;
mod export;
mod head;

pub use crate::{
    error::{Error, Result},
    export::{
        BackboneKey, CandidateGroup, ContextFunction, EXPORT_FILE, EXPORT_FORMAT, EXPORT_VERSION,
        EncoderSpec, ExportMeta, PairRef, RouterExport, TEXT_FORMAT, write_export_files,
    },
    head::{HeadOutput, RouterHead},
};
