//! The training prompts: a JSONL file read once, and the seeded epoch-wise schedule that
//! draws B of them per iteration without replacement.

use std::path::Path;

use lm::{ChatMessage, Tokenizer};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// One training prompt.
#[derive(Clone, Debug, PartialEq)]
pub struct Prompt {
    /// Its 0-based index in the file (the id the routing log uses).
    pub id: usize,
    /// The conversation the policy continues (a single user turn for `prompt` lines).
    pub messages: Vec<ChatMessage>,
    /// Task type (e.g. a domain name), for per-category metrics and category-aware RMs.
    pub category: Option<String>,
    /// A reference answer, for RMs that compare with one and for the oracle's verifier
    /// (e.g. GSM8K's `… #### 18`).
    pub reference: Option<String>,
}

impl Prompt {
    /// Its tokens as the policy reads it: the chat template with the generation prompt
    /// when `tokenizer` has one, else the turns' texts separated by blank lines.
    pub fn tokens(&self, tokenizer: &Tokenizer) -> Result<Vec<u32>> {
        let text = match tokenizer.chat_template() {
            Some(_) => tokenizer.apply_chat_template(&self.messages, true)?,
            None => self
                .messages
                .iter()
                .map(|m| m.content.as_str())
                .collect::<Vec<_>>()
                .join("\n\n"),
        };
        let tokens = tokenizer.encode(&text, false)?;
        if tokens.is_empty() {
            return Err(Error::Mismatch(format!(
                "prompt {} encodes to no tokens",
                self.id
            )));
        }
        Ok(tokens)
    }
}

/// Reads a prompts file: one JSON object per line with `prompt` (a string) or `messages`
/// (a chat, `[{"role": "user", "content": "…"}, …]`), and optionally `category` and
/// `reference`; blank lines are skipped. Errors name the file and line.
pub fn read_prompts(path: &Path) -> Result<Vec<Prompt>> {
    let text = std::fs::read_to_string(path).map_err(atomic_write::io_error(path))?;
    let mut prompts = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| Error::Line {
            path: path.to_path_buf(),
            line: index + 1,
            reason,
        };
        let value: Value = serde_json::from_str(raw).map_err(|e| bad(e.to_string()))?;
        let object = value
            .as_object()
            .ok_or_else(|| bad("expected a JSON object".into()))?;
        let messages = match (object.get("prompt"), object.get("messages")) {
            (Some(Value::String(prompt)), None) => vec![ChatMessage::user(prompt.as_str())],
            (None, Some(messages)) => {
                let messages: Vec<ChatMessage> = serde_json::from_value(messages.clone())
                    .map_err(|e| bad(format!("`messages`: {e}")))?;
                match messages.last() {
                    Some(last) if last.role == "user" => messages,
                    _ => return Err(bad("`messages` must end with a user turn".into())),
                }
            }
            (Some(_), Some(_)) => return Err(bad("give `prompt` or `messages`, not both".into())),
            (Some(_), None) => return Err(bad("`prompt` must be a string".into())),
            (None, None) => return Err(bad("no `prompt` or `messages` field".into())),
        };
        if messages.iter().all(|m| m.content.trim().is_empty()) {
            return Err(bad("the prompt is empty".into()));
        }
        let text_field = |key: &str| -> Result<Option<String>> {
            match object.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(bad(format!("`{key}` must be a string, found {other}"))),
            }
        };
        prompts.push(Prompt {
            id: prompts.len(),
            messages,
            category: text_field("category")?,
            reference: text_field("reference")?,
        });
    }
    if prompts.is_empty() {
        return Err(Error::Line {
            path: path.to_path_buf(),
            line: 1,
            reason: "the file holds no prompts".into(),
        });
    }
    Ok(prompts)
}

/// Writes `prompts` as a prompts file that [`read_prompts`] reads back: a single user turn as
/// `prompt`, a longer chat as `messages`, with `category` and `reference` when set. Written
/// atomically.
pub fn write_prompts(path: &Path, prompts: &[Prompt]) -> Result<()> {
    let mut text = String::new();
    for prompt in prompts {
        let mut line = serde_json::Map::new();
        match prompt.messages.as_slice() {
            [only] if only.role == "user" => {
                line.insert("prompt".into(), Value::String(only.content.clone()));
            }
            messages => {
                let messages =
                    serde_json::to_value(messages).map_err(atomic_write::json_error(path))?;
                line.insert("messages".into(), messages);
            }
        }
        for (key, value) in [
            ("category", &prompt.category),
            ("reference", &prompt.reference),
        ] {
            if let Some(value) = value {
                line.insert(key.into(), Value::String(value.clone()));
            }
        }
        text.push_str(&Value::Object(line).to_string());
        text.push('\n');
    }
    Ok(atomic_write::replace_file(path, text.as_bytes())?)
}

/// Epoch-wise sampling without replacement: each epoch visits every prompt once, in an order
/// drawn from the seed and the epoch number alone, so the schedule's whole state is two
/// integers and a resumed run draws exactly what the uninterrupted one would.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptSchedule {
    seed: u64,
    len: usize,
    epoch: u64,
    /// Prompts of the current epoch already drawn.
    cursor: usize,
}

impl PromptSchedule {
    /// A schedule over `len` prompts, at the start of epoch 0.
    pub fn new(len: usize, seed: u64) -> Self {
        Self {
            seed,
            len,
            epoch: 0,
            cursor: 0,
        }
    }

    /// The next `batch` prompt indices. A batch that crosses an epoch boundary finishes the
    /// old epoch and starts the new one (so a prompt may repeat only across epochs).
    pub fn next_batch(&mut self, batch: usize) -> Vec<usize> {
        let mut drawn = Vec::with_capacity(batch);
        while drawn.len() < batch && self.len > 0 {
            let order = self.epoch_order();
            let take = (batch - drawn.len()).min(self.len - self.cursor);
            drawn.extend_from_slice(&order[self.cursor..self.cursor + take]);
            self.cursor += take;
            if self.cursor == self.len {
                self.epoch += 1;
                self.cursor = 0;
            }
        }
        drawn
    }

    /// Completed epochs.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    fn epoch_order(&self) -> Vec<usize> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ self.epoch.wrapping_mul(0x9E37_79B9));
        let mut order: Vec<usize> = (0..self.len).collect();
        order.shuffle(&mut rng);
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_visit_every_prompt_once() {
        let mut schedule = PromptSchedule::new(7, 3);
        let first: Vec<usize> = (0..7).flat_map(|_| schedule.next_batch(1)).collect();
        let mut sorted = first.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..7).collect::<Vec<_>>());
        assert_eq!(schedule.epoch(), 1);
        // A batch across the boundary: 3 from epoch 1's order, then epoch 2 starts.
        let mut schedule = PromptSchedule::new(7, 3);
        let a = schedule.next_batch(5);
        let b = schedule.next_batch(5);
        assert_eq!(a, first[..5]);
        assert_eq!(b[..2], first[5..]);
    }

    #[test]
    fn a_schedule_resumes_from_its_saved_state() {
        // Saved mid-epoch the way a checkpoint saves it, read back, and continued: the same
        // batches as the run that never stopped, across the next epoch boundary.
        let mut schedule = PromptSchedule::new(7, 3);
        schedule.next_batch(5);
        let saved = serde_json::to_string(&schedule).unwrap();
        let uninterrupted: Vec<Vec<usize>> = (0..4).map(|_| schedule.next_batch(3)).collect();
        let mut resumed: PromptSchedule = serde_json::from_str(&saved).unwrap();
        let continued: Vec<Vec<usize>> = (0..4).map(|_| resumed.next_batch(3)).collect();
        assert_eq!(continued, uninterrupted);
        assert_eq!(resumed.epoch(), schedule.epoch());
        // A fresh schedule does not produce the same stream (the state carried something).
        let mut fresh = PromptSchedule::new(7, 3);
        let restart: Vec<Vec<usize>> = (0..4).map(|_| fresh.next_batch(3)).collect();
        assert_ne!(restart, uninterrupted);
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.jsonl");
        std::fs::write(&path, "{\"prompt\": \"hi\"}\n\n{\"prompt\": 3}\n").unwrap();
        let err = read_prompts(&path).unwrap_err().to_string();
        assert!(err.contains("p.jsonl:3") && err.contains("string"), "{err}");
        std::fs::write(&path, "").unwrap();
        let err = read_prompts(&path).unwrap_err().to_string();
        assert!(err.contains("no prompts"), "{err}");
        std::fs::write(
            &path,
            "{\"messages\": [{\"role\": \"user\", \"content\": \"2+2?\"}], \"category\": \"math\", \"reference\": \"4\"}\n",
        )
        .unwrap();
        let prompts = read_prompts(&path).unwrap();
        assert_eq!(prompts[0].category.as_deref(), Some("math"));
        assert_eq!(prompts[0].reference.as_deref(), Some("4"));
        // Written and read back unchanged, single-turn and multi-turn.
        let mut both = prompts.clone();
        both.push(Prompt {
            id: 1,
            messages: vec![ChatMessage::system("Be brief."), ChatMessage::user("2+3?")],
            category: None,
            reference: None,
        });
        write_prompts(&path, &both).unwrap();
        assert_eq!(read_prompts(&path).unwrap(), both);
    }
}
