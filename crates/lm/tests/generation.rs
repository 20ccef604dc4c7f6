//! Batched generation with the KV cache, and response log-probabilities, on the tiny
//! transformers checkpoints (tools/make_fixtures.py).

use burn::optim::GradientsParams;
use burn::prelude::*;
use lm::{
    CausalLm, GenerationRequest, PaddingSide, SamplingParams, TokenBatch, WeightDType, generate,
    greedy_generate_uncached, load_causal_lm, policy_and_reference_logprobs, sequence_logprobs,
};
use serde::Deserialize;

use crate::fixture;

const DECODERS: [&str; 3] = ["llama", "qwen2", "qwen3"];

#[derive(Deserialize)]
struct Expected {
    sequences: Vec<Vec<u32>>,
    greedy: Vec<Vec<u32>>,
}

fn load(name: &str) -> (CausalLm, Expected) {
    let dir = fixture(name);
    let expected =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let (_, model) = load_causal_lm(&dir, &crate::test_device(), WeightDType::F32).unwrap();
    (model, expected)
}

fn requests(prompts: &[Vec<u32>], params: &SamplingParams) -> Vec<GenerationRequest> {
    prompts
        .iter()
        .map(|prompt| GenerationRequest {
            prompt: prompt.clone(),
            params: params.clone(),
        })
        .collect()
}

/// Greedy decoding of the uneven prompts, batched with the cache, equals transformers'
/// `generate`, our uncached loop, and decoding each prompt alone.
#[test]
fn greedy_matches_transformers_with_and_without_cache() {
    let device = crate::test_device();
    for name in DECODERS {
        let (model, expected) = load(name);
        let n = expected.greedy[0].len();
        let params = SamplingParams::greedy(n);
        let batched = generate(
            &model,
            &requests(&expected.sequences, &params),
            0,
            None,
            &device,
        )
        .unwrap();
        for (i, prompt) in expected.sequences.iter().enumerate() {
            assert_eq!(batched[i].tokens, expected.greedy[i], "{name} prompt {i}");
            let uncached = greedy_generate_uncached(&model, prompt, n, &[], &device).unwrap();
            assert_eq!(uncached, expected.greedy[i], "{name} prompt {i}, uncached");
            let alone = generate(
                &model,
                &requests(&expected.sequences[i..=i], &params),
                0,
                None,
                &device,
            )
            .unwrap();
            assert_eq!(
                alone[0].tokens, batched[i].tokens,
                "{name} prompt {i}, alone"
            );
            assert_eq!(batched[i].logprobs.len(), n);
        }
    }
}

/// Sampling: a seed reproduces its tokens whatever else is in the batch; temperature 0
/// and top-k 1 are greedy; sequences stop at their stop token or budget.
#[test]
fn sampling_is_reproducible_and_degenerates_to_greedy() {
    let device = crate::test_device();
    let (model, expected) = load("qwen2");
    let prompts = &expected.sequences;
    let sampled = |temperature, top_k, top_p, seed| SamplingParams {
        temperature,
        top_k,
        top_p,
        seed,
        ..SamplingParams::greedy(12)
    };
    let first = generate(
        &model,
        &requests(prompts, &sampled(1.0, 0, 0.9, 7)),
        0,
        None,
        &device,
    )
    .unwrap();
    let again = generate(
        &model,
        &requests(&prompts[1..2], &sampled(1.0, 0, 0.9, 7)),
        0,
        None,
        &device,
    )
    .unwrap();
    assert_eq!(first[1].tokens, again[0].tokens);
    let other = generate(
        &model,
        &requests(prompts, &sampled(1.0, 0, 0.9, 8)),
        0,
        None,
        &device,
    )
    .unwrap();
    assert_ne!(
        first.iter().map(|g| &g.tokens).collect::<Vec<_>>(),
        other.iter().map(|g| &g.tokens).collect::<Vec<_>>()
    );

    let greedy = generate(
        &model,
        &requests(prompts, &SamplingParams::greedy(12)),
        0,
        None,
        &device,
    )
    .unwrap();
    for params in [sampled(0.0, 0, 1.0, 3), sampled(1.3, 1, 1.0, 3)] {
        let out = generate(&model, &requests(prompts, &params), 0, None, &device).unwrap();
        assert_eq!(out, greedy);
    }

    // Stop at the third greedy token of prompt 0: it ends there, the others run on.
    let stop = greedy[0].tokens[2];
    let params = SamplingParams {
        stop_token_ids: vec![stop],
        ..SamplingParams::greedy(12)
    };
    let out = generate(&model, &requests(prompts, &params), 0, None, &device).unwrap();
    let first_stop = greedy[0].tokens.iter().position(|&t| t == stop).unwrap();
    assert_eq!(out[0].tokens, greedy[0].tokens[..=first_stop]);
    assert_eq!(out[0].finish_reason, lm::FinishReason::StopToken);
    for (ours, reference) in out.iter().zip(&greedy).skip(1) {
        let cut = reference
            .tokens
            .iter()
            .position(|&t| t == stop)
            .map_or(12, |p| p + 1);
        assert_eq!(ours.tokens, reference.tokens[..cut]);
    }
}

/// The summed response log-probability equals a hand loop over teacher-forced logits, the
/// mean divides by the response length, the generated tokens' log-probabilities agree, and
/// padding from a longer pair in the batch changes nothing.
#[test]
fn response_logprobs_match_a_hand_loop() {
    let device = crate::test_device();
    let (model, expected) = load("qwen2");
    let prompt = expected.sequences[0].clone();
    let response = expected.greedy[0][..5].to_vec();

    let full = [prompt.as_slice(), &response].concat();
    let batch =
        TokenBatch::new(std::slice::from_ref(&full), 0, PaddingSide::Right, &device).unwrap();
    let logits: Vec<f32> = model.forward(&batch).try_into_vec_as::<f32>().unwrap();
    let vocab = logits.len() / full.len();
    let mut hand = 0.0_f64;
    for t in prompt.len() - 1..full.len() - 1 {
        let row = &logits[t * vocab..(t + 1) * vocab];
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let log_sum = row
            .iter()
            .map(|&v| f64::from(v - max).exp())
            .sum::<f64>()
            .ln();
        hand += f64::from(row[full[t + 1] as usize] - max) - log_sum;
    }

    let alone =
        sequence_logprobs(&model, &[(prompt.clone(), response.clone())], 0, &device).unwrap();
    let sum: Vec<f32> = alone.sum.try_into_vec_as::<f32>().unwrap();
    let mean: Vec<f32> = alone.mean.try_into_vec_as::<f32>().unwrap();
    assert!(
        (f64::from(sum[0]) - hand).abs() < 1e-4 * hand.abs().max(1.0),
        "{} vs {hand}",
        sum[0]
    );
    assert!((mean[0] * 5.0 - sum[0]).abs() < 1e-5 * sum[0].abs().max(1.0));

    // Greedy generation's per-token log-probs add up to the same total.
    let generated = generate(
        &model,
        &requests(std::slice::from_ref(&prompt), &SamplingParams::greedy(5)),
        0,
        None,
        &device,
    )
    .unwrap();
    let generated_sum: f64 = generated[0].logprobs.iter().map(|&v| f64::from(v)).sum();
    assert!((generated_sum - hand).abs() < 1e-3 * hand.abs().max(1.0));

    let long = (vec![9; 12], vec![4; 7]);
    let padded = sequence_logprobs(&model, &[long, (prompt, response)], 0, &device).unwrap();
    let padded: Vec<f32> = padded.sum.try_into_vec_as::<f32>().unwrap();
    assert!((padded[1] - sum[0]).abs() < 1e-4 * sum[0].abs().max(1.0));
}

/// Scoring a policy and a reference side by side gives each model's own log-probabilities
/// (the policy's with its graph), the same as scoring them one after the other.
#[test]
fn policy_and_reference_are_scored_as_alone() {
    let device = crate::test_device();
    let train_device = device.clone().autodiff();
    let (_, reference) = load_causal_lm(&fixture("llama"), &device, WeightDType::F32).unwrap();
    let (_, policy) = load_causal_lm(&fixture("qwen2"), &train_device, WeightDType::F32).unwrap();
    let pairs = vec![
        (vec![5, 17, 99], vec![3, 64, 2, 11]),
        (vec![7, 7], vec![120, 45, 33]),
    ];
    let (policy_side, reference_side) =
        policy_and_reference_logprobs((&policy, &train_device), (&reference, &device), &pairs, 0)
            .unwrap();
    let values = |t: &Tensor<1>| t.clone().try_into_vec_as::<f32>().unwrap();
    let policy_alone = sequence_logprobs(&policy, &pairs, 0, &train_device).unwrap();
    let reference_alone = sequence_logprobs(&reference, &pairs, 0, &device).unwrap();
    assert_eq!(values(&reference_side.sum), values(&reference_alone.sum));
    assert_eq!(values(&policy_side.sum), values(&policy_alone.sum));
    assert_ne!(
        values(&policy_alone.sum),
        values(&reference_alone.sum),
        "the two fixtures are different models"
    );
    let grads = GradientsParams::from_grads(policy_side.sum.sum().backward(), &policy);
    assert!(
        !grads.is_empty(),
        "the policy's log-probabilities carry its graph"
    );
}
