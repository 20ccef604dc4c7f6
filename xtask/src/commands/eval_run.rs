//! `cargo xtask eval run`: generate or score with a model from the `lm` crate, then compute
//! the benchmark's metrics; the predictions and metrics are saved side by side.
//!
//! GSM8K and MMLU are scored here. AlpacaEval, Arena-Hard and MT-Bench answers are generated
//! through the model's chat template and written in the official tools' input formats;
//! MT-Bench is also judged (FastChat single-answer grading) when `--judge` names a local
//! model or an OpenAI-compatible endpoint. AlpacaEval's and Arena-Hard's pairwise judge
//! prompts ship with their Python tools, not with the data here: judge those files with
//! alpaca_eval / arena-hard-auto and score the annotations with `cargo xtask eval score`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::prelude::Device;
use clap::{Args, ValueEnum};
use eval_harness::data::AlpacaEvalItem;
use eval_harness::judge::{Judge, LocalJudge, OpenAiJudge, OpenAiJudgeConfig, grade_mt_bench};
use eval_harness::mt_bench::MtBenchJudgment;
use eval_harness::outputs::{self, MtBenchAnswer};
use eval_harness::run::{LanguageModel, run_chat, run_gsm8k, run_mmlu, run_mmlu_generative};
use eval_harness::{data, gsm8k, mmlu, mt_bench};
use indicatif::{ProgressBar, ProgressStyle};
use lm::{ChatMessage, DeviceSpec, WeightDType, load_causal_lm, load_tokenizer};
use serde::Serialize;

/// Most tokens of a generative MMLU answer (a letter, perhaps with its text).
const MMLU_GENERATIVE_MAX_TOKENS: usize = 16;

/// A benchmark `eval run` can drive with a local model.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RunTask {
    /// GSM8K test problems, greedy generation, lm-eval's exact match.
    Gsm8k,
    /// MMLU test questions, log-likelihood of each answer letter (or, with `--generative`,
    /// greedy text whose letter is extracted).
    Mmlu,
    /// AlpacaEval instructions: answers written as alpaca_eval's model_outputs.json.
    AlpacaEval,
    /// Arena-Hard v2 prompts: answers written as arena-hard-auto's model_answer jsonl.
    ArenaHard,
    /// MT-Bench: two-turn answers as FastChat's model_answer jsonl, judged with `--judge`.
    MtBench,
}

/// Arguments of `eval run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Which benchmark.
    #[arg(long, value_enum)]
    task: RunTask,
    /// A Hugging Face folder or a .gguf file.
    #[arg(long)]
    model: PathBuf,
    /// Evaluate only the first N questions (after the few-shot examples are set aside).
    #[arg(long)]
    limit: Option<usize>,
    /// Few-shot examples: GSM8K takes the first K problems of the file (not evaluated; the
    /// train split lm-eval samples from does not exist here), MMLU the first K questions
    /// of each subject.
    #[arg(long, default_value_t = 5)]
    shots: usize,
    /// Prompts per forward batch.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// GSM8K: most generated tokens per problem (lm-eval's default).
    #[arg(long, default_value_t = 256)]
    max_new_tokens: usize,
    /// The benchmark file; default: the one `cargo xtask assets` fetches.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Where predictions.jsonl and metrics.json go; default `runs/eval/<task>-<model name>`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// `cpu`, `libtorch` or `cuda[:N]` (the last two need `--features tch`).
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
    /// MMLU: generate the answer and extract its letter instead of comparing the four
    /// letters' log-likelihoods.
    #[arg(long)]
    generative: bool,
    /// MMLU generative: send the prompt through the model's chat template as a user turn.
    #[arg(long)]
    chat: bool,
    /// MT-Bench judge: a local model (HF folder or .gguf) or an OpenAI-compatible base URL
    /// (http://…, with `--judge-name`; the key from $OPENAI_API_KEY when set).
    #[arg(long)]
    judge: Option<String>,
    /// The served judge model's name (for an endpoint).
    #[arg(long, default_value = "gpt-4")]
    judge_name: String,
    /// Most tokens of a judge's reply.
    #[arg(long, default_value_t = 512)]
    judge_max_tokens: usize,
}

/// Runs the benchmark and prints its metrics as one JSON line last.
pub fn run(args: &RunArgs) -> Result<()> {
    let device = args.device.device()?;
    let (_, model) = load_causal_lm(&args.model, &device, WeightDType::F32)
        .with_context(|| format!("loading {}", args.model.display()))?;
    let tokenizer = load_tokenizer(&args.model)?;
    let lm = LanguageModel {
        model: &model,
        tokenizer: &tokenizer,
        device: &device,
    };
    let model_name = args
        .model
        .file_stem()
        .map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
    let task_name = args
        .task
        .to_possible_value()
        .map_or_else(|| "task".into(), |v| v.get_name().to_string());
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("runs/eval").join(format!("{task_name}-{model_name}")));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;

    let metrics = match args.task {
        RunTask::Gsm8k => {
            let path = args
                .data
                .clone()
                .unwrap_or_else(|| "assets/data/gsm8k/test.jsonl".into());
            let mut docs = data::read_gsm8k(&path)?;
            let rest = docs.split_off(args.shots.min(docs.len()));
            let (shots, docs) = (docs, limited(rest, args.limit));
            let bar = progress_bar(docs.len(), "gsm8k");
            let predictions = run_gsm8k(
                &lm,
                &docs,
                &shots,
                args.batch_size,
                args.max_new_tokens,
                &mut |done| bar.set_position(done as u64),
            )?;
            bar.finish();
            write_jsonl(&out.join("predictions.jsonl"), &predictions)?;
            serde_json::to_value(gsm8k::evaluate(&predictions)?)?
        }
        RunTask::Mmlu => {
            let path = args
                .data
                .clone()
                .unwrap_or_else(|| "assets/data/mmlu/mmlu.jsonl".into());
            let (shots, docs) = mmlu::split_shots(mmlu::read_mmlu_jsonl(&path)?, args.shots);
            let docs = limited(docs, args.limit);
            let bar = progress_bar(docs.len(), "mmlu");
            let mut tick = |done: usize| bar.set_position(done as u64);
            let predictions = if args.generative {
                let max_new_tokens = args.max_new_tokens.min(MMLU_GENERATIVE_MAX_TOKENS);
                run_mmlu_generative(
                    &lm,
                    &docs,
                    &shots,
                    args.batch_size,
                    max_new_tokens,
                    args.chat,
                    &mut tick,
                )?
            } else {
                run_mmlu(&lm, &docs, &shots, args.batch_size, &mut tick)?
            };
            bar.finish();
            write_jsonl(&out.join("predictions.jsonl"), &predictions)?;
            serde_json::to_value(mmlu::evaluate(&predictions)?)?
        }
        RunTask::AlpacaEval => {
            let path = args
                .data
                .clone()
                .unwrap_or_else(|| "assets/data/alpaca_eval/alpaca_eval_gpt4_baseline.json".into());
            let items = limited(data::read_alpaca_eval(&path)?, args.limit);
            let conversations: Vec<Vec<ChatMessage>> = items
                .iter()
                .map(|item| vec![ChatMessage::user(&item.instruction)])
                .collect();
            let replies = chat(&lm, &conversations, args, "alpaca-eval")?;
            let outputs: Vec<AlpacaEvalItem> = items
                .into_iter()
                .zip(&replies)
                .map(|(item, (output, _))| AlpacaEvalItem {
                    output: output.clone(),
                    generator: model_name.clone(),
                    ..item
                })
                .collect();
            write_atomically(
                &out.join("model_outputs.json"),
                serde_json::to_string_pretty(&outputs)?.as_bytes(),
            )?;
            answer_summary(&replies, "model_outputs.json")
        }
        RunTask::ArenaHard => {
            let path = args
                .data
                .clone()
                .unwrap_or_else(|| "assets/data/arena-hard-v2.0/question.jsonl".into());
            let questions = limited(data::read_arena_hard_questions(&path)?, args.limit);
            let conversations: Vec<Vec<ChatMessage>> = questions
                .iter()
                .map(|q| vec![ChatMessage::user(&q.prompt)])
                .collect();
            let replies = chat(&lm, &conversations, args, "arena-hard")?;
            let lines: Vec<serde_json::Value> = questions
                .iter()
                .zip(&replies)
                .map(|(q, (answer, len))| {
                    outputs::arena_hard_answer(&q.uid, &model_name, &q.prompt, answer, *len)
                })
                .collect();
            let answers = out.join("model_answer");
            std::fs::create_dir_all(&answers)?;
            write_jsonl(&answers.join(format!("{model_name}.jsonl")), &lines)?;
            answer_summary(&replies, "model_answer/")
        }
        RunTask::MtBench => mt_bench(&lm, args, &model_name, &out, &device)?,
    };
    write_atomically(
        &out.join("metrics.json"),
        serde_json::to_string_pretty(&metrics)?.as_bytes(),
    )?;
    eprintln!("wrote {}", out.display());
    println!("{metrics}");
    Ok(())
}

/// Greedy chat replies with a progress bar.
fn chat(
    lm: &LanguageModel<'_>,
    conversations: &[Vec<ChatMessage>],
    args: &RunArgs,
    label: &str,
) -> Result<Vec<(String, usize)>> {
    let bar = progress_bar(conversations.len(), label);
    let replies = run_chat(
        lm,
        conversations,
        args.batch_size,
        args.max_new_tokens,
        &mut |done| bar.set_position(done as u64),
    )?;
    bar.finish();
    Ok(replies)
}

/// What an answers-only run reports.
fn answer_summary(replies: &[(String, usize)], file: &str) -> serde_json::Value {
    let tokens: usize = replies.iter().map(|(_, n)| n).sum();
    serde_json::json!({
        "n": replies.len(),
        "mean_answer_tokens": tokens as f64 / replies.len().max(1) as f64,
        "answers": file,
    })
}

/// MT-Bench: both turns answered, written as FastChat answers, judged when asked.
fn mt_bench(
    lm: &LanguageModel<'_>,
    args: &RunArgs,
    model_name: &str,
    out: &Path,
    device: &Device,
) -> Result<serde_json::Value> {
    let dir = args
        .data
        .clone()
        .unwrap_or_else(|| "assets/data/mt_bench".into());
    let questions = limited(
        data::read_mt_bench_questions(&dir.join("question.jsonl"))?,
        args.limit,
    );
    let mut conversations: Vec<Vec<ChatMessage>> = questions
        .iter()
        .map(|q| vec![ChatMessage::user(&q.turns[0])])
        .collect();
    let first = chat(lm, &conversations, args, "mt-bench turn 1")?;
    for ((conversation, question), (reply, _)) in
        conversations.iter_mut().zip(&questions).zip(&first)
    {
        let second = question
            .turns
            .get(1)
            .with_context(|| format!("question {} has one turn", question.question_id))?;
        conversation.push(ChatMessage::assistant(reply));
        conversation.push(ChatMessage::user(second));
    }
    let second = chat(lm, &conversations, args, "mt-bench turn 2")?;
    let answers: Vec<MtBenchAnswer> = questions
        .iter()
        .zip(first.iter().zip(&second))
        .map(|(q, ((a1, _), (a2, _)))| {
            MtBenchAnswer::new(q.question_id, model_name, vec![a1.clone(), a2.clone()])
        })
        .collect();
    let answer_dir = out.join("model_answer");
    std::fs::create_dir_all(&answer_dir)?;
    write_jsonl(&answer_dir.join(format!("{model_name}.jsonl")), &answers)?;
    let Some(judge_spec) = &args.judge else {
        let replies: Vec<(String, usize)> = first.into_iter().chain(second).collect();
        return Ok(answer_summary(&replies, "model_answer/"));
    };
    let judge = build_judge(judge_spec, args, device)?;
    let prompts = data::read_judge_prompts(&dir.join("judge_prompts.jsonl"))?;
    let references = outputs::read_mt_bench_answers(&dir.join("reference_answer/gpt-4.jsonl"))?;
    let bar = progress_bar(2 * answers.len(), "mt-bench judging");
    let records = grade_mt_bench(
        judge.as_ref(),
        &prompts,
        &questions,
        &answers,
        &references,
        &mut |done| bar.set_position(done as u64),
    )?;
    bar.finish();
    let judgment_dir = out.join("model_judgment");
    std::fs::create_dir_all(&judgment_dir)?;
    let judge_file = judge.name().replace(['/', '\\', ' '], "_");
    write_jsonl(
        &judgment_dir.join(format!("{judge_file}_single.jsonl")),
        &records,
    )?;
    let judgments: Vec<MtBenchJudgment> = records
        .iter()
        .map(|r| MtBenchJudgment {
            question_id: Some(r.question_id.into()),
            turn: r.turn,
            judgment: Some(r.judgment.clone()),
            score: Some(r.score),
        })
        .collect();
    Ok(serde_json::to_value(mt_bench::evaluate(&judgments)?)?)
}

/// A local judge model (path) or an OpenAI-compatible endpoint (URL).
fn build_judge(spec: &str, args: &RunArgs, device: &Device) -> Result<Box<dyn Judge>> {
    if spec.starts_with("http://") || spec.starts_with("https://") {
        let config = OpenAiJudgeConfig {
            base_url: spec.into(),
            model: args.judge_name.clone(),
            api_key_env: std::env::var_os("OPENAI_API_KEY").map(|_| "OPENAI_API_KEY".into()),
            temperature: 0.0,
            max_tokens: args.judge_max_tokens as u32,
            timeout_s: 120.0,
            max_retries: 3,
            backoff_s: 1.0,
        };
        return Ok(Box::new(OpenAiJudge::new(config)?));
    }
    let path = Path::new(spec);
    let (_, model) = load_causal_lm(path, device, WeightDType::F32)
        .with_context(|| format!("loading the judge {spec}"))?;
    let tokenizer = load_tokenizer(path)?;
    let name = path.file_stem().map_or_else(
        || "local-judge".into(),
        |s| s.to_string_lossy().into_owned(),
    );
    Ok(Box::new(LocalJudge::new(
        name,
        model,
        tokenizer,
        device.clone(),
        args.judge_max_tokens,
    )))
}

fn limited<T>(mut items: Vec<T>, limit: Option<usize>) -> Vec<T> {
    if let Some(limit) = limit {
        items.truncate(limit);
    }
    items
}

fn progress_bar(len: usize, task: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed}, ETA {eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(task.to_string());
    bar
}

fn write_jsonl<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let mut text = Vec::new();
    for row in rows {
        serde_json::to_writer(&mut text, row)?;
        text.push(b'\n');
    }
    write_atomically(path, &text)
}

/// Writes through a temporary file in the same folder, then renames.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
