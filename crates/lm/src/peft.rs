//! LoRA adapters in Hugging Face PEFT's format: `adapter_model.safetensors` with PEFT's
//! tensor names and layout, and `adapter_config.json`, so that Python
//! `PeftModel.from_pretrained(base, dir)` loads what we train, and we load what PEFT trains.
//!
//! PEFT names an adapter tensor after the module it wraps, under `base_model.model.`:
//! `base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight` is `A` transposed
//! (`[rank, d_in]`) and `….lora_B.weight` is `B` transposed (`[d_out, rank]`).

use std::collections::HashMap;
use std::path::Path;

use burn::store::{ModuleSnapshot, bridge};
use burn::tensor::{DType, TensorData};
use serde::Deserialize;
use serde_json::json;

use crate::error::{Error, Result};
use crate::models::decoder::CausalLm;
use crate::nn::lora::LoraConfig;
use crate::save::write_safetensors;

/// PEFT's prefix of every adapter tensor name.
const PEFT_PREFIX: &str = "base_model.model.";

/// Our module path of an adapter factor → PEFT's tensor name
/// (`model.layers.0.self_attn.lora.q_proj.a` → `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`).
fn peft_name(path: &str) -> Option<String> {
    let (module, factor) = path.rsplit_once('.')?;
    let factor = match factor {
        "a" => "lora_A",
        "b" => "lora_B",
        _ => return None,
    };
    let (owner, projection) = module.rsplit_once('.')?;
    let owner = owner.strip_suffix(".lora")?;
    Some(format!("{PEFT_PREFIX}{owner}.{projection}.{factor}.weight"))
}

/// Writes the adapters attached to `model` in PEFT's layout to `dir`;
/// `base_model_name_or_path` is recorded in adapter_config.json for PEFT to find the base.
pub fn save_adapter(dir: &Path, model: &CausalLm, base_model_name_or_path: &str) -> Result<()> {
    let config = model.lora().ok_or_else(|| Error::Input {
        reason: "the model has no LoRA adapters to save".into(),
    })?;
    let mut tensors = Vec::new();
    for tensor in model.collect(None, None, false) {
        if let Some(name) = peft_name(&tensor.name) {
            // Ours are `[d_in, rank]` / `[rank, d_out]`; PEFT's Linear weights are transposed.
            let data = bridge::to_data(&tensor).map_err(|err| Error::Weights {
                reason: format!("tensor `{}`: {err}", tensor.name),
            })?;
            let transposed = transpose(data);
            tensors.push((name.clone(), bridge::from_data(transposed, name, None)));
        }
    }
    let adapter_config = json!({
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_model_name_or_path,
        "r": config.rank,
        "lora_alpha": config.alpha,
        "lora_dropout": config.dropout,
        "target_modules": config.target_modules,
        "use_rslora": config.use_rslora,
        "bias": "none",
        "fan_in_fan_out": false,
        "inference_mode": true,
        "init_lora_weights": true,
        "use_dora": false,
        "modules_to_save": null,
        "layers_to_transform": null,
        "rank_pattern": {},
        "alpha_pattern": {},
    });
    atomic_write::merge_into_folder(dir, |staging| {
        write_safetensors(
            &staging.join("adapter_model.safetensors"),
            tensors,
            HashMap::from([("format".to_string(), "pt".to_string())]),
        )?;
        Ok(atomic_write::write_json_pretty(
            &staging.join("adapter_config.json"),
            &adapter_config,
        )?)
    })
}

/// The fields of PEFT's adapter_config.json this crate honours; others that would change the
/// computation (DoRA, per-layer ranks, biases, …) are refused by name.
#[derive(Deserialize)]
struct PeftConfig {
    peft_type: String,
    r: usize,
    lora_alpha: f64,
    #[serde(default)]
    lora_dropout: f64,
    target_modules: TargetModules,
    #[serde(default)]
    use_rslora: bool,
    #[serde(default)]
    use_dora: bool,
    #[serde(default)]
    fan_in_fan_out: bool,
    bias: Option<String>,
    #[serde(default)]
    rank_pattern: HashMap<String, serde_json::Value>,
    #[serde(default)]
    alpha_pattern: HashMap<String, serde_json::Value>,
    modules_to_save: Option<Vec<String>>,
    layers_to_transform: Option<serde_json::Value>,
    #[serde(default)]
    lora_bias: bool,
    #[serde(default)]
    use_qalora: bool,
    target_parameters: Option<serde_json::Value>,
    trainable_token_indices: Option<serde_json::Value>,
    layer_replication: Option<serde_json::Value>,
}

/// `target_modules` is a list of names, or a regex string PEFT matches against full paths.
#[derive(Deserialize)]
#[serde(untagged)]
enum TargetModules {
    Names(Vec<String>),
    Regex(String),
}

/// Reads a PEFT adapter folder and attaches it to `model` (which must not already carry
/// adapters); the base weights are frozen.
pub fn load_adapter(dir: &Path, model: CausalLm) -> Result<CausalLm> {
    let config_path = dir.join("adapter_config.json");
    let text =
        std::fs::read_to_string(&config_path).map_err(atomic_write::io_error(&config_path))?;
    let bad = |reason: String| Error::Config {
        reason: format!("{}: {reason}", config_path.display()),
    };
    let peft: PeftConfig = serde_json::from_str(&text).map_err(|err| bad(err.to_string()))?;
    if peft.peft_type != "LORA" {
        return Err(bad(format!("peft_type {:?} is not LORA", peft.peft_type)));
    }
    let unsupported = [
        ("use_dora", peft.use_dora),
        ("fan_in_fan_out", peft.fan_in_fan_out),
        ("bias", peft.bias.as_deref().is_some_and(|b| b != "none")),
        ("rank_pattern", !peft.rank_pattern.is_empty()),
        ("alpha_pattern", !peft.alpha_pattern.is_empty()),
        (
            "modules_to_save",
            peft.modules_to_save.as_ref().is_some_and(|m| !m.is_empty()),
        ),
        ("layers_to_transform", is_set(&peft.layers_to_transform)),
        ("lora_bias", peft.lora_bias),
        ("use_qalora", peft.use_qalora),
        ("target_parameters", is_set(&peft.target_parameters)),
        (
            "trainable_token_indices",
            is_set(&peft.trainable_token_indices),
        ),
        ("layer_replication", is_set(&peft.layer_replication)),
    ];
    if let Some((field, _)) = unsupported.iter().find(|(_, set)| *set) {
        return Err(bad(format!(
            "`{field}` is set; this loader supports plain LoRA only"
        )));
    }
    let target_modules = match peft.target_modules {
        TargetModules::Names(names) => names,
        TargetModules::Regex(regex) => {
            return Err(bad(format!(
                "`target_modules` is the regex {regex:?}; this loader takes a list of names"
            )));
        }
    };
    if model.lora().is_some() {
        return Err(Error::Input {
            reason: "the model already carries LoRA adapters".into(),
        });
    }
    let config = LoraConfig {
        rank: peft.r,
        alpha: peft.lora_alpha,
        dropout: peft.lora_dropout,
        target_modules,
        use_rslora: peft.use_rslora,
        seed: 0,
    };
    let mut model = model
        .with_lora(&config)
        .map_err(|err| bad(err.to_string()))?;

    // Read the file's tensors, rename to our paths, transpose to our layout.
    let weights_path = dir.join("adapter_model.safetensors");
    let bytes = std::fs::read(&weights_path).map_err(atomic_write::io_error(&weights_path))?;
    let file = safetensors::SafeTensors::deserialize(&bytes).map_err(|err| Error::Weights {
        reason: format!("{}: {err}", weights_path.display()),
    })?;
    // PEFT name → (our path, our float type).
    let ours: HashMap<String, (String, DType)> = model
        .collect(None, None, false)
        .into_iter()
        .filter_map(|t| peft_name(&t.name).map(|peft| (peft, (t.name, t.dtype))))
        .collect();
    let mut tensors = Vec::with_capacity(ours.len());
    // In name order, so that the first problem reported is always the same one.
    let mut entries = file.tensors();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, view) in entries {
        // PEFT may keep the adapter name ("default") in the key when saved by hand.
        let key = name.replace(".default.weight", ".weight");
        let (path, dtype) = ours.get(&key).ok_or_else(|| Error::Weights {
            reason: format!(
                "{}: tensor `{name}` matches no adapter of this model (targets {:?})",
                weights_path.display(),
                config.target_modules
            ),
        })?;
        let data = safetensor_data(&name, &view)?;
        let data = transpose(data).convert_dtype(*dtype);
        tensors.push(bridge::from_data(data, path.clone(), None));
    }
    let result = model.apply(tensors, None, None, false);
    if let Some(error) = result.errors.first() {
        return Err(Error::Weights {
            reason: format!("{}: {error:?}", weights_path.display()),
        });
    }
    if let Some((peft, _)) = ours
        .iter()
        .find(|(_, (path, _))| !result.applied.contains(path))
    {
        return Err(Error::MissingTensor { name: peft.clone() });
    }
    Ok(model)
}

/// Whether an optional JSON field holds something other than null / empty.
fn is_set(value: &Option<serde_json::Value>) -> bool {
    match value {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::Array(items)) => !items.is_empty(),
        Some(serde_json::Value::Object(fields)) => !fields.is_empty(),
        Some(_) => true,
    }
}

/// A 2-D safetensors tensor as f32 data.
fn safetensor_data(name: &str, view: &safetensors::tensor::TensorView<'_>) -> Result<TensorData> {
    let shape = view.shape().to_vec();
    if shape.len() != 2 {
        return Err(Error::Weights {
            reason: format!("tensor `{name}`: LoRA factors are 2-D, found shape {shape:?}"),
        });
    }
    let data = match view.dtype() {
        safetensors::Dtype::F32 => {
            TensorData::from_bytes_vec(view.data().to_vec(), shape, DType::F32)
        }
        safetensors::Dtype::BF16 => {
            TensorData::from_bytes_vec(view.data().to_vec(), shape, DType::BF16)
        }
        safetensors::Dtype::F16 => {
            TensorData::from_bytes_vec(view.data().to_vec(), shape, DType::F16)
        }
        other => {
            return Err(Error::Weights {
                reason: format!("tensor `{name}`: unsupported dtype {other:?}"),
            });
        }
    };
    Ok(data.convert::<f32>())
}

/// `[rows, cols]` → `[cols, rows]`, in f32.
fn transpose(data: TensorData) -> TensorData {
    let [rows, cols] = data.shape().dims::<2>();
    let values: Vec<f32> = data
        .convert::<f32>()
        .try_into_vec()
        .expect("f32 after convert");
    let mut out = vec![0.0_f32; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    TensorData::new(out, [cols, rows])
}

#[cfg(test)]
mod tests {
    use super::peft_name;

    #[test]
    fn adapter_paths_map_to_peft_names() {
        assert_eq!(
            peft_name("model.layers.0.self_attn.lora.q_proj.a").as_deref(),
            Some("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")
        );
        assert_eq!(
            peft_name("model.layers.11.mlp.lora.down_proj.b").as_deref(),
            Some("base_model.model.model.layers.11.mlp.down_proj.lora_B.weight")
        );
        assert_eq!(peft_name("model.layers.0.self_attn.q_proj.weight"), None);
    }
}
