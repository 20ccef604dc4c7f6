//! Saving and restoring the AdamW moments (safetensors, one flat vector each), for
//! checkpoints.

use std::collections::HashMap;
use std::path::Path;

use burn::prelude::*;
use safetensors::{Dtype, tensor::TensorView};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

use super::Optimizer;

/// Moments as read from a file, before the device is known.
pub(super) struct SavedMoments {
    pub(super) first: Vec<f32>,
    pub(super) second: Vec<f32>,
    pub(super) shapes: Vec<Vec<usize>>,
    pub(super) time: usize,
}

/// The metadata of a saved state.
#[derive(Serialize, Deserialize)]
struct StateHeader {
    format: String,
    time: usize,
    shapes: Vec<Vec<usize>>,
}

/// `format` of a saved optimiser state.
const STATE_FORMAT: &str = "lm-adamw-flat-v1";

impl Optimizer {
    /// Writes the AdamW moments to `path` as safetensors (`exp_avg`, `exp_avg_sq`: f32
    /// `[n]` over the trainable parameters in module order; metadata: the parameters'
    /// shapes and the update count t), for a checkpoint. The model is saved separately.
    ///
    /// Errors while micro-batch gradients are pending: checkpoint after an update.
    pub fn save_state(&self, path: &Path) -> Result<()> {
        if self.micro_steps != 0 {
            return Err(Error::Input {
                reason: format!(
                    "optimizer state saved with {} of {} micro-batches pending",
                    self.micro_steps, self.config.accumulation_steps
                ),
            });
        }
        let fail = |reason: String| Error::Weights {
            reason: format!("writing optimizer state {}: {reason}", path.display()),
        };
        // The buckets end to end: the file does not depend on the bucket size.
        let flat = |buckets: &[Tensor<1>]| -> Result<Vec<f32>> {
            let mut values = Vec::new();
            for bucket in buckets {
                let part = bucket
                    .clone()
                    .try_into_vec_as::<f32>()
                    .map_err(|e| fail(format!("{e:?}")))?;
                values.extend(part);
            }
            Ok(values)
        };
        let (first, second, shapes, time) = match (&self.moments, &self.loaded) {
            (Some(m), _) => (flat(&m.first)?, flat(&m.second)?, m.shapes.clone(), m.time),
            (None, Some(saved)) => (
                saved.first.clone(),
                saved.second.clone(),
                saved.shapes.clone(),
                saved.time,
            ),
            (None, None) => (Vec::new(), Vec::new(), Vec::new(), 0),
        };
        let header = StateHeader {
            format: STATE_FORMAT.into(),
            time,
            shapes,
        };
        let header = serde_json::to_string(&header).map_err(|e| fail(e.to_string()))?;
        let bytes =
            |values: &[f32]| -> Vec<u8> { values.iter().flat_map(|v| v.to_le_bytes()).collect() };
        let (first_bytes, second_bytes) = (bytes(&first), bytes(&second));
        let views = [
            ("exp_avg", &first_bytes, first.len()),
            ("exp_avg_sq", &second_bytes, second.len()),
        ]
        .into_iter()
        .map(|(name, data, len)| {
            TensorView::new(Dtype::F32, vec![len], data)
                .map(|view| (name.to_string(), view))
                .map_err(|e| fail(format!("{name}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
        let metadata = HashMap::from([("optimizer".to_string(), header)]);
        safetensors::serialize_to_file(views, Some(metadata), path).map_err(|e| fail(e.to_string()))
    }

    /// Restores moments written by [`Optimizer::save_state`] and the update count `steps`
    /// they were saved at; the next update continues as the saved optimiser would have. The
    /// parameters' shapes are checked against the model's at that update (a mismatch skips
    /// it, naming the first differing parameter).
    pub fn load_state(&mut self, path: &Path, steps: usize) -> Result<()> {
        let fail = |reason: String| Error::Weights {
            reason: format!("reading optimizer state {}: {reason}", path.display()),
        };
        let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        let (_, metadata) =
            safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| fail(e.to_string()))?;
        let header: StateHeader = metadata
            .metadata()
            .as_ref()
            .and_then(|m| m.get("optimizer"))
            .ok_or_else(|| fail("no `optimizer` metadata (not an lm optimizer state)".into()))
            .and_then(|text| serde_json::from_str(text).map_err(|e| fail(e.to_string())))?;
        if header.format != STATE_FORMAT {
            return Err(fail(format!(
                "format {:?}, expected {STATE_FORMAT:?}",
                header.format
            )));
        }
        let file =
            safetensors::SafeTensors::deserialize(&bytes).map_err(|e| fail(e.to_string()))?;
        let expected: usize = header
            .shapes
            .iter()
            .map(|s| s.iter().product::<usize>())
            .sum();
        let read = |name: &str| -> Result<Vec<f32>> {
            let view = file
                .tensor(name)
                .map_err(|e| fail(format!("{name}: {e}")))?;
            if view.dtype() != Dtype::F32 || view.shape() != [expected] {
                return Err(fail(format!(
                    "{name}: {:?} {:?}, expected F32 [{expected}]",
                    view.dtype(),
                    view.shape()
                )));
            }
            Ok(view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect())
        };
        let (first, second) = (read("exp_avg")?, read("exp_avg_sq")?);
        self.moments = None;
        self.loaded = (header.time > 0).then_some(SavedMoments {
            first,
            second,
            shapes: header.shapes,
            time: header.time,
        });
        self.accumulated = None;
        self.micro_steps = 0;
        self.steps = steps;
        Ok(())
    }
}

/// Why saved moments do not fit the model's trainable parameters.
pub(super) fn mismatch(saved: &[Vec<usize>], model: &[Vec<usize>]) -> String {
    match saved.iter().zip(model).position(|(a, b)| a != b) {
        Some(i) => format!(
            "optimizer moments do not fit the model: trainable parameter {i} has shape {:?}, \
             the moments were for {:?}",
            model[i], saved[i]
        ),
        None => format!(
            "optimizer moments do not fit the model: {} trainable parameters, the moments \
             were for {}",
            model.len(),
            saved.len()
        ),
    }
}
