//! Model configurations: one serde mirror of Hugging Face `config.json` per architecture,
//! each resolved into a checked config the model is built from.
//!
//! Field names are verbatim from transformers v4.57 (`configuration_*.py`); `Option` marks
//! fields upstream may leave out, and defaults are upstream's. Keys we do not use
//! (`transformers_version`, `_name_or_path`, dropout rates, …) are ignored.

pub(crate) mod bert;
pub(crate) mod decoder;
pub(crate) mod llama;
pub(crate) mod qwen2;
pub(crate) mod qwen3;
pub(crate) mod write;
