//! Tiny random-weight checkpoints saved by transformers (tools/make_fixtures.py) must give
//! transformers' outputs on a right-padded batch of uneven sequences.

use std::path::Path;

use lm::{PaddingSide, TokenBatch, WeightDType, load_causal_lm, load_sequence_classifier};
use serde::Deserialize;

use crate::fixture;

/// Largest |ours − reference| allowed, relative to the largest |reference| of a sequence.
pub const PARITY_RTOL: f32 = 1e-4;

#[derive(Deserialize)]
struct Expected {
    sequences: Vec<Vec<u32>>,
    pad_token_id: u32,
    logits: Option<Vec<Vec<Vec<f32>>>>,
    scores: Option<Vec<Vec<f32>>>,
}

fn expected(dir: &Path) -> Expected {
    serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap()
}

pub fn relative_error(ours: &[f32], reference: &[f32]) -> f32 {
    let scale = reference.iter().fold(0.0_f32, |m, v| m.max(v.abs()));
    let diff = ours
        .iter()
        .zip(reference)
        .fold(0.0_f32, |m, (a, b)| m.max((a - b).abs()));
    diff / scale.max(f32::MIN_POSITIVE)
}

fn check_causal_lm(name: &str) {
    let dir = fixture(name);
    let expected = expected(&dir);
    let device = crate::test_device();
    let (config, model) = load_causal_lm(&dir, &device, WeightDType::F32).unwrap();
    let batch = TokenBatch::new(
        &expected.sequences,
        expected.pad_token_id,
        PaddingSide::Right,
        &device,
    )
    .unwrap();
    let logits = model.forward(&batch);
    let [batch_size, seq_len, vocab] = logits.dims();
    assert_eq!(
        (batch_size, vocab),
        (expected.sequences.len(), config.vocab_size)
    );
    let values: Vec<f32> = logits.try_into_vec_as::<f32>().unwrap();
    for (row, reference) in expected.logits.unwrap().iter().enumerate() {
        let len = reference.len();
        let ours = &values[row * seq_len * vocab..][..len * vocab];
        let reference: Vec<f32> = reference.concat();
        let err = relative_error(ours, &reference);
        assert!(
            err < PARITY_RTOL,
            "{name}, sequence {row}: relative error {err:e}"
        );
    }
}

/// Llama with a tied head and Llama 3 RoPE scaling.
#[test]
fn llama_matches_transformers() {
    check_causal_lm("llama");
}

/// Qwen2 (q/k/v biases, untied head) from a sharded checkpoint.
#[test]
fn qwen2_matches_transformers() {
    check_causal_lm("qwen2");
}

/// Qwen3 (q/k norms, explicit head_dim) from a bf16 checkpoint.
#[test]
fn qwen3_matches_transformers() {
    check_causal_lm("qwen3");
}

/// A Llama sequence classifier (the reward-model architecture) scores at the last real token.
#[test]
fn reward_model_matches_transformers() {
    let dir = fixture("llama-rm");
    let expected = expected(&dir);
    let device = crate::test_device();
    let (_, model) = load_sequence_classifier(&dir, &device, WeightDType::F32).unwrap();
    let batch = TokenBatch::new(
        &expected.sequences,
        expected.pad_token_id,
        PaddingSide::Right,
        &device,
    )
    .unwrap();
    let scores: Vec<f32> = model.forward(&batch).try_into_vec_as::<f32>().unwrap();
    let reference: Vec<f32> = expected.scores.unwrap().concat();
    let err = relative_error(&scores, &reference);
    assert!(
        err < PARITY_RTOL,
        "relative error {err:e}: {scores:?} vs {reference:?}"
    );
}

/// Left padding changes nothing for the real tokens: positions count real tokens only.
#[test]
fn left_padding_gives_the_same_logits() {
    let dir = fixture("llama");
    let expected = expected(&dir);
    let device = crate::test_device();
    let (_, model) = load_causal_lm(&dir, &device, WeightDType::F32).unwrap();
    let right = TokenBatch::new(&expected.sequences, 0, PaddingSide::Right, &device).unwrap();
    let left = TokenBatch::new(&expected.sequences, 0, PaddingSide::Left, &device).unwrap();
    let [_, seq_len] = right.dims();
    let right_logits: Vec<f32> = model.forward(&right).try_into_vec_as::<f32>().unwrap();
    let left_logits: Vec<f32> = model.forward(&left).try_into_vec_as::<f32>().unwrap();
    let vocab = right_logits.len() / (expected.sequences.len() * seq_len);
    for (row, sequence) in expected.sequences.iter().enumerate() {
        let pad = seq_len - sequence.len();
        let a = &right_logits[row * seq_len * vocab..][..sequence.len() * vocab];
        let b = &left_logits[(row * seq_len + pad) * vocab..][..sequence.len() * vocab];
        assert!(relative_error(b, a) < PARITY_RTOL, "row {row}");
    }
}

#[test]
fn missing_and_misshapen_tensors_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let source = fixture("llama");
    std::fs::copy(source.join("config.json"), dir.path().join("config.json")).unwrap();
    // No weights at all.
    let err = load_causal_lm(dir.path(), &crate::test_device(), WeightDType::F32)
        .unwrap_err()
        .to_string();
    assert!(err.contains("model.safetensors"), "{err}");
    // Weights of another width.
    std::fs::copy(
        source.join("model.safetensors"),
        dir.path().join("model.safetensors"),
    )
    .unwrap();
    let config = std::fs::read_to_string(source.join("config.json"))
        .unwrap()
        .replace("\"intermediate_size\": 96", "\"intermediate_size\": 80");
    std::fs::write(dir.path().join("config.json"), config).unwrap();
    let err = load_causal_lm(dir.path(), &crate::test_device(), WeightDType::F32)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("mlp") && err.contains("expected shape"),
        "{err}"
    );
}
