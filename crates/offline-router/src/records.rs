//! Preference records with the pool's judgments, as JSONL: TRL's pair layout (`prompt`,
//! `chosen`, `rejected`, optional `reference` and `category`) plus an optional `judgments`
//! object that maps each RM's name to `{"correct": bool, "margin": number}`: whether the RM
//! scored `chosen` above `rejected`, and by how much (in the RM's own units). A file without
//! judgments is a plain TRL pairs file; [`score_missing`](crate::score_missing) fills them in.

use std::collections::BTreeMap;
use std::path::Path;

use rm_pool::PreferencePair;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// One RM's judgment of one pair.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Judgment {
    /// The RM scored the chosen response strictly above the rejected one (a tie is wrong).
    pub correct: bool,
    /// score(chosen) − score(rejected), in the RM's units.
    pub margin: f64,
}

impl Judgment {
    /// The judgment of an RM that gave `chosen` and `rejected` these scores.
    pub fn from_scores(chosen: f64, rejected: f64) -> Self {
        Self {
            correct: chosen > rejected,
            margin: chosen - rejected,
        }
    }
}

/// A preference pair and the judgments known so far, by RM name.
#[derive(Clone, Debug, PartialEq)]
pub struct JudgedPair {
    /// The pair (chosen ≻ rejected).
    pub pair: PreferencePair,
    /// Judgments by RM name.
    pub judgments: BTreeMap<String, Judgment>,
}

impl JudgedPair {
    /// A pair with no judgments yet.
    pub fn new(pair: PreferencePair) -> Self {
        Self {
            pair,
            judgments: BTreeMap::new(),
        }
    }
}

/// Reads a records file (TRL pairs with optional judgments); errors name the line and field.
pub fn read_records(path: &Path) -> Result<Vec<JudgedPair>> {
    let text = std::fs::read_to_string(path).map_err(atomic_write::io_error(path))?;
    let mut records = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| Error::Data {
            path: path.into(),
            line: index + 1,
            reason,
        };
        let pair = PreferencePair::from_json_line(raw).map_err(bad)?;
        let value: Value = serde_json::from_str(raw).map_err(|err| bad(err.to_string()))?;
        let judgments = match value.get("judgments") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(judgments) => {
                parse_judgments(judgments).map_err(|why| bad(format!("`judgments`: {why}")))?
            }
        };
        records.push(JudgedPair { pair, judgments });
    }
    Ok(records)
}

fn parse_judgments(value: &Value) -> std::result::Result<BTreeMap<String, Judgment>, String> {
    let judgments: BTreeMap<String, Judgment> =
        serde_json::from_value(value.clone()).map_err(|err| {
            format!("expected {{\"<rm>\": {{\"correct\": bool, \"margin\": number}}}} ({err})")
        })?;
    for (rm, judgment) in &judgments {
        if !judgment.margin.is_finite() {
            return Err(format!(
                "RM `{rm}`: margin {} is not finite",
                judgment.margin
            ));
        }
        if judgment.correct && judgment.margin <= 0.0 {
            return Err(format!(
                "RM `{rm}`: correct with margin {} (a correct RM scores chosen higher)",
                judgment.margin
            ));
        }
    }
    Ok(judgments)
}

/// Writes records as JSON Lines, one object per line, replacing `path` whole
/// (`atomic_write::replace_file`).
pub fn write_records(path: &Path, records: &[JudgedPair]) -> Result<()> {
    let mut text = Vec::new();
    for record in records {
        let mut object = record.pair.to_json();
        if !record.judgments.is_empty() {
            let judgments = serde_json::to_value(&record.judgments)
                .map_err(|err| Error::Input(format!("serialising judgments: {err}")))?;
            object.insert("judgments".into(), judgments);
        }
        serde_json::to_writer(&mut text, &object)
            .map_err(|err| Error::Input(format!("serialising a record: {err}")))?;
        text.push(b'\n');
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(atomic_write::io_error(dir))?;
    }
    Ok(atomic_write::replace_file(path, &text)?)
}
