//! The gated SiLU MLP of Llama-family decoders.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::silu;

/// down(silu(gate(x)) ⊙ up(x)). Field names match HF checkpoint keys.
#[derive(Module, Debug)]
pub(crate) struct Mlp {
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
}

impl Mlp {
    pub(crate) fn new(d_model: usize, d_ff: usize, bias: bool, device: &Device) -> Self {
        let linear = |d_in, d_out| LinearConfig::new(d_in, d_out).with_bias(bias).init(device);
        Self {
            gate_proj: linear(d_model, d_ff),
            up_proj: linear(d_model, d_ff),
            down_proj: linear(d_ff, d_model),
        }
    }

    /// # Shapes
    /// `[batch_size, seq_len, d_model]` -> `[batch_size, seq_len, d_model]`.
    pub(crate) fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let gate = silu(self.gate_proj.forward(x.clone()));
        self.down_proj.forward(gate * self.up_proj.forward(x))
    }
}
