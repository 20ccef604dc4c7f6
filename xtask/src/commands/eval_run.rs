//! `cargo xtask eval run`: generate or score with a model from the `lm` crate, then compute
//! the benchmark's metrics; the predictions and metrics are saved side by side.
//!
//! GSM8K and MMLU are scored here. AlpacaEval, Arena-Hard and MT-Bench answers are generated
//! through the model's chat template and written in the official tools' input formats;
//! when `--judge` names a local model or an OpenAI-compatible endpoint they are also judged
//! with the official protocols and prompts (MT-Bench: FastChat single-answer grading;
//! AlpacaEval 2: `weighted_alpaca_eval_gpt4_turbo`; Arena-Hard v2: two games per question,
//! see `eval judge`), and the metrics are computed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::prelude::Device;
use clap::{Args, ValueEnum};
use eval_harness::data::AlpacaEvalItem;
use eval_harness::judge::grade_mt_bench;
use eval_harness::mt_bench::MtBenchJudgment;
use eval_harness::outputs::{self, MtBenchAnswer};
use eval_harness::run::{LanguageModel, run_chat, run_gsm8k, run_mmlu, run_mmlu_generative};
use eval_harness::{data, gsm8k, mmlu, mt_bench};
use lm::{ChatMessage, DeviceSpec, WeightDType, load_causal_lm, load_tokenizer};

use super::eval_common::{JudgeArgs, file_safe, limited, progress_bar, write_jsonl};
use super::eval_judge::{
    ALPACA_BASELINE, ALPACA_TEMPLATE, ARENA_DIR, Judger, judge_alpaca_eval, judge_arena_hard,
};

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
    /// Evaluate only the first N questions (after the few-shot examples are set aside);
    /// for MMLU the first N of every subject, as lm-eval's `--limit` does.
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
    /// The benchmark file (GSM8K, MMLU, AlpacaEval) or folder (Arena-Hard v2.0, MT-Bench);
    /// default: the one `cargo xtask assets` fetches.
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
    /// The judge of MT-Bench, AlpacaEval and Arena-Hard answers (none: answers only).
    #[command(flatten)]
    judge: JudgeArgs,
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
            // lm-eval's --limit is per subject (each is a task of the MMLU group).
            let docs = match args.limit {
                Some(limit) => mmlu::limit_per_subject(docs, limit),
                None => docs,
            };
            let counts = mmlu::subject_counts(&docs);
            let (fewest, most) = (
                counts.values().min().copied().unwrap_or(0),
                counts.values().max().copied().unwrap_or(0),
            );
            eprintln!(
                "mmlu: {} questions over {} subjects ({fewest}–{most} each)",
                docs.len(),
                counts.len()
            );
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
            atomic_write::replace_file(
                &out.join("model_outputs.json"),
                serde_json::to_string_pretty(&outputs)?.as_bytes(),
            )?;
            match args.judge.build(&device)? {
                Some(judge) => judge_alpaca_eval(
                    &mut Judger::Llm(judge.as_ref()),
                    &outputs,
                    args.data.as_deref().unwrap_or(Path::new(ALPACA_BASELINE)),
                    Path::new(ALPACA_TEMPLATE),
                    &out,
                )?,
                None => answer_summary(&replies, "model_outputs.json"),
            }
        }
        RunTask::ArenaHard => {
            let dir = args.data.clone().unwrap_or_else(|| ARENA_DIR.into());
            let questions = limited(
                data::read_arena_hard_questions(&dir.join("question.jsonl"))?,
                args.limit,
            );
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
            match args.judge.build(&device)? {
                Some(judge) => {
                    let answers: Vec<data::ArenaHardAnswer> = lines
                        .into_iter()
                        .map(serde_json::from_value)
                        .collect::<Result<_, _>>()?;
                    judge_arena_hard(&mut Judger::Llm(judge.as_ref()), &answers, &dir, &out)?
                }
                None => answer_summary(&replies, "model_answer/"),
            }
        }
        RunTask::MtBench => mt_bench(&lm, args, &model_name, &out, &device)?,
    };
    atomic_write::replace_file(
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
    let Some(judge) = args.judge.build(device)? else {
        let replies: Vec<(String, usize)> = first.into_iter().chain(second).collect();
        return Ok(answer_summary(&replies, "model_answer/"));
    };
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
    let judge_file = file_safe(judge.name());
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
