//! Scoring preference records with a pool of RMs: each RM scores both responses of every
//! record it has not judged yet (the pool caches scores, so a response shared by several
//! records is scored once), and the verdict and margin are recorded.

use rm_pool::RmPool;

use crate::error::Result;
use crate::records::{JudgedPair, Judgment};

/// Fills in, for every RM of `pool`, the judgments `records` lack, scoring `batch_size`
/// records (2 × `batch_size` responses) per call; `progress(done, total)` counts records
/// scored across all RMs. Returns how many judgments were added.
///
/// On an error the records judged before it keep their new judgments; nothing is half-written.
pub fn score_missing(
    pool: &mut RmPool,
    records: &mut [JudgedPair],
    batch_size: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<usize> {
    let names = pool.names();
    let missing: Vec<(usize, Vec<usize>)> = names
        .iter()
        .enumerate()
        .map(|(rm, name)| {
            let todo = (0..records.len())
                .filter(|&i| !records[i].judgments.contains_key(name))
                .collect();
            (rm, todo)
        })
        .collect();
    let total: usize = missing.iter().map(|(_, todo)| todo.len()).sum();
    let mut done = 0;
    progress(done, total);
    for (rm, todo) in missing {
        for chunk in todo.chunks(batch_size.max(1)) {
            let items: Vec<_> = chunk
                .iter()
                .flat_map(|&i| {
                    let (chosen, rejected) = records[i].pair.items();
                    [chosen, rejected]
                })
                .collect();
            let scores = pool.score(rm, &items)?;
            for (&i, pair) in chunk.iter().zip(scores.chunks_exact(2)) {
                let judgment = Judgment::from_scores(f64::from(pair[0]), f64::from(pair[1]));
                records[i].judgments.insert(names[rm].clone(), judgment);
            }
            done += chunk.len();
            progress(done, total);
        }
    }
    Ok(total)
}
