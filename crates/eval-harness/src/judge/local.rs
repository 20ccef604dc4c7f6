//! A local instruct model as a judge, run in-process by the lm crate: the system and user
//! prompts go through the model's own chat template and the reply is decoded greedily (so
//! judgments repeat exactly). Weak with the small models available here (SmolLM2-135M,
//! Qwen2.5-0.5B), but real and offline.

use burn::prelude::Device;
use lm::{
    CausalLm, ChatMessage, GenerationRequest, SamplingParams, Tokenizer, generate,
    next_token_logprobs,
};

use crate::error::{Error, Result};
use crate::judge::{Judge, TokenLogprob};

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

impl LocalJudge {
    fn error(&self, err: lm::Error) -> Error {
        Error::Metric {
            metric: "local judge",
            reason: format!("{}: {err}", self.name),
        }
    }

    /// The judge prompt as token ids: the system and user turns through the model's chat
    /// template, with the assistant turn opened.
    fn prompt_ids(&self, system_prompt: &str, user_prompt: &str) -> Result<Vec<u32>> {
        let mut messages = Vec::with_capacity(2);
        if !system_prompt.is_empty() {
            messages.push(ChatMessage::system(system_prompt));
        }
        messages.push(ChatMessage::user(user_prompt));
        let text = self
            .tokenizer
            .apply_chat_template(&messages, true)
            .map_err(|e| self.error(e))?;
        self.tokenizer
            .encode(&text, false)
            .map_err(|e| self.error(e))
    }
}

impl Judge for LocalJudge {
    fn name(&self) -> &str {
        &self.name
    }

    fn judge(&self, system_prompt: &str, user_prompt: &str) -> Result<String> {
        let request = GenerationRequest {
            prompt: self.prompt_ids(system_prompt, user_prompt)?,
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
        .map_err(|e| self.error(e))?
        .remove(0);
        match output.text {
            Some(text) => Ok(text),
            None => self
                .tokenizer
                .decode(&output.tokens, true)
                .map_err(|e| self.error(e)),
        }
    }

    /// The exact next-token distribution after the opened assistant turn (one forward pass),
    /// cut to its `top` most likely tokens.
    fn first_token_logprobs(
        &self,
        system_prompt: &str,
        user_prompt: &str,
        top: usize,
    ) -> Result<Vec<TokenLogprob>> {
        let prompt = self.prompt_ids(system_prompt, user_prompt)?;
        let pad = self.tokenizer.pad_id().unwrap_or(0);
        let logprobs = next_token_logprobs(&self.model, &[prompt], pad, &self.device)
            .map_err(|e| self.error(e))?
            .try_into_vec_as::<f32>()
            .map_err(|e| Error::Metric {
                metric: "local judge",
                reason: format!("{}: reading log-probabilities: {e:?}", self.name),
            })?;
        let mut ranked: Vec<(usize, f32)> = logprobs.into_iter().enumerate().collect();
        let top = top.min(ranked.len());
        if top == 0 {
            return Ok(Vec::new());
        }
        ranked.select_nth_unstable_by(top - 1, |a, b| b.1.total_cmp(&a.1));
        ranked.truncate(top);
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked
            .into_iter()
            .map(|(id, logprob)| {
                let token = self
                    .tokenizer
                    .decode(&[id as u32], false)
                    .map_err(|e| self.error(e))?;
                Ok(TokenLogprob {
                    token,
                    logprob: f64::from(logprob),
                })
            })
            .collect()
    }
}
