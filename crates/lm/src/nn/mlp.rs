//! The gated SiLU MLP of Llama-family decoders.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::silu;

use crate::nn::lora::{LoraAdapter, LoraInit, merge, project};

/// down(silu(gate(x)) ⊙ up(x)). Field names match HF checkpoint keys.
#[derive(Module, Debug)]
pub(crate) struct Mlp {
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
    /// LoRA adapters (none until attached).
    lora: MlpLora,
}

impl Mlp {
    pub(crate) fn new(d_model: usize, d_ff: usize, bias: bool, device: &Device) -> Self {
        let linear = |d_in, d_out| LinearConfig::new(d_in, d_out).with_bias(bias).init(device);
        Self {
            gate_proj: linear(d_model, d_ff),
            up_proj: linear(d_model, d_ff),
            down_proj: linear(d_ff, d_model),
            lora: MlpLora::default(),
        }
    }

    /// # Shapes
    /// `[batch_size, seq_len, d_model]` -> `[batch_size, seq_len, d_model]`.
    pub(crate) fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let lora = &self.lora;
        let gate = silu(project(&self.gate_proj, lora.gate_proj.as_ref(), x.clone()));
        let up = project(&self.up_proj, lora.up_proj.as_ref(), x);
        project(&self.down_proj, lora.down_proj.as_ref(), gate * up)
    }

    /// Attaches adapters to the projections `init` targets (replacing any present).
    pub(crate) fn attach_lora(mut self, init: &mut LoraInit) -> Self {
        let mut adapter = |name, linear: &Linear| init.adapter(name, linear);
        self.lora = MlpLora {
            gate_proj: adapter("gate_proj", &self.gate_proj),
            up_proj: adapter("up_proj", &self.up_proj),
            down_proj: adapter("down_proj", &self.down_proj),
        };
        self
    }

    /// Folds the adapters into the projection weights and drops them.
    pub(crate) fn merge_lora(self) -> Self {
        let lora = self.lora;
        Self {
            gate_proj: merge(self.gate_proj, lora.gate_proj),
            up_proj: merge(self.up_proj, lora.up_proj),
            down_proj: merge(self.down_proj, lora.down_proj),
            lora: MlpLora::default(),
        }
    }
}

/// LoRA adapters of the MLP projections; field names are the projections'.
#[derive(Module, Debug, Default)]
pub(crate) struct MlpLora {
    gate_proj: Option<LoraAdapter>,
    up_proj: Option<LoraAdapter>,
    down_proj: Option<LoraAdapter>,
}
