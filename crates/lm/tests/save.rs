//! Saving as a Hugging Face folder: save → load gives bit-identical logits, the same config,
//! and transformers' tensor names and shapes; LoRA adapters are merged on save.

use std::collections::BTreeMap;
use std::path::Path;

use lm::{
    DecoderConfig, PaddingSide, SequenceClassifier, TokenBatch, WeightDType, load_adapter,
    load_causal_lm, load_sequence_classifier, read_decoder_config, save_classifier_pretrained,
    save_pretrained,
};

use crate::fixture;

/// Tensor name → shape over every safetensors file of a folder.
fn tensor_shapes(dir: &Path) -> BTreeMap<String, Vec<usize>> {
    let mut shapes = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "safetensors") {
            let bytes = std::fs::read(&path).unwrap();
            let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
            for (name, view) in file.tensors() {
                shapes.insert(name, view.shape().to_vec());
            }
        }
    }
    shapes
}

fn logits(dir: &Path, dtype: WeightDType) -> (DecoderConfig, Vec<f32>) {
    let device = crate::test_device();
    let (config, model) = load_causal_lm(dir, &device, dtype).unwrap();
    let sequences = vec![vec![5, 17, 99, 3, 64, 2, 11], vec![7, 7, 120, 45]];
    let batch = TokenBatch::new(&sequences, 0, PaddingSide::Right, &device).unwrap();
    (
        config,
        model.forward(&batch).try_into_vec_as::<f32>().unwrap(),
    )
}

fn round_trip(name: &str, dtype: WeightDType) {
    let original = fixture(name);
    let device = crate::test_device();
    let (config, model) = load_causal_lm(&original, &device, dtype).unwrap();
    let out = tempfile::tempdir().unwrap();
    let saved = out.path().join(name);
    save_pretrained(&saved, &model, &config, None).unwrap();
    assert_eq!(
        read_decoder_config(&saved).unwrap(),
        config,
        "{name}: config.json"
    );
    assert_eq!(
        tensor_shapes(&saved),
        tensor_shapes(&original),
        "{name}: tensors"
    );
    assert_eq!(
        logits(&saved, dtype),
        logits(&original, dtype),
        "{name}: logits"
    );
    // Saving over an existing folder replaces its files.
    save_pretrained(&saved, &model, &config, None).unwrap();
    assert_eq!(
        logits(&saved, dtype),
        logits(&original, dtype),
        "{name}: resaved"
    );
}

#[test]
fn llama_round_trips() {
    round_trip("llama", WeightDType::F32);
}

/// From a sharded checkpoint; biases and an untied head.
#[test]
fn qwen2_round_trips() {
    round_trip("qwen2", WeightDType::F32);
}

/// bf16 weights stay bf16.
#[test]
fn qwen3_round_trips_in_bf16() {
    round_trip("qwen3", WeightDType::BF16);
    let out = tempfile::tempdir().unwrap();
    let device = crate::test_device();
    let (config, model) = load_causal_lm(&fixture("qwen3"), &device, WeightDType::BF16).unwrap();
    save_pretrained(out.path(), &model, &config, None).unwrap();
    let text = std::fs::read_to_string(out.path().join("config.json")).unwrap();
    assert!(text.contains("\"torch_dtype\": \"bfloat16\""), "{text}");
}

/// A model carrying adapters is saved with them merged: the saved folder gives PEFT's
/// merged logits as a plain model.
#[test]
fn lora_is_merged_on_save() {
    let device = crate::test_device();
    let (config, base) = load_causal_lm(&fixture("llama"), &device, WeightDType::F32).unwrap();
    let adapted = load_adapter(&fixture("llama-lora"), base).unwrap();
    let out = tempfile::tempdir().unwrap();
    save_pretrained(out.path(), &adapted, &config, None).unwrap();
    assert_eq!(tensor_shapes(out.path()), tensor_shapes(&fixture("llama")));
    let (_, saved) = logits(out.path(), WeightDType::F32);
    let batch = TokenBatch::new(
        &[vec![5, 17, 99, 3, 64, 2, 11], vec![7, 7, 120, 45]],
        0,
        PaddingSide::Right,
        &device,
    )
    .unwrap();
    let direct = adapted.forward(&batch).try_into_vec_as::<f32>().unwrap();
    let err = crate::decoder_parity::relative_error(&saved, &direct);
    assert!(
        err < 1e-5,
        "merged-and-saved vs adapted: relative error {err:e}"
    );
}

/// A reward model made from a causal LM (fresh score head, as transformers does) saves as
/// `*ForSequenceClassification` with one label, loads back with the same scores, and keeps
/// the decoder's weights: transformers' names, `score.weight` instead of `lm_head`.
#[test]
fn classifier_round_trips() {
    let device = crate::test_device();
    let (config, model) = load_causal_lm(&fixture("llama"), &device, WeightDType::F32).unwrap();
    let classifier = SequenceClassifier::from_causal_lm(model, 1, 7, &device);
    let out = tempfile::tempdir().unwrap();
    save_classifier_pretrained(out.path(), &classifier, &config, None).unwrap();
    let text = std::fs::read_to_string(out.path().join("config.json")).unwrap();
    assert!(text.contains("LlamaForSequenceClassification"), "{text}");
    let (loaded_config, loaded) =
        load_sequence_classifier(out.path(), &device, WeightDType::F32).unwrap();
    assert_eq!(loaded_config.num_labels, 1);
    let shapes = tensor_shapes(out.path());
    assert_eq!(shapes["score.weight"], vec![1, config.d_model]);
    assert!(!shapes.keys().any(|name| name.starts_with("lm_head")));
    let decoder_tensors = tensor_shapes(&fixture("llama"))
        .into_iter()
        .filter(|(name, _)| name.starts_with("model."))
        .collect::<BTreeMap<_, _>>();
    assert!(
        decoder_tensors
            .iter()
            .all(|(name, shape)| shapes.get(name) == Some(shape))
    );
    let batch = TokenBatch::new(
        &[vec![5, 17, 99, 3, 64, 2, 11], vec![7, 7, 120, 45]],
        0,
        PaddingSide::Right,
        &device,
    )
    .unwrap();
    let scores = |m: &SequenceClassifier| m.forward(&batch).try_into_vec_as::<f32>().unwrap();
    assert_eq!(scores(&loaded), scores(&classifier));
}
