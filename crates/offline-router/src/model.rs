//! The router as it trains: an optional trainable decoder (LoRA or full fine-tuning) and
//! the head, applied to pairs whose texts are looked up in a table of distinct texts — each
//! distinct (prompt, response) is encoded once per batch (once in all, when the backbone is
//! frozen) and fused per pair.

use std::collections::HashMap;

use burn::prelude::*;
use lm::CausalLm;

use crate::dataset::RoutingRecord;
use crate::error::Result;
use router_export::encoder::{TextEncoder, pair_text};
use router_export::{HeadOutput, RouterHead};

/// The trainable part of the router.
#[derive(Module, Debug)]
pub struct RouterModel {
    /// The decoder when it trains (LoRA or full); `None` when the backbone is frozen and its
    /// embeddings are cached.
    pub encoder: Option<CausalLm>,
    /// Fusion and heads.
    pub head: RouterHead,
}

/// Every distinct text of a data set, tokenized, and each record's (chosen, rejected) rows.
#[derive(Clone, Debug, Default)]
pub struct TextTable {
    /// Token ids per distinct text.
    pub sequences: Vec<Vec<u32>>,
    /// Per record: rows of its chosen and rejected texts.
    pub pairs: Vec<(usize, usize)>,
}

impl TextTable {
    /// Tokenizes the texts of `records` with `text`.
    pub fn new(records: &[RoutingRecord], text: &TextEncoder) -> Result<Self> {
        let mut rows: HashMap<String, usize> = HashMap::new();
        let mut table = Self::default();
        let mut row_of = |string: String, table: &mut Self| -> Result<usize> {
            if let Some(&row) = rows.get(&string) {
                return Ok(row);
            }
            table.sequences.push(text.tokenize(&string)?);
            rows.insert(string, table.sequences.len() - 1);
            Ok(table.sequences.len() - 1)
        };
        for record in records {
            let a = row_of(
                pair_text(&record.pair.prompt, &record.pair.chosen),
                &mut table,
            )?;
            let b = row_of(
                pair_text(&record.pair.prompt, &record.pair.rejected),
                &mut table,
            )?;
            table.pairs.push((a, b));
        }
        Ok(table)
    }
}

/// Where the embeddings of a batch's texts come from.
pub enum Embeddings<'a> {
    /// Precomputed rows of every text (frozen backbone), `[texts, d]`.
    Cached(&'a Tensor<2>),
    /// Computed now by the model's trainable decoder.
    Live {
        /// Tokenization (pad id).
        text: &'a TextEncoder,
        /// The texts' token ids.
        table: &'a TextTable,
    },
}

impl RouterModel {
    /// The head's outputs for the pairs of `records` (indices into the text table's pairs).
    pub fn forward(
        &self,
        records: &[usize],
        pairs: &[(usize, usize)],
        embeddings: &Embeddings<'_>,
        device: &Device,
    ) -> Result<HeadOutput> {
        let (a, b): (Vec<usize>, Vec<usize>) = records.iter().map(|&r| pairs[r]).unzip();
        let (h_a, h_b) = match embeddings {
            Embeddings::Cached(cache) => (
                (*cache).clone().select(0, index_tensor(&a, device)),
                (*cache).clone().select(0, index_tensor(&b, device)),
            ),
            Embeddings::Live { text, table } => {
                let encoder = self.encoder.as_ref().ok_or_else(|| {
                    crate::Error::Input("live embeddings need a trainable encoder".into())
                })?;
                // Each distinct text of the batch once.
                let mut distinct: Vec<usize> = a.iter().chain(&b).copied().collect();
                distinct.sort_unstable();
                distinct.dedup();
                let local: HashMap<usize, usize> = distinct
                    .iter()
                    .enumerate()
                    .map(|(i, &row)| (row, i))
                    .collect();
                let sequences: Vec<Vec<u32>> = distinct
                    .iter()
                    .map(|&row| table.sequences[row].clone())
                    .collect();
                let hidden = encoder.embed(&text.batch(&sequences, device)?);
                let pick = |rows: &[usize]| {
                    let positions: Vec<usize> = rows.iter().map(|row| local[row]).collect();
                    hidden.clone().select(0, index_tensor(&positions, device))
                };
                (pick(&a), pick(&b))
            }
        };
        Ok(self.head.forward(h_a, h_b))
    }
}

/// `[n]` int tensor of row indices.
pub(crate) fn index_tensor(rows: &[usize], device: &Device) -> Tensor<1, Int> {
    let values: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
    Tensor::from_data(TensorData::new(values, [rows.len()]), device)
}
