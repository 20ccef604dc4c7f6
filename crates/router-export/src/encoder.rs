//! The siamese encoder: one transformer backbone embeds "prompt + response" for each side
//! of a pair. Decoders of the lm crate (SmolLM2/Llama, Qwen2, Qwen3; HF folder or GGUF) pool
//! the hidden state of the last real token; BERT encoders (MiniLM) pool the mean of the
//! token states (L2-normalised, as sentence-transformers do).
//!
//! Text format (version 1 of the export): the prompt's message contents joined by a blank
//! line, a blank line, then the response. Decoders tokenize it without special tokens, BERT
//! with its `[CLS]`/`[SEP]`; sequences longer than `max_tokens` are cut on the right (the
//! reference's truncation), keeping BERT's closing `[SEP]`.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use lm::{
    BertModel, CausalLm, ChatMessage, DecoderConfig, LoraConfig, PaddingSide, TokenBatch,
    Tokenizer, WeightDType, is_gguf, load_bert, load_causal_lm, load_tokenizer,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How the backbone is trained.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Training {
    /// Weights fixed: every text is embedded once and cached, and only the head trains (the
    /// fast path, and the only one for BERT backbones).
    #[default]
    Frozen,
    /// LoRA adapters on the decoder's projections train with the head.
    Lora,
    /// Every decoder weight trains with the head (the reference's setting).
    Full,
}

/// The encoder's configuration (`[encoder]` of a training config).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncoderConfig {
    /// A decoder's HF folder or GGUF file, or a BERT HF folder (relative paths are relative
    /// to the configuration file).
    pub path: PathBuf,
    /// How the backbone trains.
    #[serde(default)]
    pub training: Training,
    /// Adapters, for `training = "lora"`.
    #[serde(default)]
    pub lora: Option<LoraConfig>,
    /// Tokens per text, after right truncation.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: usize,
    /// Texts per forward pass when embedding.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
}

fn default_max_tokens() -> usize {
    512
}

fn default_batch_size() -> usize {
    8
}

/// The backbone's architecture family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackboneKind {
    /// A decoder of the lm crate, last-token pooling.
    Decoder,
    /// A BERT encoder, mean pooling.
    Bert,
}

/// The loaded backbone.
#[derive(Debug)]
pub enum Backbone {
    /// A decoder (its LM head is unused).
    Decoder(CausalLm),
    /// A BERT encoder.
    Bert(BertModel),
}

impl Backbone {
    /// Pooled embeddings of a right-padded batch.
    ///
    /// # Shapes
    /// Returns `[batch_size, d]`.
    pub fn embed(&self, batch: &TokenBatch) -> Tensor<2> {
        match self {
            Self::Decoder(model) => model.embed(batch),
            Self::Bert(model) => model.embed(batch),
        }
    }
}

/// Tokenization of pair texts for one backbone.
#[derive(Clone, Debug)]
pub struct TextEncoder {
    kind: BackboneKind,
    tokenizer: Tokenizer,
    max_tokens: usize,
    pad_id: u32,
    dim: usize,
    /// The decoder's configuration (to save a trained decoder as an HF folder).
    decoder_config: Option<DecoderConfig>,
}

/// The text a backbone embeds for `response` to `prompt` (see the module docs).
pub fn pair_text(prompt: &[ChatMessage], response: &str) -> String {
    let mut text = String::new();
    for message in prompt {
        text.push_str(&message.content);
        text.push_str("\n\n");
    }
    text.push_str(response);
    text
}

/// Which family the backbone at `path` is: a GGUF file or an HF folder whose config.json
/// has a decoder `model_type` is a decoder; `model_type = "bert"` is BERT.
pub fn backbone_kind(path: &Path) -> Result<BackboneKind> {
    if is_gguf(path) {
        return Ok(BackboneKind::Decoder);
    }
    let config = path.join("config.json");
    let text = std::fs::read_to_string(&config).map_err(atomic_write::io_error(&config))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|err| Error::Config {
        path: config.clone(),
        reason: err.to_string(),
    })?;
    Ok(match value.get("model_type").and_then(|v| v.as_str()) {
        Some("bert") => BackboneKind::Bert,
        _ => BackboneKind::Decoder,
    })
}

/// Loads the backbone at `path` on `device` (f32 weights), with its text encoder.
pub fn load_backbone(
    path: &Path,
    max_tokens: usize,
    device: &Device,
) -> Result<(TextEncoder, Backbone)> {
    let kind = backbone_kind(path)?;
    match kind {
        BackboneKind::Decoder => {
            let (config, model) = load_causal_lm(path, device, WeightDType::F32)?;
            let tokenizer = load_tokenizer(path)?;
            let pad_id = tokenizer.pad_id().or(tokenizer.eos_id()).unwrap_or(0);
            let encoder = TextEncoder {
                kind,
                tokenizer,
                max_tokens: max_tokens.max(1),
                pad_id,
                dim: config.d_model,
                decoder_config: Some(config),
            };
            Ok((encoder, Backbone::Decoder(model)))
        }
        BackboneKind::Bert => {
            let (config, model) = load_bert(path, device, WeightDType::F32)?;
            let tokenizer = Tokenizer::from_hf_dir(path)?;
            let pad_id = tokenizer.pad_id().unwrap_or(0);
            let encoder = TextEncoder {
                kind,
                tokenizer,
                max_tokens: max_tokens.clamp(2, config.max_positions),
                pad_id,
                dim: config.d_model,
                decoder_config: None,
            };
            Ok((encoder, Backbone::Bert(model)))
        }
    }
}

impl TextEncoder {
    /// The backbone's family.
    pub fn kind(&self) -> BackboneKind {
        self.kind
    }

    /// Embedding width d.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The decoder's configuration (`None` for BERT).
    pub fn decoder_config(&self) -> Option<&DecoderConfig> {
        self.decoder_config.as_ref()
    }

    /// The backbone's tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Tokens per text after truncation.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Token ids of `text`, truncated on the right to `max_tokens` (BERT keeps its final
    /// `[SEP]`).
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        let bert = self.kind == BackboneKind::Bert;
        let mut ids = self.tokenizer.encode(text, bert)?;
        if ids.is_empty() {
            // An empty text still needs one position to pool.
            ids.push(self.pad_id);
        }
        if ids.len() > self.max_tokens {
            let last = ids[ids.len() - 1];
            ids.truncate(self.max_tokens);
            if bert {
                ids[self.max_tokens - 1] = last;
            }
        }
        Ok(ids)
    }

    /// A right-padded batch of token sequences.
    pub fn batch(&self, sequences: &[Vec<u32>], device: &Device) -> Result<TokenBatch> {
        Ok(TokenBatch::new(
            sequences,
            self.pad_id,
            PaddingSide::Right,
            device,
        )?)
    }

    /// Embeddings of `texts` (already tokenized), `batch_size` at a time in order of length
    /// (less padding), returned in the input order.
    ///
    /// # Shapes
    /// Returns `[texts.len(), d]`.
    pub fn embed_all(
        &self,
        backbone: &Backbone,
        sequences: &[Vec<u32>],
        batch_size: usize,
        device: &Device,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Tensor<2>> {
        let mut order: Vec<usize> = (0..sequences.len()).collect();
        order.sort_by_key(|&i| sequences[i].len());
        let mut rows: Vec<Option<Tensor<2>>> = vec![None; sequences.len()];
        let mut done = 0;
        for chunk in order.chunks(batch_size.max(1)) {
            let batch: Vec<Vec<u32>> = chunk.iter().map(|&i| sequences[i].clone()).collect();
            let embedded = backbone.embed(&self.batch(&batch, device)?);
            for (row, &i) in chunk.iter().enumerate() {
                rows[i] = Some(embedded.clone().narrow(0, row, 1));
            }
            done += chunk.len();
            progress(done);
        }
        let rows: Vec<Tensor<2>> = rows.into_iter().flatten().collect();
        if rows.is_empty() {
            return Err(Error::Input("no texts to embed".into()));
        }
        Ok(Tensor::cat(rows, 0))
    }
}
