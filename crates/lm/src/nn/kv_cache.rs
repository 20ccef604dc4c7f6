//! The per-layer key/value cache of incremental decoding.

use burn::prelude::*;

use crate::nn::attention::LayerCache;

/// Keys and values of every layer for the positions a batch has processed so far, so each
/// decoding step only computes the new position.
#[derive(Clone, Debug, Default)]
pub struct KvCache {
    layers: Vec<Option<LayerCache>>,
    /// Positions (columns) held, padding included.
    len: usize,
}

impl KvCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Columns held (the same for every row; left padding included).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been cached yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Takes layer `index`'s cache out (None before the first step).
    pub(crate) fn take(&mut self, index: usize) -> Option<LayerCache> {
        self.layers.get_mut(index).and_then(Option::take)
    }

    /// Puts layer `index`'s extended cache back.
    pub(crate) fn put(&mut self, index: usize, cache: LayerCache) {
        if self.layers.len() <= index {
            self.layers.resize(index + 1, None);
        }
        self.layers[index] = Some(cache);
    }

    /// Records that `new_len` columns were appended.
    pub(crate) fn advance(&mut self, new_len: usize) {
        self.len += new_len;
    }

    /// Keeps only the batch rows in `rows` (finished sequences leave the batch).
    pub fn select_rows(&mut self, rows: &[usize], device: &Device) {
        let index = Tensor::<1, Int>::from_data(
            TensorData::new(rows.iter().map(|&r| r as i64).collect(), [rows.len()]),
            device,
        );
        for layer in &mut self.layers {
            *layer = layer.take().map(|cache| cache.select_rows(&index));
        }
    }
}
