//! Real models fetched by `cargo xtask assets` (see configs/assets.toml). These tests are
//! not ignored: CI fetches the assets first; locally a missing asset fails with the command
//! to run.

use lm::{
    ChatMessage, GenerationRequest, Gguf, PaddingSide, SamplingParams, TokenBatch, Tokenizer,
    WeightDType, greedy_generate, load_bert, load_causal_lm,
};
use serde::Deserialize;

const SMOLLM2: &str = "models/SmolLM2-135M-Instruct.Q4_1.gguf";

/// A tensor stored in a type we cannot dequantise (here the final norm's F32 relabelled I32,
/// which has the same layout, so the header still parses) fails the load with an error that
/// names the tensor and the type, before any tensor data is read.
#[test]
fn an_undequantisable_tensor_type_is_named() {
    let mut bytes = std::fs::read(crate::asset(SMOLLM2)).unwrap();
    // Tensor info: name, n_dims (u32) = 1, one u64 dim, then the ggml type (u32).
    let name = b"output_norm.weight";
    let at = bytes.windows(name.len()).position(|w| w == name).unwrap() + name.len();
    assert_eq!(bytes[at..at + 4], 1_u32.to_le_bytes());
    let type_at = at + 4 + 8;
    assert_eq!(bytes[type_at..type_at + 4], 0_u32.to_le_bytes(), "F32");
    bytes[type_at..type_at + 4].copy_from_slice(&26_u32.to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relabelled.gguf");
    std::fs::write(&path, bytes).unwrap();
    let Err(err) = load_causal_lm(&path, &crate::test_device(), WeightDType::F32) else {
        panic!("an I32 norm cannot be loaded");
    };
    assert!(
        matches!(&err, lm::Error::UnsupportedQuantization { tensor, type_name }
            if tensor == "output_norm.weight" && type_name == "I32"),
        "{err}"
    );
}

/// SmolLM2-135M-Instruct, loaded from its Q4_1 GGUF (llama q/k permutation undone, tied head,
/// tokenizer and ChatML template from the metadata), answers the question greedily.
#[test]
fn smollm2_gguf_knows_the_capital_of_france() {
    let path = crate::asset(SMOLLM2);
    let device = crate::test_device();
    let (config, model) = load_causal_lm(&path, &device, WeightDType::F32).unwrap();
    assert_eq!(
        (
            config.n_layers,
            config.d_model,
            config.n_heads,
            config.n_kv_heads
        ),
        (30, 576, 9, 3)
    );
    assert!(config.tie_word_embeddings);

    let tokenizer = Tokenizer::from_gguf(&Gguf::open(&path).unwrap()).unwrap();
    let text = tokenizer
        .apply_chat_template(&[ChatMessage::user("What is the capital of France?")], true)
        .unwrap();
    assert!(text.ends_with("<|im_start|>assistant\n"), "{text}");
    let prompt = tokenizer.encode(&text, false).unwrap();
    let stop: Vec<u32> = tokenizer.eos_id().into_iter().collect();
    let answer = greedy_generate(&model, &prompt, 12, &stop, &device).unwrap();
    let answer = tokenizer.decode(&answer, true).unwrap();
    assert!(answer.contains("Paris"), "answer: {answer:?}");

    // A stop string ends the sequence and is cut from the text.
    let request = GenerationRequest {
        prompt,
        params: SamplingParams {
            stop_strings: vec![" Paris".into()],
            ..SamplingParams::greedy(12)
        },
    };
    let output = lm::generate(&model, &[request], 0, Some(&tokenizer), &device)
        .unwrap()
        .remove(0);
    assert_eq!(output.finish_reason, lm::FinishReason::StopString);
    let text = output.text.unwrap();
    assert!(
        answer.starts_with(&text) && !text.contains("Paris"),
        "{text:?}"
    );
}

/// The GGUF tokenizer round-trips awkward text and keeps special tokens whole.
#[test]
fn smollm2_gguf_tokenizer_round_trips() {
    let tokenizer = Tokenizer::from_gguf(&Gguf::open(&crate::asset(SMOLLM2)).unwrap()).unwrap();
    for text in [
        "Hello, world!",
        "  leading and trailing  ",
        "tabs\tand\nnewlines\n\n",
        "numbers 12345 and 3.14",
        "unicode: héllo wörld — 東京 🙂",
    ] {
        let ids = tokenizer.encode(text, false).unwrap();
        assert_eq!(tokenizer.decode(&ids, false).unwrap(), text);
    }
    let ids = tokenizer.encode("<|im_start|>user", false).unwrap();
    assert_eq!(tokenizer.decode(&ids[..1], false).unwrap(), "<|im_start|>");
    // SmolLM splits digits one by one.
    assert_eq!(tokenizer.encode("2024", false).unwrap().len(), 4);
}

const QWEN_CODER: &str = "models/Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf";

/// Qwen2.5-Coder-0.5B-Instruct, loaded from its Q4_K_M GGUF (qwen2 arch: q/k/v biases, untied
/// Q8_0 head, K-quants), writes the asked-for function greedily.
#[test]
fn qwen_coder_gguf_writes_a_python_function() {
    let path = crate::asset(QWEN_CODER);
    let device = crate::test_device();
    let (config, model) = load_causal_lm(&path, &device, WeightDType::F32).unwrap();
    assert_eq!(
        (
            config.n_layers,
            config.d_model,
            config.n_heads,
            config.n_kv_heads
        ),
        (24, 896, 14, 2)
    );
    assert!(!config.tie_word_embeddings);

    let tokenizer = Tokenizer::from_gguf(&Gguf::open(&path).unwrap()).unwrap();
    let text = tokenizer
        .apply_chat_template(
            &[ChatMessage::user(
                "Write a Python function that returns the square of x.",
            )],
            true,
        )
        .unwrap();
    let prompt = tokenizer.encode(&text, false).unwrap();
    let stop: Vec<u32> = tokenizer.eos_id().into_iter().collect();
    // Enough tokens for the code block's first lines (no KV cache yet: each costs a forward).
    let answer = greedy_generate(&model, &prompt, 28, &stop, &device).unwrap();
    let answer = tokenizer.decode(&answer, true).unwrap();
    assert!(answer.contains("def "), "answer: {answer:?}");
    assert!(
        answer.contains("(x)") || answer.contains("(x:"),
        "answer: {answer:?}"
    );
}

const MINILM: &str = "models/all-MiniLM-L6-v2";

/// Largest |ours − reference| allowed for unit-length sentence embeddings.
const EMBEDDING_ATOL: f32 = 1e-4;

/// all-MiniLM-L6-v2 from its Hugging Face folder: the tokenizer gives transformers' ids and
/// the padded batch of three sentences gives the sentence-transformers embeddings that
/// tools/make_fixtures.py computed with torch.
#[test]
fn minilm_embeddings_match_the_reference() {
    #[derive(Deserialize)]
    struct Reference {
        sentences: Vec<String>,
        token_ids: Vec<Vec<u32>>,
        embeddings: Vec<Vec<f32>>,
    }
    let reference: Reference =
        serde_json::from_str(&std::fs::read_to_string(crate::fixture("minilm.json")).unwrap())
            .unwrap();
    let dir = crate::asset(MINILM);
    let tokenizer = Tokenizer::from_hf_dir(&dir).unwrap();
    let ids: Vec<Vec<u32>> = reference
        .sentences
        .iter()
        .map(|s| tokenizer.encode(s, true).unwrap())
        .collect();
    assert_eq!(ids, reference.token_ids);

    let device = crate::test_device();
    let (config, model) = load_bert(&dir, &device, WeightDType::F32).unwrap();
    assert_eq!((config.d_model, config.n_layers), (384, 6));
    let batch = TokenBatch::new(&ids, 0, PaddingSide::Right, &device).unwrap();
    let embeddings: Vec<f32> = model.embed(&batch).try_into_vec_as::<f32>().unwrap();
    for (row, expected) in reference.embeddings.iter().enumerate() {
        let ours = &embeddings[row * 384..(row + 1) * 384];
        let diff = ours
            .iter()
            .zip(expected)
            .fold(0.0_f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            diff < EMBEDDING_ATOL,
            "sentence {row}: max abs diff {diff:e}"
        );
        let norm: f32 = ours.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
    }
}
