//! GGUF decoders (llama, qwen2, qwen3 architectures) as Hugging Face configs and tensors.
//!
//! llama.cpp's converter renames tensors (`blk.3.attn_q.weight` for
//! `model.layers.3.self_attn.q_proj.weight`) and, for the llama architecture only, permutes
//! the rows of the q and k projections so that its interleaved-pair RoPE works on them. We
//! rename back and undo that permutation, so a GGUF model loads into exactly the module an HF
//! checkpoint loads into and uses the same rotate-half RoPE. (qwen2/qwen3 GGUF files are not
//! permuted: llama.cpp runs them with NEOX-style RoPE.)

use crate::config::decoder::{
    DecoderConfig, HfDecoderCommon, HfDecoderConfig, HfRopeScaling, TokenIds,
};
use crate::config::llama::LlamaConfig;
use crate::config::qwen2::Qwen2Config;
use crate::config::qwen3::Qwen3Config;
use crate::error::{Error, Result};
use crate::load::gguf::{Gguf, MetadataValue};

/// The decoder config described by a GGUF file's metadata.
pub(crate) fn decoder_config<R: std::io::Read + std::io::Seek>(
    gguf: &Gguf<R>,
) -> Result<DecoderConfig> {
    let arch = gguf.require_str("general.architecture")?.to_string();
    if !matches!(arch.as_str(), "llama" | "qwen2" | "qwen3") {
        return Err(Error::Config {
            reason: format!(
                "GGUF general.architecture is {arch:?}; supported: llama, qwen2, qwen3"
            ),
        });
    }
    let key = |name: &str| format!("{arch}.{name}");
    let usize_of = |name: &str| gguf.require_u64(&key(name)).map(|v| v as usize);
    let vocab_size = match gguf.get(&key("vocab_size")) {
        Some(value) => value.as_u64().map(|v| v as usize),
        None => match gguf.get("tokenizer.ggml.tokens") {
            Some(MetadataValue::Array(tokens)) => Some(tokens.len()),
            _ => None,
        },
    }
    .ok_or_else(|| Error::MissingMetadata {
        key: key("vocab_size"),
    })?;
    let n_heads = usize_of("attention.head_count")?;
    let hidden_size = usize_of("embedding_length")?;
    let rope_scaling = match gguf.get(&key("rope.scaling.type")) {
        Some(MetadataValue::String(kind)) if kind == "linear" => Some(HfRopeScaling {
            rope_type: "linear".into(),
            factor: Some(gguf.require_f64(&key("rope.scaling.factor"))?),
            low_freq_factor: None,
            high_freq_factor: None,
            original_max_position_embeddings: None,
        }),
        Some(MetadataValue::String(kind)) if kind != "none" => {
            return Err(Error::Config {
                reason: format!("GGUF rope scaling {kind:?} is not supported"),
            });
        }
        _ => None,
    };
    let token = |name: &str| {
        gguf.get(name)
            .and_then(MetadataValue::as_u64)
            .map(|id| id as u32)
    };
    let common = HfDecoderCommon {
        vocab_size,
        hidden_size,
        intermediate_size: usize_of("feed_forward_length")?,
        num_hidden_layers: usize_of("block_count")?,
        num_attention_heads: n_heads,
        num_key_value_heads: gguf
            .get(&key("attention.head_count_kv"))
            .and_then(MetadataValue::as_u64)
            .map(|v| v as usize),
        hidden_act: "silu".into(),
        max_position_embeddings: Some(usize_of("context_length")?),
        rms_norm_eps: gguf.require_f64(&key("attention.layer_norm_rms_epsilon"))?,
        rope_theta: gguf
            .get(&key("rope.freq_base"))
            .and_then(MetadataValue::as_f64)
            .unwrap_or(10_000.0),
        rope_scaling,
        // No separate output projection in the file means it is tied to the embedding.
        tie_word_embeddings: gguf.tensor_info("output.weight").is_err(),
        bos_token_id: token("tokenizer.ggml.bos_token_id").map(TokenIds::One),
        eos_token_id: token("tokenizer.ggml.eos_token_id").map(TokenIds::One),
        pad_token_id: token("tokenizer.ggml.padding_token_id"),
        id2label: None,
    };
    // llama.cpp's own default for the key length is n_embd / n_head.
    let head_dim = gguf
        .get(&key("attention.key_length"))
        .and_then(MetadataValue::as_u64)
        .map(|v| v as usize)
        .unwrap_or_else(|| common.default_head_dim());
    let hf = match arch.as_str() {
        "llama" => HfDecoderConfig::Llama(LlamaConfig {
            model_type: arch,
            common,
            head_dim: Some(head_dim),
            attention_bias: false,
            mlp_bias: false,
            sliding_window: None,
        }),
        "qwen2" => HfDecoderConfig::Qwen2(Qwen2Config {
            common,
            head_dim: Some(head_dim),
            use_sliding_window: false,
        }),
        _ => HfDecoderConfig::Qwen3(Qwen3Config {
            common,
            head_dim,
            attention_bias: false,
            use_sliding_window: false,
        }),
    };
    hf.into_config()
}

/// The HF checkpoint key of a GGUF tensor name, or `None` for tensors the model does not use
/// (e.g. `rope_freqs.weight`).
pub(crate) fn hf_tensor_name(gguf_name: &str) -> Option<String> {
    let top = match gguf_name {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(name) = top {
        return Some(name.into());
    }
    let rest = gguf_name.strip_prefix("blk.")?;
    let (layer, rest) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (module, param) = rest.rsplit_once('.')?;
    let module = match module {
        "attn_norm" => "input_layernorm",
        "ffn_norm" => "post_attention_layernorm",
        "attn_q" => "self_attn.q_proj",
        "attn_k" => "self_attn.k_proj",
        "attn_v" => "self_attn.v_proj",
        "attn_output" => "self_attn.o_proj",
        "attn_q_norm" => "self_attn.q_norm",
        "attn_k_norm" => "self_attn.k_norm",
        "ffn_gate" => "mlp.gate_proj",
        "ffn_up" => "mlp.up_proj",
        "ffn_down" => "mlp.down_proj",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{module}.{param}"))
}

/// Undoes llama.cpp's q/k row permutation for interleaved RoPE.
///
/// The converter maps HF row h·d + j·(d/2) + i (head h, half j, pair i, head_dim d) to row
/// h·d + 2i + j; this applies the inverse.
///
/// # Shapes
/// `values`: `[n_heads · head_dim, cols]` row-major, permuted in place.
pub(crate) fn unpermute_rows(values: &mut [f32], n_heads: usize, cols: usize) {
    let rows = values.len() / cols;
    let head_dim = rows / n_heads;
    let half = head_dim / 2;
    let permuted = values.to_vec();
    for head in 0..n_heads {
        for pair in 0..half {
            for j in 0..2 {
                let from = head * head_dim + 2 * pair + j;
                let to = head * head_dim + j * half + pair;
                values[to * cols..(to + 1) * cols]
                    .copy_from_slice(&permuted[from * cols..(from + 1) * cols]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_hf_keys() {
        assert_eq!(
            hf_tensor_name("blk.12.attn_q.weight").unwrap(),
            "model.layers.12.self_attn.q_proj.weight"
        );
        assert_eq!(
            hf_tensor_name("blk.0.attn_v.bias").unwrap(),
            "model.layers.0.self_attn.v_proj.bias"
        );
        assert_eq!(
            hf_tensor_name("blk.3.attn_k_norm.weight").unwrap(),
            "model.layers.3.self_attn.k_norm.weight"
        );
        assert_eq!(hf_tensor_name("output.weight").unwrap(), "lm_head.weight");
        assert_eq!(hf_tensor_name("rope_freqs.weight"), None);
        assert_eq!(hf_tensor_name("blk.x.attn_q.weight"), None);
    }

    /// The permutation llama.cpp applies, written the way its converter states it
    /// (reshape to [heads, 2, d/2, cols], swap the middle axes), then undone.
    #[test]
    fn unpermute_inverts_the_converter() {
        let (n_heads, head_dim, cols) = (2, 6, 3);
        let rows = n_heads * head_dim;
        let original: Vec<f32> = (0..rows * cols).map(|v| v as f32).collect();
        let half = head_dim / 2;
        let mut permuted = vec![0.0; rows * cols];
        for h in 0..n_heads {
            for j in 0..2 {
                for i in 0..half {
                    let hf_row = h * head_dim + j * half + i;
                    let gguf_row = h * head_dim + 2 * i + j;
                    permuted[gguf_row * cols..(gguf_row + 1) * cols]
                        .copy_from_slice(&original[hf_row * cols..(hf_row + 1) * cols]);
                }
            }
        }
        unpermute_rows(&mut permuted, n_heads, cols);
        assert_eq!(permuted, original);
    }
}
