//! The paper's routing-accuracy table for an exported router on a records file: the router
//! picks argmax_k s_k per record, beside every single RM, uniform random, majority vote and
//! the oracle (eval-harness's one implementation, shared with its RM metrics).

use std::path::Path;

use burn::prelude::*;
use eval_harness::routing::{RoutedRecord, RoutingAccuracy, routing_accuracy};
use rm_pool::RmPool;

use crate::dataset::{routing_records, split_by_prompt};
use crate::error::Result;
use crate::export::{PairRef, RouterExport};
use crate::judge::judge_missing;
use crate::records::read_records;

/// Which records of the file to score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EvalRecords {
    /// Every record.
    All,
    /// The validation side of the training split (same fraction and seed as the run).
    Validation {
        /// `data.validation_fraction` of the run.
        fraction: f64,
        /// `seed` of the run.
        seed: u64,
    },
}

/// Routing accuracy of the export at `export_path` on the records at `records_path`;
/// judgments the records lack are computed with `pool` when one is given.
pub fn evaluate_export(
    export_path: &Path,
    records_path: &Path,
    pool: Option<&mut RmPool>,
    which: EvalRecords,
    device: &Device,
    batch_size: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<RoutingAccuracy> {
    let export = RouterExport::load(export_path, device)?;
    let rm_names = export.meta.rm_names.clone();
    let mut records = read_records(records_path)?;
    if let Some(pool) = pool {
        judge_missing(pool, &mut records, batch_size, progress)?;
    }
    let records = routing_records(&records, &rm_names)?;
    let selected: Vec<usize> = match which {
        EvalRecords::All => (0..records.len()).collect(),
        EvalRecords::Validation { fraction, seed } => split_by_prompt(&records, fraction, seed).1,
    };
    let context = export.into_context_function(device, batch_size)?;
    let mut routed = Vec::with_capacity(selected.len());
    for (done, chunk) in selected.chunks(batch_size.max(1)).enumerate() {
        let pairs: Vec<PairRef<'_>> = chunk
            .iter()
            .map(|&r| {
                let pair = &records[r].pair;
                (
                    pair.prompt.as_slice(),
                    pair.chosen.as_str(),
                    pair.rejected.as_str(),
                )
            })
            .collect();
        let chosen: Vec<i64> = context
            .bt_scores(&pairs)?
            .argmax(1)
            .into_data()
            .try_into_vec_as::<i64>()
            .expect("numeric tensors convert");
        for (&r, &arm) in chunk.iter().zip(&chosen) {
            routed.push(RoutedRecord {
                category: records[r].pair.category.clone(),
                correct: records[r].correct.clone(),
                chosen: arm as usize,
            });
        }
        progress((done + 1) * batch_size.max(1), selected.len());
    }
    Ok(routing_accuracy(&routed, rm_names.len())?)
}
