//! Offline-router tests: the losses on hand-computed batches, records and edges, the whole
//! pipeline on a synthetic task whose best RM is known, export → bandit prior, and resume.
//!
//! The backbone is the tiny Llama decoder of rm-pool's fixtures (2 layers, d = 64, a
//! 128-token BPE vocabulary), made by tools/make_rm_fixtures.py.

mod losses;
mod pipeline;
mod records;

use std::path::{Path, PathBuf};

/// The tiny decoder backbone (HF folder with tokenizer).
fn tiny_backbone() -> PathBuf {
    test_support::tiny_decoder()
}

pub use test_support::asset;

/// A synthetic routing task: three topics, one expert RM per topic (a noisy verifier right
/// 98% of the time on its topic and 30% elsewhere). Writes the pool file and `n` records
/// (TRL pairs; the topic word opens the prompt and closes each response, where a decoder's
/// last-token pooling reads it) into `dir`; returns (pool, records).
fn synthetic_task(dir: &Path, n: usize) -> (PathBuf, PathBuf) {
    const TOPICS: [&str; 3] = ["alpha", "beta", "gamma"];
    let mut pool = String::new();
    for (k, topic) in TOPICS.iter().enumerate() {
        pool.push_str(&format!(
            "[[rm]]\nname = \"expert-{topic}\"\nkind = \"noisy-verifier\"\n\
             noisy = {{ task = \"exact\", accuracy = {{ {topic} = 0.98 }}, default_accuracy = 0.3, seed = {k} }}\n\n"
        ));
    }
    let pool_path = dir.join("pool.toml");
    std::fs::write(&pool_path, pool).unwrap();
    let mut lines = String::new();
    for i in 0..n {
        let topic = TOPICS[i % 3];
        let (a, b) = (i % 7, (i / 7) % 9);
        let chosen = format!("{} {topic}", a + b);
        let line = serde_json::json!({
            "prompt": format!("{topic}: {a}+{b}?"),
            "chosen": chosen,
            "rejected": format!("{} {topic}", a + b + 1),
            "reference": chosen,
            "category": topic,
        });
        lines.push_str(&format!("{line}\n"));
    }
    let records_path = dir.join("records.jsonl");
    std::fs::write(&records_path, lines).unwrap();
    (pool_path, records_path)
}

/// A training config for the synthetic task (paths absolute) on the tiny decoder.
fn synthetic_config(dir: &Path, training: &str, epochs: usize, every: usize) -> PathBuf {
    synthetic_config_with(dir, &tiny_backbone(), training, "", epochs, every)
}

/// A training config for the synthetic task on `backbone`, with `encoder_extra` appended to
/// the `[encoder]` table.
fn synthetic_config_with(
    dir: &Path,
    backbone: &Path,
    training: &str,
    encoder_extra: &str,
    epochs: usize,
    every: usize,
) -> PathBuf {
    let (pool, records) = synthetic_task(dir, 180);
    let config = format!(
        r#"seed = 3
output = "{out}"

[data]
records = "{records}"
pool = "{pool}"
validation_fraction = 0.2
test_fraction = 0.25

[encoder]
path = "{backbone}"
training = "{training}"
max_tokens = 48
batch_size = 32
{encoder_extra}

[loss]
bt = 1.0
cls = 0.2
reg = 0.1

[optim]
lr = 0.01
epochs = {epochs}
batch_size = 16
warmup_fraction = 0.05

[checkpoint]
every = {every}
keep = 10
"#,
        out = dir.join("run").display(),
        records = records.display(),
        pool = pool.display(),
        backbone = backbone.display(),
    );
    let path = dir.join("train.toml");
    std::fs::write(&path, config).unwrap();
    path
}
