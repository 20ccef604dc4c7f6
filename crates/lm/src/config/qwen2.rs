//! Mirror of transformers' `Qwen2Config` (Qwen2, Qwen2.5, Qwen2.5-Coder): the Llama layout
//! with biases on the q, k and v projections (never on o).

use serde::Deserialize;

use crate::config::decoder::{
    DecoderConfig, DecoderFamily, FamilyTraits, HfDecoderCommon, invalid,
};
use crate::error::Result;

/// config.json of a `qwen2` model.
#[derive(Clone, Debug, Deserialize)]
pub struct Qwen2Config {
    /// The fields all decoders share.
    #[serde(flatten)]
    pub common: HfDecoderCommon,
    /// Per-head width; transformers falls back to `hidden_size / num_attention_heads`.
    pub head_dim: Option<usize>,
    /// Sliding-window attention in the upper layers; not implemented, so `true` is an error.
    #[serde(default)]
    pub use_sliding_window: bool,
}

impl Qwen2Config {
    /// Resolves defaults and validates, naming the offending field.
    pub fn into_config(self) -> Result<DecoderConfig> {
        if self.use_sliding_window {
            return Err(invalid("use_sliding_window", "true", "false"));
        }
        let traits = FamilyTraits {
            family: DecoderFamily::Qwen2,
            head_dim: self
                .head_dim
                .unwrap_or_else(|| self.common.default_head_dim()),
            max_positions: self.common.max_position_embeddings.unwrap_or(32_768),
            qkv_bias: true,
            o_bias: false,
            mlp_bias: false,
            qk_norm: false,
        };
        self.common.resolve(traits)
    }
}
