//! Preference pairs in TRL's JSONL layout: one object per line with `prompt`, `chosen` and
//! `rejected`, each a string or (conversational form) a list of `{role, content}` messages;
//! optional `reference` (gold answer) and `category`. Malformed lines are errors naming the
//! file, the line and the field.

use std::path::Path;

use lm::ChatMessage;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::item::ScoreItem;

/// `prompt` with `chosen` ≻ `rejected`.
#[derive(Clone, Debug, PartialEq)]
pub struct PreferencePair {
    /// The conversation both responses answer.
    pub prompt: Vec<ChatMessage>,
    /// The better response.
    pub chosen: String,
    /// The worse response.
    pub rejected: String,
    /// A reference answer, when the data set has one.
    pub reference: Option<String>,
    /// The pair's category (subset), when given.
    pub category: Option<String>,
}

impl PreferencePair {
    /// The two items to score: (chosen, rejected).
    pub fn items(&self) -> (ScoreItem, ScoreItem) {
        let item = |response: &str| ScoreItem {
            prompt: self.prompt.clone(),
            response: response.into(),
            reference: self.reference.clone(),
            category: self.category.clone(),
        };
        (item(&self.chosen), item(&self.rejected))
    }
}

#[derive(Deserialize)]
struct Line {
    prompt: Value,
    chosen: Value,
    rejected: Value,
    #[serde(default)]
    reference: Option<String>,
    #[serde(default)]
    category: Option<String>,
}

impl PreferencePair {
    /// Parses one JSONL line (fields other than the pair's are ignored); the error says
    /// which field is wrong.
    pub fn from_json_line(raw: &str) -> std::result::Result<Self, String> {
        let line: Line = serde_json::from_str(raw).map_err(|err| err.to_string())?;
        let prompt = match line.prompt {
            Value::String(text) => vec![ChatMessage::user(text)],
            value => messages(value).map_err(|why| format!("`prompt`: {why}"))?,
        };
        if prompt.is_empty() {
            return Err("`prompt` is empty".into());
        }
        let response = |value: Value, field: &str| -> std::result::Result<String, String> {
            match value {
                Value::String(text) => Ok(text),
                value => messages(value)
                    .map_err(|why| format!("`{field}`: {why}"))?
                    .pop()
                    .filter(|m| m.role == "assistant")
                    .map(|m| m.content)
                    .ok_or_else(|| format!("`{field}` must end with an assistant message")),
            }
        };
        Ok(Self {
            prompt,
            chosen: response(line.chosen, "chosen")?,
            rejected: response(line.rejected, "rejected")?,
            reference: line.reference,
            category: line.category,
        })
    }

    /// The pair as a JSON object in the layout [`read_pairs`] reads: the prompt as a string
    /// when it is one user turn, else as messages; `reference` and `category` when set.
    pub fn to_json(&self) -> serde_json::Map<String, Value> {
        let mut object = serde_json::Map::new();
        let prompt = match self.prompt.as_slice() {
            [only] if only.role == "user" => Value::String(only.content.clone()),
            messages => serde_json::to_value(messages).unwrap_or(Value::Null),
        };
        object.insert("prompt".into(), prompt);
        object.insert("chosen".into(), Value::String(self.chosen.clone()));
        object.insert("rejected".into(), Value::String(self.rejected.clone()));
        if let Some(reference) = &self.reference {
            object.insert("reference".into(), Value::String(reference.clone()));
        }
        if let Some(category) = &self.category {
            object.insert("category".into(), Value::String(category.clone()));
        }
        object
    }
}

/// Reads a pairs file.
pub fn read_pairs(path: &Path) -> Result<Vec<PreferencePair>> {
    let text = std::fs::read_to_string(path).map_err(atomic_write::io_error(path))?;
    let mut pairs = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        pairs.push(
            PreferencePair::from_json_line(raw).map_err(|reason| Error::Data {
                path: path.into(),
                line: index + 1,
                reason,
            })?,
        );
    }
    Ok(pairs)
}

/// A `[{role, content}, …]` list.
fn messages(value: Value) -> std::result::Result<Vec<ChatMessage>, String> {
    serde_json::from_value(value)
        .map_err(|err| format!("expected a string or a list of {{role, content}} messages ({err})"))
}
