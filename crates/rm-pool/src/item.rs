//! What a reward model scores: a response to a conversation, optionally with a reference
//! answer (for embedding similarity and verifiable rewards).

use lm::ChatMessage;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One (conversation, response) to score.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ScoreItem {
    /// The conversation so far, ending with the user turn the response answers.
    pub prompt: Vec<ChatMessage>,
    /// The assistant response to score.
    pub response: String,
    /// A reference answer: the gold solution for verifiers (GSM8K `… #### 18`, an MMLU
    /// letter), or a reference response for embedding similarity.
    #[serde(default)]
    pub reference: Option<String>,
    /// The item's category (task type, subset), for RMs whose behaviour depends on it.
    #[serde(default)]
    pub category: Option<String>,
}

impl ScoreItem {
    /// A single-turn item: `question` from the user, `response` to it.
    pub fn single_turn(question: impl Into<String>, response: impl Into<String>) -> Self {
        Self {
            prompt: vec![ChatMessage::user(question)],
            response: response.into(),
            reference: None,
            category: None,
        }
    }

    /// The same item with a reference answer.
    pub fn with_reference(mut self, reference: impl Into<String>) -> Self {
        self.reference = Some(reference.into());
        self
    }

    /// The last user turn (the question a judge is shown), or "" if there is none.
    pub fn question(&self) -> &str {
        self.prompt
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .map_or("", |m| m.content.as_str())
    }

    /// The conversation with the response appended as an assistant turn.
    pub fn conversation(&self) -> Vec<ChatMessage> {
        let mut messages = self.prompt.clone();
        messages.push(ChatMessage::assistant(&self.response));
        messages
    }

    /// The same item in `category`.
    pub fn with_category(mut self, category: impl Into<String>) -> Self {
        self.category = Some(category.into());
        self
    }

    /// A 128-bit digest of the prompt, response, reference and category: the score-cache
    /// key.
    pub fn digest(&self) -> [u8; 16] {
        let mut hasher = Sha256::new();
        for message in &self.prompt {
            for part in [&message.role, &message.content] {
                hasher.update((part.len() as u64).to_le_bytes());
                hasher.update(part.as_bytes());
            }
        }
        hasher.update([0xff]);
        hasher.update((self.response.len() as u64).to_le_bytes());
        hasher.update(self.response.as_bytes());
        for (tag, field) in [(0x01, &self.reference), (0x02, &self.category)] {
            if let Some(text) = field {
                hasher.update([tag]);
                hasher.update((text.len() as u64).to_le_bytes());
                hasher.update(text.as_bytes());
            }
        }
        let full = hasher.finalize();
        let mut key = [0; 16];
        key.copy_from_slice(&full[..16]);
        key
    }
}
