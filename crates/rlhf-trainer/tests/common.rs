//! Fixtures: the tiny policy, prompts, programmatic RMs, a router export, configs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use burn::prelude::*;
use rlhf_trainer::{Overrides, Trainer, TrainerConfig};
use rm_pool::{RewardModel, RmInfo, RmPool, ScoreItem};
use router_export::encoder::BackboneKind;
use router_export::{EncoderSpec, ExportMeta, RouterHead, TEXT_FORMAT, write_export_files};

/// The tiny decoder (HF folder with tokenizer and chat template).
pub fn tiny_policy() -> PathBuf {
    test_support::tiny_decoder()
}

/// A reward model whose score is a function of the response text, counting the items it
/// scores; `down` makes every call fail (a dead server).
#[derive(Clone)]
pub struct FnRm {
    pub name: String,
    pub score: fn(&str) -> f32,
    pub items: Arc<AtomicUsize>,
    pub down: Arc<AtomicBool>,
}

impl FnRm {
    pub fn new(name: &str, score: fn(&str) -> f32) -> Self {
        Self {
            name: name.into(),
            score,
            items: Arc::default(),
            down: Arc::default(),
        }
    }
}

impl RewardModel for FnRm {
    fn name(&self) -> &str {
        &self.name
    }
    fn info(&self) -> RmInfo {
        RmInfo {
            kind: "test",
            description: "a function of the response".into(),
            score_range: (f32::NEG_INFINITY, f32::INFINITY),
        }
    }
    fn score(&mut self, items: &[ScoreItem]) -> rm_pool::Result<Vec<f32>> {
        if self.down.load(Ordering::SeqCst) {
            return Err(rm_pool::Error::Unavailable {
                rm: self.name.clone(),
                reason: "test server down".into(),
            });
        }
        self.items.fetch_add(items.len(), Ordering::SeqCst);
        Ok(items.iter().map(|i| (self.score)(&i.response)).collect())
    }
}

/// Length in characters.
pub fn length(text: &str) -> f32 {
    text.chars().count() as f32
}
/// Count of vowels.
pub fn vowels(text: &str) -> f32 {
    text.chars().filter(|c| "aeiou".contains(*c)).count() as f32
}
/// Count of digits.
pub fn digits(text: &str) -> f32 {
    text.chars().filter(char::is_ascii_digit).count() as f32
}

/// The three programmatic RMs: `length`, `vowels`, `digits` (arm order).
pub fn fn_rms() -> Vec<FnRm> {
    vec![
        FnRm::new("length", length),
        FnRm::new("vowels", vowels),
        FnRm::new("digits", digits),
    ]
}

/// A pool of `rms`.
pub fn pool_of(rms: &[FnRm]) -> RmPool {
    RmPool::new(
        rms.iter()
            .map(|rm| Box::new(rm.clone()) as Box<dyn RewardModel>)
            .collect(),
    )
    .unwrap()
}

/// Writes `n` prompts (two categories) to `dir/prompts.jsonl`.
pub fn write_prompts(dir: &Path, n: usize) -> PathBuf {
    let mut text = String::new();
    for i in 0..n {
        let (category, prompt) = if i % 2 == 0 {
            ("math", format!("What is {} plus {}?", i % 5, (i / 2) % 4))
        } else {
            ("chat", format!("Is the answer {} Yes or No?", i % 3))
        };
        text.push_str(
            &serde_json::json!({"prompt": prompt, "category": category, "reference": "Yes"})
                .to_string(),
        );
        text.push('\n');
    }
    let path = dir.join("prompts.jsonl");
    std::fs::write(&path, text).unwrap();
    path
}

/// A router export over the tiny decoder (d = 64) for RMs `names`, with a seeded random
/// head: its prior and contexts are real, what it has learnt is arbitrary.
pub fn write_router_export(dir: &Path, names: &[&str]) -> PathBuf {
    let device = Device::flex();
    let head = RouterHead::init(64, names.len(), 7, &device);
    let meta = ExportMeta {
        format: router_export::EXPORT_FORMAT.into(),
        version: router_export::EXPORT_VERSION,
        rm_names: names.iter().map(|n| n.to_string()).collect(),
        dim: 64,
        encoder: EncoderSpec {
            kind: BackboneKind::Decoder,
            path: tiny_policy(),
            max_tokens: 48,
            text_format: TEXT_FORMAT,
        },
        step: 0,
        selected_on_validation: false,
    };
    let export = dir.join("router-export");
    std::fs::create_dir_all(&export).unwrap();
    write_export_files(&export, &meta, &head, None).unwrap();
    export
}

/// A config file in `dir` for `strategy` (a TOML `[strategy]` body), with `extra` TOML
/// appended; the pool file is not read (tests pass the pool).
pub fn write_config(dir: &Path, strategy: &str, extra: &str) -> PathBuf {
    let prompts = write_prompts(dir, 12);
    let export = write_router_export(dir, &["length", "vowels", "digits"]);
    let text = format!(
        r#"seed = 5
iterations = 2
output = "{out}"
{extra}

[policy]
path = "{policy}"
lora = {{ rank = 4, alpha = 8.0, seed = 3 }}

[data]
prompts = "{prompts}"
pool = "unused-pool.toml"
router = "{export}"

[strategy]
{strategy}

[sampling]
prompts_per_batch = 3
samples_per_prompt = 4
temperature = 1.0
max_new_tokens = 6

[pairs]
pairs_per_prompt = 2
tie_eps = 0.5

[dpo]
beta = 0.5
lr = 0.01
"#,
        out = dir.join("run").display(),
        policy = tiny_policy().display(),
        prompts = prompts.display(),
        export = export.display(),
    );
    let path = dir.join("train.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A trainer over `rms` for the config at `path` (with `overrides`).
pub fn trainer(path: &Path, overrides: &Overrides, rms: &[FnRm], resume: bool) -> Trainer {
    let config = TrainerConfig::read(path, overrides).unwrap();
    Trainer::with_pool(config, pool_of(rms), resume).unwrap()
}

/// Every line of a JSONL file, parsed.
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
