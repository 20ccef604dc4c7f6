//! LoRA: zero-initialised adapters change nothing; adapters saved by Python PEFT load and
//! give PEFT's logits (adapted and merged); ours save under PEFT's names, layout and config;
//! autodiff gradients of a log-probability w.r.t. the adapter factors match finite differences.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::ParamId;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::store::{ModuleSnapshot, bridge};
use lm::{
    CausalLm, LoraConfig, PaddingSide, TokenBatch, WeightDType, load_adapter, load_causal_lm,
    save_adapter, sequence_logprobs,
};
use serde::Deserialize;

use crate::decoder_parity::{PARITY_RTOL, relative_error};
use crate::fixture;

#[derive(Deserialize)]
struct Expected {
    sequences: Vec<Vec<u32>>,
    pad_token_id: u32,
    logits: Vec<Vec<Vec<f32>>>,
    merged_logits: Vec<Vec<Vec<f32>>>,
}

fn expected() -> Expected {
    let text = std::fs::read_to_string(fixture("llama-lora").join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn base(device: &Device) -> CausalLm {
    load_causal_lm(&fixture("llama"), device, WeightDType::F32)
        .unwrap()
        .1
}

/// Logits of `model` on the fixture's sequences, per sequence `[position][vocab]` flattened.
fn logits(model: &CausalLm, sequences: &[Vec<u32>], pad: u32, device: &Device) -> Vec<Vec<f32>> {
    let batch = TokenBatch::new(sequences, pad, PaddingSide::Right, device).unwrap();
    let logits = model.forward(&batch);
    let [_, seq_len, vocab] = logits.dims();
    let values = logits.try_into_vec_as::<f32>().unwrap();
    sequences
        .iter()
        .enumerate()
        .map(|(row, s)| values[row * seq_len * vocab..][..s.len() * vocab].to_vec())
        .collect()
}

fn assert_logits(ours: &[Vec<f32>], reference: &[Vec<Vec<f32>>], what: &str) {
    for (row, (ours, reference)) in ours.iter().zip(reference).enumerate() {
        let err = relative_error(ours, &reference.concat());
        assert!(
            err < PARITY_RTOL,
            "{what}, sequence {row}: relative error {err:e}"
        );
    }
}

#[test]
fn lora_at_init_equals_base() {
    let device = crate::test_device();
    let expected = expected();
    let model = base(&device);
    let before = logits(&model, &expected.sequences, expected.pad_token_id, &device);
    let mut config = LoraConfig::new(8, 16.0);
    config.target_modules = lm::LORA_TARGETS.iter().map(|t| t.to_string()).collect();
    let adapted = model.with_lora(&config).unwrap();
    let after = logits(
        &adapted,
        &expected.sequences,
        expected.pad_token_id,
        &device,
    );
    assert_eq!(
        before, after,
        "zero-initialised B must leave the logits bit-identical"
    );
}

#[test]
fn peft_adapter_loads_with_peft_logits_and_merges() {
    let device = crate::test_device();
    let expected = expected();
    let model = load_adapter(&fixture("llama-lora"), base(&device)).unwrap();
    let config = model.lora().unwrap().clone();
    assert_eq!((config.rank, config.alpha), (4, 8.0));
    let adapted = logits(&model, &expected.sequences, expected.pad_token_id, &device);
    assert_logits(&adapted, &expected.logits, "PEFT adapter");
    let merged = model.merge_lora();
    assert!(merged.lora().is_none());
    let merged = logits(&merged, &expected.sequences, expected.pad_token_id, &device);
    assert_logits(&merged, &expected.merged_logits, "merged");
}

/// Names, shapes and dtypes of a safetensors file.
fn layout(path: &Path) -> BTreeMap<String, (Vec<usize>, String)> {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(name, view)| (name, (view.shape().to_vec(), format!("{:?}", view.dtype()))))
        .collect()
}

#[test]
fn saved_adapter_has_peft_layout_and_round_trips() {
    let device = crate::test_device();
    let expected = expected();
    let peft_dir = fixture("llama-lora");
    let model = load_adapter(&peft_dir, base(&device)).unwrap();
    let out = tempfile::tempdir().unwrap();
    let saved = out.path().join("adapter");
    save_adapter(&saved, &model, "llama").unwrap();
    assert_eq!(
        layout(&saved.join("adapter_model.safetensors")),
        layout(&peft_dir.join("adapter_model.safetensors")),
        "tensor names, shapes and dtypes must be PEFT's"
    );
    // The values too: PEFT's file → ours → written again is the identity.
    let read = |dir: &Path| std::fs::read(dir.join("adapter_model.safetensors")).unwrap();
    let (ours, theirs) = (read(&saved), read(&peft_dir));
    let ours = safetensors::SafeTensors::deserialize(&ours).unwrap();
    let theirs = safetensors::SafeTensors::deserialize(&theirs).unwrap();
    for (name, view) in theirs.tensors() {
        assert_eq!(ours.tensor(&name).unwrap().data(), view.data(), "{name}");
    }
    // PEFT's config fields that decide the computation are the same.
    let config = |dir: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("adapter_config.json")).unwrap())
            .unwrap()
    };
    let (ours, theirs) = (config(&saved), config(&peft_dir));
    for key in [
        "peft_type",
        "task_type",
        "r",
        "lora_alpha",
        "lora_dropout",
        "use_rslora",
        "bias",
    ] {
        assert_eq!(ours[key], theirs[key], "adapter_config.json `{key}`");
    }
    let targets = |c: &serde_json::Value| {
        let mut t: Vec<String> = serde_json::from_value(c["target_modules"].clone()).unwrap();
        t.sort();
        t
    };
    assert_eq!(targets(&ours), targets(&theirs));
    let reloaded = load_adapter(&saved, base(&device)).unwrap();
    let again = logits(
        &reloaded,
        &expected.sequences,
        expected.pad_token_id,
        &device,
    );
    assert_logits(&again, &expected.logits, "saved and reloaded adapter");
}

#[test]
fn adapter_errors_name_the_problem() {
    let device = crate::test_device();
    let out = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture("llama-lora")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), out.path().join(entry.file_name())).unwrap();
    }
    let config_path = out.path().join("adapter_config.json");
    let original = std::fs::read_to_string(&config_path).unwrap();
    let edit = |key: &str, value: serde_json::Value| {
        let mut config: serde_json::Value = serde_json::from_str(&original).unwrap();
        config[key] = value;
        std::fs::write(&config_path, config.to_string()).unwrap();
        load_adapter(out.path(), base(&device))
            .unwrap_err()
            .to_string()
    };
    assert!(edit("use_dora", true.into()).contains("use_dora"));
    assert!(edit("target_modules", ".*proj".into()).contains("regex"));
    // Targets that leave a tensor of the file unmatched.
    let err = edit("target_modules", serde_json::json!(["q_proj", "v_proj"]));
    assert!(
        err.contains("base_model.model.model.layers.0.mlp.down_proj.lora_A.weight")
            && err.contains("matches no adapter"),
        "{err}"
    );
    let err = edit("r", 3.into());
    assert!(err.contains("shape") || err.contains("Shape"), "{err}");
    std::fs::write(&config_path, &original).unwrap();
    assert!(load_adapter(out.path(), base(&device)).is_ok());
}

/// d(Σ log p(response))/d(A, B) by autodiff equals central finite differences.
#[test]
fn lora_gradient_matches_finite_differences() {
    let device = crate::test_device().autodiff();
    let model = load_adapter(&fixture("llama-lora"), base(&device)).unwrap();
    let pairs = vec![
        (vec![5, 17, 99], vec![3, 64, 2, 11]),
        (vec![7, 7], vec![120, 45, 33]),
    ];
    let objective = |model: &CausalLm| -> Tensor<1> {
        sequence_logprobs(model, &pairs, 0, &device)
            .unwrap()
            .sum
            .sum()
    };
    let grads = objective(&model).backward();
    // Probe the largest-gradient entry of an A and a B in each layer (in f32 the finite
    // difference resolves ~1e-4, so tiny entries would test rounding, not the gradient).
    let probes = [
        "model.layers.1.self_attn.lora.q_proj.a",
        "model.layers.1.self_attn.lora.v_proj.b",
        "model.layers.0.mlp.lora.down_proj.a",
        "model.layers.0.self_attn.lora.o_proj.b",
    ];
    let grads = GradientsParams::from_grads(grads, &model);
    for path in probes {
        let factor = model
            .collect(None, None, false)
            .into_iter()
            .find(|t| t.name == path)
            .unwrap_or_else(|| panic!("no parameter {path}"));
        let id = ParamId::from(factor.param_id.expect("parameters carry ids"));
        let grad: Vec<f32> = grads
            .get::<2>(id)
            .expect("adapter factors receive gradients")
            .try_into_vec_as()
            .unwrap();
        let data = bridge::to_data(&factor).unwrap();
        let [_, cols] = data.shape().dims::<2>();
        let largest = (0..grad.len())
            .max_by(|&x, &y| grad[x].abs().total_cmp(&grad[y].abs()))
            .unwrap();
        let (i, j) = (largest / cols, largest % cols);
        let analytic = f64::from(grad[largest]);
        let values: Vec<f32> = data.try_to_vec().unwrap();
        let h = 1e-2_f32;
        let shifted = |delta: f32| {
            let mut moved = values.clone();
            moved[i * cols + j] += delta;
            let tensor = bridge::from_data(
                TensorData::new(moved, data.shape().clone()),
                path.to_string(),
                None,
            );
            let mut model = model.clone();
            let result = model.apply(vec![tensor], None, None, false);
            assert_eq!(result.applied, vec![path.to_string()]);
            objective(&model).into_scalar::<f64>()
        };
        let numeric = (shifted(h) - shifted(-h)) / (2.0 * f64::from(h));
        let err = (analytic - numeric).abs() / numeric.abs().max(1e-3);
        assert!(
            err < 2e-2,
            "{path}[{i},{j}]: autodiff {analytic:e} vs finite difference {numeric:e}"
        );
        assert!(
            analytic.abs() > 1e-3,
            "{path}[{i},{j}]: gradient {analytic:e} is ~0"
        );
    }
}
