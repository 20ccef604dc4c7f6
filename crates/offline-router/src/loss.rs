//! The multi-task loss (METHOD.md §2): λ_bt·L_bt + λ_cls·L_cls + λ_reg·L_reg.
//!
//! - L_bt: for each record, the mean of softplus(−(s_w − s_l)) over its kept (winner, loser)
//!   edges; a record with no edge contributes 0, and the batch mean divides by all records
//!   (the reference implementation's semantics).
//! - L_cls: binary cross-entropy with logits against each RM's verdict, mean over N × K.
//! - L_reg: L1 between the regression output and the normalised margin, mean over N × K.

use burn::prelude::*;
use burn::tensor::activation::softplus;
use serde::{Deserialize, Serialize};

use router_export::HeadOutput;

/// The loss weights λ. Defaults: METHOD.md's (BT 1, classification 0.2, regression 0); the
/// reference trains BT alone (`cls = 0`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LossWeights {
    /// λ_bt.
    pub bt: f64,
    /// λ_cls.
    pub cls: f64,
    /// λ_reg.
    pub reg: f64,
}

impl Default for LossWeights {
    fn default() -> Self {
        Self {
            bt: 1.0,
            cls: 0.2,
            reg: 0.0,
        }
    }
}

/// A batch's targets, on the loss's device.
#[derive(Clone, Debug)]
pub struct LossTargets {
    /// 1 where (row, w, l) is a kept edge (RM w right, RM l wrong), `[N, K, K]`.
    pub edges: Tensor<3>,
    /// 1 where the RM's verdict was right, `[N, K]`.
    pub correct: Tensor<2>,
    /// Margins divided by their RM's scale, `[N, K]`.
    pub margin: Tensor<2>,
}

/// The three losses and their weighted sum, each a one-element tensor.
#[derive(Clone, Debug)]
pub struct Losses {
    /// Weighted total.
    pub total: Tensor<1>,
    /// L_bt.
    pub bt: Tensor<1>,
    /// L_cls.
    pub cls: Tensor<1>,
    /// L_reg.
    pub reg: Tensor<1>,
}

/// The losses of `output` against `targets`.
pub fn losses(output: &HeadOutput, targets: &LossTargets, weights: &LossWeights) -> Losses {
    let bt = bt_loss(output.bt.clone(), targets.edges.clone());
    let cls = bce_with_logits(output.cls.clone(), targets.correct.clone());
    let reg = (output.reg.clone() - targets.margin.clone()).abs().mean();
    let total = bt.clone() * weights.bt + cls.clone() * weights.cls + reg.clone() * weights.reg;
    Losses {
        total,
        bt,
        cls,
        reg,
    }
}

/// Mean over records of each record's mean softplus(−(s_w − s_l)) over its edges.
///
/// # Shapes
/// `scores`: `[N, K]`, `edges`: `[N, K, K]` -> `[1]`.
pub fn bt_loss(scores: Tensor<2>, edges: Tensor<3>) -> Tensor<1> {
    let [n, k] = scores.dims();
    // diff[r, w, l] = s_w − s_l
    let diff = scores.clone().reshape([n, k, 1]) - scores.reshape([n, 1, k]);
    let per_edge = softplus(diff.neg(), 1.0) * edges.clone();
    let per_record = per_edge.sum_dim(2).sum_dim(1).reshape([n]);
    let counts = edges.sum_dim(2).sum_dim(1).reshape([n]).clamp_min(1.0);
    (per_record / counts).mean()
}

/// Numerically stable binary cross-entropy with logits, mean over all entries:
/// max(x, 0) − x·y + log(1 + e^(−|x|)).
///
/// # Shapes
/// `logits`, `targets`: `[N, K]` -> `[1]`.
pub fn bce_with_logits(logits: Tensor<2>, targets: Tensor<2>) -> Tensor<1> {
    let positive = logits.clone().clamp_min(0.0);
    let log_term = softplus(logits.clone().abs().neg(), 1.0);
    (positive - logits * targets + log_term).mean()
}
