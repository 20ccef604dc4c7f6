//! Writing a [`DecoderConfig`] back as a Hugging Face `config.json`, so that a saved model
//! loads in transformers and vLLM (and here) with the same architecture.

use serde_json::{Value, json};

use crate::config::decoder::{DecoderConfig, DecoderFamily, RopeScaling};

impl DecoderConfig {
    /// The `config.json` of this decoder with a causal-LM head (`*ForCausalLM`), its weights
    /// stored as `torch_dtype` (`"float32"`, `"bfloat16"`).
    pub fn to_hf_json(&self, torch_dtype: &str) -> Value {
        let (model_type, architecture) = match self.family {
            DecoderFamily::Llama => ("llama", "LlamaForCausalLM"),
            DecoderFamily::Qwen2 => ("qwen2", "Qwen2ForCausalLM"),
            DecoderFamily::Qwen3 => ("qwen3", "Qwen3ForCausalLM"),
        };
        let rope_scaling = match &self.rope_scaling {
            RopeScaling::None => Value::Null,
            RopeScaling::Linear { factor } => json!({"rope_type": "linear", "factor": factor}),
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            } => json!({
                "rope_type": "llama3",
                "factor": factor,
                "low_freq_factor": low_freq_factor,
                "high_freq_factor": high_freq_factor,
                "original_max_position_embeddings": original_max_position_embeddings,
            }),
        };
        let eos_token_id = match self.eos_token_ids.as_slice() {
            [] => Value::Null,
            [single] => json!(single),
            many => json!(many),
        };
        let mut config = json!({
            "architectures": [architecture],
            "model_type": model_type,
            "vocab_size": self.vocab_size,
            "hidden_size": self.d_model,
            "intermediate_size": self.d_ff,
            "num_hidden_layers": self.n_layers,
            "num_attention_heads": self.n_heads,
            "num_key_value_heads": self.n_kv_heads,
            "head_dim": self.head_dim,
            "hidden_act": "silu",
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "rope_scaling": rope_scaling,
            "max_position_embeddings": self.max_positions,
            "tie_word_embeddings": self.tie_word_embeddings,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": eos_token_id,
            "pad_token_id": self.pad_token_id,
            "torch_dtype": torch_dtype,
            "use_cache": true,
        });
        let fields = config.as_object_mut().expect("a JSON object literal");
        match self.family {
            DecoderFamily::Llama => {
                fields.insert("attention_bias".into(), json!(self.qkv_bias));
                fields.insert("mlp_bias".into(), json!(self.mlp_bias));
            }
            DecoderFamily::Qwen2 | DecoderFamily::Qwen3 => {
                fields.insert("use_sliding_window".into(), json!(false));
                if self.family == DecoderFamily::Qwen3 {
                    fields.insert("attention_bias".into(), json!(self.qkv_bias));
                }
            }
        }
        config
    }
}
