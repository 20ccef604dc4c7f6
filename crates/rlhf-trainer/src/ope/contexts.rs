//! Each logged pair's routing context: from the log itself, or rebuilt with an export's
//! context function from the run's sampled responses.

use std::collections::HashMap;
use std::path::Path;

use router_export::{CandidateGroup, ContextFunction};

use crate::error::{Error, Result};
use crate::logs::{RoutingRecord, SampleRecord};
use crate::prompts::Prompt;

use super::log::LoggedPairs;

/// Candidate groups (one prompt of one iteration) per context-function call.
const GROUPS_PER_CALL: usize = 64;

/// The logged contexts of `records`, `[N, d]`, when every record carries one (a run with
/// `log_contexts`); `None` otherwise. Errors if their lengths differ.
pub fn logged_contexts(records: &[RoutingRecord], path: &Path) -> Result<Option<Vec<f64>>> {
    let Some(dim) = records
        .first()
        .and_then(|r| r.context.as_ref())
        .map(Vec::len)
    else {
        return Ok(None);
    };
    let mut values = Vec::with_capacity(records.len() * dim);
    for record in records {
        match &record.context {
            Some(context) if context.len() == dim => values.extend_from_slice(context),
            Some(context) => {
                return Err(Error::Mismatch(format!(
                    "{}: a context of length {} among contexts of length {dim}",
                    path.display(),
                    context.len()
                )));
            }
            None => return Ok(None),
        }
    }
    Ok(Some(values))
}

/// A batch slot of an iteration: (iteration, prompt id, occurrence in the batch).
pub type Slot = (usize, usize, usize);

/// samples.jsonl's lines by batch slot: the k-th line of an (iteration, prompt) is its
/// occurrence k (see [`LoggedPairs::occurrences`]).
pub fn samples_by_slot(samples: &[SampleRecord]) -> HashMap<Slot, &SampleRecord> {
    let mut seen: HashMap<(usize, usize), usize> = HashMap::new();
    samples
        .iter()
        .map(|sample| {
            let count = seen
                .entry((sample.iteration, sample.prompt_id))
                .or_insert(0);
            *count += 1;
            ((sample.iteration, sample.prompt_id, *count - 1), sample)
        })
        .collect()
}

/// Every row's e(x, a, b) under `context_fn`, `[N, d]` row-major, rebuilt from the run's
/// sampled responses (`samples`, samples.jsonl) and its prompts: what the trainer would have
/// routed on had it used this export. Each distinct response is embedded once per call.
/// Errors name the routing log's line when a pair points past its slot's responses.
pub fn rebuild_contexts(
    pairs: &LoggedPairs,
    samples: &[SampleRecord],
    prompts: &[Prompt],
    context_fn: &ContextFunction,
) -> Result<Vec<f64>> {
    let records = &pairs.records;
    let responses = samples_by_slot(samples);
    let messages: HashMap<usize, &Prompt> = prompts.iter().map(|p| (p.id, p)).collect();
    // Rows grouped by batch slot in order of first appearance.
    let mut groups: Vec<(Slot, Vec<usize>)> = Vec::new();
    let mut group_of: HashMap<Slot, usize> = HashMap::new();
    for (index, record) in records.iter().enumerate() {
        let key = (record.iteration, record.prompt_id, pairs.occurrences[index]);
        let group = *group_of.entry(key).or_insert_with(|| {
            groups.push((key, Vec::new()));
            groups.len() - 1
        });
        groups[group].1.push(index);
    }
    let dim = context_fn.meta().dim;
    if dim == 0 {
        return Err(Error::Mismatch("the export's contexts have width 0".into()));
    }
    let mut values = vec![0.0; records.len() * dim];
    for chunk in groups.chunks(GROUPS_PER_CALL) {
        let mut pair_lists = Vec::with_capacity(chunk.len());
        let mut inputs = Vec::with_capacity(chunk.len());
        for ((iteration, prompt_id, occurrence), members) in chunk {
            let sample = responses
                .get(&(*iteration, *prompt_id, *occurrence))
                .ok_or_else(|| {
                    Error::Mismatch(format!(
                        "samples.jsonl has no responses for prompt {prompt_id} of iteration \
                         {iteration} (occurrence {occurrence}), which {}:{} routes",
                        pairs.path.display(),
                        pairs.lines[members[0]]
                    ))
                })?;
            let prompt = messages.get(prompt_id).ok_or_else(|| {
                Error::Mismatch(format!(
                    "the prompts file has no prompt with id {prompt_id}"
                ))
            })?;
            let mut pair_list = Vec::with_capacity(members.len());
            for &i in members {
                let [a, b] = records[i].pair;
                if a.max(b) >= sample.responses.len() {
                    return Err(Error::Line {
                        path: pairs.path.clone(),
                        line: pairs.lines[i],
                        reason: format!(
                            "field `pair` is [{a}, {b}], but samples.jsonl has {} responses \
                             for its prompt",
                            sample.responses.len()
                        ),
                    });
                }
                pair_list.push((a, b));
            }
            pair_lists.push(pair_list);
            inputs.push((prompt, sample));
        }
        let groups: Vec<CandidateGroup<'_>> = inputs
            .iter()
            .zip(&pair_lists)
            .map(|((prompt, sample), pairs)| CandidateGroup {
                prompt: &prompt.messages,
                responses: &sample.responses,
                pairs,
            })
            .collect();
        let contexts = context_fn.candidate_contexts(&groups)?;
        let members: Vec<usize> = chunk
            .iter()
            .flat_map(|(_, members)| members.iter().copied())
            .collect();
        let [rows, width] = contexts.dims();
        if rows != members.len() || width != dim {
            return Err(Error::Mismatch(format!(
                "the context function returned [{rows}, {width}] contexts for {} pairs of \
                 width {dim}",
                members.len()
            )));
        }
        let contexts: Vec<f64> = contexts
            .try_into_vec_as::<f64>()
            .expect("a float tensor converts to f64");
        for (row, index) in contexts.chunks_exact(dim).zip(members) {
            values[index * dim..(index + 1) * dim].copy_from_slice(row);
        }
    }
    Ok(values)
}
