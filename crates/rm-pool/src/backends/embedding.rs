//! Embedding-similarity reward: the cosine between the response and the item's reference
//! answer under a sentence encoder (all-MiniLM-L6-v2: mean pooling, L2 norm), for data sets
//! that carry references (AlpacaEval, MT-Bench); or, reference-free, between the response
//! and the question it answers (on-topic-ness: it cannot tell a right answer from a wrong
//! one that uses the same words). In [−1, 1].
//!
//! Texts longer than the encoder's context keep their first `max_tokens − 1` tokens and the
//! closing `[SEP]` (counted as truncations).

use std::path::Path;

use burn::prelude::*;
use lm::{BertModel, DeviceSpec, PaddingSide, TokenBatch, Tokenizer, WeightDType, load_bert};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::item::ScoreItem;
use crate::reward_model::{RewardModel, RmInfo};

/// What an [`EmbeddingRm`] compares the response with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddingTarget {
    /// The item's reference answer (items without one are refused).
    #[default]
    Reference,
    /// The question: the conversation's last user turn (needs no reference).
    Question,
}

/// A sentence-encoder similarity RM.
pub struct EmbeddingRm {
    name: String,
    description: String,
    dir: std::path::PathBuf,
    target: EmbeddingTarget,
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    max_tokens: usize,
    batch_size: usize,
    truncations: usize,
}

impl EmbeddingRm {
    /// Loads the encoder folder `dir`; the response is compared with the reference answer
    /// (see [`EmbeddingRm::comparing_with`]).
    pub fn load(name: &str, dir: &Path, device: &DeviceSpec, batch_size: usize) -> Result<Self> {
        let attributed = |source| Error::model(name, source);
        let device = device.device().map_err(attributed)?;
        let (config, model) = load_bert(dir, &device, WeightDType::F32).map_err(attributed)?;
        let tokenizer = Tokenizer::from_hf_dir(dir).map_err(attributed)?;
        Ok(Self {
            name: name.into(),
            description: format!("cosine similarity to the reference under {}", dir.display()),
            dir: dir.to_path_buf(),
            target: EmbeddingTarget::Reference,
            model,
            tokenizer,
            device,
            max_tokens: config.max_positions,
            batch_size: batch_size.max(1),
            truncations: 0,
        })
    }

    /// The same RM comparing responses with `target`.
    pub fn comparing_with(mut self, target: EmbeddingTarget) -> Self {
        self.target = target;
        self.description = match target {
            EmbeddingTarget::Reference => "cosine similarity to the reference under",
            EmbeddingTarget::Question => "cosine similarity to the question under",
        }
        .to_string()
            + " "
            + &self.dir.display().to_string();
        self
    }

    /// L2-normalised embeddings of `texts`, row-major `[texts][d]`.
    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let mut sequences = Vec::with_capacity(texts.len());
        for text in texts {
            let mut ids = self
                .tokenizer
                .encode(text, true)
                .map_err(|source| Error::model(&self.name, source))?;
            if ids.len() > self.max_tokens {
                let last = ids[ids.len() - 1];
                ids.truncate(self.max_tokens - 1);
                ids.push(last);
                self.truncations += 1;
            }
            sequences.push(ids);
        }
        let batch = TokenBatch::new(&sequences, 0, PaddingSide::Right, &self.device)
            .map_err(|source| Error::model(&self.name, source))?;
        let embeddings = self.model.embed(&batch);
        let [_, d] = embeddings.dims();
        let values = embeddings
            .try_into_vec_as::<f32>()
            .map_err(|err| Error::backend(&self.name, format!("reading embeddings: {err:?}")))?;
        Ok(values.chunks(d).map(<[f32]>::to_vec).collect())
    }
}

impl RewardModel for EmbeddingRm {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self, item: &ScoreItem) -> std::result::Result<(), String> {
        match (self.target, &item.reference) {
            (EmbeddingTarget::Reference, None) => Err("no reference answer to compare with".into()),
            _ => Ok(()),
        }
    }

    fn info(&self) -> RmInfo {
        RmInfo {
            kind: "embedding",
            description: self.description.clone(),
            score_range: (-1.0, 1.0),
        }
    }

    fn score(&mut self, items: &[ScoreItem]) -> Result<Vec<f32>> {
        let mut scores = Vec::with_capacity(items.len());
        for (chunk_index, chunk) in items.chunks(self.batch_size).enumerate() {
            let mut texts = Vec::with_capacity(2 * chunk.len());
            for (i, item) in chunk.iter().enumerate() {
                let other = match self.target {
                    EmbeddingTarget::Question => item.question(),
                    EmbeddingTarget::Reference => {
                        item.reference.as_deref().ok_or_else(|| Error::Input {
                            rm: self.name.clone(),
                            item: chunk_index * self.batch_size + i,
                            reason: "no reference answer to compare with".into(),
                        })?
                    }
                };
                texts.push(item.response.as_str());
                texts.push(other);
            }
            let embeddings = self.embed(&texts)?;
            for pair in embeddings.chunks(2) {
                scores.push(pair[0].iter().zip(&pair[1]).map(|(a, b)| a * b).sum());
            }
        }
        Ok(scores)
    }

    fn truncations(&self) -> usize {
        self.truncations
    }
}
