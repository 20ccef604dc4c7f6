//! Sequence-classification reward models on disk (Hugging Face `*ForSequenceClassification`
//! folders, e.g. the Skywork-Reward-V2 family), run in-process with the lm crate.
//!
//! Each item is rendered with the RM's own chat template (the conversation plus the
//! response as the assistant turn), tokenized without adding special tokens (the template
//! writes them, as the Skywork-Reward-V2 card prescribes), and scored at its last token.

use std::path::Path;

use burn::prelude::*;
use lm::{
    DeviceSpec, PaddingSide, SequenceClassifier, TokenBatch, Tokenizer, WeightDType,
    load_sequence_classifier,
};

use crate::error::{Error, Result};
use crate::item::ScoreItem;
use crate::reward_model::{RewardModel, RmInfo};
use crate::truncate::fit;

/// A sequence-classification RM.
pub struct ClassifierRm {
    name: String,
    description: String,
    model: SequenceClassifier,
    tokenizer: Tokenizer,
    device: Device,
    max_tokens: usize,
    batch_size: usize,
    truncations: usize,
}

impl ClassifierRm {
    /// Loads the RM in `dir` on `device`.
    pub fn load(
        name: &str,
        dir: &Path,
        device: &DeviceSpec,
        max_tokens: usize,
        batch_size: usize,
    ) -> Result<Self> {
        let attributed = |source| Error::model(name, source);
        let device = device.device().map_err(attributed)?;
        let (config, model) =
            load_sequence_classifier(dir, &device, WeightDType::F32).map_err(attributed)?;
        let tokenizer = Tokenizer::from_hf_dir(dir).map_err(attributed)?;
        if tokenizer.chat_template().is_none() {
            return Err(Error::backend(
                name,
                format!("{} has no chat template", dir.display()),
            ));
        }
        Ok(Self {
            name: name.into(),
            description: format!(
                "sequence classifier {} ({} layers)",
                dir.display(),
                config.n_layers
            ),
            model,
            tokenizer,
            device,
            max_tokens: max_tokens.min(config.max_positions),
            batch_size: batch_size.max(1),
            truncations: 0,
        })
    }

    fn tokens(&mut self, item: &ScoreItem) -> lm::Result<Vec<u32>> {
        let render = |response: &str| {
            let mut conversation = item.prompt.clone();
            conversation.push(lm::ChatMessage::assistant(response));
            let text = self.tokenizer.apply_chat_template(&conversation, false)?;
            self.tokenizer.encode(&text, false)
        };
        let (tokens, cut) = fit(&self.tokenizer, &item.response, self.max_tokens, render)?;
        self.truncations += usize::from(cut);
        Ok(tokens)
    }
}

impl RewardModel for ClassifierRm {
    fn name(&self) -> &str {
        &self.name
    }

    fn info(&self) -> RmInfo {
        RmInfo {
            kind: "classifier",
            description: self.description.clone(),
            score_range: (f32::NEG_INFINITY, f32::INFINITY),
        }
    }

    fn score(&mut self, items: &[ScoreItem]) -> Result<Vec<f32>> {
        let mut scores = Vec::with_capacity(items.len());
        for chunk in items.chunks(self.batch_size) {
            let sequences = chunk
                .iter()
                .map(|item| self.tokens(item))
                .collect::<lm::Result<Vec<_>>>()
                .map_err(|source| Error::model(&self.name, source))?;
            let batch = TokenBatch::new(&sequences, 0, PaddingSide::Right, &self.device)
                .map_err(|source| Error::model(&self.name, source))?;
            // [batch, num_labels] → the first label (the reward of a 1-label RM).
            let logits = self.model.forward(&batch);
            let [rows, _] = logits.dims();
            let values = logits
                .narrow(1, 0, 1)
                .reshape([rows])
                .try_into_vec_as::<f32>()
                .map_err(|err| Error::backend(&self.name, format!("reading scores: {err:?}")))?;
            scores.extend(values);
        }
        Ok(scores)
    }

    fn truncations(&self) -> usize {
        self.truncations
    }
}
