//! A learning check: with the oracle's labels, online DPO raises the tiny policy's verifier
//! accuracy on held-out prompts.

use burn::prelude::*;
use lm::{GenerationRequest, SamplingParams, WeightDType, load_causal_lm, load_tokenizer};
use rlhf_trainer::Overrides;

use crate::common::{fn_rms, tiny_policy, trainer, write_config};

/// Share of sampled responses (8 per prompt, fixed seeds) that contain "Yes".
fn accuracy(model_dir: &std::path::Path) -> f64 {
    let device = Device::flex();
    let (_, model) = load_causal_lm(model_dir, &device, WeightDType::F32).unwrap();
    let tokenizer = load_tokenizer(&tiny_policy()).unwrap();
    let mut requests = Vec::new();
    for i in 0..6 {
        let question = format!("Held out {i}: is it Yes?");
        let text = tokenizer
            .apply_chat_template(&[lm::ChatMessage::user(question)], true)
            .unwrap();
        let prompt = tokenizer.encode(&text, false).unwrap();
        for seed in 0..8 {
            requests.push(GenerationRequest {
                prompt: prompt.clone(),
                params: SamplingParams {
                    temperature: 1.0,
                    seed: 1000 + seed,
                    stop_token_ids: tokenizer.eos_id().into_iter().collect(),
                    ..SamplingParams::greedy(6)
                },
            });
        }
    }
    let outputs = lm::generate(&model, &requests, 0, Some(&tokenizer), &device).unwrap();
    let hits = outputs
        .iter()
        .filter(|g| g.text.as_deref().unwrap_or_default().contains("Yes"))
        .count();
    hits as f64 / outputs.len() as f64
}

#[test]
fn oracle_labels_teach_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        "kind = \"oracle\"",
        "[oracle]\nname = \"yes\"\nkind = \"verifier\"\ntask = \"regex\"\npattern = \"(Yes)\"\n",
    );
    // Full fine-tuning: the tiny model's LoRA on q/v barely moves its tied output layer,
    // and this test is about whether the labels teach, not about adapters.
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("lora = { rank = 4, alpha = 8.0, seed = 3 }", "")
        .replace("lr = 0.01", "lr = 0.001");
    std::fs::write(&path, text).unwrap();
    let overrides = Overrides {
        iterations: Some(30),
        ..Overrides::default()
    };
    let mut trainer = trainer(&path, &overrides, &fn_rms(), false);
    let mut kept = 0;
    let summary = trainer
        .run(&mut |r| kept += r.metrics["pairs/kept"].as_u64().unwrap_or(0))
        .unwrap();
    eprintln!("kept pairs {kept}");
    let before = accuracy(&tiny_policy());
    let after = accuracy(&summary.policy);
    eprintln!("held-out accuracy {before:.3} → {after:.3}");
    // Measured: 0.146 → 0.500 (30 iterations, 106 kept pairs).
    assert!(after >= before + 0.25, "accuracy {before:.3} → {after:.3}");
}
