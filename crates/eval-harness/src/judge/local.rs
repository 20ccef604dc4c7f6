//! A local instruct model as a judge, run in-process by the lm crate: the system and user
//! prompts go through the model's own chat template and the reply is decoded greedily (so
//! judgments repeat exactly). Weak with the small models available here (SmolLM2-135M,
//! Qwen2.5-0.5B), but real and offline.

use burn::prelude::Device;
use lm::{CausalLm, ChatMessage, GenerationRequest, SamplingParams, Tokenizer, generate};

use crate::error::{Error, Result};
use crate::judge::Judge;

/// An lm model answering judge prompts.
pub struct LocalJudge {
    name: String,
    model: CausalLm,
    tokenizer: Tokenizer,
    device: Device,
    max_new_tokens: usize,
}

impl LocalJudge {
    /// A judge called `name` replying with at most `max_new_tokens` tokens.
    pub fn new(
        name: impl Into<String>,
        model: CausalLm,
        tokenizer: Tokenizer,
        device: Device,
        max_new_tokens: usize,
    ) -> Self {
        Self {
            name: name.into(),
            model,
            tokenizer,
            device,
            max_new_tokens,
        }
    }
}

impl Judge for LocalJudge {
    fn name(&self) -> &str {
        &self.name
    }

    fn judge(&self, system_prompt: &str, user_prompt: &str) -> Result<String> {
        let error = |err: lm::Error| Error::Metric {
            metric: "local judge",
            reason: format!("{}: {err}", self.name),
        };
        let mut messages = Vec::with_capacity(2);
        if !system_prompt.is_empty() {
            messages.push(ChatMessage::system(system_prompt));
        }
        messages.push(ChatMessage::user(user_prompt));
        let text = self
            .tokenizer
            .apply_chat_template(&messages, true)
            .map_err(error)?;
        let request = GenerationRequest {
            prompt: self.tokenizer.encode(&text, false).map_err(error)?,
            params: SamplingParams {
                stop_token_ids: self.tokenizer.eos_id().into_iter().collect(),
                ..SamplingParams::greedy(self.max_new_tokens)
            },
        };
        let pad = self.tokenizer.pad_id().unwrap_or(0);
        let output = generate(
            &self.model,
            &[request],
            pad,
            Some(&self.tokenizer),
            &self.device,
        )
        .map_err(error)?
        .remove(0);
        match output.text {
            Some(text) => Ok(text),
            None => self.tokenizer.decode(&output.tokens, true).map_err(error),
        }
    }
}
