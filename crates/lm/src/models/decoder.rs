//! The Llama-family decoder shared by Llama (SmolLM2, TinyLlama, Llama 3, Mistral), Qwen2
//! and Qwen3, and its heads.
//!
//! The three families differ only in switches of [`DecoderConfig`], set by each architecture's
//! config mirror (`config/llama.rs`, `config/qwen2.rs`, `config/qwen3.rs`): Qwen2 has q/k/v biases,
//! Qwen3 normalises each head's queries and keys. Module field names are the Hugging Face
//! checkpoint keys (`model.layers.3.self_attn.q_proj.weight`), so safetensors files load
//! without remapping. Structure after transformers' `modeling_llama.py`, `modeling_qwen2.py`
//! and `modeling_qwen3.py`.

use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig, RmsNorm, RmsNormConfig};
use burn::prelude::*;

use crate::config::decoder::DecoderConfig;
use crate::error::Result;
use crate::models::batch::TokenBatch;
use crate::nn::attention::{Attention, AttentionShape};
use crate::nn::kv_cache::KvCache;
use crate::nn::linear;
use crate::nn::lora::{LoraConfig, LoraInit};
use crate::nn::mlp::Mlp;
use crate::nn::rope;

/// One pre-norm decoder layer.
#[derive(Module, Debug)]
struct DecoderLayer {
    self_attn: Attention,
    mlp: Mlp,
    input_layernorm: RmsNorm,
    post_attention_layernorm: RmsNorm,
}

/// The decoder body: embeddings, layers and final norm; returns hidden states.
#[derive(Module, Debug)]
pub struct DecoderModel {
    embed_tokens: Embedding,
    layers: Vec<DecoderLayer>,
    norm: RmsNorm,
    /// RoPE inverse frequencies, `[head_dim / 2]` (a constant, not a parameter).
    inv_freq: Vec<f32>,
}

impl DecoderModel {
    /// A decoder with uninitialised (lazy) parameters, to be loaded.
    pub fn new(config: &DecoderConfig, device: &Device) -> Self {
        let norm = |d| {
            RmsNormConfig::new(d)
                .with_epsilon(config.rms_norm_eps)
                .init(device)
        };
        let shape = AttentionShape {
            d_model: config.d_model,
            n_heads: config.n_heads,
            n_kv_heads: config.n_kv_heads,
            head_dim: config.head_dim,
            qkv_bias: config.qkv_bias,
            o_bias: config.o_bias,
            qk_norm_eps: config.qk_norm.then_some(config.rms_norm_eps),
        };
        let layers = (0..config.n_layers)
            .map(|_| DecoderLayer {
                self_attn: Attention::new(&shape, device),
                mlp: Mlp::new(config.d_model, config.d_ff, config.mlp_bias, device),
                input_layernorm: norm(config.d_model),
                post_attention_layernorm: norm(config.d_model),
            })
            .collect();
        Self {
            embed_tokens: EmbeddingConfig::new(config.vocab_size, config.d_model).init(device),
            layers,
            norm: norm(config.d_model),
            inv_freq: rope::inverse_frequencies(
                config.head_dim,
                config.rope_theta,
                &config.rope_scaling,
            ),
        }
    }

    /// Hidden states after the final norm.
    ///
    /// # Shapes
    /// Returns `[batch_size, seq_len, d_model]`.
    pub fn forward(&self, batch: &TokenBatch) -> Tensor<3> {
        // The whole sequence is "new"; the throwaway cache is only the shared code path.
        self.forward_cached(
            batch.input_ids.clone(),
            batch.positions.clone(),
            &batch.attention_block_mask(),
            &mut KvCache::new(),
        )
    }

    /// Hidden states of new positions, attending to the cached ones; extends `cache`.
    ///
    /// # Shapes
    /// `input_ids`, `positions`: `[batch_size, new_len]`; `mask`: `[batch_size, 1, new_len,
    /// cache.len() + new_len]`, true = blocked. Returns `[batch_size, new_len, d_model]`.
    pub fn forward_cached(
        &self,
        input_ids: Tensor<2, Int>,
        positions: Tensor<2, Int>,
        mask: &Tensor<4, Bool>,
        cache: &mut KvCache,
    ) -> Tensor<3> {
        let [_, new_len] = input_ids.dims();
        let mut hidden = self.embed_tokens.forward(input_ids);
        // Angles in f32, then the weights' float type (as transformers does).
        let dtype = hidden.dtype();
        let (cos, sin) = rope::cos_sin(positions, &self.inv_freq);
        let (cos, sin) = (cos.cast(dtype), sin.cast(dtype));
        for (index, layer) in self.layers.iter().enumerate() {
            let (attended, layer_cache) = layer.self_attn.forward_cached(
                layer.input_layernorm.forward(hidden.clone()),
                &cos,
                &sin,
                mask,
                cache.take(index),
            );
            cache.put(index, layer_cache);
            hidden = hidden + attended;
            let transformed = layer
                .mlp
                .forward(layer.post_attention_layernorm.forward(hidden.clone()));
            hidden = hidden + transformed;
        }
        cache.advance(new_len);
        self.norm.forward(hidden)
    }

    /// The token embedding table, `[vocab_size, d_model]`.
    fn embedding_weight(&self) -> Tensor<2> {
        self.embed_tokens.weight.val()
    }

    /// Freezes every parameter and attaches fresh adapters per `config`.
    fn with_lora(self, config: &LoraConfig) -> Self {
        let mut init = LoraInit::new(config);
        let frozen = self.no_grad();
        Self {
            layers: frozen
                .layers
                .into_iter()
                .map(|layer| DecoderLayer {
                    self_attn: layer.self_attn.attach_lora(&mut init),
                    mlp: layer.mlp.attach_lora(&mut init),
                    ..layer
                })
                .collect(),
            ..frozen
        }
    }

    /// Folds every adapter into its base weight.
    fn merge_lora(self) -> Self {
        Self {
            layers: self
                .layers
                .into_iter()
                .map(|layer| DecoderLayer {
                    self_attn: layer.self_attn.merge_lora(),
                    mlp: layer.mlp.merge_lora(),
                    ..layer
                })
                .collect(),
            ..self
        }
    }
}

/// A decoder with a language-modelling head (HF `*ForCausalLM`).
#[derive(Module, Debug)]
pub struct CausalLm {
    model: DecoderModel,
    /// `None` when the head is tied to the token embedding.
    lm_head: Option<Linear>,
    /// The adapters' configuration, when LoRA is attached.
    #[module(skip)]
    lora: Option<LoraConfig>,
}

impl CausalLm {
    /// A causal LM with lazy parameters.
    pub fn new(config: &DecoderConfig, device: &Device) -> Self {
        Self {
            model: DecoderModel::new(config, device),
            lm_head: (!config.tie_word_embeddings).then(|| {
                LinearConfig::new(config.d_model, config.vocab_size)
                    .with_bias(false)
                    .init(device)
            }),
            lora: None,
        }
    }

    /// Freezes every base parameter and attaches zero-initialised LoRA adapters (so the
    /// adapted model computes exactly what the base does until trained). Replaces adapters
    /// already attached.
    pub fn with_lora(self, config: &LoraConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            model: self.model.with_lora(config),
            lm_head: self.lm_head.map(|head| head.no_grad()),
            lora: Some(config.clone()),
        })
    }

    /// The attached adapters' configuration.
    pub fn lora(&self) -> Option<&LoraConfig> {
        self.lora.as_ref()
    }

    /// Folds the adapters into the base weights (`W + s·A·B`) and drops them: the result
    /// computes the same function as a plain model.
    pub fn merge_lora(self) -> Self {
        Self {
            model: self.model.merge_lora(),
            lm_head: self.lm_head,
            lora: None,
        }
    }

    /// Next-token logits at every position (nats, unnormalised).
    ///
    /// # Shapes
    /// Returns `[batch_size, seq_len, vocab_size]`.
    pub fn forward(&self, batch: &TokenBatch) -> Tensor<3> {
        self.logits(self.model.forward(batch))
    }

    /// Next-token logits at positions `start..end` only (the head is the costly part for a
    /// large vocabulary, so callers that need a window ask for just that).
    ///
    /// # Shapes
    /// Returns `[batch_size, end - start, vocab_size]`.
    pub fn forward_window(&self, batch: &TokenBatch, start: usize, end: usize) -> Tensor<3> {
        let hidden = self.model.forward(batch);
        // [batch_size, end - start, d_model]
        self.logits(hidden.narrow(1, start, end - start))
    }

    /// Next-token logits after the new positions (the last one only), extending `cache`;
    /// see [`DecoderModel::forward_cached`].
    ///
    /// # Shapes
    /// `input_ids`, `positions`: `[batch_size, new_len]`; returns `[batch_size, vocab_size]`.
    pub fn forward_cached(
        &self,
        input_ids: Tensor<2, Int>,
        positions: Tensor<2, Int>,
        mask: &Tensor<4, Bool>,
        cache: &mut KvCache,
    ) -> Tensor<2> {
        let hidden = self.model.forward_cached(input_ids, positions, mask, cache);
        let [batch_size, new_len, _] = hidden.dims();
        // [batch_size, 1, d_model]: only the last position is needed for the next token.
        let last = hidden.narrow(1, new_len - 1, 1);
        let logits = self.logits(last);
        let [_, _, vocab_size] = logits.dims();
        logits.reshape([batch_size, vocab_size])
    }

    /// Pooled embedding: the hidden state of each row's last real token.
    ///
    /// # Shapes
    /// Returns `[batch_size, d_model]`.
    pub fn embed(&self, batch: &TokenBatch) -> Tensor<2> {
        last_token(self.model.forward(batch), batch)
    }

    /// Rows of the input-embedding table for `ids` (no position information): what LASeR
    /// averages into a batch's routing context.
    ///
    /// # Shapes
    /// `ids`: `[n]`; returns `[n, d_model]`.
    pub fn token_embeddings(&self, ids: Tensor<1, Int>) -> Tensor<2> {
        self.model.embedding_weight().select(0, ids)
    }

    /// # Shapes
    /// `[batch_size, seq_len, d_model]` -> `[batch_size, seq_len, vocab_size]`.
    fn logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        match &self.lm_head {
            Some(head) => linear::apply(head, hidden),
            None => {
                // Tied: logits = h · Eᵀ with E the `[vocab_size, d_model]` embedding.
                linear::linear(hidden, self.model.embedding_weight().transpose(), None)
            }
        }
    }
}

/// A decoder with a scalar (or K-label) score read at the last real token: HF
/// `*ForSequenceClassification`, the architecture of reward models such as
/// Skywork-Reward-V2.
#[derive(Module, Debug)]
pub struct SequenceClassifier {
    model: DecoderModel,
    score: Linear,
}

impl SequenceClassifier {
    /// A classifier with lazy parameters and `config.num_labels` outputs.
    pub fn new(config: &DecoderConfig, device: &Device) -> Self {
        Self {
            model: DecoderModel::new(config, device),
            score: LinearConfig::new(config.d_model, config.num_labels)
                .with_bias(false)
                .init(device),
        }
    }

    /// A classifier over `lm`'s decoder (adapters merged) with a fresh `num_labels`-output
    /// score head: how transformers builds a reward model from a causal LM checkpoint
    /// (`AutoModelForSequenceClassification.from_pretrained` on a `*ForCausalLM` folder
    /// drops `lm_head` and initialises `score` with standard deviation 0.02, its
    /// `initializer_range`; here uniform values of that deviation drawn from `seed`, so a
    /// seed fixes the reward model).
    pub fn from_causal_lm(lm: CausalLm, num_labels: usize, seed: u64, device: &Device) -> Self {
        use rand::{RngExt, SeedableRng};
        let d_model = lm.model.embedding_weight().dims()[1];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let bound = 0.02 * 3f32.sqrt();
        // `[d_model, num_labels]`: burn's Linear layout (input rows).
        let values: Vec<f32> = (0..d_model * num_labels)
            .map(|_| rng.random_range(-bound..bound))
            .collect();
        let weight = Tensor::<2>::from_data(TensorData::new(values, [d_model, num_labels]), device);
        let weight = if device.is_autodiff() {
            weight.require_grad()
        } else {
            weight
        };
        Self {
            model: lm.merge_lora().model,
            score: Linear {
                weight: burn::module::Param::from_tensor(weight),
                bias: None,
            },
        }
    }

    /// Scores of every row (for a reward model: the reward, in the model's own units).
    ///
    /// # Shapes
    /// Returns `[batch_size, num_labels]`.
    pub fn forward(&self, batch: &TokenBatch) -> Tensor<2> {
        self.score
            .forward(last_token(self.model.forward(batch), batch))
    }
}

/// Selects each row's last real token.
///
/// # Shapes
/// `hidden`: `[batch_size, seq_len, d]` -> `[batch_size, d]`.
fn last_token(hidden: Tensor<3>, batch: &TokenBatch) -> Tensor<2> {
    let [batch_size, _, d] = hidden.dims();
    let selector = batch.last_token_selector().cast(hidden.dtype());
    (hidden * selector).sum_dim(1).reshape([batch_size, d])
}
