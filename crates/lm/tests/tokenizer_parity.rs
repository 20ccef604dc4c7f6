//! Tokenizers and chat templates against the references in fixtures/tokenizers.json (made by
//! tools/make_fixtures.py from the real tokenizers that `cargo xtask assets` fetches): the
//! Python `tokenizers` library's ids for awkward strings, and transformers'
//! `apply_chat_template` text for a few conversations.

use lm::{ChatMessage, Gguf, Tokenizer};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    texts: Vec<String>,
    encodings: Vec<Encodings>,
    chats: Vec<Chat>,
}

#[derive(Deserialize)]
struct Encodings {
    tokenizer: String,
    source: String,
    path: String,
    add_special_tokens: bool,
    /// `ids[i]` encodes `texts[i]`.
    ids: Vec<Vec<u32>>,
}

#[derive(Deserialize)]
struct Chat {
    tokenizer: String,
    source: String,
    path: String,
    messages: Vec<Message>,
    add_generation_prompt: bool,
    /// transformers' rendering.
    text: String,
}

#[derive(Deserialize)]
struct Message {
    role: String,
    content: String,
}

fn fixture() -> Fixture {
    let path = crate::fixture("tokenizers.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Loads a tokenizer the way the fixture names it: `gguf` (built from the file's metadata) or
/// `hf_dir` (tokenizer.json + tokenizer_config.json).
fn load(source: &str, path: &str) -> Tokenizer {
    let path = crate::asset(path);
    match source {
        "gguf" => Tokenizer::from_gguf(&Gguf::open(&path).unwrap()).unwrap(),
        "hf_dir" => Tokenizer::from_hf_dir(&path).unwrap(),
        other => panic!("unknown tokenizer source {other:?} in tokenizers.json"),
    }
}

#[test]
fn awkward_strings_encode_to_the_reference_ids() {
    let fixture = fixture();
    let mut mismatches = Vec::new();
    for encodings in &fixture.encodings {
        let tokenizer = load(&encodings.source, &encodings.path);
        assert_eq!(encodings.ids.len(), fixture.texts.len());
        for (text, expected) in fixture.texts.iter().zip(&encodings.ids) {
            let ids = tokenizer
                .encode(text, encodings.add_special_tokens)
                .unwrap();
            if &ids != expected {
                mismatches.push(format!(
                    "{}: {text:?}\n  ours      {ids:?}\n  reference {expected:?}",
                    encodings.tokenizer
                ));
            }
            if !encodings.add_special_tokens {
                // Byte-level BPE loses nothing: decoding gives the text back.
                assert_eq!(&tokenizer.decode(&ids, false).unwrap(), text);
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn chat_templates_render_as_transformers_does() {
    let fixture = fixture();
    for chat in &fixture.chats {
        let tokenizer = load(&chat.source, &chat.path);
        let messages: Vec<ChatMessage> = chat
            .messages
            .iter()
            .map(|m| ChatMessage {
                role: m.role.clone(),
                content: m.content.clone(),
            })
            .collect();
        let text = tokenizer
            .apply_chat_template(&messages, chat.add_generation_prompt)
            .unwrap();
        assert_eq!(
            text,
            chat.text,
            "{} template, {} messages, add_generation_prompt = {}",
            chat.tokenizer,
            messages.len(),
            chat.add_generation_prompt
        );
    }
}

/// Every tokenizer, saved as a Hugging Face tokenizer.json + tokenizer_config.json and read
/// back, encodes the awkward strings (with and without special tokens) and renders chats as
/// before: a policy saved from a GGUF keeps its tokenizer and template.
#[test]
fn tokenizers_survive_saving_as_hugging_face_files() {
    let fixture = fixture();
    for encodings in &fixture.encodings {
        let original = load(&encodings.source, &encodings.path);
        let dir = tempfile::tempdir().unwrap();
        original.save_hf(dir.path()).unwrap();
        let saved = Tokenizer::from_hf_dir(dir.path()).unwrap();
        for text in &fixture.texts {
            for special in [false, true] {
                assert_eq!(
                    saved.encode(text, special).unwrap(),
                    original.encode(text, special).unwrap(),
                    "{} ({}), special tokens {special}: {text:?}",
                    encodings.tokenizer,
                    encodings.source
                );
            }
        }
        assert_eq!(saved.eos_id(), original.eos_id(), "{}", encodings.tokenizer);
        assert_eq!(saved.chat_template(), original.chat_template());
    }
}
