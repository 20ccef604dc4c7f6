//! The MMLU drivers with a real model (SmolLM2-135M from its GGUF): the log-likelihood driver,
//! which scores the four single-token letters from one forward of the shared context, equals
//! scoring the four (context, letter) sequences separately; the generative driver, through
//! the chat template, writes answers whose letter the scorer extracts (without it this
//! instruct model ends its turn at once, which the scorer counts as no answer).

use burn::prelude::Device;
use eval_harness::mmlu::{self, read_mmlu_jsonl};
use eval_harness::run::{LanguageModel, run_mmlu, run_mmlu_generative};
use lm::{CausalLm, Gguf, Tokenizer, WeightDType, load_causal_lm, sequence_logprobs};

use crate::asset;

/// SmolLM2-135M-Instruct from its GGUF, with its tokenizer and context length, on the CPU.
fn smollm2() -> (CausalLm, Tokenizer, Device, usize) {
    let path = asset("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let device = Device::default();
    let (config, model) = load_causal_lm(&path, &device, WeightDType::F32).unwrap();
    let tokenizer = Tokenizer::from_gguf(&Gguf::open(&path).unwrap()).unwrap();
    (model, tokenizer, device, config.max_positions)
}

#[test]
fn generated_letters_are_extracted_and_scored() {
    let (model, tokenizer, device, max_length) = smollm2();
    let lm = LanguageModel {
        model: &model,
        tokenizer: &tokenizer,
        device: &device,
        max_length,
    };
    let (shots, docs) =
        mmlu::split_shots(read_mmlu_jsonl(&asset("data/mmlu/mmlu.jsonl")).unwrap(), 0);
    let docs = &docs[..4];
    let chat = run_mmlu_generative(&lm, docs, &shots, 4, 8, true, &mut |_| {}).unwrap();
    let letters: Vec<Option<usize>> = chat
        .iter()
        .map(|p| mmlu::extract_letter(p.completion.as_deref().unwrap()))
        .collect();
    assert!(letters.iter().all(Option::is_some), "{chat:?}");
    let metrics = mmlu::evaluate(&chat).unwrap();
    assert_eq!(metrics.n, 4);
    let bare = run_mmlu_generative(&lm, docs, &shots, 4, 8, false, &mut |_| {}).unwrap();
    assert_eq!(bare.len(), 4);
    assert!(mmlu::evaluate(&bare).is_ok());
}

#[test]
fn one_forward_per_question_equals_four_sequences() {
    let (model, tokenizer, device, max_length) = smollm2();
    let lm = LanguageModel {
        model: &model,
        tokenizer: &tokenizer,
        device: &device,
        max_length,
    };
    let (shots, docs) =
        mmlu::split_shots(read_mmlu_jsonl(&asset("data/mmlu/mmlu.jsonl")).unwrap(), 1);
    let docs = &docs[..3];
    let fast = run_mmlu(&lm, docs, &shots, 3, &mut |_| {}).unwrap();
    for (doc, prediction) in docs.iter().zip(&fast) {
        // lm-eval's split: the context's trailing whitespace moves to the continuation.
        let context = mmlu::prompt(doc, &shots[&doc.subject]);
        let trimmed = context.trim_end();
        let context_ids = tokenizer.encode(trimmed, false).unwrap();
        let pairs: Vec<(Vec<u32>, Vec<u32>)> = mmlu::CONTINUATIONS
            .iter()
            .map(|c| {
                let whole = tokenizer.encode(&format!("{context}{c}"), false).unwrap();
                assert_eq!(&whole[..context_ids.len()], &context_ids[..]);
                (context_ids.clone(), whole[context_ids.len()..].to_vec())
            })
            .collect();
        let reference: Vec<f32> = sequence_logprobs(&model, &pairs, 0, &device)
            .unwrap()
            .sum
            .try_into_vec_as::<f32>()
            .unwrap();
        let ours = prediction.loglikelihoods.unwrap();
        for (a, b) in ours.iter().zip(&reference) {
            assert!(
                (a - f64::from(*b)).abs() < 1e-3,
                "{ours:?} vs {reference:?}"
            );
        }
    }
}
