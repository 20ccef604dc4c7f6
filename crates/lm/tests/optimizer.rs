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
