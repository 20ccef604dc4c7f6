//! The paper's routing-accuracy table for exported routers on a records file: each router
//! picks argmax_k s_k per record, beside every single RM, uniform random, majority vote and
//! the oracle (eval-harness's one implementation, shared with its RM metrics), with 95%
//! bootstrap intervals over prompts.
//!
//! Which records count is decided by the export's split record ([`crate::split`]): by default
//! the test part (and prompts the run never saw, in another file). Records a checkpoint was
//! trained on, or selected on (`best/` on validation), are refused unless the caller allows
//! them, and the result then says so ([`ExportEvaluation::seen`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use eval_harness::routing::{
    RoutedRecord, RoutingAccuracy, RoutingIntervals, bootstrap_routing, routing_accuracy,
};
use lm::ChatMessage;
use rm_pool::RmPool;
use serde::Serialize;

use crate::dataset::{RoutingRecord, routing_records};
use crate::error::{Error, Result};
use router_export::{BackboneKey, ContextFunction, RouterExport};

use crate::export::export_split;
use crate::records::read_records;
use crate::scoring::score_missing;
use crate::split::{Part, prompt_key};

/// Bootstrap resamples behind every interval.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;

/// Which records of the file to score.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EvalSplit {
    /// The run's test part, and prompts the run never saw (the unbiased report).
    #[default]
    Test,
    /// The run's validation part (`best/` was selected on it).
    Validation,
    /// The run's training part.
    Train,
    /// Every record.
    All,
}

impl EvalSplit {
    /// Whether a record in `part` (`None`: a prompt the run never saw) is scored.
    fn takes(self, part: Option<Part>) -> bool {
        match self {
            Self::Test => matches!(part, Some(Part::Test) | None),
            Self::Validation => part == Some(Part::Validation),
            Self::Train => part == Some(Part::Train),
            Self::All => true,
        }
    }
}

impl std::str::FromStr for EvalSplit {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text {
            "test" => Ok(Self::Test),
            "validation" => Ok(Self::Validation),
            "train" => Ok(Self::Train),
            "all" => Ok(Self::All),
            other => Err(format!(
                "unknown split `{other}` (test, validation, train or all)"
            )),
        }
    }
}

/// One export's routing on the scored records.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoutedExport {
    /// The export folder or file given.
    pub checkpoint: PathBuf,
    /// Training updates behind it.
    pub step: usize,
    /// Chosen by validation accuracy.
    pub selected_on_validation: bool,
    /// The routing table (its references are the same for every export).
    pub routing_accuracy: RoutingAccuracy,
    /// 95% bootstrap intervals of the overall row, over prompts.
    pub intervals: RoutingIntervals,
}

/// Exports evaluated on the same records.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExportEvaluation {
    /// Arm names.
    pub rms: Vec<String>,
    /// The part scored.
    pub split: EvalSplit,
    /// Records scored (before leaving out those no RM gets right).
    pub records: usize,
    /// Distinct prompts among them.
    pub prompts: usize,
    /// `None` when no scored record was trained or selected on by any export; otherwise
    /// what they were (the accuracy is then optimistic).
    pub seen: Option<String>,
    /// Per export, in the order given.
    pub exports: Vec<RoutedExport>,
}

/// Routing accuracy of the exports at `export_paths` (same arms) on the records at
/// `records_path`, on the part `split` of their split; judgments the records lack are
/// computed with `pool` when one is given. Records an export was trained or selected on
/// are an error unless `allow_seen`. Each distinct (prompt, response) text is embedded once
/// per backbone: exports reading the same frozen backbone (`best/` and `final/` of one run)
/// share the embeddings. `progress` is told `(done, total)` of the judging, then of each
/// embedding pass.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_exports(
    export_paths: &[PathBuf],
    records_path: &Path,
    pool: Option<&mut RmPool>,
    split: EvalSplit,
    allow_seen: bool,
    device: &Device,
    batch_size: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ExportEvaluation> {
    let exports = export_paths
        .iter()
        .map(|path| Ok(RouterExport::load(path, device)?))
        .collect::<Result<Vec<_>>>()?;
    let first = exports
        .first()
        .ok_or_else(|| Error::Input("no export to evaluate".into()))?;
    let rm_names = first.meta.rm_names.clone();
    for (export, path) in exports.iter().zip(export_paths) {
        if export.meta.rm_names != rm_names {
            return Err(Error::Input(format!(
                "{} routes {:?}, {} routes {:?}: evaluate them separately",
                path.display(),
                export.meta.rm_names,
                export_paths[0].display(),
                rm_names
            )));
        }
    }
    let mut judged = read_records(records_path)?;
    if let Some(pool) = pool {
        score_missing(pool, &mut judged, batch_size, progress)?;
    }
    let records = routing_records(&judged, &rm_names)?;
    let keys: Vec<u64> = records.iter().map(|r| prompt_key(&r.pair.prompt)).collect();

    let mut selected: Option<Vec<usize>> = None;
    let mut seen = Vec::new();
    for (export, path) in exports.iter().zip(export_paths) {
        let (indices, export_seen) = select(export, path, &keys, split, records_path)?;
        if selected.as_ref().is_some_and(|s| *s != indices) {
            return Err(Error::Input(format!(
                "{} was trained on another split than {}: evaluate them separately",
                path.display(),
                export_paths[0].display()
            )));
        }
        selected = Some(indices);
        seen.extend(export_seen);
    }
    let selected = selected.unwrap_or_default();
    if !seen.is_empty() && !allow_seen {
        return Err(Error::Input(format!(
            "{}: {}; accuracy there is optimistic. Report the test part (the default), or \
             allow seen records explicitly to have the output marked as such",
            records_path.display(),
            seen.join("; ")
        )));
    }
    if selected.is_empty() {
        return Err(Error::Input(format!(
            "{}: no records in the {split:?} part of the run's split",
            records_path.display()
        )));
    }

    let groups: Vec<u64> = selected.iter().map(|&r| keys[r]).collect();
    let texts = DistinctTexts::of(&records, &selected);
    // Embeddings of the distinct texts, kept while the next export reads the same backbone.
    let mut embedded: Option<(BackboneKey, Tensor<2>)> = None;
    let mut routed_exports = Vec::with_capacity(exports.len());
    for (export, path) in exports.into_iter().zip(export_paths) {
        let step = export.meta.step;
        let selected_on_validation = export.meta.selected_on_validation;
        let context = export.into_context_function(device, batch_size)?;
        let hidden = match embedded.take() {
            Some((key, hidden)) if key == *context.backbone_key() => hidden,
            _ => context
                .embed_responses(&texts.texts, &mut |done| progress(done, texts.texts.len()))?,
        };
        let routed = route(
            &context,
            hidden.clone(),
            &texts,
            &records,
            &selected,
            batch_size,
        );
        embedded = Some((context.backbone_key().clone(), hidden));
        routed_exports.push(RoutedExport {
            checkpoint: path.clone(),
            step,
            selected_on_validation,
            routing_accuracy: routing_accuracy(&routed, rm_names.len())?,
            intervals: bootstrap_routing(&routed, &groups, rm_names.len(), BOOTSTRAP_RESAMPLES, 0)?,
        });
    }
    let mut prompts = groups.clone();
    prompts.sort_unstable();
    prompts.dedup();
    Ok(ExportEvaluation {
        rms: rm_names,
        split,
        records: selected.len(),
        prompts: prompts.len(),
        seen: (!seen.is_empty()).then(|| seen.join("; ")),
        exports: routed_exports,
    })
}

/// The record indices `split` takes for `export`, and what of them the export saw.
fn select(
    export: &RouterExport,
    path: &Path,
    keys: &[u64],
    split: EvalSplit,
    records_path: &Path,
) -> Result<(Vec<usize>, Vec<String>)> {
    let split_record = export_split(export)?;
    let Some(record) = &split_record else {
        if split != EvalSplit::All {
            return Err(Error::Input(format!(
                "{} has no split.json (it predates recorded train/validation/test splits), so \
                 which records of {} it trained or was selected on is unknown: retrain it, or \
                 score every record (split `all`) with seen records allowed, marked as such",
                path.display(),
                records_path.display()
            )));
        }
        return Ok((
            (0..keys.len()).collect(),
            vec![format!(
                "{} records no split: its training records may be among these",
                path.display()
            )],
        ));
    };
    let parts: Vec<Option<Part>> = keys.iter().map(|&key| record.part_of(key)).collect();
    let indices: Vec<usize> = (0..keys.len()).filter(|&r| split.takes(parts[r])).collect();
    let count = |part: Part| indices.iter().filter(|&&r| parts[r] == Some(part)).count();
    let mut seen = Vec::new();
    let trained = count(Part::Train);
    if trained > 0 {
        seen.push(format!(
            "{trained} of the {} records are in the training part of {}",
            indices.len(),
            path.display()
        ));
    }
    let validation = count(Part::Validation);
    if validation > 0 && export.meta.selected_on_validation {
        seen.push(format!(
            "{validation} of the {} records are in the validation part {} was selected on",
            indices.len(),
            path.display()
        ));
    }
    Ok((indices, seen))
}

/// The distinct (prompt, response) texts of the selected records, each embedded once however
/// many pairs it appears in, and where each record's two responses are among them.
struct DistinctTexts<'r> {
    /// The texts, in first-appearance order.
    texts: Vec<(&'r [ChatMessage], &'r str)>,
    /// Per selected record: the row of its chosen and of its rejected response.
    rows: Vec<(i64, i64)>,
}

impl<'r> DistinctTexts<'r> {
    fn of(records: &'r [RoutingRecord], selected: &[usize]) -> Self {
        let mut index: HashMap<(u64, &'r str), i64> = HashMap::new();
        let mut texts = Vec::new();
        let mut row_of = |prompt: &'r [ChatMessage], response: &'r str| -> i64 {
            *index
                .entry((prompt_key(prompt), response))
                .or_insert_with(|| {
                    texts.push((prompt, response));
                    texts.len() as i64 - 1
                })
        };
        let rows = selected
            .iter()
            .map(|&r| {
                let pair = &records[r].pair;
                (
                    row_of(&pair.prompt, &pair.chosen),
                    row_of(&pair.prompt, &pair.rejected),
                )
            })
            .collect();
        Self { texts, rows }
    }
}

/// The export's choice on each selected record, from the distinct texts' embeddings
/// `hidden` (`[texts, D]`).
fn route(
    context: &ContextFunction,
    hidden: Tensor<2>,
    texts: &DistinctTexts<'_>,
    records: &[RoutingRecord],
    selected: &[usize],
    batch_size: usize,
) -> Vec<RoutedRecord> {
    let device = hidden.device();
    let mut routed = Vec::with_capacity(selected.len());
    for (chunk, rows) in selected
        .chunks(batch_size.max(1))
        .zip(texts.rows.chunks(batch_size.max(1)))
    {
        let gather = |side: fn(&(i64, i64)) -> i64| {
            let ids: Vec<i64> = rows.iter().map(side).collect();
            hidden
                .clone()
                .select(0, Tensor::<1, Int>::from_data(ids.as_slice(), &device))
        };
        let chosen: Vec<i64> = context
            .bt_scores_of_embeddings(gather(|r| r.0), gather(|r| r.1))
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
    }
    routed
}
