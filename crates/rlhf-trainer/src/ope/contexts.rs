//! Each logged pair's routing context: from the log itself, or rebuilt with an export's
//! context function from the run's sampled responses.

use std::collections::HashMap;
use std::path::Path;

use router_export::{CandidateGroup, ContextFunction};

use crate::error::{Error, Result};
use crate::logs::{RoutingRecord, SampleRecord};
use crate::prompts::Prompt;

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

/// Every record's e(x, a, b) under `context_fn`, `[N, d]` row-major, rebuilt from the run's
/// sampled responses (`samples`, samples.jsonl) and its prompts: what the trainer would have
/// routed on had it used this export. Each distinct response is embedded once per call.
pub fn rebuild_contexts(
    records: &[RoutingRecord],
    samples: &[SampleRecord],
    prompts: &[Prompt],
    context_fn: &ContextFunction,
) -> Result<Vec<f64>> {
    let responses: HashMap<(usize, usize), &SampleRecord> = samples
        .iter()
        .map(|s| ((s.iteration, s.prompt_id), s))
        .collect();
    let messages: HashMap<usize, &Prompt> = prompts.iter().map(|p| (p.id, p)).collect();
    // Records grouped by (iteration, prompt) in order of first appearance.
    let mut groups: Vec<((usize, usize), Vec<usize>)> = Vec::new();
    let mut group_of: HashMap<(usize, usize), usize> = HashMap::new();
    for (index, record) in records.iter().enumerate() {
        let key = (record.iteration, record.prompt_id);
        let group = *group_of.entry(key).or_insert_with(|| {
            groups.push((key, Vec::new()));
            groups.len() - 1
        });
        groups[group].1.push(index);
    }
    let dim = context_fn.meta().dim;
    let mut values = vec![0.0; records.len() * dim];
    for chunk in groups.chunks(GROUPS_PER_CALL) {
        let mut pair_lists = Vec::with_capacity(chunk.len());
        let mut inputs = Vec::with_capacity(chunk.len());
        for ((iteration, prompt_id), members) in chunk {
            let sample = responses.get(&(*iteration, *prompt_id)).ok_or_else(|| {
                Error::Mismatch(format!(
                    "samples.jsonl has no responses for prompt {prompt_id} of iteration \
                     {iteration}, which routing.jsonl routes"
                ))
            })?;
            let prompt = messages.get(prompt_id).ok_or_else(|| {
                Error::Mismatch(format!(
                    "the prompts file has no prompt with id {prompt_id}"
                ))
            })?;
            let pairs: Vec<(usize, usize)> = members
                .iter()
                .map(|&i| (records[i].pair[0], records[i].pair[1]))
                .collect();
            pair_lists.push(pairs);
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
        let contexts: Vec<f64> = context_fn
            .candidate_contexts(&groups)?
            .try_into_vec_as::<f64>()
            .expect("a float tensor converts to f64");
        let members = chunk.iter().flat_map(|(_, members)| members);
        for (row, &index) in contexts.chunks_exact(dim).zip(members) {
            values[index * dim..(index + 1) * dim].copy_from_slice(row);
        }
    }
    Ok(values)
}
