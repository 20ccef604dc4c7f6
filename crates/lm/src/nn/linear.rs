//! Dense projections as one two-dimensional matmul.
//!
//! burn 0.22's dispatch backend does not route `linear` to the autodiff backend's own op, so
//! `burn::nn::Linear::forward` on a `[batch_size, seq_len, d_in]` input runs as a batched
//! matmul against the weight broadcast to `[1, d_in, d_out]`. Its backward then builds the
//! weight gradient as a `[batch_size, d_in, d_out]` stack of small products and sums it
//! (57 MB per MLP projection for 16 sequences of SmolLM2-135M, freshly allocated each
//! time). Folding the leading dimensions into rows first makes every product, forward and
//! backward, a single `[rows, ·] × [·, ·]` matmul.

use burn::nn::Linear;
use burn::prelude::*;

/// `x · weight + bias` over the last dimension of `x`.
///
/// # Shapes
/// `x`: `[..., d_in]`; `weight`: `[d_in, d_out]` (burn's layout, the transpose of
/// PyTorch's); `bias`: `[d_out]`. Returns `[..., d_out]`.
pub(crate) fn linear<const D: usize>(
    x: Tensor<D>,
    weight: Tensor<2>,
    bias: Option<Tensor<1>>,
) -> Tensor<D> {
    let dims = x.dims();
    let [d_in, d_out] = weight.dims();
    assert_eq!(
        dims[D - 1],
        d_in,
        "linear: input {dims:?} does not end in the weight's d_in {d_in}"
    );
    let rows = dims[..D - 1].iter().product::<usize>();
    let y = x.reshape([rows, d_in]).matmul(weight);
    let y = match bias {
        Some(bias) => y + bias.unsqueeze_dim::<2>(0),
        None => y,
    };
    let mut out_dims = dims;
    out_dims[D - 1] = d_out;
    y.reshape(out_dims)
}

/// [`linear`] with a layer's weight and bias.
///
/// # Shapes
/// `[..., d_in]` -> `[..., d_out]`.
pub(crate) fn apply<const D: usize>(layer: &Linear, x: Tensor<D>) -> Tensor<D> {
    linear(x, layer.weight.val(), layer.bias.as_ref().map(|b| b.val()))
}

#[cfg(test)]
mod tests {
    use burn::nn::LinearConfig;
    use burn::tensor::{Distribution, Tolerance};

    use super::*;

    #[test]
    fn equals_burns_linear_with_and_without_bias() {
        let device = Device::flex();
        let x = Tensor::<3>::random([3, 5, 4], Distribution::Default, &device);
        for bias in [false, true] {
            let layer = LinearConfig::new(4, 6).with_bias(bias).init(&device);
            let ours = apply(&layer, x.clone());
            assert_eq!(ours.dims(), [3, 5, 6]);
            ours.into_data().assert_approx_eq::<f32>(
                &layer.forward(x.clone()).into_data(),
                Tolerance::default(),
            );
        }
    }

    #[test]
    fn weight_gradient_equals_the_broadcast_form() {
        let device = Device::flex().autodiff();
        let x = Tensor::<3>::random([2, 3, 4], Distribution::Default, &device);
        let weight = Tensor::<2>::random([4, 5], Distribution::Default, &device).require_grad();
        let ours = linear(x.clone(), weight.clone(), None).sum().backward();
        let broadcast = x.matmul(weight.clone().unsqueeze_dim(0)).sum().backward();
        weight
            .grad(&ours)
            .unwrap()
            .into_data()
            .assert_approx_eq::<f32>(
                &weight.grad(&broadcast).unwrap().into_data(),
                Tolerance::default(),
            );
    }
}
