//! Mirror of transformers' `Qwen3Config`: the Llama layout with an RMSNorm over each head's
//! queries and keys, and an explicit `head_dim` (upstream default 128, not
//! `hidden_size / num_attention_heads`).

use serde::Deserialize;

use crate::config::decoder::{
    DecoderConfig, DecoderFamily, FamilyTraits, HfDecoderCommon, invalid,
};
use crate::error::Result;

/// config.json of a `qwen3` model.
#[derive(Clone, Debug, Deserialize)]
pub struct Qwen3Config {
    /// The fields all decoders share.
    #[serde(flatten)]
    pub common: HfDecoderCommon,
    /// Per-head width.
    #[serde(default = "default_head_dim")]
    pub head_dim: usize,
    /// Biases on the q, k, v and o projections.
    #[serde(default)]
    pub attention_bias: bool,
    /// Sliding-window attention; not implemented, so `true` is an error.
    #[serde(default)]
    pub use_sliding_window: bool,
}

fn default_head_dim() -> usize {
    128
}

impl Qwen3Config {
    /// Resolves defaults and validates, naming the offending field.
    pub fn into_config(self) -> Result<DecoderConfig> {
        if self.use_sliding_window {
            return Err(invalid("use_sliding_window", "true", "false"));
        }
        let traits = FamilyTraits {
            family: DecoderFamily::Qwen3,
            head_dim: self.head_dim,
            max_positions: self.common.max_position_embeddings.unwrap_or(32_768),
            qkv_bias: self.attention_bias,
            o_bias: self.attention_bias,
            mlp_bias: false,
            qk_norm: true,
        };
        self.common.resolve(traits)
    }
}
