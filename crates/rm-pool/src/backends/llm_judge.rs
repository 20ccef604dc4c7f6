//! LLM-judge reward models: any instruct LM the lm crate loads (Hugging Face folder or GGUF)
//! reads a judging prompt and is scored on its next-token distribution at the start of its
//! answer — no text is generated.
//!
//! The judging prompt is a Jinja template (minijinja) over `prompt` (the last user turn),
//! `response`, `reference` (or empty) and `messages` (the whole conversation); it is sent as
//! one user turn through the model's own chat template with the generation prompt added.
//! Scores:
//! - verdict: log p(positive) − log p(negative), e.g. "Yes" vs "No" (nats);
//! - rating: the expected rating Σ r·p(r) over the rating tokens, renormalised among them;
//! - likelihood: the mean log-probability per token of the response itself after the
//!   conversation (chat template, generation prompt), in nats — a generative RM that needs
//!   no judging prompt (the template is not used). An empty response scores log p(EOS).
//!
//! Every verdict or rating string must be a single token of the model's vocabulary (checked
//! at load, naming the string): single digits in the Llama-3/Qwen/SmolLM2 tokenizers, so a
//! rating scale is at most 0–9 there.

use std::path::Path;

use burn::prelude::*;
use lm::{
    CausalLm, ChatMessage, DeviceSpec, Gguf, Tokenizer, WeightDType, is_gguf, load_causal_lm,
    next_token_logprobs, sequence_logprobs,
};
use minijinja::Environment;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::item::ScoreItem;
use crate::reward_model::{RewardModel, RmInfo};
use crate::truncate::fit;

/// How the judge's next-token distribution becomes a score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum JudgeScoring {
    /// log p(`positive`) − log p(`negative`).
    Verdict {
        /// The token meaning "good" (e.g. "Yes").
        positive: String,
        /// The token meaning "bad" (e.g. "No").
        negative: String,
    },
    /// The expected rating over the ratings `min..=max` (each written as its digits).
    Rating {
        /// Lowest rating.
        min: u32,
        /// Highest rating.
        max: u32,
    },
    /// Mean log p(response token | conversation, earlier response tokens).
    Likelihood,
    /// Σ log p(response token | conversation, earlier response tokens): the response's
    /// whole log-probability, as lm-eval's `acc` compares multiple-choice continuations.
    /// Unlike the mean it is not raised by tokens that merely copy the prompt, and it
    /// favours shorter responses.
    SummedLikelihood,
}

impl JudgeScoring {
    /// Whether the score is a log-probability of the response (no template, no labels).
    fn is_likelihood(&self) -> bool {
        matches!(self, Self::Likelihood | Self::SummedLikelihood)
    }
}

/// An LLM judge.
pub struct LlmJudgeRm {
    name: String,
    description: String,
    model: CausalLm,
    tokenizer: Tokenizer,
    device: Device,
    template: String,
    /// Token ids scored, and the value each stands for (verdict: +1 / −1; rating: r).
    labels: Vec<(u32, f32)>,
    scoring: JudgeScoring,
    max_tokens: usize,
    batch_size: usize,
    truncations: usize,
}

impl LlmJudgeRm {
    /// Loads the judge model at `path` (HF folder or .gguf).
    pub fn load(
        name: &str,
        path: &Path,
        device: &DeviceSpec,
        template: &str,
        scoring: JudgeScoring,
        max_tokens: usize,
        batch_size: usize,
    ) -> Result<Self> {
        let attributed = |source| Error::model(name, source);
        let device = device.device().map_err(attributed)?;
        let (config, model) =
            load_causal_lm(path, &device, WeightDType::F32).map_err(attributed)?;
        let tokenizer = if is_gguf(path) {
            Tokenizer::from_gguf(&Gguf::open(path).map_err(attributed)?)
        } else {
            Tokenizer::from_hf_dir(path)
        }
        .map_err(attributed)?;
        Self {
            name: name.into(),
            description: path.display().to_string(),
            model,
            tokenizer,
            device,
            template: String::new(),
            labels: Vec::new(),
            scoring: JudgeScoring::Likelihood,
            max_tokens: max_tokens.min(config.max_positions),
            batch_size: batch_size.max(1),
            truncations: 0,
        }
        .with_scoring(template, scoring)
    }

    /// The same loaded model judging with another prompt template and scoring rule.
    pub fn with_scoring(mut self, template: &str, scoring: JudgeScoring) -> Result<Self> {
        let name = self.name.clone();
        // The template must parse; render errors later name the item.
        Environment::new()
            .template_from_str(template)
            .map_err(|err| Error::backend(&name, format!("judge template: {err}")))?;
        let single_token = |text: &str| -> Result<u32> {
            let ids = self
                .tokenizer
                .encode(text, false)
                .map_err(|source| Error::model(&name, source))?;
            match ids.as_slice() {
                [id] => Ok(*id),
                _ => Err(Error::backend(
                    &name,
                    format!(
                        "{text:?} is {} tokens ({ids:?}); a score label must be one token",
                        ids.len()
                    ),
                )),
            }
        };
        self.labels = match &scoring {
            JudgeScoring::Verdict { positive, negative } => {
                vec![
                    (single_token(positive)?, 1.0),
                    (single_token(negative)?, -1.0),
                ]
            }
            JudgeScoring::Rating { min, max } => {
                if min >= max {
                    return Err(Error::backend(
                        &name,
                        format!("rating min {min} ≥ max {max}"),
                    ));
                }
                (*min..=*max)
                    .map(|r| Ok((single_token(&r.to_string())?, r as f32)))
                    .collect::<Result<_>>()?
            }
            JudgeScoring::Likelihood | JudgeScoring::SummedLikelihood => Vec::new(),
        };
        self.template = template.into();
        self.scoring = scoring;
        Ok(self)
    }

    fn tokens(&mut self, index: usize, item: &ScoreItem) -> Result<Vec<u32>> {
        let env = Environment::new();
        let template = env
            .template_from_str(&self.template)
            .map_err(|err| Error::backend(&self.name, format!("judge template: {err}")))?;
        let render = |response: &str| -> lm::Result<Vec<u32>> {
            let prompt = template
                .render(minijinja::context! {
                    prompt => item.question(),
                    response => response,
                    reference => item.reference.as_deref().unwrap_or(""),
                    messages => &item.prompt,
                })
                .map_err(|err| lm::Error::Template {
                    reason: format!("item {index}: {err}"),
                })?;
            let text = self
                .tokenizer
                .apply_chat_template(&[ChatMessage::user(prompt)], true)?;
            self.tokenizer.encode(&text, false)
        };
        let (tokens, cut) = fit(&self.tokenizer, &item.response, self.max_tokens, render)
            .map_err(|source| Error::model(&self.name, source))?;
        self.truncations += usize::from(cut);
        Ok(tokens)
    }

    /// Scores from the label log-probabilities of each row, `[rows][labels]`.
    fn combine(&self, label_logps: &[Vec<f32>]) -> Vec<f32> {
        label_logps
            .iter()
            .map(|logps| match self.scoring {
                JudgeScoring::Verdict { .. } => logps[0] - logps[1],
                JudgeScoring::Rating { .. } => {
                    let top = logps.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let weights: Vec<f32> = logps.iter().map(|l| (l - top).exp()).collect();
                    let total: f32 = weights.iter().sum();
                    weights
                        .iter()
                        .zip(&self.labels)
                        .map(|(w, (_, value))| w / total * value)
                        .sum()
                }
                JudgeScoring::Likelihood | JudgeScoring::SummedLikelihood => {
                    unreachable!("likelihood is not read from labels")
                }
            })
            .collect()
    }

    /// (conversation tokens, response tokens) of `item`, the response cut to fit.
    fn likelihood_tokens(&mut self, item: &ScoreItem) -> Result<(Vec<u32>, Vec<u32>)> {
        let attributed = |source| Error::model(&self.name, source);
        let text = self
            .tokenizer
            .apply_chat_template(&item.prompt, true)
            .map_err(attributed)?;
        let prompt = self.tokenizer.encode(&text, false).map_err(attributed)?;
        let render = |response: &str| -> lm::Result<Vec<u32>> {
            Ok([prompt.clone(), self.tokenizer.encode(response, false)?].concat())
        };
        let (tokens, cut) =
            fit(&self.tokenizer, &item.response, self.max_tokens, render).map_err(attributed)?;
        self.truncations += usize::from(cut);
        // The prompt keeps at least one token (truncation may have cut into it).
        let split = prompt.len().min(tokens.len()).max(1).min(tokens.len());
        Ok((tokens[..split].to_vec(), tokens[split..].to_vec()))
    }

    fn likelihood_scores(&mut self, items: &[ScoreItem]) -> Result<Vec<f32>> {
        let mut pairs = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let (prompt, mut response) = self.likelihood_tokens(item)?;
            if response.is_empty() {
                // An empty response is the model ending its turn at once: score p(EOS).
                let eos = self.tokenizer.eos_id().ok_or_else(|| Error::Input {
                    rm: self.name.clone(),
                    item: i,
                    reason: "empty response, and the model has no EOS token to score".into(),
                })?;
                response.push(eos);
            }
            pairs.push((prompt, response));
        }
        let lengths: Vec<usize> = pairs.iter().map(|(p, r)| p.len() + r.len()).collect();
        let mut scores = vec![0.0; items.len()];
        for batch in batches_by_length(&lengths, self.batch_size) {
            let chunk: Vec<(Vec<u32>, Vec<u32>)> = batch
                .iter()
                .map(|&i| std::mem::take(&mut pairs[i]))
                .collect();
            let logprobs = sequence_logprobs(&self.model, &chunk, 0, &self.device)
                .map_err(|source| Error::model(&self.name, source))?;
            let values = match self.scoring {
                JudgeScoring::SummedLikelihood => logprobs.sum,
                _ => logprobs.mean,
            };
            let values = values
                .try_into_vec_as::<f32>()
                .map_err(|err| Error::backend(&self.name, format!("reading: {err:?}")))?;
            for (&i, value) in batch.iter().zip(values) {
                scores[i] = value;
            }
        }
        Ok(scores)
    }
}

/// Item indices in batches of up to `batch_size`, longest sequences first, so that each
/// padded batch holds sequences of similar length. A call's items come in data order, where
/// lengths vary several-fold (MMLU prompts: a median of ~400 characters, a tail past 4,000),
/// and padding every sequence to its batch's longest spent about as much compute again as
/// the tokens themselves.
fn batches_by_length(lengths: &[usize], batch_size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
    order
        .chunks(batch_size.max(1))
        .map(<[usize]>::to_vec)
        .collect()
}

impl RewardModel for LlmJudgeRm {
    fn name(&self) -> &str {
        &self.name
    }

    fn info(&self) -> RmInfo {
        let score_range = match self.scoring {
            JudgeScoring::Verdict { .. } => (f32::NEG_INFINITY, f32::INFINITY),
            JudgeScoring::Rating { min, max } => (min as f32, max as f32),
            JudgeScoring::Likelihood | JudgeScoring::SummedLikelihood => (f32::NEG_INFINITY, 0.0),
        };
        RmInfo {
            kind: "llm-judge",
            // Everything that changes a score: saved scores are matched by it.
            description: format!(
                "LLM judge {} ({:?}, template sha256 {}, max {} tokens)",
                self.description,
                self.scoring,
                template_digest(&self.template),
                self.max_tokens
            ),
            score_range,
        }
    }

    fn score(&mut self, items: &[ScoreItem]) -> Result<Vec<f32>> {
        if self.scoring.is_likelihood() {
            return self.likelihood_scores(items);
        }
        let label_ids: Vec<i64> = self.labels.iter().map(|(id, _)| i64::from(*id)).collect();
        let n_labels = label_ids.len();
        let mut sequences = items
            .iter()
            .enumerate()
            .map(|(i, item)| self.tokens(i, item))
            .collect::<Result<Vec<_>>>()?;
        let lengths: Vec<usize> = sequences.iter().map(Vec::len).collect();
        let mut scores = vec![0.0; items.len()];
        for batch in batches_by_length(&lengths, self.batch_size) {
            let chunk: Vec<Vec<u32>> = batch
                .iter()
                .map(|&i| std::mem::take(&mut sequences[i]))
                .collect();
            let logps = next_token_logprobs(&self.model, &chunk, 0, &self.device)
                .map_err(|source| Error::model(&self.name, source))?;
            let index = Tensor::<1, Int>::from_data(
                TensorData::new(label_ids.clone(), [n_labels]),
                &self.device,
            );
            let values = logps
                .select(1, index)
                .try_into_vec_as::<f32>()
                .map_err(|err| Error::backend(&self.name, format!("reading logits: {err:?}")))?;
            let rows: Vec<Vec<f32>> = values.chunks(n_labels).map(<[f32]>::to_vec).collect();
            for (&i, score) in batch.iter().zip(self.combine(&rows)) {
                scores[i] = score;
            }
        }
        Ok(scores)
    }

    fn truncations(&self) -> usize {
        self.truncations
    }
}

/// The first 8 hex digits of SHA-256 of a judging template.
fn template_digest(template: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(template.as_bytes())[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_hold_similar_lengths_longest_first_and_cover_every_item() {
        let lengths = [5, 40, 7, 38, 6, 41, 9];
        let batches = batches_by_length(&lengths, 3);
        assert_eq!(batches, vec![vec![5, 1, 3], vec![6, 2, 4], vec![0]]);
        let mut all: Vec<usize> = batches.concat();
        all.sort_unstable();
        assert_eq!(all, (0..lengths.len()).collect::<Vec<_>>());
    }
}
