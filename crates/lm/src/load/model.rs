//! Loading whole models from a path: a Hugging Face folder or a `.gguf` file.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use burn::prelude::*;
use burn::store::bridge;
use burn::tensor::DType;

use crate::config::bert::{BertConfig, HfBertConfig};
use crate::config::decoder::{DecoderConfig, DecoderFamily, HfDecoderConfig};
use crate::error::{Error, Result};
use crate::load::gguf::Gguf;
use crate::load::gguf_decoder::{decoder_config, hf_tensor_name, unpermute_rows};
use crate::load::weights::{WeightDType, load_safetensors, load_tensors, safetensors_files};
use crate::models::bert::{BERT_KEY_REMAPS, BertModel};
use crate::models::decoder::{CausalLm, SequenceClassifier};
use crate::tokenizer::Tokenizer;

/// Reads a folder's `config.json` and resolves it with `resolve`, naming the file in errors.
fn read_config<C>(dir: &Path, resolve: impl FnOnce(&str) -> Result<C>) -> Result<C> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(atomic_write::io_error(&path))?;
    resolve(&text).map_err(|err| Error::Config {
        reason: format!("{}: {err}", path.display()),
    })
}

/// Reads and checks `config.json` of a decoder folder.
pub fn read_decoder_config(dir: &Path) -> Result<DecoderConfig> {
    read_config(dir, |text| {
        HfDecoderConfig::from_json(text).and_then(HfDecoderConfig::into_config)
    })
}

/// Loads a causal LM from a Hugging Face folder (config.json + safetensors, f32/bf16/f16) or
/// a GGUF file (any supported quantisation, dequantised), with weights in `dtype`.
pub fn load_causal_lm(
    path: &Path,
    device: &Device,
    dtype: WeightDType,
) -> Result<(DecoderConfig, CausalLm)> {
    if is_gguf(path) {
        let gguf = Gguf::open(path)?;
        let config = decoder_config(&gguf)?;
        let mut model = CausalLm::new(&config, device);
        load_tensors(&mut model, gguf_tensors(gguf, &config)?, dtype)?;
        Ok((config, model))
    } else {
        let config = read_decoder_config(path)?;
        let mut model = CausalLm::new(&config, device);
        load_safetensors(&mut model, &safetensors_files(path)?, dtype, &[])?;
        Ok((config, model))
    }
}

/// Loads a sequence classifier (reward model) from a Hugging Face folder.
pub fn load_sequence_classifier(
    dir: &Path,
    device: &Device,
    dtype: WeightDType,
) -> Result<(DecoderConfig, SequenceClassifier)> {
    let config = read_decoder_config(dir)?;
    let mut model = SequenceClassifier::new(&config, device);
    load_safetensors(&mut model, &safetensors_files(dir)?, dtype, &[])?;
    Ok((config, model))
}

/// Loads a BERT encoder (e.g. all-MiniLM-L6-v2) from a Hugging Face folder.
pub fn load_bert(
    dir: &Path,
    device: &Device,
    dtype: WeightDType,
) -> Result<(BertConfig, BertModel)> {
    let config = read_config(dir, |text| {
        HfBertConfig::from_json(text).and_then(HfBertConfig::into_config)
    })?;
    let mut model = BertModel::new(&config, device);
    load_safetensors(
        &mut model,
        &safetensors_files(dir)?,
        dtype,
        &BERT_KEY_REMAPS,
    )?;
    Ok((config, model))
}

/// The tokenizer of a model: from a GGUF file's metadata, or a Hugging Face folder's
/// tokenizer.json (with its chat template).
pub fn load_tokenizer(path: &Path) -> Result<Tokenizer> {
    if is_gguf(path) {
        Tokenizer::from_gguf(&Gguf::open(path)?)
    } else {
        Tokenizer::from_hf_dir(path)
    }
}

/// Whether `path` names a GGUF file (by extension, else by magic bytes).
pub fn is_gguf(path: &Path) -> bool {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
    {
        return true;
    }
    let mut magic = [0; 4];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok_and(|()| &magic == b"GGUF")
}

/// Every tensor the decoder uses, under its HF name and in PyTorch layout, deferred: each is
/// read, dequantised to f32 and (llama arch) has its q/k rows un-permuted only when burn-store
/// applies it, so loading holds one dequantised tensor at a time beside the model instead of
/// the whole model twice over.
///
/// A tensor of a type we cannot dequantise fails here, before any data is read.
fn gguf_tensors(
    gguf: Gguf<BufReader<File>>,
    config: &DecoderConfig,
) -> Result<Vec<burn::store::burn_pack::Tensor>> {
    let infos = gguf.tensors().to_vec();
    if let Some(info) = infos
        .iter()
        .find(|i| hf_tensor_name(&i.name).is_some() && !i.ggml_type.is_dequantizable())
    {
        return Err(Error::UnsupportedQuantization {
            tensor: info.name.clone(),
            type_name: info.ggml_type.name().to_string(),
        });
    }
    let source = Arc::new(Mutex::new(gguf));
    let mut tensors = Vec::with_capacity(infos.len());
    for info in infos {
        let Some(name) = hf_tensor_name(&info.name) else {
            continue;
        };
        let shape = info.shape();
        let unpermute_heads = match config.family {
            DecoderFamily::Llama if shape.len() == 2 => {
                if name.ends_with("self_attn.q_proj.weight") {
                    Some(config.n_heads)
                } else if name.ends_with("self_attn.k_proj.weight") {
                    Some(config.n_kv_heads)
                } else {
                    None
                }
            }
            _ => None,
        };
        let source = Arc::clone(&source);
        let gguf_name = info.name;
        tensors.push(bridge::deferred(
            name,
            DType::F32,
            shape.clone().into(),
            None,
            move || {
                // Every read seeks to its tensor's offset, so a reader that panicked
                // elsewhere is still usable.
                let mut gguf = source.lock().unwrap_or_else(PoisonError::into_inner);
                let (shape, mut values) = gguf.tensor_f32(&gguf_name).map_err(|e| {
                    burn::store::burn_pack::Error::ValidationError(format!(
                        "GGUF tensor {gguf_name}: {e}"
                    ))
                })?;
                if let Some(n_heads) = unpermute_heads {
                    unpermute_rows(&mut values, n_heads, shape[1]);
                }
                Ok(TensorData::new(values, shape))
            },
        ));
    }
    Ok(tensors)
}
