//! Tokenizers: Hugging Face `tokenizer.json` through the `tokenizers` crate, or one built
//! from a GGUF file's metadata (GPT-2-style byte-level BPE), plus the model's chat template.

use std::path::Path;

use serde::Deserialize;
use tokenizers::decoders::byte_level::ByteLevel;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, PreTokenizerWrapper, SplitDelimiterBehavior};

use crate::chat::{ChatMessage, render_chat_template};
use crate::error::{Error, Result};
use crate::load::gguf::{Gguf, MetadataValue};

/// The GPT-2 word-splitting pattern (what `ByteLevel` with `use_regex` applies).
const QWEN2_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// GGUF `tokenizer.ggml.token_type` of control tokens (`<|im_start|>`, …).
const TOKEN_TYPE_CONTROL: i64 = 3;
/// GGUF `tokenizer.ggml.token_type` of user-defined tokens.
const TOKEN_TYPE_USER_DEFINED: i64 = 4;

/// A model's tokenizer: text ↔ token ids, special tokens and chat template.
#[derive(Clone, Debug)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    bos: Option<(u32, String)>,
    eos: Option<(u32, String)>,
    pad_id: Option<u32>,
    /// Prepend BOS when encoding with special tokens (GGUF `add_bos_token`); tokenizer.json
    /// files do this in their own post-processor instead.
    prepend_bos: bool,
    chat_template: Option<String>,
}

impl Tokenizer {
    /// From a Hugging Face folder: `tokenizer.json`, plus `tokenizer_config.json` (if
    /// present) for the BOS/EOS/PAD tokens and the chat template, which newer transformers
    /// versions write to `chat_template.jinja` instead.
    pub fn from_hf_dir(dir: &Path) -> Result<Self> {
        let path = dir.join("tokenizer.json");
        let mut inner =
            tokenizers::Tokenizer::from_file(&path).map_err(|err| Error::Tokenizer {
                reason: format!("{}: {err}", path.display()),
            })?;
        // Padding is the batch's business (`TokenBatch`), not each encoding's; some
        // tokenizer.json files (all-MiniLM-L6-v2's) pad every text to a fixed length.
        inner.with_padding(None);
        #[derive(Deserialize, Default)]
        struct TokenizerConfig {
            chat_template: Option<String>,
            bos_token: Option<TokenSpec>,
            eos_token: Option<TokenSpec>,
            pad_token: Option<TokenSpec>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum TokenSpec {
            Plain(String),
            Added { content: String },
        }
        let config_path = dir.join("tokenizer_config.json");
        let config: TokenizerConfig = match std::fs::read_to_string(&config_path) {
            Ok(text) => serde_json::from_str(&text).map_err(|err| Error::Tokenizer {
                reason: format!("{}: {err}", config_path.display()),
            })?,
            Err(_) => TokenizerConfig::default(),
        };
        let resolve = |spec: Option<TokenSpec>| {
            spec.and_then(|spec| {
                let text = match spec {
                    TokenSpec::Plain(text) | TokenSpec::Added { content: text } => text,
                };
                inner.token_to_id(&text).map(|id| (id, text))
            })
        };
        // transformers ≥ 4.43 may keep the template in its own file instead.
        let template_path = dir.join("chat_template.jinja");
        let chat_template = match config.chat_template {
            Some(template) => Some(template),
            None if template_path.exists() => Some(
                std::fs::read_to_string(&template_path)
                    .map_err(atomic_write::io_error(&template_path))?,
            ),
            None => None,
        };
        let bos = resolve(config.bos_token);
        let eos = resolve(config.eos_token);
        let pad_id = resolve(config.pad_token).map(|(id, _)| id);
        Ok(Self {
            inner,
            bos,
            eos,
            pad_id,
            prepend_bos: false,
            chat_template,
        })
    }

    /// From GGUF metadata (`tokenizer.ggml.*`): a byte-level BPE over the stored tokens and
    /// merges, the pre-tokenizer named by `tokenizer.ggml.pre`, control tokens as special
    /// tokens, and `tokenizer.chat_template`.
    pub fn from_gguf<R: std::io::Read + std::io::Seek>(gguf: &Gguf<R>) -> Result<Self> {
        let model = gguf.require_str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(Error::Tokenizer {
                reason: format!("GGUF tokenizer model {model:?} is not supported (gpt2 is)"),
            });
        }
        let tokens = string_array(gguf, "tokenizer.ggml.tokens")?;
        let merges = string_array(gguf, "tokenizer.ggml.merges")?
            .into_iter()
            .enumerate()
            .map(|(i, merge)| {
                merge
                    .split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| Error::Tokenizer {
                        reason: format!("tokenizer.ggml.merges[{i}] = {merge:?} has no space"),
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let vocab = tokens
            .iter()
            .enumerate()
            .map(|(id, token)| (token.clone(), id as u32))
            .collect::<tokenizers::models::bpe::Vocab>();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|err| Error::Tokenizer {
                reason: format!("building the BPE model: {err}"),
            })?;
        let mut inner = tokenizers::Tokenizer::new(bpe);
        let pre = match gguf.get("tokenizer.ggml.pre") {
            Some(MetadataValue::String(pre)) => pre.as_str(),
            _ => "default",
        };
        inner.with_pre_tokenizer(Some(pre_tokenizer(pre)?));
        inner.with_decoder(Some(ByteLevel::default()));

        let token_types = match gguf.get("tokenizer.ggml.token_type") {
            Some(MetadataValue::Array(types)) => types
                .iter()
                .map(|t| t.as_f64().unwrap_or(1.0) as i64)
                .collect(),
            _ => Vec::new(),
        };
        let special: Vec<AddedToken> = tokens
            .iter()
            .zip(&token_types)
            .filter(|&(_, &kind)| kind == TOKEN_TYPE_CONTROL || kind == TOKEN_TYPE_USER_DEFINED)
            .map(|(token, _)| AddedToken::from(token.clone(), true))
            .collect();
        inner
            .add_special_tokens(special)
            .map_err(|err| Error::Tokenizer {
                reason: format!("adding control tokens: {err}"),
            })?;

        let id = |key: &str| {
            gguf.get(key)
                .and_then(MetadataValue::as_u64)
                .and_then(|id| {
                    tokens
                        .get(id as usize)
                        .map(|text| (id as u32, text.clone()))
                })
        };
        let prepend_bos = matches!(
            gguf.get("tokenizer.ggml.add_bos_token"),
            Some(MetadataValue::Bool(true))
        );
        let chat_template = match gguf.get("tokenizer.chat_template") {
            Some(MetadataValue::String(template)) => Some(template.clone()),
            _ => None,
        };
        Ok(Self {
            inner,
            bos: id("tokenizer.ggml.bos_token_id"),
            eos: id("tokenizer.ggml.eos_token_id"),
            pad_id: id("tokenizer.ggml.padding_token_id").map(|(id, _)| id),
            prepend_bos,
            chat_template,
        })
    }

    /// Token ids of `text`; with `add_special_tokens`, BOS where the model expects it.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        let encoding =
            self.inner
                .encode(text, add_special_tokens)
                .map_err(|err| Error::Tokenizer {
                    reason: format!("encoding: {err}"),
                })?;
        let mut ids = encoding.get_ids().to_vec();
        if add_special_tokens
            && self.prepend_bos
            && let Some((bos, _)) = &self.bos
        {
            ids.insert(0, *bos);
        }
        Ok(ids)
    }

    /// Text of `ids`, optionally without special tokens.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.inner
            .decode(ids, skip_special_tokens)
            .map_err(|err| Error::Tokenizer {
                reason: format!("decoding: {err}"),
            })
    }

    /// The end-of-sequence token id, if the model has one.
    pub fn eos_id(&self) -> Option<u32> {
        self.eos.as_ref().map(|(id, _)| *id)
    }

    /// The padding token id, if the model has one.
    pub fn pad_id(&self) -> Option<u32> {
        self.pad_id
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Writes `tokenizer.json` and a `tokenizer_config.json` (chat template, BOS/EOS/PAD)
    /// into `dir`, as Hugging Face tokenizers are stored. A GGUF tokenizer that prepends BOS
    /// gets a post-processor doing so, since tokenizer.json files carry that themselves.
    pub fn save_hf(&self, dir: &Path) -> Result<()> {
        let mut inner = self.inner.clone();
        if let (true, Some((bos_id, bos))) = (self.prepend_bos, &self.bos) {
            let processor = TemplateProcessing::builder()
                .try_single(format!("{bos} $A"))
                .and_then(|b| b.try_pair(format!("{bos} $A {bos} $B")))
                .map_err(|err| Error::Tokenizer {
                    reason: format!("BOS post-processor: {err}"),
                })?
                .special_tokens(vec![(bos.clone(), *bos_id)])
                .build()
                .map_err(|err| Error::Tokenizer {
                    reason: format!("BOS post-processor: {err}"),
                })?;
            inner.with_post_processor(Some(processor));
        }
        let path = dir.join("tokenizer.json");
        inner.save(&path, false).map_err(|err| Error::Tokenizer {
            reason: format!("{}: {err}", path.display()),
        })?;
        let token = |t: &Option<(u32, String)>| t.as_ref().map(|(_, text)| text.clone());
        let pad = self.pad_id.and_then(|id| self.inner.id_to_token(id));
        let config = serde_json::json!({
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": token(&self.bos),
            "eos_token": token(&self.eos),
            "pad_token": pad,
            "add_bos_token": self.prepend_bos,
            "chat_template": self.chat_template,
        });
        Ok(atomic_write::write_json_pretty(
            &dir.join("tokenizer_config.json"),
            &config,
        )?)
    }

    /// The model's chat template, if it has one.
    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }

    /// Renders `messages` with the model's chat template (see [`render_chat_template`]).
    pub fn apply_chat_template(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String> {
        let template = self
            .chat_template
            .as_deref()
            .ok_or_else(|| Error::Template {
                reason: "the model has no chat template".into(),
            })?;
        let text = |token: &Option<(u32, String)>| {
            token.as_ref().map_or("", |(_, t)| t.as_str()).to_string()
        };
        render_chat_template(
            template,
            messages,
            add_generation_prompt,
            &text(&self.bos),
            &text(&self.eos),
        )
    }
}

/// The pre-tokenizer llama.cpp uses for a `tokenizer.ggml.pre` name, as the matching
/// tokenizer.json spells it.
fn pre_tokenizer(pre: &str) -> Result<PreTokenizerWrapper> {
    let byte_level = |use_regex| ByteLevel::new(false, true, use_regex).into();
    Ok(match pre {
        "default" | "gpt2" => byte_level(true),
        // SmolLM: every digit on its own, then the GPT-2 pattern.
        "smollm" => Sequence::new(vec![Digits::new(true).into(), byte_level(true)]).into(),
        "qwen2" => {
            let split = Split::new(
                SplitPattern::Regex(QWEN2_PATTERN.into()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(|err| Error::Tokenizer {
                reason: format!("qwen2 pre-tokenizer pattern: {err}"),
            })?;
            Sequence::new(vec![split.into(), byte_level(false)]).into()
        }
        other => {
            return Err(Error::Tokenizer {
                reason: format!(
                    "GGUF pre-tokenizer {other:?} is not supported (default, gpt2, smollm, qwen2 are)"
                ),
            });
        }
    })
}

/// A string-array metadata value.
fn string_array<R: std::io::Read + std::io::Seek>(
    gguf: &Gguf<R>,
    key: &str,
) -> Result<Vec<String>> {
    match gguf.require(key)? {
        MetadataValue::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                MetadataValue::String(s) => Ok(s.clone()),
                other => Err(Error::MetadataType {
                    key: format!("{key}[{i}]"),
                    expected: "a string",
                    found: other.type_name(),
                }),
            })
            .collect(),
        other => Err(Error::MetadataType {
            key: key.into(),
            expected: "an array of strings",
            found: other.type_name(),
        }),
    }
}
