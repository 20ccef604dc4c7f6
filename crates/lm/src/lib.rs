//! Transformer language models for reward-model routing.
//!
//! The policy, the LLM-judge reward models and the offline router's encoder are all
//! transformers; this crate loads them from the formats users have — Hugging Face folders
//! (config.json + safetensors) and GGUF files — and runs them on burn.
//!
//! Status: the GGUF reader and the ggml dequantisation kernels are here; the architectures,
//! Hugging Face loading and tokenizers follow (see the project's open issues).
//!
//! Key design decision: bytes from a file never cause a panic or an unbounded allocation.
//! Every length is capped (with the reason next to the cap) and checked against what is
//! left of the stream before it is used.

mod error;
mod load;

pub use crate::{
    error::{Error, Result},
    load::{
        gguf::{Gguf, MetadataValue, TensorInfo},
        quant::{GgmlType, dequantize},
    },
};
