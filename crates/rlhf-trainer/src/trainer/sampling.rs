//! Sampling: n responses per prompt of the batch from the generator (the current policy, or
//! the DPO reference under `[sampling] generator = "reference"`), with seeds that
//! depend only on (run seed, iteration, prompt, sample), and the batch's candidate pairs.

use lm::{CausalLm, GenerationRequest, SamplingParams};

use crate::draw::candidate_pairs;
use crate::error::Result;
use crate::logs::SampleRecord;
use crate::prompts::Prompt;
use seed_mix::mix;

use super::state::Trainer;

/// One sampled response: its tokens (what DPO scores) and its text (what RMs judge).
pub(super) struct Sample {
    pub(super) tokens: Vec<u32>,
    pub(super) text: String,
}

/// What an iteration drew: its prompts, their responses and the candidate pairs.
pub(super) struct Drawn {
    /// The batch: indices into the prompts file.
    pub(super) batch: Vec<usize>,
    /// Per prompt of the batch, its n samples.
    pub(super) samples: Vec<Vec<Sample>>,
    /// Per prompt of the batch, its n response texts.
    pub(super) responses: Vec<Vec<String>>,
    /// The candidate pairs of every prompt: (i, j), i < j, of its n responses.
    pub(super) pairs: Vec<(usize, usize)>,
}

impl Drawn {
    /// Tokens generated over the whole batch.
    pub(super) fn generated_tokens(&self) -> usize {
        self.samples.iter().flatten().map(|s| s.tokens.len()).sum()
    }

    /// The iteration's samples.jsonl lines.
    pub(super) fn records(&self, iteration: usize, prompts: &[Prompt]) -> Vec<SampleRecord> {
        self.batch
            .iter()
            .zip(&self.samples)
            .map(|(&p, s)| SampleRecord {
                iteration,
                prompt_id: prompts[p].id,
                category: prompts[p].category.clone(),
                responses: s.iter().map(|sample| sample.text.clone()).collect(),
                token_ids: s.iter().map(|sample| sample.tokens.clone()).collect(),
            })
            .collect()
    }
}

impl Trainer {
    /// n responses per prompt of `batch` from `generator` (a model without a graph).
    pub(super) fn sample(
        &self,
        generator: &CausalLm,
        iteration: usize,
        batch: &[usize],
    ) -> Result<Drawn> {
        let n = self.config.sampling.samples_per_prompt;
        let requests: Vec<GenerationRequest> = batch
            .iter()
            .flat_map(|&p| (0..n).map(move |k| (p, k)))
            .map(|(p, k)| self.request(iteration, p, k))
            .collect();
        let generations = lm::generate(
            generator,
            &requests,
            self.pad_id,
            Some(&self.tokenizer),
            &self.device,
        )?;
        let mut generations = generations.into_iter();
        let samples: Vec<Vec<Sample>> = batch
            .iter()
            .map(|_| {
                (0..n)
                    .map(|_| {
                        let g = generations.next().expect("one generation per request");
                        let mut tokens = g.tokens;
                        if tokens.is_empty() {
                            // A response needs one token to have a log-probability; EOS
                            // stands in.
                            tokens.push(self.stop_ids.first().copied().unwrap_or(self.pad_id));
                        }
                        Sample {
                            tokens,
                            text: g.text.unwrap_or_default(),
                        }
                    })
                    .collect()
            })
            .collect();
        let responses = samples
            .iter()
            .map(|s| s.iter().map(|sample| sample.text.clone()).collect())
            .collect();
        Ok(Drawn {
            batch: batch.to_vec(),
            samples,
            responses,
            pairs: candidate_pairs(n),
        })
    }

    /// The generation request of sample `k` of prompt `p` (an index into the prompts file).
    fn request(&self, iteration: usize, p: usize, k: usize) -> GenerationRequest {
        let s = &self.config.sampling;
        GenerationRequest {
            prompt: self.prompt_tokens[p].clone(),
            params: SamplingParams {
                max_new_tokens: s.max_new_tokens,
                temperature: s.temperature,
                top_k: s.top_k,
                top_p: s.top_p,
                seed: mix(&[self.config.seed, iteration as u64, p as u64, k as u64, 0]),
                stop_token_ids: self.stop_ids.clone(),
                stop_strings: Vec::new(),
            },
        }
    }
}
