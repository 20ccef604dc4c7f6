//! Serde mirrors of Hugging Face `config.json` for the supported architectures, and their
//! resolution into one checked [`DecoderConfig`] / [`BertConfig`].
//!
//! Field names are verbatim from transformers (`LlamaConfig`, `Qwen2Config`, `Qwen3Config`,
//! `BertConfig`, transformers v4.57 `configuration_*.py`); `Option` marks fields upstream may
//! leave out, and `#[serde(default = ..)]` carries upstream defaults. Keys we do not use
//! (`transformers_version`, `_name_or_path`, dropout rates, …) are ignored.

use serde::Deserialize;

use crate::error::{Error, Result};

/// Which decoder family a config describes; the differences are small and explicit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecoderFamily {
    /// Llama, Mistral, SmolLM2, TinyLlama: no attention biases by default.
    Llama,
    /// Qwen2 / Qwen2.5: biases on the q, k and v projections.
    Qwen2,
    /// Qwen3: RMSNorm on each head's queries and keys, explicit head_dim.
    Qwen3,
}

/// `rope_scaling` of a config.json (only the kinds we implement are accepted).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct HfRopeScaling {
    /// `rope_type` (newer configs) or `type` (older ones).
    #[serde(alias = "type")]
    pub rope_type: String,
    /// Scaling factor.
    pub factor: Option<f64>,
    /// Llama 3: low-frequency factor.
    pub low_freq_factor: Option<f64>,
    /// Llama 3: high-frequency factor.
    pub high_freq_factor: Option<f64>,
    /// Llama 3: context length the frequencies were trained for.
    pub original_max_position_embeddings: Option<usize>,
}

/// A token id field that is either one id or a list of ids (e.g. `eos_token_id`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum TokenIds {
    /// One id.
    One(u32),
    /// Several ids.
    Many(Vec<u32>),
}

impl TokenIds {
    /// All ids.
    pub fn to_vec(&self) -> Vec<u32> {
        match self {
            Self::One(id) => vec![*id],
            Self::Many(ids) => ids.clone(),
        }
    }
}

/// config.json of a Llama-family decoder (llama, mistral, qwen2, qwen3).
#[derive(Clone, Debug, Deserialize)]
pub struct HfDecoderConfig {
    /// `llama`, `mistral`, `qwen2` or `qwen3`.
    pub model_type: String,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Model width d_model.
    pub hidden_size: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Number of query heads.
    pub num_attention_heads: usize,
    /// Number of key/value heads (grouped-query attention); upstream default: all heads.
    pub num_key_value_heads: Option<usize>,
    /// Per-head width; upstream default hidden_size / num_attention_heads.
    pub head_dim: Option<usize>,
    /// MLP activation; only `silu` is used by these families.
    #[serde(default = "default_silu")]
    pub hidden_act: String,
    /// Longest context.
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: usize,
    /// RMSNorm epsilon.
    #[serde(default = "default_rms_eps")]
    pub rms_norm_eps: f64,
    /// RoPE base θ.
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    /// RoPE scaling, if any.
    pub rope_scaling: Option<HfRopeScaling>,
    /// Whether the output projection shares the token embedding.
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Biases on q/k/v/o (Llama's `attention_bias`); Qwen2 always has q/k/v biases.
    #[serde(default)]
    pub attention_bias: bool,
    /// Biases on the MLP projections.
    #[serde(default)]
    pub mlp_bias: bool,
    /// Beginning-of-sequence token.
    pub bos_token_id: Option<TokenIds>,
    /// End-of-sequence token(s).
    pub eos_token_id: Option<TokenIds>,
    /// Padding token.
    pub pad_token_id: Option<u32>,
    /// Labels of a sequence-classification head (its length is the number of scores).
    pub id2label: Option<std::collections::BTreeMap<String, String>>,
}

fn default_silu() -> String {
    "silu".into()
}
fn default_max_positions() -> usize {
    2048
}
fn default_rms_eps() -> f64 {
    1e-6
}
fn default_rope_theta() -> f64 {
    10_000.0
}

/// RoPE frequency scaling, resolved.
#[derive(Clone, Debug, PartialEq)]
pub enum RopeScaling {
    /// Plain RoPE.
    None,
    /// Positions divided by `factor`.
    Linear {
        /// Divisor of positions.
        factor: f64,
    },
    /// Llama 3.1 frequency-dependent scaling.
    Llama3 {
        /// Wavelength scaling factor for low frequencies.
        factor: f64,
        /// Lower bound of the smoothing band (in units of the original context).
        low_freq_factor: f64,
        /// Upper bound of the smoothing band.
        high_freq_factor: f64,
        /// The context length the frequencies were trained for.
        original_max_position_embeddings: usize,
    },
}

/// A checked decoder configuration: every default resolved, every relation validated.
#[derive(Clone, Debug, PartialEq)]
pub struct DecoderConfig {
    /// Which family (decides biases and q/k norms).
    pub family: DecoderFamily,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Model width.
    pub d_model: usize,
    /// MLP width.
    pub d_ff: usize,
    /// Decoder layers.
    pub n_layers: usize,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads; divides `n_heads`.
    pub n_kv_heads: usize,
    /// Per-head width (even, for RoPE).
    pub head_dim: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// RoPE base θ.
    pub rope_theta: f64,
    /// RoPE scaling.
    pub rope_scaling: RopeScaling,
    /// Longest context.
    pub max_positions: usize,
    /// Output projection tied to the embedding.
    pub tie_word_embeddings: bool,
    /// Biases on q, k, v.
    pub qkv_bias: bool,
    /// Bias on the attention output projection.
    pub o_bias: bool,
    /// Biases on the MLP projections.
    pub mlp_bias: bool,
    /// RMSNorm on per-head queries and keys (Qwen3).
    pub qk_norm: bool,
    /// Beginning-of-sequence token.
    pub bos_token_id: Option<u32>,
    /// End-of-sequence tokens.
    pub eos_token_ids: Vec<u32>,
    /// Padding token.
    pub pad_token_id: Option<u32>,
    /// Outputs of a sequence-classification head (1 for a reward model).
    pub num_labels: usize,
}

impl HfDecoderConfig {
    /// Parses config.json text.
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|err| Error::Config {
            reason: err.to_string(),
        })
    }

    /// Resolves defaults and validates, naming the offending field.
    pub fn into_config(self) -> Result<DecoderConfig> {
        let family = match self.model_type.as_str() {
            "llama" | "mistral" => DecoderFamily::Llama,
            "qwen2" => DecoderFamily::Qwen2,
            "qwen3" => DecoderFamily::Qwen3,
            other => {
                return Err(invalid(
                    "model_type",
                    other,
                    "llama, mistral, qwen2 or qwen3",
                ));
            }
        };
        if self.hidden_act != "silu" {
            return Err(invalid("hidden_act", &self.hidden_act, "silu"));
        }
        let n_kv_heads = self.num_key_value_heads.unwrap_or(self.num_attention_heads);
        if self.num_attention_heads == 0
            || n_kv_heads == 0
            || !self.num_attention_heads.is_multiple_of(n_kv_heads)
        {
            return Err(invalid(
                "num_key_value_heads",
                &n_kv_heads.to_string(),
                "a positive divisor of num_attention_heads",
            ));
        }
        let head_dim = self
            .head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads);
        if head_dim == 0 || !head_dim.is_multiple_of(2) {
            return Err(invalid(
                "head_dim",
                &head_dim.to_string(),
                "a positive even number",
            ));
        }
        let rope_scaling = match &self.rope_scaling {
            None => RopeScaling::None,
            Some(s) => match s.rope_type.as_str() {
                "default" => RopeScaling::None,
                "linear" => RopeScaling::Linear {
                    factor: s.factor.ok_or_else(|| missing("rope_scaling.factor"))?,
                },
                "llama3" => RopeScaling::Llama3 {
                    factor: s.factor.ok_or_else(|| missing("rope_scaling.factor"))?,
                    low_freq_factor: s
                        .low_freq_factor
                        .ok_or_else(|| missing("rope_scaling.low_freq_factor"))?,
                    high_freq_factor: s
                        .high_freq_factor
                        .ok_or_else(|| missing("rope_scaling.high_freq_factor"))?,
                    original_max_position_embeddings: s
                        .original_max_position_embeddings
                        .ok_or_else(|| missing("rope_scaling.original_max_position_embeddings"))?,
                },
                other => {
                    return Err(invalid(
                        "rope_scaling.rope_type",
                        other,
                        "default, linear or llama3",
                    ));
                }
            },
        };
        Ok(DecoderConfig {
            family,
            vocab_size: self.vocab_size,
            d_model: self.hidden_size,
            d_ff: self.intermediate_size,
            n_layers: self.num_hidden_layers,
            n_heads: self.num_attention_heads,
            n_kv_heads,
            head_dim,
            rms_norm_eps: self.rms_norm_eps,
            rope_theta: self.rope_theta,
            rope_scaling,
            max_positions: self.max_position_embeddings,
            tie_word_embeddings: self.tie_word_embeddings,
            qkv_bias: family == DecoderFamily::Qwen2 || self.attention_bias,
            o_bias: family != DecoderFamily::Qwen2 && self.attention_bias,
            mlp_bias: self.mlp_bias,
            qk_norm: family == DecoderFamily::Qwen3,
            bos_token_id: self
                .bos_token_id
                .and_then(|ids| ids.to_vec().first().copied()),
            eos_token_ids: self
                .eos_token_id
                .map(|ids| ids.to_vec())
                .unwrap_or_default(),
            pad_token_id: self.pad_token_id,
            num_labels: self.id2label.map_or(1, |labels| labels.len().max(1)),
        })
    }
}

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

fn invalid(field: &str, value: &str, expected: &str) -> Error {
    Error::Config {
        reason: format!("field `{field}` is {value:?}; supported: {expected}"),
    }
}

fn missing(field: &str) -> Error {
    Error::Config {
        reason: format!("field `{field}` is missing"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SmolLM2-135M-Instruct's config.json (values from its GGUF metadata and model card).
    const SMOLLM2: &str = r#"{
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": 49152, "hidden_size": 576, "intermediate_size": 1536,
        "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
        "hidden_act": "silu", "max_position_embeddings": 8192, "rms_norm_eps": 1e-05,
        "rope_theta": 100000, "tie_word_embeddings": true,
        "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2,
        "transformers_version": "4.42.3"
    }"#;

    #[test]
    fn resolves_a_llama_config() {
        let config = HfDecoderConfig::from_json(SMOLLM2)
            .unwrap()
            .into_config()
            .unwrap();
        assert_eq!(config.family, DecoderFamily::Llama);
        assert_eq!(
            (config.n_heads, config.n_kv_heads, config.head_dim),
            (9, 3, 64)
        );
        assert!(config.tie_word_embeddings && !config.qkv_bias && !config.qk_norm);
        assert_eq!(config.eos_token_ids, vec![2]);
        assert_eq!(config.rope_theta, 100_000.0);
    }

    #[test]
    fn qwen_families_get_their_quirks() {
        let qwen2 = SMOLLM2.replace("\"llama\"", "\"qwen2\"");
        let config = HfDecoderConfig::from_json(&qwen2)
            .unwrap()
            .into_config()
            .unwrap();
        assert!(config.qkv_bias && !config.o_bias && !config.qk_norm);
        let qwen3 = SMOLLM2.replace("\"llama\"", "\"qwen3\"");
        let config = HfDecoderConfig::from_json(&qwen3)
            .unwrap()
            .into_config()
            .unwrap();
        assert!(config.qk_norm && !config.qkv_bias);
    }

    #[test]
    fn errors_name_the_field() {
        let err = HfDecoderConfig::from_json(&SMOLLM2.replace("\"vocab_size\": 49152,", ""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("vocab_size"), "{err}");
        let err = HfDecoderConfig::from_json(&SMOLLM2.replace("\"llama\"", "\"gpt2\""))
            .unwrap()
            .into_config()
            .unwrap_err()
            .to_string();
        assert!(err.contains("model_type") && err.contains("gpt2"), "{err}");
        let bad_heads = SMOLLM2.replace("\"num_key_value_heads\": 3", "\"num_key_value_heads\": 4");
        let err = HfDecoderConfig::from_json(&bad_heads)
            .unwrap()
            .into_config()
            .unwrap_err()
            .to_string();
        assert!(err.contains("num_key_value_heads"), "{err}");
        let scaled = SMOLLM2.replace(
            "\"rope_theta\": 100000,",
            "\"rope_theta\": 100000, \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0},",
        );
        let err = HfDecoderConfig::from_json(&scaled)
            .unwrap()
            .into_config()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("rope_scaling.rope_type") && err.contains("yarn"),
            "{err}"
        );
    }

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
