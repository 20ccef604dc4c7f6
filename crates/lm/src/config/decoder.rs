//! What every decoder architecture shares: the checked [`DecoderConfig`] the model is built
//! from, the config.json fields common to all families, and [`HfDecoderConfig`], which reads
//! a config.json and hands it to its architecture's mirror (`llama.rs`, `qwen2.rs`,
//! `qwen3.rs`) by `model_type`.

use serde::Deserialize;

use crate::config::llama::LlamaConfig;
use crate::config::qwen2::Qwen2Config;
use crate::config::qwen3::Qwen3Config;
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

impl HfRopeScaling {
    /// Resolves the kinds we implement; others are an error naming `rope_scaling.rope_type`.
    pub(crate) fn resolve(scaling: Option<&Self>) -> Result<RopeScaling> {
        let Some(s) = scaling else {
            return Ok(RopeScaling::None);
        };
        Ok(match s.rope_type.as_str() {
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
        })
    }
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

/// The config.json fields every supported decoder family shares, with the same meaning
/// (flattened into each architecture's mirror). Upstream defaults that differ between families
/// are `Option`s resolved by the family.
#[derive(Clone, Debug, Deserialize)]
pub struct HfDecoderCommon {
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
    /// MLP activation; only `silu` is used by these families.
    #[serde(default = "default_silu")]
    pub hidden_act: String,
    /// Longest context; the upstream default differs by family.
    pub max_position_embeddings: Option<usize>,
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
fn default_rms_eps() -> f64 {
    1e-6
}
fn default_rope_theta() -> f64 {
    10_000.0
}

/// What a family decides on top of the common fields.
pub(crate) struct FamilyTraits {
    pub family: DecoderFamily,
    /// `head_dim` after the family's default.
    pub head_dim: usize,
    /// `max_position_embeddings` after the family's default.
    pub max_positions: usize,
    pub qkv_bias: bool,
    pub o_bias: bool,
    pub mlp_bias: bool,
    pub qk_norm: bool,
}

impl HfDecoderCommon {
    /// Resolves defaults and validates, naming the offending field.
    pub(crate) fn resolve(self, traits: FamilyTraits) -> Result<DecoderConfig> {
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
        if traits.head_dim == 0 || !traits.head_dim.is_multiple_of(2) {
            return Err(invalid(
                "head_dim",
                &traits.head_dim.to_string(),
                "a positive even number",
            ));
        }
        Ok(DecoderConfig {
            family: traits.family,
            vocab_size: self.vocab_size,
            d_model: self.hidden_size,
            d_ff: self.intermediate_size,
            n_layers: self.num_hidden_layers,
            n_heads: self.num_attention_heads,
            n_kv_heads,
            head_dim: traits.head_dim,
            rms_norm_eps: self.rms_norm_eps,
            rope_theta: self.rope_theta,
            rope_scaling: HfRopeScaling::resolve(self.rope_scaling.as_ref())?,
            max_positions: traits.max_positions,
            tie_word_embeddings: self.tie_word_embeddings,
            qkv_bias: traits.qkv_bias,
            o_bias: traits.o_bias,
            mlp_bias: traits.mlp_bias,
            qk_norm: traits.qk_norm,
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

    /// `hidden_size / num_attention_heads`, the usual per-head width.
    pub(crate) fn default_head_dim(&self) -> usize {
        self.hidden_size
            .checked_div(self.num_attention_heads)
            .unwrap_or(0)
    }
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

/// A decoder config.json, read by the mirror of its `model_type`.
#[derive(Clone, Debug)]
pub enum HfDecoderConfig {
    /// `llama` and `mistral`.
    Llama(LlamaConfig),
    /// `qwen2`.
    Qwen2(Qwen2Config),
    /// `qwen3`.
    Qwen3(Qwen3Config),
}

impl HfDecoderConfig {
    /// Parses config.json text with the mirror its `model_type` names.
    pub fn from_json(text: &str) -> Result<Self> {
        #[derive(Deserialize)]
        struct ModelType {
            model_type: String,
        }
        let parse_error = |err: serde_json::Error| Error::Config {
            reason: err.to_string(),
        };
        let ModelType { model_type } = serde_json::from_str(text).map_err(parse_error)?;
        Ok(match model_type.as_str() {
            "llama" | "mistral" => Self::Llama(serde_json::from_str(text).map_err(parse_error)?),
            "qwen2" => Self::Qwen2(serde_json::from_str(text).map_err(parse_error)?),
            "qwen3" => Self::Qwen3(serde_json::from_str(text).map_err(parse_error)?),
            other => {
                return Err(invalid(
                    "model_type",
                    other,
                    "llama, mistral, qwen2 or qwen3",
                ));
            }
        })
    }

    /// Resolves defaults and validates, naming the offending field.
    pub fn into_config(self) -> Result<DecoderConfig> {
        match self {
            Self::Llama(config) => config.into_config(),
            Self::Qwen2(config) => config.into_config(),
            Self::Qwen3(config) => config.into_config(),
        }
    }
}

/// A config field whose value we do not support.
pub(crate) fn invalid(field: &str, value: &str, expected: &str) -> Error {
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
    fn qwen3_head_dim_defaults_to_128_and_sliding_windows_are_refused() {
        let qwen3 = SMOLLM2.replace("\"llama\"", "\"qwen3\"");
        let config = HfDecoderConfig::from_json(&qwen3)
            .unwrap()
            .into_config()
            .unwrap();
        assert_eq!(config.head_dim, 128);
        let windowed = SMOLLM2.replace("\"llama\"", "\"qwen2\"").replace(
            "\"rope_theta\": 100000,",
            "\"rope_theta\": 100000, \"use_sliding_window\": true,",
        );
        let err = HfDecoderConfig::from_json(&windowed)
            .unwrap()
            .into_config()
            .unwrap_err()
            .to_string();
        assert!(err.contains("use_sliding_window"), "{err}");
    }
}
