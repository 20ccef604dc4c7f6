//! The world's tokenizer: a byte-level BPE trained with the `tokenizers` library on the
//! suite's text (digits split one by one, so arithmetic sees single digits), with ChatML
//! special tokens and chat template, saved as `tokenizer.json` + `tokenizer_config.json`
//! — the files transformers and the lm crate read.

use std::path::Path;

use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, DecoderWrapper, PreTokenizerWrapper};

use crate::error::{Error, Result};

/// Starts a chat turn.
pub const IM_START: &str = "<|im_start|>";
/// Ends a chat turn; the policy's stop token.
pub const IM_END: &str = "<|im_end|>";
/// Padding.
pub const PAD: &str = "<|pad|>";

/// ChatML, as SmolLM2 and Qwen write it.
const CHAT_TEMPLATE: &str = "{% for message in messages %}<|im_start|>{{ message.role }}\n\
{{ message.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/// Trains a BPE of `vocab_size` tokens on `texts` and writes it into `dir`; returns it as
/// the lm crate loads it back.
pub fn train_tokenizer(texts: &[String], vocab_size: usize, dir: &Path) -> Result<lm::Tokenizer> {
    let fail = |err: tokenizers::Error| Error::Tokenizers(err.to_string());
    let special = [PAD, IM_START, IM_END]
        .map(|t| AddedToken::from(t.to_string(), true))
        .to_vec();
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(special)
        .build()
        .into();
    let mut tokenizer = tokenizers::Tokenizer::new(BPE::default());
    let pre_tokenizer = Sequence::new(vec![
        PreTokenizerWrapper::Digits(Digits::new(true)),
        PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true)),
    ]);
    tokenizer.with_pre_tokenizer(Some(pre_tokenizer));
    tokenizer.with_decoder(Some(DecoderWrapper::ByteLevel(ByteLevel::default())));
    // The chat template's turn markers occur in every training text.
    let rendered: Vec<String> = texts
        .iter()
        .map(|t| format!("{IM_START}user\n{t}{IM_END}\n"))
        .collect();
    tokenizer
        .train(&mut trainer, rendered.iter())
        .map_err(fail)?;
    let path = dir.join("tokenizer.json");
    tokenizer.save(&path, false).map_err(fail)?;
    let config = serde_json::json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": null,
        "eos_token": IM_END,
        "pad_token": PAD,
        "add_bos_token": false,
        "chat_template": CHAT_TEMPLATE,
    });
    let config_path = dir.join("tokenizer_config.json");
    let text = serde_json::to_string_pretty(&config).expect("JSON values serialise");
    std::fs::write(&config_path, text + "\n").map_err(atomic_write::io_error(&config_path))?;
    Ok(lm::Tokenizer::from_hf_dir(dir)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trains_splits_digits_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let texts: Vec<String> = (0..200)
            .map(|i| format!("add {} {}\n{}", i, i * 7 % 100, i + i * 7 % 100))
            .chain((0..50).map(|i| format!("reverse abc{}", "xyz".repeat(i % 3))))
            .collect();
        let tokenizer = train_tokenizer(&texts, 80, dir.path()).unwrap();
        assert!(tokenizer.vocab_size() <= 80);
        let ids = tokenizer.encode("add 47 185", false).unwrap();
        let one_digit = tokenizer.encode("7", false).unwrap();
        assert_eq!(one_digit.len(), 1);
        assert_eq!(tokenizer.decode(&ids, false).unwrap(), "add 47 185");
        let text = tokenizer
            .apply_chat_template(&[lm::ChatMessage::user("sort 3 1")], true)
            .unwrap();
        assert!(text.ends_with("<|im_start|>assistant\n"), "{text:?}");
        let ids = tokenizer.encode(&text, false).unwrap();
        let im_end = tokenizer.eos_id().unwrap();
        // The user turn's end marker is one special token, and the prompt is left open.
        assert_eq!(ids.iter().filter(|&&id| id == im_end).count(), 1);
        assert_ne!(ids.last(), Some(&im_end));
        assert_eq!(tokenizer.encode(IM_END, false).unwrap(), vec![im_end]);
        assert!(tokenizer.pad_id().is_some());
    }
}
