//! Rotary position embedding in the Hugging Face "rotate half" layout.
//!
//! HF Llama/Qwen checkpoints pair dimension i with i + head_dim/2 (GPT-NeoX style). burn's own
//! `RotaryEncoding` pairs 2i with 2i + 1 (interleaved), which is what llama.cpp's llama-arch
//! GGUF files are permuted for; this project un-permutes those at load time, so one rotate-half
//! implementation serves every checkpoint. (Su et al., RoFormer, arXiv 2104.09864.)

use burn::prelude::*;

use crate::config::decoder::RopeScaling;

/// Inverse frequencies θ^(−2i/head_dim), i < head_dim/2, with the config's scaling applied.
///
/// # Panics
/// If `head_dim` is odd or `theta <= 0` (configs are checked before this is called).
pub(crate) fn inverse_frequencies(head_dim: usize, theta: f64, scaling: &RopeScaling) -> Vec<f32> {
    assert!(
        head_dim.is_multiple_of(2) && theta > 0.0,
        "RoPE needs an even head_dim and theta > 0"
    );
    (0..head_dim / 2)
        .map(|i| {
            // Computed in f32 like transformers' `_compute_default_rope_parameters`.
            let exponent = (2 * i) as f32 / head_dim as f32;
            let inv = 1.0 / (theta as f32).powf(exponent);
            match *scaling {
                RopeScaling::None => inv,
                RopeScaling::Linear { factor } => inv / factor as f32,
                RopeScaling::Llama3 {
                    factor,
                    low_freq_factor,
                    high_freq_factor,
                    original_max_position_embeddings,
                } => {
                    let original = original_max_position_embeddings as f32;
                    let (factor, low, high) = (
                        factor as f32,
                        low_freq_factor as f32,
                        high_freq_factor as f32,
                    );
                    let wavelength = 2.0 * std::f32::consts::PI / inv;
                    if wavelength < original / high {
                        inv
                    } else if wavelength > original / low {
                        inv / factor
                    } else {
                        let smooth = (original / wavelength - low) / (high - low);
                        (1.0 - smooth) * inv / factor + smooth * inv
                    }
                }
            }
        })
        .collect()
}

/// cos and sin of position × frequency for every token, duplicated over both halves.
///
/// # Shapes
/// `positions`: `[batch_size, seq_len]`; returns two `[batch_size, 1, seq_len, head_dim]`
/// tensors (the 1 broadcasts over heads).
pub(crate) fn cos_sin(positions: Tensor<2, Int>, inv_freq: &[f32]) -> (Tensor<4>, Tensor<4>) {
    let device = positions.device();
    let [batch_size, seq_len] = positions.dims();
    let half = inv_freq.len();
    let inv_freq = Tensor::<1>::from_data(TensorData::new(inv_freq.to_vec(), [half]), &device);
    // [batch_size, seq_len, 1] × [1, 1, half] -> [batch_size, seq_len, half]
    let angles = positions.float().unsqueeze_dim::<3>(2) * inv_freq.reshape([1, 1, half]);
    // [batch_size, seq_len, head_dim]
    let angles = Tensor::cat(vec![angles.clone(), angles], 2);
    let angles = angles.reshape([batch_size, 1, seq_len, 2 * half]);
    (angles.clone().cos(), angles.sin())
}

/// x·cos + rotate_half(x)·sin, with rotate_half([x1, x2]) = [−x2, x1].
///
/// # Shapes
/// `x`: `[batch_size, n_heads, seq_len, head_dim]`; `cos`, `sin`: `[batch_size, 1, seq_len,
/// head_dim]`; returns the shape of `x`.
pub(crate) fn apply(x: Tensor<4>, cos: &Tensor<4>, sin: &Tensor<4>) -> Tensor<4> {
    let [_, _, _, head_dim] = x.dims();
    let half = head_dim / 2;
    let first = x.clone().narrow(3, 0, half);
    let second = x.clone().narrow(3, half, half);
    let rotated = Tensor::cat(vec![second.neg(), first], 3);
    x * cos.clone() + rotated * sin.clone()
}
