//! The BERT encoder (sentence encoders such as all-MiniLM-L6-v2), with mean pooling and L2
//! normalisation as sentence-transformers applies them.
//!
//! Structure after transformers' `modeling_bert.py` (`BertModel`, absolute positions, post-norm
//! layers). Field names follow the checkpoint keys except two that Rust cannot spell: the
//! loader maps `attention.self.` to `attention.self_attention.` and `LayerNorm` to
//! `layer_norm`.

use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{gelu, gelu_approximate, softmax};

use crate::config::bert::{BertConfig, Gelu};
use crate::models::batch::TokenBatch;
use crate::nn::attention::MASKED_SCORE;
use crate::nn::linear;

/// Checkpoint key rewrites: (regex, replacement).
pub(crate) const BERT_KEY_REMAPS: [(&str, &str); 2] = [
    (r"\.attention\.self\.", ".attention.self_attention."),
    (r"LayerNorm\.", "layer_norm."),
];

#[derive(Module, Debug)]
struct BertEmbeddings {
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    token_type_embeddings: Embedding,
    layer_norm: LayerNorm,
}

#[derive(Module, Debug)]
struct BertSelfAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    n_heads: usize,
}

#[derive(Module, Debug)]
struct BertResidualOutput {
    dense: Linear,
    layer_norm: LayerNorm,
}

#[derive(Module, Debug)]
struct BertAttention {
    self_attention: BertSelfAttention,
    output: BertResidualOutput,
}

#[derive(Module, Debug)]
struct BertIntermediate {
    dense: Linear,
}

#[derive(Module, Debug)]
struct BertLayer {
    attention: BertAttention,
    intermediate: BertIntermediate,
    output: BertResidualOutput,
}

#[derive(Module, Debug)]
struct BertEncoder {
    layer: Vec<BertLayer>,
}

/// A BERT encoder returning hidden states and pooled sentence embeddings.
#[derive(Module, Debug)]
pub struct BertModel {
    embeddings: BertEmbeddings,
    encoder: BertEncoder,
    /// Exact erf GELU (`gelu`) or the tanh form; the choice changes results.
    #[module(skip)]
    gelu: Gelu,
}

impl BertModel {
    /// An encoder with lazy parameters.
    pub fn new(config: &BertConfig, device: &Device) -> Self {
        let (d, eps) = (config.d_model, config.layer_norm_eps);
        let new_linear = |d_in, d_out| LinearConfig::new(d_in, d_out).init(device);
        let norm = || LayerNormConfig::new(d).with_epsilon(eps).init(device);
        let residual = |d_in| BertResidualOutput {
            dense: new_linear(d_in, d),
            layer_norm: norm(),
        };
        let layer = (0..config.n_layers)
            .map(|_| BertLayer {
                attention: BertAttention {
                    self_attention: BertSelfAttention {
                        query: new_linear(d, d),
                        key: new_linear(d, d),
                        value: new_linear(d, d),
                        n_heads: config.n_heads,
                    },
                    output: residual(d),
                },
                intermediate: BertIntermediate {
                    dense: new_linear(d, config.d_ff),
                },
                output: residual(config.d_ff),
            })
            .collect();
        Self {
            embeddings: BertEmbeddings {
                word_embeddings: EmbeddingConfig::new(config.vocab_size, d).init(device),
                position_embeddings: EmbeddingConfig::new(config.max_positions, d).init(device),
                token_type_embeddings: EmbeddingConfig::new(config.type_vocab_size, d).init(device),
                layer_norm: norm(),
            },
            encoder: BertEncoder { layer },
            gelu: config.gelu,
        }
    }

    /// Last hidden states (token type 0 everywhere).
    ///
    /// # Shapes
    /// Returns `[batch_size, seq_len, d_model]`.
    pub fn forward(&self, batch: &TokenBatch) -> Tensor<3> {
        let [batch_size, seq_len] = batch.dims();
        let device = batch.input_ids.device();
        let token_types = Tensor::<2, Int>::zeros([batch_size, seq_len], &device);
        let embeddings = &self.embeddings;
        let hidden = embeddings.word_embeddings.forward(batch.input_ids.clone())
            + embeddings
                .position_embeddings
                .forward(batch.positions.clone())
            + embeddings.token_type_embeddings.forward(token_types);
        let mut hidden = embeddings.layer_norm.forward(hidden);
        let mask = batch.padding_block_mask();
        for layer in &self.encoder.layer {
            let attended = layer
                .attention
                .self_attention
                .forward(hidden.clone(), &mask);
            let output = &layer.attention.output;
            hidden = output
                .layer_norm
                .forward(linear::apply(&output.dense, attended) + hidden);
            let inner = linear::apply(&layer.intermediate.dense, hidden.clone());
            let inner = match self.gelu {
                Gelu::Erf => gelu(inner),
                Gelu::Tanh => gelu_approximate(inner),
            };
            hidden = layer
                .output
                .layer_norm
                .forward(linear::apply(&layer.output.dense, inner) + hidden);
        }
        hidden
    }

    /// Sentence embeddings: the mean of the real tokens' hidden states, L2-normalised (unit
    /// length, so dot products are cosines).
    ///
    /// # Shapes
    /// Returns `[batch_size, d_model]`.
    pub fn embed(&self, batch: &TokenBatch) -> Tensor<2> {
        let hidden = self.forward(batch);
        let [batch_size, seq_len, d_model] = hidden.dims();
        // [batch_size, seq_len, 1]
        let mask = batch
            .attention_mask
            .clone()
            .float()
            .reshape([batch_size, seq_len, 1]);
        let summed = (hidden * mask.clone())
            .sum_dim(1)
            .reshape([batch_size, d_model]);
        let counts = mask.sum_dim(1).reshape([batch_size, 1]).clamp_min(1e-9);
        let mean = summed / counts;
        let norm = mean.clone().square().sum_dim(1).sqrt().clamp_min(1e-12);
        mean / norm
    }
}

impl BertSelfAttention {
    /// # Shapes
    /// `x`: `[batch_size, seq_len, d_model]`; `mask`: `[batch_size, 1, seq_len, seq_len]`, true
    /// for padding keys. Returns `[batch_size, seq_len, d_model]`.
    fn forward(&self, x: Tensor<3>, mask: &Tensor<4, Bool>) -> Tensor<3> {
        let [batch_size, seq_len, d_model] = x.dims();
        let (n_heads, head_dim) = (self.n_heads, d_model / self.n_heads);
        let heads = |t: Tensor<3>| {
            // [batch_size, n_heads, seq_len, head_dim]
            t.reshape([batch_size, seq_len, n_heads, head_dim])
                .swap_dims(1, 2)
        };
        let q = heads(linear::apply(&self.query, x.clone()));
        let k = heads(linear::apply(&self.key, x.clone()));
        let v = heads(linear::apply(&self.value, x));
        let scores = q.matmul(k.swap_dims(2, 3)) / (head_dim as f64).sqrt();
        let scores = scores.mask_fill(
            mask.clone().expand([batch_size, n_heads, seq_len, seq_len]),
            MASKED_SCORE,
        );
        softmax(scores, 3)
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([batch_size, seq_len, d_model])
    }
}
