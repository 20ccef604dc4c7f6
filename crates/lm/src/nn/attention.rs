//! Grouped-query self-attention with rotary positions (Llama, Qwen2, Qwen3).
//!
//! Written out as matmul → mask → softmax → matmul rather than calling burn's fused
//! `attention`: in burn 0.22 the libtorch path of the fused op passes the boolean mask to
//! PyTorch, whose convention is the opposite (true = attend), and disables GQA. The explicit
//! form gives the same numbers on every backend.

use burn::nn::{Linear, LinearConfig, RmsNorm, RmsNormConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;

use crate::nn::lora::{LoraAdapter, LoraInit, merge, project};
use crate::nn::rope;

/// Masked attention scores are set to this rather than −∞, so that a row with every key
/// masked (a left-padding query) gets a uniform softmax instead of NaN. It is finite in bf16.
pub(crate) const MASKED_SCORE: f32 = -1e30;

/// Self-attention of one decoder layer. Field names match HF checkpoint keys.
#[derive(Module, Debug)]
pub(crate) struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    /// Qwen3: RMSNorm over each head's queries.
    q_norm: Option<RmsNorm>,
    /// Qwen3: RMSNorm over each head's keys.
    k_norm: Option<RmsNorm>,
    /// LoRA adapters (none until attached).
    lora: AttentionLora,
    n_heads: usize,
    n_kv_heads: usize,
    head_dim: usize,
}

/// Shape and options of an [`Attention`].
pub(crate) struct AttentionShape {
    pub(crate) d_model: usize,
    pub(crate) n_heads: usize,
    pub(crate) n_kv_heads: usize,
    pub(crate) head_dim: usize,
    pub(crate) qkv_bias: bool,
    pub(crate) o_bias: bool,
    pub(crate) qk_norm_eps: Option<f64>,
}

impl Attention {
    pub(crate) fn new(shape: &AttentionShape, device: &Device) -> Self {
        let linear =
            |d_in, d_out, bias| LinearConfig::new(d_in, d_out).with_bias(bias).init(device);
        let norm = |eps| {
            RmsNormConfig::new(shape.head_dim)
                .with_epsilon(eps)
                .init(device)
        };
        let (q_width, kv_width) = (
            shape.n_heads * shape.head_dim,
            shape.n_kv_heads * shape.head_dim,
        );
        Self {
            q_proj: linear(shape.d_model, q_width, shape.qkv_bias),
            k_proj: linear(shape.d_model, kv_width, shape.qkv_bias),
            v_proj: linear(shape.d_model, kv_width, shape.qkv_bias),
            o_proj: linear(q_width, shape.d_model, shape.o_bias),
            q_norm: shape.qk_norm_eps.map(norm),
            k_norm: shape.qk_norm_eps.map(norm),
            lora: AttentionLora::default(),
            n_heads: shape.n_heads,
            n_kv_heads: shape.n_kv_heads,
            head_dim: shape.head_dim,
        }
    }

    /// Attention of new positions over the cached ones and themselves; returns the output
    /// and the cache extended by the new positions.
    ///
    /// # Shapes
    /// `x`: `[batch_size, new_len, d_model]`; `cos`, `sin`: `[batch_size, 1, new_len,
    /// head_dim]` (the new positions'); `mask`: `[batch_size, 1, new_len, cached_len +
    /// new_len]`, true = blocked. Returns `[batch_size, new_len, d_model]`.
    pub(crate) fn forward_cached(
        &self,
        x: Tensor<3>,
        cos: &Tensor<4>,
        sin: &Tensor<4>,
        mask: &Tensor<4, Bool>,
        cache: Option<LayerCache>,
    ) -> (Tensor<3>, LayerCache) {
        let [batch_size, new_len, _] = x.dims();
        let (n_heads, n_kv_heads, head_dim) = (self.n_heads, self.n_kv_heads, self.head_dim);
        // [batch_size, new_len, n * head_dim] -> [batch_size, n, new_len, head_dim]
        let heads = |t: Tensor<3>, n: usize, norm: &Option<RmsNorm>| {
            let t = t.reshape([batch_size, new_len, n, head_dim]);
            let t = match norm {
                Some(norm) => norm.forward(t),
                None => t,
            };
            t.swap_dims(1, 2)
        };
        let lora = &self.lora;
        let q = project(&self.q_proj, lora.q_proj.as_ref(), x.clone());
        let k = project(&self.k_proj, lora.k_proj.as_ref(), x.clone());
        let v = project(&self.v_proj, lora.v_proj.as_ref(), x);
        let q = heads(q, n_heads, &self.q_norm);
        let k = heads(k, n_kv_heads, &self.k_norm);
        let v = heads(v, n_kv_heads, &None);
        let q = rope::apply(q, cos, sin);
        let k = rope::apply(k, cos, sin);
        // [batch_size, n_kv_heads, total_len, head_dim]
        let (k, v) = match cache {
            Some(cache) => (
                Tensor::cat(vec![cache.k, k], 2),
                Tensor::cat(vec![cache.v, v], 2),
            ),
            None => (k, v),
        };
        let cache = LayerCache {
            k: k.clone(),
            v: v.clone(),
        };
        let total_len = k.dims()[2];
        // Grouped-query attention without copying keys and values per query head: the
        // `group` query heads that share a key/value head are stacked along the query axis
        // (HF's repeat_kv gives kv head j to query heads j·group … j·group + group − 1).
        let group = n_heads / n_kv_heads;
        let rows = group * new_len;
        // [batch_size, n_heads, new_len, head_dim] -> [batch_size, n_kv_heads, rows, head_dim]
        let q = q.reshape([batch_size, n_kv_heads, rows, head_dim]);
        // [batch_size, n_kv_heads, rows, total_len]
        let scores = q.matmul(k.swap_dims(2, 3)) / (head_dim as f64).sqrt();
        let mask = mask
            .clone()
            .unsqueeze_dim::<5>(2)
            .expand([batch_size, 1, group, new_len, total_len])
            .reshape([batch_size, 1, rows, total_len])
            .expand([batch_size, n_kv_heads, rows, total_len]);
        let probs = softmax(scores.mask_fill(mask, MASKED_SCORE), 3);
        // [batch_size, n_kv_heads, rows, head_dim] -> [batch_size, new_len, n_heads * head_dim]
        let out = probs
            .matmul(v)
            .reshape([batch_size, n_heads, new_len, head_dim])
            .swap_dims(1, 2)
            .reshape([batch_size, new_len, n_heads * head_dim]);
        (project(&self.o_proj, lora.o_proj.as_ref(), out), cache)
    }

    /// Attaches adapters to the projections `init` targets (replacing any present).
    pub(crate) fn attach_lora(mut self, init: &mut LoraInit) -> Self {
        let mut adapter = |name, linear: &Linear| init.adapter(name, linear);
        self.lora = AttentionLora {
            q_proj: adapter("q_proj", &self.q_proj),
            k_proj: adapter("k_proj", &self.k_proj),
            v_proj: adapter("v_proj", &self.v_proj),
            o_proj: adapter("o_proj", &self.o_proj),
        };
        self
    }

    /// Folds the adapters into the projection weights and drops them.
    pub(crate) fn merge_lora(self) -> Self {
        let lora = self.lora;
        Self {
            q_proj: merge(self.q_proj, lora.q_proj),
            k_proj: merge(self.k_proj, lora.k_proj),
            v_proj: merge(self.v_proj, lora.v_proj),
            o_proj: merge(self.o_proj, lora.o_proj),
            lora: AttentionLora::default(),
            ..self
        }
    }
}

/// LoRA adapters of the attention projections; field names are the projections'.
#[derive(Module, Debug, Default)]
pub(crate) struct AttentionLora {
    q_proj: Option<LoraAdapter>,
    k_proj: Option<LoraAdapter>,
    v_proj: Option<LoraAdapter>,
    o_proj: Option<LoraAdapter>,
}

/// The keys and values one layer has computed so far (after RoPE; one per key/value head).
#[derive(Clone, Debug)]
pub(crate) struct LayerCache {
    /// `[batch_size, n_kv_heads, cached_len, head_dim]`.
    k: Tensor<4>,
    /// `[batch_size, n_kv_heads, cached_len, head_dim]`.
    v: Tensor<4>,
}

impl LayerCache {
    /// Keeps only the batch rows in `rows` (in that order).
    pub(crate) fn select_rows(self, rows: &Tensor<1, Int>) -> Self {
        Self {
            k: self.k.select(0, rows.clone()),
            v: self.v.select(0, rows.clone()),
        }
    }
}
