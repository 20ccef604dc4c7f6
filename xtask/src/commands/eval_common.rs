//! What the `eval` subcommands share: judge construction from the command line, progress
//! bars, and atomic output files.

use std::path::Path;

use anyhow::{Context, Result};
use burn::prelude::Device;
use clap::Args;
use eval_harness::judge::{Judge, LocalJudge, OpenAiJudge, OpenAiJudgeConfig};
use indicatif::{ProgressBar, ProgressStyle};
use lm::{WeightDType, load_causal_lm, load_tokenizer};
use serde::Serialize;

/// The LLM judge options of `eval run` and `eval judge`.
#[derive(Clone, Debug, Args)]
pub struct JudgeArgs {
    /// The judge: a local model (HF folder or .gguf) or an OpenAI-compatible base URL
    /// (http://…, with `--judge-name`; the key from $OPENAI_API_KEY when set).
    #[arg(long)]
    pub judge: Option<String>,
    /// The served judge model's name (for an endpoint).
    #[arg(long, default_value = "gpt-4")]
    pub judge_name: String,
    /// Most tokens of a judge's reply.
    #[arg(long, default_value_t = 512)]
    pub judge_max_tokens: usize,
}

impl JudgeArgs {
    /// The judge `--judge` names, if any.
    pub fn build(&self, device: &Device) -> Result<Option<Box<dyn Judge>>> {
        let Some(spec) = &self.judge else {
            return Ok(None);
        };
        if spec.starts_with("http://") || spec.starts_with("https://") {
            let config = OpenAiJudgeConfig {
                base_url: spec.clone(),
                model: self.judge_name.clone(),
                api_key_env: std::env::var_os("OPENAI_API_KEY").map(|_| "OPENAI_API_KEY".into()),
                temperature: 0.0,
                max_tokens: self.judge_max_tokens as u32,
                timeout_s: 120.0,
                max_retries: 3,
                backoff_s: 1.0,
            };
            return Ok(Some(Box::new(OpenAiJudge::new(config)?)));
        }
        let path = Path::new(spec);
        let (_, model) = load_causal_lm(path, device, WeightDType::F32)
            .with_context(|| format!("loading the judge {spec}"))?;
        let tokenizer = load_tokenizer(path)?;
        let name = path.file_stem().map_or_else(
            || "local-judge".into(),
            |s| s.to_string_lossy().into_owned(),
        );
        Ok(Some(Box::new(LocalJudge::new(
            name,
            model,
            tokenizer,
            device.clone(),
            self.judge_max_tokens,
        ))))
    }
}

/// The first `limit` items (all without a limit).
pub fn limited<T>(mut items: Vec<T>, limit: Option<usize>) -> Vec<T> {
    if let Some(limit) = limit {
        items.truncate(limit);
    }
    items
}

/// A progress bar with elapsed time and ETA.
pub fn progress_bar(len: usize, task: &str) -> ProgressBar {
    let bar = crate::logging::bar(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed}, ETA {eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(task.to_string());
    bar
}

/// `rows` as JSON lines, replacing `path` whole.
pub fn write_jsonl<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let mut text = Vec::new();
    for row in rows {
        serde_json::to_writer(&mut text, row)?;
        text.push(b'\n');
    }
    Ok(atomic_write::replace_file(path, &text)?)
}

/// A file-name-safe form of a model or judge name.
pub fn file_safe(name: &str) -> String {
    name.replace(['/', '\\', ' ', ':'], "_")
}
