//! The three losses against hand-computed values, and the context's symmetry.

use burn::prelude::*;
use offline_router::{HeadOutput, LossTargets, LossWeights, RouterHead, losses};

fn softplus(x: f64) -> f64 {
    (1.0 + x.exp()).ln()
}

fn tensor2(values: &[f32], shape: [usize; 2], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values.to_vec(), shape), device)
}

/// Two records over three RMs; the second has no edge (every RM wrong) and counts as 0 in
/// the batch mean of L_bt.
#[test]
fn losses_match_a_hand_computed_batch() {
    let device = Device::flex();
    let bt = [0.5f32, -0.2, 0.1, 0.3, 0.3, -0.4];
    let cls = [1.0f32, -2.0, 0.5, 0.0, 3.0, -1.0];
    let reg = [0.2f32, -0.1, 0.4, 0.0, 0.5, -0.5];
    let correct = [1.0f32, 0.0, 1.0, 0.0, 0.0, 0.0];
    let margin = [0.7f32, -0.3, 0.1, -0.2, -0.6, -0.1];
    // Record 0: RMs 0 and 2 right, RM 1 wrong → edges (0, 1) and (2, 1).
    let mut edges = vec![0f32; 2 * 9];
    edges[1] = 1.0;
    edges[2 * 3 + 1] = 1.0;
    let output = HeadOutput {
        context: tensor2(&[0.0; 4], [2, 2], &device),
        bt: tensor2(&bt, [2, 3], &device),
        cls: tensor2(&cls, [2, 3], &device),
        reg: tensor2(&reg, [2, 3], &device),
    };
    let targets = LossTargets {
        edges: Tensor::from_data(TensorData::new(edges, [2, 3, 3]), &device),
        correct: tensor2(&correct, [2, 3], &device),
        margin: tensor2(&margin, [2, 3], &device),
    };
    let weights = LossWeights {
        bt: 1.0,
        cls: 0.5,
        reg: 2.0,
    };
    let got = losses(&output, &targets, &weights);

    let record0 = (softplus(-(0.5 - -0.2)) + softplus(-(0.1 - -0.2))) / 2.0;
    let bt_expected = (record0 + 0.0) / 2.0;
    let bce = |x: f64, y: f64| x.max(0.0) - x * y + (1.0 + (-x.abs()).exp()).ln();
    let cls_expected = cls
        .iter()
        .zip(&correct)
        .map(|(&x, &y)| bce(f64::from(x), f64::from(y)))
        .sum::<f64>()
        / 6.0;
    let reg_expected = reg
        .iter()
        .zip(&margin)
        .map(|(&p, &m)| f64::from(p - m).abs())
        .sum::<f64>()
        / 6.0;
    let value = |t: Tensor<1>| t.into_scalar::<f64>();
    let close = |a: f64, b: f64, what: &str| assert!((a - b).abs() < 1e-6, "{what}: {a} vs {b}");
    close(value(got.bt), bt_expected, "L_bt");
    close(value(got.cls), cls_expected, "L_cls");
    close(value(got.reg), reg_expected, "L_reg");
    close(
        value(got.total),
        bt_expected + 0.5 * cls_expected + 2.0 * reg_expected,
        "total",
    );
}

/// e(a, b) = e(b, a), rows have unit length, and BT scores are cosines in [−1, 1].
#[test]
fn context_is_symmetric_and_unit() {
    let device = Device::flex();
    let head = RouterHead::init(8, 3, 5, &device);
    let h_a = Tensor::<2>::random(
        [4, 8],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let h_b = Tensor::<2>::random(
        [4, 8],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let ab = head.forward(h_a.clone(), h_b.clone());
    let ba = head.forward(h_b, h_a);
    let diff = (ab.context.clone() - ba.context)
        .abs()
        .max()
        .into_scalar::<f32>();
    assert!(diff < 1e-6, "context not symmetric: {diff}");
    let norms: Vec<f32> = ab
        .context
        .square()
        .sum_dim(1)
        .sqrt()
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap();
    assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-5), "{norms:?}");
    let scores: Vec<f32> = ab.bt.into_data().try_into_vec_as::<f32>().unwrap();
    assert!(scores.iter().all(|s| s.abs() <= 1.0 + 1e-6), "{scores:?}");
}
