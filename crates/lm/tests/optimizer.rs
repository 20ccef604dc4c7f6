//! The optimiser step: LoRA training raises the trained responses' log-probability and
//! touches only the adapters; accumulation over two halves equals one step on the whole
//! batch; clipping is reported; a non-finite loss changes nothing.

use burn::prelude::*;
use burn::store::ModuleSnapshot;
use lm::{
    CausalLm, LoraConfig, Optimizer, OptimizerConfig, StepOutcome, WeightDType, load_causal_lm,
    sequence_logprobs,
};

use crate::fixture;

type Pairs = Vec<(Vec<u32>, Vec<u32>)>;

fn pairs() -> Pairs {
    vec![
        (vec![5, 17, 99], vec![3, 64, 2, 11]),
        (vec![7, 7], vec![120, 45, 33]),
        (vec![9, 40, 41, 42], vec![8, 8]),
        (vec![100], vec![101, 102, 103]),
    ]
}

fn adapted(device: &Device) -> CausalLm {
    let (_, model) = load_causal_lm(&fixture("llama"), device, WeightDType::F32).unwrap();
    let mut config = LoraConfig::new(4, 8.0);
    config.seed = 3;
    model.with_lora(&config).unwrap()
}

/// −mean Σ log p(response | prompt), a one-element tensor.
fn loss(model: &CausalLm, pairs: &[(Vec<u32>, Vec<u32>)], device: &Device) -> Tensor<1> {
    sequence_logprobs(model, pairs, 0, device)
        .unwrap()
        .sum
        .mean()
        .neg()
}

/// Every parameter's values by name.
fn weights(model: &CausalLm) -> Vec<(String, Vec<f32>)> {
    model
        .collect(None, None, false)
        .into_iter()
        .map(|t| {
            let data = burn::store::bridge::to_data(&t).unwrap();
            (t.name, data.convert::<f32>().try_to_vec().unwrap())
        })
        .collect()
}

#[test]
fn lora_training_lowers_the_loss_and_touches_only_adapters() {
    let device = crate::test_device().autodiff();
    let mut model = adapted(&device);
    let before = weights(&model);
    let start = loss(&model, &pairs(), &device).into_scalar::<f64>();
    let mut optimizer = Optimizer::new(OptimizerConfig::default()).unwrap();
    for step in 1..=10 {
        let value = loss(&model, &pairs(), &device);
        let (next, outcome) = optimizer.backward_step(model, value, 1e-2);
        model = next;
        match outcome {
            StepOutcome::Updated(report) => assert_eq!(report.step, step),
            other => panic!("step {step}: {other:?}"),
        }
    }
    let end = loss(&model, &pairs(), &device).into_scalar::<f64>();
    assert!(end < start - 0.5, "loss {start} -> {end}");
    for ((name, old), (_, new)) in before.iter().zip(weights(&model)) {
        let changed = old != &new;
        let is_adapter = name.contains(".lora.");
        // B starts at zero and A moves once B is non-zero: both change; the base never.
        assert_eq!(changed, is_adapter, "{name}: changed = {changed}");
    }
}

#[test]
fn accumulating_two_halves_equals_one_step_on_the_batch() {
    let device = crate::test_device().autodiff();
    let config = |accumulation_steps| OptimizerConfig {
        accumulation_steps,
        max_grad_norm: None,
        ..OptimizerConfig::default()
    };
    let all = pairs();
    // Two steps each, so the second update also sees non-zero B (A's gradient).
    let mut whole = adapted(&device);
    let mut optimizer = Optimizer::new(config(1)).unwrap();
    for _ in 0..2 {
        let value = loss(&whole, &all, &device);
        whole = optimizer.backward_step(whole, value, 1e-2).0;
    }
    let mut halves = adapted(&device);
    let mut optimizer = Optimizer::new(config(2)).unwrap();
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        for half in all.chunks(2) {
            let value = loss(&halves, half, &device);
            let (next, outcome) = optimizer.backward_step(halves, value, 1e-2);
            halves = next;
            outcomes.push(matches!(outcome, StepOutcome::Updated(_)));
        }
    }
    assert_eq!(outcomes, [false, true, false, true]);
    for ((name, a), (_, b)) in weights(&whole).iter().zip(weights(&halves)) {
        let diff = a
            .iter()
            .zip(&b)
            .fold(0.0_f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(diff < 1e-5, "{name}: max difference {diff:e}");
    }
}

#[test]
fn clipping_is_reported_against_the_global_norm() {
    let device = crate::test_device().autodiff();
    let model = adapted(&device);
    let value = loss(&model, &pairs(), &device);
    let mut optimizer = Optimizer::new(OptimizerConfig {
        max_grad_norm: Some(1e-6),
        ..OptimizerConfig::default()
    })
    .unwrap();
    match optimizer.backward_step(model, value, 1e-3).1 {
        StepOutcome::Updated(report) => {
            assert!(report.clipped && report.grad_norm > 1e-6, "{report:?}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_non_finite_loss_changes_nothing() {
    let device = crate::test_device().autodiff();
    let model = adapted(&device);
    let before = weights(&model);
    let mut optimizer = Optimizer::new(OptimizerConfig::default()).unwrap();
    let nan = loss(&model, &pairs(), &device) * f64::NAN;
    let (model, outcome) = optimizer.backward_step(model, nan, 1e-2);
    assert!(
        matches!(outcome, StepOutcome::Skipped { .. }),
        "{outcome:?}"
    );
    assert_eq!(optimizer.steps(), 0);
    assert_eq!(weights(&model), before);
    assert!(
        Optimizer::new(OptimizerConfig {
            accumulation_steps: 0,
            ..OptimizerConfig::default()
        })
        .is_err()
    );
}

/// Σ over trainable parameters of ½·c·θ² with c = 1 + (element index mod 3): the gradient
/// c·θ changes every step, so the moments are exercised.
fn quadratic(model: &CausalLm) -> Tensor<1> {
    struct Sum {
        total: Option<Tensor<1>>,
    }
    impl burn::module::ModuleVisitor for Sum {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            let value = param.val();
            if !value.is_require_grad() {
                return;
            }
            let n = value.shape().num_elements();
            let c: Vec<f32> = (0..n).map(|i| 1.0 + (i % 3) as f32).collect();
            let c = Tensor::<1>::from_data(TensorData::new(c, [n]), &value.device());
            let term = (value.reshape([n]).square() * c).sum() * 0.5;
            self.total = Some(match self.total.take() {
                Some(total) => total + term,
                None => term,
            });
        }
    }
    let mut sum = Sum { total: None };
    model.visit(&mut sum);
    sum.total.unwrap()
}

#[test]
fn adamw_follows_pytorchs_formula_with_weight_decay() {
    let device = crate::test_device().autodiff();
    let mut model = adapted(&device);
    // Make B non-zero so every adapter has a gradient from the start.
    let mut warm = Optimizer::new(OptimizerConfig::default()).unwrap();
    let value = loss(&model, &pairs(), &device);
    model = warm.backward_step(model, value, 1e-2).0;

    let config = OptimizerConfig {
        weight_decay: 0.1,
        max_grad_norm: None,
        ..OptimizerConfig::default()
    };
    let (lr, beta1, beta2, eps, wd) = (0.05_f64, 0.9_f64, 0.999_f64, 1e-8_f64, 0.1_f64);
    // The expected trajectory, in f64, over the adapters in module order.
    let mut theta: Vec<Vec<f64>> = weights(&model)
        .into_iter()
        .filter(|(name, _)| name.contains(".lora."))
        .map(|(_, v)| v.into_iter().map(f64::from).collect())
        .collect();
    let mut m: Vec<Vec<f64>> = theta.iter().map(|t| vec![0.0; t.len()]).collect();
    let mut v = m.clone();
    let mut optimizer = Optimizer::new(config).unwrap();
    for t in 1..=3 {
        let value = quadratic(&model);
        model = optimizer.backward_step(model, value, lr).0;
        for ((theta, m), v) in theta.iter_mut().zip(&mut m).zip(&mut v) {
            for i in 0..theta.len() {
                let g = (1.0 + (i % 3) as f64) * theta[i];
                m[i] = beta1 * m[i] + (1.0 - beta1) * g;
                v[i] = beta2 * v[i] + (1.0 - beta2) * g * g;
                let m_hat = m[i] / (1.0 - beta1.powi(t));
                let v_hat = v[i] / (1.0 - beta2.powi(t));
                theta[i] = theta[i] * (1.0 - lr * wd) - lr * m_hat / (v_hat.sqrt() + eps);
            }
        }
    }
    let got: Vec<Vec<f32>> = weights(&model)
        .into_iter()
        .filter(|(name, _)| name.contains(".lora."))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(got.len(), theta.len());
    for (got, want) in got.iter().zip(&theta) {
        for (g, w) in got.iter().zip(want) {
            assert!(
                (f64::from(*g) - w).abs() < 1e-5 * (1.0 + w.abs()),
                "{g} vs {w}"
            );
        }
    }
}

#[test]
fn saved_moments_resume_exactly_and_refuse_another_model() {
    let device = crate::test_device().autodiff();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("optimizer.safetensors");
    let step = |model: CausalLm, optimizer: &mut Optimizer| {
        let value = loss(&model, &pairs(), &device);
        optimizer.backward_step(model, value, 1e-2).0
    };
    let mut straight = adapted(&device);
    let mut optimizer = Optimizer::new(OptimizerConfig::default()).unwrap();
    for _ in 0..2 {
        straight = step(straight, &mut optimizer);
    }
    optimizer.save_state(&path).unwrap();
    let resumed_from = straight.clone();
    straight = step(straight, &mut optimizer);

    let mut restored = Optimizer::new(OptimizerConfig::default()).unwrap();
    restored.load_state(&path, 2).unwrap();
    let resumed = step(resumed_from, &mut restored);
    assert_eq!(weights(&resumed), weights(&straight));
    assert_eq!(restored.steps(), 3);

    // The same moments for a model with other trainable shapes: the update is refused,
    // naming the parameter, and the model is untouched.
    let (_, other) = load_causal_lm(&fixture("llama"), &device, WeightDType::F32).unwrap();
    let other = other.with_lora(&LoraConfig::new(2, 4.0)).unwrap();
    let before = weights(&other);
    let mut mismatched = Optimizer::new(OptimizerConfig::default()).unwrap();
    mismatched.load_state(&path, 2).unwrap();
    let value = loss(&other, &pairs(), &device);
    let (other, outcome) = mismatched.backward_step(other, value, 1e-2);
    match outcome {
        StepOutcome::Skipped { reason } => {
            assert!(reason.contains("trainable parameter 0"), "{reason}")
        }
        outcome => panic!("{outcome:?}"),
    }
    assert_eq!(weights(&other), before);
    let err = restored
        .load_state(&dir.path().join("missing.safetensors"), 0)
        .unwrap_err();
    assert!(err.to_string().contains("missing.safetensors"), "{err}");
}
