//! How a final policy is scored: greedy answers to held-out prompts, each checked by a
//! verifier, per category (the suite's domain) and overall (the mean over categories, so
//! that each weighs the same).

use std::path::Path;

use answer_check::Verifier;
use burn::prelude::*;
use lm::{GenerationRequest, SamplingParams};
use rlhf_trainer::Prompt;
use synthetic_tasks::Task;

use crate::error::{Error, Result};
use crate::policy;
use crate::results::DomainScores;

/// The category of prompts that have none.
pub const UNCATEGORISED: &str = "all";

/// Held-out prompts and the check of their answers.
#[derive(Clone, Debug)]
pub enum Evaluation {
    /// The suite's tasks, each checked by its domain's verifier (the embedded world).
    Suite {
        /// The tasks.
        tasks: Vec<Task>,
        /// Response cap in tokens.
        max_new_tokens: usize,
    },
    /// Prompts with reference answers (the trainer's prompts format), all checked by one
    /// verifier (e.g. GSM8K's final-number match).
    Verifier {
        /// The prompts; each has a `reference`.
        prompts: Vec<Prompt>,
        /// The check.
        verifier: Verifier,
        /// Response cap in tokens.
        max_new_tokens: usize,
    },
}

impl Evaluation {
    /// Prompts with references, checked by `verifier`; a prompt without a reference is an
    /// error naming `origin` and the prompt's line.
    pub fn verifier(
        prompts: Vec<Prompt>,
        verifier: Verifier,
        max_new_tokens: usize,
        origin: &Path,
    ) -> Result<Self> {
        if let Some(bare) = prompts.iter().find(|p| p.reference.is_none()) {
            return Err(Error::Config {
                path: origin.to_path_buf(),
                reason: format!(
                    "line {}: no `reference` to check the answer against",
                    bare.id + 1
                ),
            });
        }
        Ok(Self::Verifier {
            prompts,
            verifier,
            max_new_tokens,
        })
    }

    /// The categories scored, sorted.
    pub fn categories(&self) -> Vec<String> {
        let mut names: Vec<String> = match self {
            Self::Suite { tasks, .. } => tasks.iter().map(|t| t.domain.name().into()).collect(),
            Self::Verifier { prompts, .. } => prompts.iter().map(category_of).collect(),
        };
        names.sort();
        names.dedup();
        names
    }

    /// Scores the policy at `path` (a Hugging Face folder or a GGUF file) on `device`.
    pub fn score(&self, path: &Path, device: &Device) -> Result<DomainScores> {
        let (_, model) = lm::load_causal_lm(path, device, lm::WeightDType::F32)?;
        let tokenizer = lm::load_tokenizer(path)?;
        self.score_model(&model, &tokenizer, device)
    }

    /// Scores `model` (greedy decoding, stopping at end of turn).
    pub fn score_model(
        &self,
        model: &lm::CausalLm,
        tokenizer: &lm::Tokenizer,
        device: &Device,
    ) -> Result<DomainScores> {
        match self {
            Self::Suite {
                tasks,
                max_new_tokens,
            } => policy::evaluate(model, tokenizer, tasks, *max_new_tokens, device),
            Self::Verifier {
                prompts,
                verifier,
                max_new_tokens,
            } => {
                let requests = prompts
                    .iter()
                    .map(|prompt| {
                        Ok(GenerationRequest {
                            prompt: prompt.tokens(tokenizer)?,
                            params: SamplingParams {
                                stop_token_ids: tokenizer.eos_id().into_iter().collect(),
                                ..SamplingParams::greedy(*max_new_tokens)
                            },
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                let responses = policy::generate_texts(model, tokenizer, &requests, device)?;
                let outcomes = prompts.iter().zip(&responses).map(|(prompt, response)| {
                    let reference = prompt.reference.as_deref().unwrap_or_default();
                    let right =
                        verifier.is_correct_in(response, reference, prompt.category.as_deref());
                    (category_of(prompt), right)
                });
                Ok(policy::domain_scores(outcomes))
            }
        }
    }
}

fn category_of(prompt: &Prompt) -> String {
    prompt
        .category
        .clone()
        .unwrap_or_else(|| UNCATEGORISED.into())
}
