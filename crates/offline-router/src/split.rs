//! The train / validation / test split, by prompt, and its record in every export.
//!
//! A record's part depends only on its prompt and the seed: the first 8 bytes of
//! SHA-256(seed as 8 little-endian bytes ‖ the prompt's messages as JSON), read as a
//! little-endian integer and divided by 2⁶⁴, give a number u in [0, 1); u < `test` puts it in
//! the test part, u < `test + validation` in the validation part, anything else in training.
//! Every pair of one prompt lands in the same part (no prompt leaks between parts), a
//! record's part does not depend on the file's order or on the other records, and raising
//! the validation fraction never moves a test record.
//!
//! The export records which prompts went where ([`SplitRecord`], `split.json` beside
//! `router.safetensors`), so that `eval` can refuse records a checkpoint was trained or
//! selected on, in the run's own file or any other.

use std::collections::BTreeSet;
use std::path::Path;

use lm::ChatMessage;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dataset::RoutingRecord;
use crate::error::{Error, Result};
use atomic_write::read_json;

/// Format tag of `split.json`.
pub const SPLIT_FORMAT: &str = "offline-router-split";
/// Version of `split.json` this build writes and reads.
pub const SPLIT_VERSION: u32 = 1;
/// The split record's file name inside an export folder.
pub const SPLIT_FILE: &str = "split.json";

/// Fractions of prompts held out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SplitFractions {
    /// For keep-best selection.
    pub validation: f64,
    /// For the final report, touched only by `eval`.
    pub test: f64,
}

/// Which part of the split a record belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// Trained on.
    Train,
    /// Checkpoints were selected on it.
    Validation,
    /// Held out for the report.
    Test,
}

/// Record indices of the three parts, each in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DataSplit {
    /// Trained on.
    pub train: Vec<usize>,
    /// For keep-best selection.
    pub validation: Vec<usize>,
    /// Held out.
    pub test: Vec<usize>,
}

/// A prompt's key: the first 8 bytes of SHA-256 of its messages as JSON, little-endian. The
/// unit of the split, of `split.json` and of the bootstrap over prompts.
pub fn prompt_key(prompt: &[ChatMessage]) -> u64 {
    prompt_hash(&[], prompt)
}

/// The split's number u in [0, 1) of `prompt` under `seed` (module docs).
fn prompt_unit(prompt: &[ChatMessage], seed: u64) -> f64 {
    prompt_hash(&seed.to_le_bytes(), prompt) as f64 / 2f64.powi(64)
}

/// The first 8 bytes, little-endian, of SHA-256(`prefix` ‖ the prompt's messages as JSON).
fn prompt_hash(prefix: &[u8], prompt: &[ChatMessage]) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update(prefix);
    hasher.update(serde_json::to_vec(prompt).unwrap_or_default());
    u64::from_le_bytes(hasher.finalize()[..8].try_into().expect("8 bytes"))
}

/// Splits record indices by prompt (module docs).
pub fn split_by_prompt(
    records: &[RoutingRecord],
    fractions: SplitFractions,
    seed: u64,
) -> DataSplit {
    let test = fractions.test.clamp(0.0, 1.0);
    let validation = (test + fractions.validation.clamp(0.0, 1.0)).min(1.0);
    let mut split = DataSplit::default();
    for (index, record) in records.iter().enumerate() {
        let unit = prompt_unit(&record.pair.prompt, seed);
        if unit < test {
            split.test.push(index);
        } else if unit < validation {
            split.validation.push(index);
        } else {
            split.train.push(index);
        }
    }
    split
}

/// What an export knows of the data behind it: the split's settings and every prompt key
/// of each part (`split.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitRecord {
    /// [`SPLIT_FORMAT`].
    pub format: String,
    /// [`SPLIT_VERSION`].
    pub version: u32,
    /// The run's seed.
    pub seed: u64,
    /// `data.validation_fraction` of the run.
    pub validation_fraction: f64,
    /// `data.test_fraction` of the run.
    pub test_fraction: f64,
    /// Prompt keys ([`prompt_key`], 16 hex digits) trained on, sorted.
    pub train: BTreeSet<String>,
    /// Prompt keys of the validation part, sorted.
    pub validation: BTreeSet<String>,
    /// Prompt keys of the test part, sorted.
    pub test: BTreeSet<String>,
}

impl SplitRecord {
    /// The record of `split` over `records`.
    pub fn new(
        records: &[RoutingRecord],
        split: &DataSplit,
        fractions: SplitFractions,
        seed: u64,
    ) -> Self {
        let keys = |indices: &[usize]| -> BTreeSet<String> {
            indices
                .iter()
                .map(|&i| format!("{:016x}", prompt_key(&records[i].pair.prompt)))
                .collect()
        };
        Self {
            format: SPLIT_FORMAT.into(),
            version: SPLIT_VERSION,
            seed,
            validation_fraction: fractions.validation,
            test_fraction: fractions.test,
            train: keys(&split.train),
            validation: keys(&split.validation),
            test: keys(&split.test),
        }
    }

    /// The part the prompt with key `key` was in; `None` for a prompt the run never saw.
    pub fn part_of(&self, key: u64) -> Option<Part> {
        let key = format!("{key:016x}");
        if self.train.contains(&key) {
            Some(Part::Train)
        } else if self.validation.contains(&key) {
            Some(Part::Validation)
        } else if self.test.contains(&key) {
            Some(Part::Test)
        } else {
            None
        }
    }

    /// Writes the record as `dir/split.json`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(SPLIT_FILE);
        let json = serde_json::to_string_pretty(self)
            .map_err(|err| Error::Input(format!("serialising the split record: {err}")))?;
        Ok(std::fs::write(&path, json + "\n").map_err(atomic_write::io_error(&path))?)
    }

    /// Reads `dir/split.json`: `None` when the export has none (written before the file
    /// existed); an error when it is unreadable or of another format.
    pub fn read(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(SPLIT_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let record: Self = read_json(&path)?;
        if (record.format.as_str(), record.version) != (SPLIT_FORMAT, SPLIT_VERSION) {
            return Err(Error::artifact(
                &path,
                format!(
                    "format {} v{}, this build reads {SPLIT_FORMAT} v{SPLIT_VERSION}",
                    record.format, record.version
                ),
            ));
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rm_pool::PreferencePair;

    fn record(prompt: &str, response: &str) -> RoutingRecord {
        RoutingRecord {
            pair: PreferencePair {
                prompt: vec![ChatMessage::user(prompt)],
                chosen: response.into(),
                rejected: format!("not {response}"),
                reference: None,
                category: None,
            },
            correct: vec![true],
            margin: vec![1.0],
        }
    }

    fn fractions(validation: f64, test: f64) -> SplitFractions {
        SplitFractions { validation, test }
    }

    proptest! {
        /// The three parts partition the records, every prompt lies in one part, and a
        /// record's part does not change when the file is reordered.
        #[test]
        fn parts_are_disjoint_by_prompt_and_stable_under_order(
            prompts in prop::collection::vec(0u8..40, 1..80),
            validation in 0.0f64..0.5,
            test in 0.0f64..0.5,
            seed in any::<u64>(),
            rotation in 0usize..80,
        ) {
            let records: Vec<RoutingRecord> = prompts
                .iter()
                .enumerate()
                .map(|(i, p)| record(&format!("prompt {p}"), &format!("answer {i}")))
                .collect();
            let split = split_by_prompt(&records, fractions(validation, test), seed);
            let part_of = |split: &DataSplit, records: &[RoutingRecord]| {
                let mut parts = std::collections::HashMap::new();
                for (part, indices) in [
                    (Part::Train, &split.train),
                    (Part::Validation, &split.validation),
                    (Part::Test, &split.test),
                ] {
                    for &i in indices {
                        prop_assert!(parts.insert(records[i].pair.chosen.clone(), part).is_none());
                    }
                }
                prop_assert_eq!(parts.len(), records.len());
                Ok(parts)
            };
            let parts = part_of(&split, &records)?;
            // One part per prompt.
            let mut by_prompt = std::collections::HashMap::new();
            for r in &records {
                let part = parts[&r.pair.chosen];
                prop_assert_eq!(*by_prompt.entry(r.pair.prompt.clone()).or_insert(part), part);
            }
            // Reordering the file moves no record.
            let mut shuffled = records.clone();
            shuffled.rotate_left(rotation % records.len());
            shuffled.reverse();
            let reordered = part_of(&split_by_prompt(&shuffled, fractions(validation, test), seed), &shuffled)?;
            prop_assert_eq!(parts, reordered);
        }

        /// A larger validation fraction never moves a test record.
        #[test]
        fn test_part_ignores_the_validation_fraction(
            n in 1usize..60,
            low in 0.0f64..0.4,
            extra in 0.0f64..0.4,
            seed in any::<u64>(),
        ) {
            let records: Vec<RoutingRecord> =
                (0..n).map(|i| record(&format!("q{i}"), "a")).collect();
            let a = split_by_prompt(&records, fractions(low, 0.3), seed);
            let b = split_by_prompt(&records, fractions(low + extra, 0.3), seed);
            prop_assert_eq!(a.test, b.test);
        }
    }

    #[test]
    fn the_record_places_each_prompt_and_round_trips() {
        let records: Vec<RoutingRecord> = (0..50)
            .map(|i| record(&format!("q{i}"), &format!("a{i}")))
            .collect();
        let split = split_by_prompt(&records, fractions(0.2, 0.3), 3);
        assert!(!split.train.is_empty() && !split.validation.is_empty() && !split.test.is_empty());
        let saved = SplitRecord::new(&records, &split, fractions(0.2, 0.3), 3);
        for (part, indices) in [
            (Part::Train, &split.train),
            (Part::Validation, &split.validation),
            (Part::Test, &split.test),
        ] {
            for &i in indices {
                assert_eq!(
                    saved.part_of(prompt_key(&records[i].pair.prompt)),
                    Some(part)
                );
            }
        }
        assert_eq!(
            saved.part_of(prompt_key(&[ChatMessage::user("unseen")])),
            None
        );
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(SplitRecord::read(dir.path()).unwrap(), None);
        saved.write(dir.path()).unwrap();
        assert_eq!(SplitRecord::read(dir.path()).unwrap(), Some(saved));
    }
}
