//! Mirror of transformers' `BertConfig` (config.json of BERT encoders such as
//! all-MiniLM-L6-v2), resolved into a checked [`BertConfig`].

use serde::Deserialize;

use crate::config::decoder::invalid;
use crate::error::{Error, Result};

/// config.json of a BERT encoder.
#[derive(Clone, Debug, Deserialize)]
pub struct HfBertConfig {
    /// `bert`.
    pub model_type: String,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Model width.
    pub hidden_size: usize,
    /// Encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads.
    pub num_attention_heads: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Activation: `gelu` (exact erf GELU) or `gelu_new`/`gelu_pytorch_tanh` (tanh form).
    #[serde(default = "default_gelu")]
    pub hidden_act: String,
    /// Longest input.
    #[serde(default = "default_bert_positions")]
    pub max_position_embeddings: usize,
    /// Token-type vocabulary.
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    #[serde(default = "default_ln_eps")]
    pub layer_norm_eps: f64,
    /// Padding token.
    #[serde(default)]
    pub pad_token_id: u32,
    /// Only `absolute` is supported.
    #[serde(default = "default_absolute")]
    pub position_embedding_type: String,
}

fn default_gelu() -> String {
    "gelu".into()
}
fn default_bert_positions() -> usize {
    512
}
fn default_type_vocab() -> usize {
    2
}
fn default_ln_eps() -> f64 {
    1e-12
}
fn default_absolute() -> String {
    "absolute".into()
}

/// GELU form of a BERT config. The choice silently changes results, so it is explicit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gelu {
    /// x·Φ(x) with the exact error function (`gelu`).
    Erf,
    /// The tanh approximation (`gelu_new`, `gelu_pytorch_tanh`).
    Tanh,
}

/// A checked BERT configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct BertConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Model width.
    pub d_model: usize,
    /// Encoder layers.
    pub n_layers: usize,
    /// Attention heads; divides `d_model`.
    pub n_heads: usize,
    /// MLP width.
    pub d_ff: usize,
    /// Activation.
    pub gelu: Gelu,
    /// Longest input.
    pub max_positions: usize,
    /// Token-type vocabulary.
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
    /// Padding token.
    pub pad_token_id: u32,
}

impl HfBertConfig {
    /// Parses config.json text.
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|err| Error::Config {
            reason: err.to_string(),
        })
    }

    /// Resolves and validates, naming the offending field.
    pub fn into_config(self) -> Result<BertConfig> {
        if self.model_type != "bert" {
            return Err(invalid("model_type", &self.model_type, "bert"));
        }
        let gelu = match self.hidden_act.as_str() {
            "gelu" => Gelu::Erf,
            "gelu_new" | "gelu_pytorch_tanh" => Gelu::Tanh,
            other => {
                return Err(invalid(
                    "hidden_act",
                    other,
                    "gelu, gelu_new or gelu_pytorch_tanh",
                ));
            }
        };
        if self.position_embedding_type != "absolute" {
            return Err(invalid(
                "position_embedding_type",
                &self.position_embedding_type,
                "absolute",
            ));
        }
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return Err(invalid(
                "num_attention_heads",
                &self.num_attention_heads.to_string(),
                "a positive divisor of hidden_size",
            ));
        }
        Ok(BertConfig {
            vocab_size: self.vocab_size,
            d_model: self.hidden_size,
            n_layers: self.num_hidden_layers,
            n_heads: self.num_attention_heads,
            d_ff: self.intermediate_size,
            gelu,
            max_positions: self.max_position_embeddings,
            type_vocab_size: self.type_vocab_size,
            layer_norm_eps: self.layer_norm_eps,
            pad_token_id: self.pad_token_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_minilm() {
        let text = r#"{"architectures": ["BertModel"], "hidden_act": "gelu", "hidden_size": 384,
            "intermediate_size": 1536, "layer_norm_eps": 1e-12, "max_position_embeddings": 512,
            "model_type": "bert", "num_attention_heads": 12, "num_hidden_layers": 6,
            "pad_token_id": 0, "position_embedding_type": "absolute", "type_vocab_size": 2,
            "vocab_size": 30522}"#;
        let config = HfBertConfig::from_json(text)
            .unwrap()
            .into_config()
            .unwrap();
        assert_eq!(
            (config.d_model, config.n_heads, config.gelu),
            (384, 12, Gelu::Erf)
        );
    }
}
