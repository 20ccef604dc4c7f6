//! What the `eval` subcommands share: the judge options and progress bars drawn from the
//! harness's progress reports.

use clap::Args;
use eval_harness::Progress;
use eval_harness::judge::JudgeSpec;
use indicatif::{ProgressBar, ProgressStyle};

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
    pub fn spec(&self) -> Option<JudgeSpec> {
        self.judge.as_ref().map(|target| JudgeSpec {
            target: target.clone(),
            served_model: self.judge_name.clone(),
            max_tokens: self.judge_max_tokens,
        })
    }
}

/// The first `limit` items (all without a limit).
pub fn limited<T>(mut items: Vec<T>, limit: Option<usize>) -> Vec<T> {
    if let Some(limit) = limit {
        items.truncate(limit);
    }
    items
}

/// Progress bars for the harness's stages: a new bar (elapsed time and ETA) whenever a new
/// stage starts, the previous one finished.
#[derive(Default)]
pub struct StageBars {
    current: Option<(String, ProgressBar)>,
}

impl StageBars {
    /// Draws `progress`.
    pub fn report(&mut self, progress: Progress<'_>) {
        let same_stage = matches!(&self.current, Some((stage, _)) if stage == progress.stage);
        if !same_stage {
            self.finish();
            let bar = crate::logging::bar(progress.total as u64);
            bar.set_style(
                ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed}, ETA {eta})")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_message(progress.stage.to_string());
            self.current = Some((progress.stage.to_string(), bar));
        }
        if let Some((_, bar)) = &self.current {
            bar.set_position(progress.done as u64);
        }
    }

    /// Finishes the current bar, if any.
    pub fn finish(&mut self) {
        if let Some((_, bar)) = self.current.take() {
            bar.finish();
        }
    }
}

impl Drop for StageBars {
    fn drop(&mut self) {
        self.finish();
    }
}
