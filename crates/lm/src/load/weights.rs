//! Loading named tensors into a burn module: from safetensors files (single or sharded
//! Hugging Face checkpoints) or from tensors we produced ourselves (dequantised GGUF).
//!
//! Both routes go through burn-store with a PyTorch-layout adapter (layout.rs: transposes
//! `Linear` weights from PyTorch's `[out, in]` and renames norm `weight` to `gamma`) and a
//! cast to the requested float type, and both check the result the same way: every parameter of the
//! module must have been loaded, with the right shape.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use burn::store::{
    ApplyError, ApplyResult, FloatCastAdapter, ModuleAdapter, ModuleSnapshot, SafetensorsStore,
    burn_pack,
};
use burn::tensor::DType;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::load::layout::PyTorchLayout;

/// Float type of the loaded weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WeightDType {
    /// 32-bit floats (parity tests, CPU).
    #[default]
    F32,
    /// bfloat16 (GPU training and inference).
    BF16,
}

impl WeightDType {
    fn dtype(self) -> DType {
        match self {
            Self::F32 => DType::F32,
            Self::BF16 => DType::BF16,
        }
    }
}

/// The adapter chain from PyTorch-layout tensors to `dtype` burn parameters.
fn adapter(dtype: WeightDType) -> impl ModuleAdapter + 'static {
    PyTorchLayout.chain(FloatCastAdapter::to(dtype.dtype()))
}

/// The safetensors files of a Hugging Face folder: `model.safetensors`, or the shards listed
/// by `model.safetensors.index.json`.
pub(crate) fn safetensors_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let single = dir.join("model.safetensors");
    if single.exists() {
        return Ok(vec![single]);
    }
    let index_path = dir.join("model.safetensors.index.json");
    #[derive(Deserialize)]
    struct Index {
        weight_map: std::collections::BTreeMap<String, String>,
    }
    let text = std::fs::read_to_string(&index_path).map_err(atomic_write::io_error(&index_path))?;
    let index: Index = serde_json::from_str(&text).map_err(|err| Error::Config {
        reason: format!("{}: {err}", index_path.display()),
    })?;
    let shards: BTreeSet<&String> = index.weight_map.values().collect();
    Ok(shards.into_iter().map(|shard| dir.join(shard)).collect())
}

/// Loads every parameter of `module` from `files`, which together must cover it, after
/// rewriting checkpoint keys with `remaps` (regex, replacement).
pub(crate) fn load_safetensors<M: ModuleSnapshot>(
    module: &mut M,
    files: &[PathBuf],
    dtype: WeightDType,
    remaps: &[(&str, &str)],
) -> Result<()> {
    let mut loaded = BTreeSet::new();
    for file in files {
        if !file.exists() {
            return Err(atomic_write::io_error(file)(std::io::ErrorKind::NotFound.into()).into());
        }
        let mut store = SafetensorsStore::from_file(file)
            .with_from_adapter(adapter(dtype))
            .allow_partial(true)
            .validate(false);
        for (pattern, replacement) in remaps {
            store = store.with_key_remapping(*pattern, *replacement);
        }
        let result = module.load_from(&mut store).map_err(|err| Error::Weights {
            reason: format!("{}: {err}", file.display()),
        })?;
        check_errors(&result)?;
        loaded.extend(result.applied);
    }
    check_complete(module, &loaded)
}

/// Loads `tensors` (PyTorch layout, HF names) into `module`, which they must cover.
pub(crate) fn load_tensors<M: ModuleSnapshot>(
    module: &mut M,
    tensors: Vec<burn_pack::Tensor>,
    dtype: WeightDType,
) -> Result<()> {
    let result = module.apply(tensors, None, Some(Box::new(adapter(dtype))), false);
    check_errors(&result)?;
    let loaded = result.applied.into_iter().collect();
    check_complete(module, &loaded)
}

fn check_errors(result: &ApplyResult) -> Result<()> {
    match result.errors.first() {
        None => Ok(()),
        Some(ApplyError::ShapeMismatch {
            path,
            expected,
            found,
        }) => Err(Error::ShapeMismatch {
            name: path.clone(),
            expected: expected.to_vec(),
            found: found.to_vec(),
        }),
        Some(other) => Err(Error::Weights {
            reason: other.to_string(),
        }),
    }
}

/// Every parameter of `module` must be among `loaded`; names the first that is not.
fn check_complete<M: ModuleSnapshot>(module: &M, loaded: &BTreeSet<String>) -> Result<()> {
    let expected = module.collect(None, None, false);
    match expected.iter().find(|t| !loaded.contains(&t.name)) {
        None => Ok(()),
        Some(missing) => Err(Error::MissingTensor {
            name: missing.name.clone(),
        }),
    }
}
