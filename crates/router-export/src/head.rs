//! The router's trainable head (METHOD.md §2): the fusion of two response embeddings into
//! the context e, and the three per-RM heads read from it.
//!
//! Fusion: u = [(h_a + h_b)/2 ; |h_a − h_b|] (2d) → Linear(2d→d) → ReLU → LayerNorm →
//! L2-normalise → e. Symmetric in (a, b). Heads, one row per RM, L2-normalised at use, so
//! every score is a cosine: Bradley–Terry s_k = e·v̂_k (no bias), classification
//! e·ĉ_k + b_k (a logit), regression e·r̂_k + b'_k (a normalised margin).

use burn::module::{Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::prelude::*;
use burn::tensor::activation::relu;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// PyTorch's `F.normalize` floor on a vector's norm.
const NORM_FLOOR: f64 = 1e-12;

/// Fusion layer and heads.
#[derive(Module, Debug)]
pub struct RouterHead {
    /// Linear(2d → d), weight `[2d, d]` (burn's `[d_in, d_out]`).
    pub(crate) fusion: Linear,
    /// LayerNorm over d (ε = 1e-5, PyTorch's default).
    pub(crate) norm: LayerNorm,
    /// Bradley–Terry vectors v_k, `[K, d]`.
    pub(crate) bt: Param<Tensor<2>>,
    /// Classification vectors c_k, `[K, d]`.
    pub(crate) cls: Param<Tensor<2>>,
    /// Classification biases, `[K]`.
    pub(crate) cls_bias: Param<Tensor<1>>,
    /// Regression vectors r_k, `[K, d]`.
    pub(crate) reg: Param<Tensor<2>>,
    /// Regression biases, `[K]`.
    pub(crate) reg_bias: Param<Tensor<1>>,
}

/// What the heads say about a batch of pairs.
#[derive(Clone, Debug)]
pub struct HeadOutput {
    /// Contexts e, unit rows, `[N, d]`.
    pub context: Tensor<2>,
    /// Bradley–Terry scores s_k (cosines), `[N, K]`.
    pub bt: Tensor<2>,
    /// Classification logits, `[N, K]`.
    pub cls: Tensor<2>,
    /// Regression outputs (normalised margins), `[N, K]`.
    pub reg: Tensor<2>,
}

impl RouterHead {
    /// A head for `n_rms` RMs over `d`-dimensional embeddings, initialised from `seed` alone
    /// (PyTorch's defaults: Linear weights and biases and head rows uniform in ±1/√fan_in,
    /// LayerNorm scale 1 and shift 0), trainable when `device` is an autodiff device.
    pub fn init(d: usize, n_rms: usize, seed: u64, device: &Device) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut uniform = |shape: Vec<usize>, fan_in: usize| {
            let bound = 1.0 / (fan_in as f32).sqrt();
            let n = shape.iter().product();
            let values: Vec<f32> = (0..n).map(|_| rng.random_range(-bound..bound)).collect();
            TensorData::new(values, shape)
        };
        let fusion_weight = uniform(vec![2 * d, d], 2 * d);
        let fusion_bias = uniform(vec![d], 2 * d);
        let bt = uniform(vec![n_rms, d], d);
        let cls = uniform(vec![n_rms, d], d);
        let cls_bias = uniform(vec![n_rms], d);
        let reg = uniform(vec![n_rms, d], d);
        let reg_bias = uniform(vec![n_rms], d);
        Self {
            fusion: Linear {
                weight: param(Tensor::from_data(fusion_weight, device)),
                bias: Some(param(Tensor::from_data(fusion_bias, device))),
            },
            norm: LayerNormConfig::new(d).with_epsilon(1e-5).init(device),
            bt: param(Tensor::from_data(bt, device)),
            cls: param(Tensor::from_data(cls, device)),
            cls_bias: param(Tensor::from_data(cls_bias, device)),
            reg: param(Tensor::from_data(reg, device)),
            reg_bias: param(Tensor::from_data(reg_bias, device)),
        }
    }

    /// Embedding width d.
    pub fn dim(&self) -> usize {
        self.bt.val().dims()[1]
    }

    /// Number of RMs K.
    pub fn n_rms(&self) -> usize {
        self.bt.val().dims()[0]
    }

    /// The contexts of pairs whose responses embed to `h_a` and `h_b`.
    ///
    /// # Shapes
    /// `h_a`, `h_b`: `[N, d]` -> `[N, d]`, unit rows.
    pub fn context(&self, h_a: Tensor<2>, h_b: Tensor<2>) -> Tensor<2> {
        let mean = (h_a.clone() + h_b.clone()) / 2.0;
        let gap = (h_a - h_b).abs();
        // [N, 2d]
        let fused = Tensor::cat(vec![mean, gap], 1);
        let hidden = self.norm.forward(relu(self.fusion.forward(fused)));
        l2_normalise_rows(hidden)
    }

    /// Contexts and all three heads' outputs.
    ///
    /// # Shapes
    /// `h_a`, `h_b`: `[N, d]`; see [`HeadOutput`].
    pub fn forward(&self, h_a: Tensor<2>, h_b: Tensor<2>) -> HeadOutput {
        let context = self.context(h_a, h_b);
        let [n, _] = context.dims();
        let scores = |vectors: &Param<Tensor<2>>| {
            context
                .clone()
                .matmul(l2_normalise_rows(vectors.val()).transpose())
        };
        let bias = |b: &Param<Tensor<1>>| b.val().unsqueeze_dim::<2>(0).repeat_dim(0, n);
        HeadOutput {
            bt: scores(&self.bt),
            cls: scores(&self.cls) + bias(&self.cls_bias),
            reg: scores(&self.reg) + bias(&self.reg_bias),
            context,
        }
    }

    /// The unit Bradley–Terry vectors v̂_k, `[K, d]`: the online prior means.
    pub fn bt_unit_vectors(&self) -> Tensor<2> {
        l2_normalise_rows(self.bt.val())
    }
}

/// A parameter, trainable when its tensor lives on an autodiff device.
fn param<const D: usize>(tensor: Tensor<D>) -> Param<Tensor<D>> {
    if tensor.device().is_autodiff() {
        Param::from_tensor(tensor.require_grad())
    } else {
        Param::from_tensor(tensor)
    }
}

/// Rows divided by their L2 norm (floored as PyTorch's `F.normalize` does).
///
/// # Shapes
/// `[N, d]` -> `[N, d]`.
pub(crate) fn l2_normalise_rows(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().square().sum_dim(1).sqrt().clamp_min(NORM_FLOOR);
    x / norm
}
