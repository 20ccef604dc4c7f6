//! The DPO objective with iterative RPO's NLL term, against values computed from the
//! log-probabilities directly.

use burn::prelude::*;
use lm::{WeightDType, load_causal_lm, sequence_logprobs};
use rlhf_trainer::{Objective, TokenPair, dpo_loss};

use crate::common::tiny_policy;

fn pairs() -> Vec<TokenPair> {
    vec![
        TokenPair {
            prompt: vec![5, 9, 14],
            chosen: vec![20, 21, 22],
            rejected: vec![30],
        },
        TokenPair {
            prompt: vec![7, 8],
            chosen: vec![40, 41],
            rejected: vec![50, 51, 52, 53],
        },
    ]
}

#[test]
fn rpo_adds_alpha_times_the_chosen_nll_per_token() {
    let device = Device::flex();
    let (_, policy) = load_causal_lm(&tiny_policy(), &device, WeightDType::F32).unwrap();
    // The policy as its own reference: every DPO loss is ln 2.
    let reference = policy.clone();
    let pairs = pairs();
    let plain = dpo_loss(
        (&policy, &device),
        (&reference, &device),
        &pairs,
        Objective::dpo(0.1),
        0,
    )
    .unwrap();
    let alpha = 0.7;
    let rpo = dpo_loss(
        (&policy, &device),
        (&reference, &device),
        &pairs,
        Objective {
            beta: 0.1,
            rpo_alpha: alpha,
        },
        0,
    )
    .unwrap();
    // The chosen NLL per token, from the log-probabilities alone.
    let chosen: Vec<(Vec<u32>, Vec<u32>)> = pairs
        .iter()
        .map(|p| (p.prompt.clone(), p.chosen.clone()))
        .collect();
    let logps = sequence_logprobs(&policy, &chosen, 0, &device).unwrap();
    let sums: Vec<f64> = logps.sum.try_into_vec_as::<f64>().unwrap();
    let expected_nll: Vec<f64> = sums
        .iter()
        .zip(&logps.response_lengths)
        .map(|(s, &n)| -s / n as f64)
        .collect();
    for (got, want) in rpo.chosen_nll.iter().zip(&expected_nll) {
        assert!((got - want).abs() < 1e-5, "nll {got} vs {want}");
        assert!(*want > 0.0);
    }
    // The router's losses are the DPO losses, unchanged by α.
    assert_eq!(rpo.pair_losses, plain.pair_losses);
    for loss in &plain.pair_losses {
        assert!((loss - std::f64::consts::LN_2).abs() < 1e-6, "{loss}");
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let plain_value = plain.loss.into_scalar::<f64>();
    let rpo_value = rpo.loss.into_scalar::<f64>();
    assert!((plain_value - mean(&plain.pair_losses)).abs() < 1e-5);
    let want = mean(&plain.pair_losses) + alpha * mean(&expected_nll);
    assert!((rpo_value - want).abs() < 1e-5, "{rpo_value} vs {want}");
}
