//! Saving a model as a Hugging Face folder (`config.json`, `model.safetensors`,
//! `tokenizer.json`, `tokenizer_config.json`) that transformers, vLLM and this crate load.
//!
//! Every file is written to a temporary name and renamed into place; a new folder appears
//! whole (it is assembled beside the target and renamed), so a crash never leaves a
//! half-written model where a complete one is expected.

use std::collections::HashMap;
use std::path::Path;

use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, burn_pack};
use burn::tensor::DType;
use safetensors::{Dtype, tensor::TensorView};

use crate::config::decoder::DecoderConfig;
use crate::error::{Error, Result};
use crate::models::decoder::{CausalLm, SequenceClassifier};
use crate::tokenizer::Tokenizer;

/// Writes `model` (with any LoRA adapters merged into its weights) and `config` as a Hugging
/// Face folder at `dir`, with `tokenizer` when given. Weights keep their float type; tied
/// embeddings are stored once, as transformers stores them.
pub fn save_pretrained(
    dir: &Path,
    model: &CausalLm,
    config: &DecoderConfig,
    tokenizer: Option<&Tokenizer>,
) -> Result<()> {
    let merged;
    let model = if model.lora().is_some() {
        merged = model.clone().merge_lora();
        &merged
    } else {
        model
    };
    let tensors = model.collect(None, Some(Box::new(BurnToPyTorchAdapter)), false);
    let config_json = config.to_hf_json(dtype_name(&tensors_dtype(&tensors)));
    save_module(dir, tensors, config_json, tokenizer)
}

/// Writes a sequence classifier (a reward model: `*ForSequenceClassification`, `score`
/// head) and `config` as a Hugging Face folder at `dir`, with `tokenizer` when given; the
/// config names the classification architecture and `config.num_labels` labels, so
/// transformers, vLLM's pooling runner and [`crate::load_sequence_classifier`] load it.
pub fn save_classifier_pretrained(
    dir: &Path,
    model: &SequenceClassifier,
    config: &DecoderConfig,
    tokenizer: Option<&Tokenizer>,
) -> Result<()> {
    let tensors = model.collect(None, Some(Box::new(BurnToPyTorchAdapter)), false);
    let mut json = config.to_hf_json(dtype_name(&tensors_dtype(&tensors)));
    let fields = json.as_object_mut().expect("to_hf_json gives an object");
    let architecture = fields["architectures"][0]
        .as_str()
        .unwrap_or_default()
        .replace("ForCausalLM", "ForSequenceClassification");
    fields.insert("architectures".into(), serde_json::json!([architecture]));
    let labels: serde_json::Map<String, serde_json::Value> = (0..config.num_labels)
        .map(|i| (i.to_string(), serde_json::json!(format!("LABEL_{i}"))))
        .collect();
    fields.insert("id2label".into(), serde_json::Value::Object(labels));
    save_module(dir, tensors, json, tokenizer)
}

fn tensors_dtype(tensors: &[burn_pack::Tensor]) -> DType {
    tensors.first().map_or(DType::F32, |t| t.dtype)
}

fn dtype_name(dtype: &DType) -> &'static str {
    match dtype {
        DType::BF16 => "bfloat16",
        DType::F16 => "float16",
        _ => "float32",
    }
}

/// Writes `tensors` (PyTorch layout and names), `config_json` and the tokenizer as one
/// folder, atomically.
fn save_module(
    dir: &Path,
    tensors: Vec<burn_pack::Tensor>,
    config_json: serde_json::Value,
    tokenizer: Option<&Tokenizer>,
) -> Result<()> {
    atomic_write::merge_into_folder(dir, |staging| {
        write_safetensors(
            &staging.join("model.safetensors"),
            tensors.into_iter().map(|t| (t.name.clone(), t)).collect(),
            HashMap::from([("format".to_string(), "pt".to_string())]),
        )?;
        atomic_write::write_json_pretty(&staging.join("config.json"), &config_json)?;
        if let Some(tokenizer) = tokenizer {
            tokenizer.save_hf(staging)?;
        }
        Ok(())
    })
}

/// Writes `tensors` (already in PyTorch layout, under their final names) as one safetensors
/// file with `metadata`.
pub(crate) fn write_safetensors(
    path: &Path,
    tensors: Vec<(String, burn_pack::Tensor)>,
    metadata: HashMap<String, String>,
) -> Result<()> {
    let mut owned = Vec::with_capacity(tensors.len());
    for (name, tensor) in tensors {
        let dtype = match tensor.dtype {
            DType::F32 => Dtype::F32,
            DType::BF16 => Dtype::BF16,
            DType::F16 => Dtype::F16,
            other => {
                return Err(Error::Weights {
                    reason: format!("tensor `{name}`: cannot save dtype {other:?}"),
                });
            }
        };
        let shape = tensor.shape.to_vec();
        let bytes = tensor.to_bytes().map_err(|err| Error::Weights {
            reason: format!("tensor `{name}`: {err}"),
        })?;
        owned.push((name, dtype, shape, bytes));
    }
    let views = owned
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            TensorView::new(*dtype, shape.clone(), bytes)
                .map(|view| (name.clone(), view))
                .map_err(|err| Error::Weights {
                    reason: format!("tensor `{name}`: {err}"),
                })
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize_to_file(views, Some(metadata), path).map_err(|err| Error::Weights {
        reason: format!("{}: {err}", path.display()),
    })
}
