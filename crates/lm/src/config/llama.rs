//! Mirror of transformers' `LlamaConfig` (SmolLM2, TinyLlama, Llama 2/3) and `MistralConfig`,
//! which has the same fields as far as the forward pass is concerned.
//!
//! Mistral's `sliding_window` is read but not applied: attention is full, which equals
//! sliding-window attention for sequences no longer than the window (4096 tokens for
//! Mistral-7B-v0.1; later Mistral configs set it to null).

use serde::Deserialize;

use crate::config::decoder::{DecoderConfig, DecoderFamily, FamilyTraits, HfDecoderCommon};
use crate::error::Result;

/// config.json of a `llama` or `mistral` model.
#[derive(Clone, Debug, Deserialize)]
pub struct LlamaConfig {
    /// `llama` or `mistral`.
    pub model_type: String,
    /// The fields all decoders share.
    #[serde(flatten)]
    pub common: HfDecoderCommon,
    /// Per-head width; upstream default `hidden_size / num_attention_heads`.
    pub head_dim: Option<usize>,
    /// Biases on the q, k, v and o projections.
    #[serde(default)]
    pub attention_bias: bool,
    /// Biases on the MLP projections.
    #[serde(default)]
    pub mlp_bias: bool,
    /// Mistral's attention window (tokens); see the module docs.
    pub sliding_window: Option<usize>,
}

impl LlamaConfig {
    /// Resolves defaults and validates, naming the offending field.
    pub fn into_config(self) -> Result<DecoderConfig> {
        let default_positions = if self.model_type == "mistral" {
            4096 * 32
        } else {
            2048
        };
        let traits = FamilyTraits {
            family: DecoderFamily::Llama,
            head_dim: self
                .head_dim
                .unwrap_or_else(|| self.common.default_head_dim()),
            max_positions: self
                .common
                .max_position_embeddings
                .unwrap_or(default_positions),
            qkv_bias: self.attention_bias,
            o_bias: self.attention_bias,
            mlp_bias: self.mlp_bias,
            qk_norm: false,
        };
        self.common.resolve(traits)
    }
}
