//! A benchmark run end to end with a local model: read the benchmark's files, produce the
//! predictions or answers ([`crate::run`]), write them in the official tools' layouts
//! ([`crate::outputs`]), judge them when a judge is given ([`crate::judge`]) and compute the
//! metrics as the official tools do. `cargo xtask eval run` is this module on the command
//! line.
//!
//! Files written under [`BenchmarkRun::out`]:
//! - GSM8K, MMLU: `predictions.jsonl` (what `eval score` reads);
//! - AlpacaEval: `model_outputs.json`, and with a judge `annotations-<judge>.json`;
//! - Arena-Hard: `model_answer/<model>.jsonl`, and with a judge
//!   `model_judgment/<judge>/<model>.jsonl`;
//! - MT-Bench: `model_answer/<model>.jsonl`, and with a judge
//!   `model_judgment/<judge>_single.jsonl`.

use std::path::{Path, PathBuf};

use lm::ChatMessage;
use serde::Serialize;

use crate::alpaca_eval::AlpacaEvalMetrics;
use crate::data::{self, AlpacaEvalItem};
use crate::error::{Error, Result};
use crate::gsm8k::{self, Gsm8kMetrics};
use crate::judge::pairwise::{self, ArenaHardReport, PairwiseJudge};
use crate::judge::{Judge, grade_mt_bench};
use crate::mmlu::{self, MmluMetrics};
use crate::mt_bench::{self, MtBenchJudgment, MtBenchMetrics};
use crate::outputs::{self, MtBenchAnswer, file_safe};
use crate::progress::{OnProgress, stage};
use crate::run::{LanguageModel, run_chat, run_gsm8k, run_mmlu, run_mmlu_generative};
use atomic_write::{write_json_pretty as write_json, write_jsonl};

/// How MMLU answers are read from the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmluScoring {
    /// lm-eval's default: the log-likelihood of each answer letter after the prompt.
    LogLikelihood,
    /// Greedy text (at most `max_new_tokens`, sent through the chat template when `chat`)
    /// whose letter is extracted.
    Generative {
        /// Most generated tokens.
        max_new_tokens: usize,
        /// Whether the prompt goes through the model's chat template as a user turn.
        chat: bool,
    },
}

/// What an answers-only run (no judge) reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AnswerSummary {
    /// Answers written.
    pub n: usize,
    /// Mean answer length, tokens.
    pub mean_answer_tokens: f64,
    /// Where the answers are, relative to the run's folder.
    pub answers: String,
}

/// The metrics of a chat benchmark run: the judged metrics, or the answers' summary when no
/// judge was given. Serialises as the inner object.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ChatReport {
    /// Answers only.
    Answers(AnswerSummary),
    /// AlpacaEval 2's raw and LC win rates.
    AlpacaEval(AlpacaEvalMetrics),
    /// Arena-Hard v2 scores.
    ArenaHard(ArenaHardReport),
    /// MT-Bench turn and overall means.
    MtBench(MtBenchMetrics),
}

/// A model and where its run's files go.
pub struct BenchmarkRun<'a> {
    /// The model answering.
    pub lm: LanguageModel<'a>,
    /// Its name in the written files (e.g. the model file's stem).
    pub model_name: String,
    /// Prompts per forward batch.
    pub batch_size: usize,
    /// Most generated tokens per answer (GSM8K, chat replies).
    pub max_new_tokens: usize,
    /// The run's folder (created if missing).
    pub out: PathBuf,
}

impl BenchmarkRun<'_> {
    /// GSM8K from `file` (lm-eval's test JSONL): the first `shots` problems are the few-shot
    /// examples (not evaluated), then the next `limit` (all without one) are answered by
    /// greedy generation and scored by lm-eval's exact match.
    pub fn gsm8k(
        &self,
        file: &Path,
        shots: usize,
        limit: Option<usize>,
        on_progress: &mut OnProgress<'_>,
    ) -> Result<Gsm8kMetrics> {
        let mut docs = data::read_gsm8k(file)?;
        let rest = docs.split_off(shots.min(docs.len()));
        let (shots, docs) = (docs, limited(rest, limit));
        let predictions = stage(on_progress, "gsm8k", docs.len(), |tick| {
            run_gsm8k(
                &self.lm,
                &docs,
                &shots,
                self.batch_size,
                self.max_new_tokens,
                tick,
            )
        })?;
        write_jsonl(&self.create_out()?.join("predictions.jsonl"), &predictions)?;
        gsm8k::evaluate(&predictions)
    }

    /// MMLU from `file` (our JSONL of the test split): the first `shots` questions of each
    /// subject are its examples, `limit` applies per subject as lm-eval's `--limit` does
    /// (the subjects and counts covered are logged).
    pub fn mmlu(
        &self,
        file: &Path,
        shots: usize,
        limit: Option<usize>,
        scoring: MmluScoring,
        on_progress: &mut OnProgress<'_>,
    ) -> Result<MmluMetrics> {
        let (shots, docs) = mmlu::split_shots(mmlu::read_mmlu_jsonl(file)?, shots);
        let docs = match limit {
            Some(limit) => mmlu::limit_per_subject(docs, limit),
            None => docs,
        };
        let counts = mmlu::subject_counts(&docs);
        let (fewest, most) = (
            counts.values().min().copied().unwrap_or(0),
            counts.values().max().copied().unwrap_or(0),
        );
        tracing::info!(
            "mmlu: {} questions over {} subjects ({fewest}–{most} each)",
            docs.len(),
            counts.len()
        );
        let predictions = stage(on_progress, "mmlu", docs.len(), |tick| match scoring {
            MmluScoring::LogLikelihood => run_mmlu(&self.lm, &docs, &shots, self.batch_size, tick),
            MmluScoring::Generative {
                max_new_tokens,
                chat,
            } => run_mmlu_generative(
                &self.lm,
                &docs,
                &shots,
                self.batch_size,
                max_new_tokens,
                chat,
                tick,
            ),
        })?;
        write_jsonl(&self.create_out()?.join("predictions.jsonl"), &predictions)?;
        mmlu::evaluate(&predictions)
    }

    /// AlpacaEval 2: the first `limit` instructions of `file` (alpaca_eval's
    /// `alpaca_eval_gpt4_baseline.json`, whose outputs are also the baseline's) answered
    /// through the chat template; with `judge`, judged against the baseline under
    /// `template` (alpaca_eval's `alpaca_eval_clf.txt`).
    pub fn alpaca_eval(
        &self,
        file: &Path,
        template: &Path,
        judge: Option<&dyn Judge>,
        limit: Option<usize>,
        on_progress: &mut OnProgress<'_>,
    ) -> Result<ChatReport> {
        let items = limited(data::read_alpaca_eval(file)?, limit);
        let conversations: Vec<Vec<ChatMessage>> = items
            .iter()
            .map(|item| vec![ChatMessage::user(&item.instruction)])
            .collect();
        let replies = self.chat(&conversations, "alpaca-eval", on_progress)?;
        let outputs: Vec<AlpacaEvalItem> = items
            .into_iter()
            .zip(&replies)
            .map(|(item, (output, _))| AlpacaEvalItem {
                output: output.clone(),
                generator: self.model_name.clone(),
                ..item
            })
            .collect();
        let out = self.create_out()?;
        write_json(&out.join("model_outputs.json"), &outputs)?;
        Ok(match judge {
            Some(judge) => ChatReport::AlpacaEval(pairwise::judge_alpaca_eval(
                &mut PairwiseJudge::Llm(judge),
                &outputs,
                file,
                template,
                out,
                on_progress,
            )?),
            None => ChatReport::Answers(summary(&replies, "model_outputs.json")),
        })
    }

    /// Arena-Hard v2: the first `limit` questions of `arena_dir` (the v2.0 folder) answered
    /// through the chat template; with `judge`, two games each against the category's
    /// baseline.
    pub fn arena_hard(
        &self,
        arena_dir: &Path,
        judge: Option<&dyn Judge>,
        limit: Option<usize>,
        on_progress: &mut OnProgress<'_>,
    ) -> Result<ChatReport> {
        let questions = limited(
            data::read_arena_hard_questions(&arena_dir.join("question.jsonl"))?,
            limit,
        );
        let conversations: Vec<Vec<ChatMessage>> = questions
            .iter()
            .map(|q| vec![ChatMessage::user(&q.prompt)])
            .collect();
        let replies = self.chat(&conversations, "arena-hard", on_progress)?;
        let lines: Vec<serde_json::Value> = questions
            .iter()
            .zip(&replies)
            .map(|(q, (answer, len))| {
                outputs::arena_hard_answer(&q.uid, &self.model_name, &q.prompt, answer, *len)
            })
            .collect();
        let out = self.create_out()?;
        let answer_file =
            create_dir(&out.join("model_answer"))?.join(format!("{}.jsonl", self.model_name));
        write_jsonl(&answer_file, &lines)?;
        let Some(judge) = judge else {
            return Ok(ChatReport::Answers(summary(&replies, "model_answer/")));
        };
        let answers: Vec<data::ArenaHardAnswer> = lines
            .into_iter()
            .map(serde_json::from_value)
            .collect::<std::result::Result<_, _>>()
            .map_err(|err| Error::Record {
                path: answer_file.clone(),
                line: 1,
                reason: err.to_string(),
            })?;
        Ok(ChatReport::ArenaHard(pairwise::judge_arena_hard(
            &mut PairwiseJudge::Llm(judge),
            &answers,
            arena_dir,
            out,
            on_progress,
        )?))
    }

    /// MT-Bench: both turns of the first `limit` questions of `mt_bench_dir` (FastChat's
    /// `question.jsonl`, `judge_prompts.jsonl`, `reference_answer/gpt-4.jsonl`) answered
    /// through the chat template, the second after the model's own first answer; with
    /// `judge`, FastChat's single-answer grading of each turn.
    pub fn mt_bench(
        &self,
        mt_bench_dir: &Path,
        judge: Option<&dyn Judge>,
        limit: Option<usize>,
        on_progress: &mut OnProgress<'_>,
    ) -> Result<ChatReport> {
        let questions_file = mt_bench_dir.join("question.jsonl");
        let questions = limited(data::read_mt_bench_questions(&questions_file)?, limit);
        let mut conversations: Vec<Vec<ChatMessage>> = questions
            .iter()
            .map(|q| vec![ChatMessage::user(&q.turns[0])])
            .collect();
        let first = self.chat(&conversations, "mt-bench turn 1", on_progress)?;
        for ((conversation, question), (reply, _)) in
            conversations.iter_mut().zip(&questions).zip(&first)
        {
            let second = question.turns.get(1).ok_or_else(|| Error::Inputs {
                context: questions_file.display().to_string(),
                reason: format!("question {} has one turn", question.question_id),
            })?;
            conversation.push(ChatMessage::assistant(reply));
            conversation.push(ChatMessage::user(second));
        }
        let second = self.chat(&conversations, "mt-bench turn 2", on_progress)?;
        let answers: Vec<MtBenchAnswer> = questions
            .iter()
            .zip(first.iter().zip(&second))
            .map(|(q, ((a1, _), (a2, _)))| {
                MtBenchAnswer::new(
                    q.question_id,
                    &self.model_name,
                    vec![a1.clone(), a2.clone()],
                )
            })
            .collect();
        let out = self.create_out()?;
        write_jsonl(
            &create_dir(&out.join("model_answer"))?.join(format!("{}.jsonl", self.model_name)),
            &answers,
        )?;
        let Some(judge) = judge else {
            let replies: Vec<(String, usize)> = first.into_iter().chain(second).collect();
            return Ok(ChatReport::Answers(summary(&replies, "model_answer/")));
        };
        let prompts = data::read_judge_prompts(&mt_bench_dir.join("judge_prompts.jsonl"))?;
        let references =
            outputs::read_mt_bench_answers(&mt_bench_dir.join("reference_answer/gpt-4.jsonl"))?;
        let records = stage(on_progress, "mt-bench judging", 2 * answers.len(), |tick| {
            grade_mt_bench(judge, &prompts, &questions, &answers, &references, tick)
        })?;
        write_jsonl(
            &create_dir(&out.join("model_judgment"))?
                .join(format!("{}_single.jsonl", file_safe(judge.name()))),
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
        Ok(ChatReport::MtBench(mt_bench::evaluate(&judgments)?))
    }

    /// Greedy chat replies, reported as stage `label`.
    fn chat(
        &self,
        conversations: &[Vec<ChatMessage>],
        label: &str,
        on_progress: &mut OnProgress<'_>,
    ) -> Result<Vec<(String, usize)>> {
        stage(on_progress, label, conversations.len(), |tick| {
            run_chat(
                &self.lm,
                conversations,
                self.batch_size,
                self.max_new_tokens,
                tick,
            )
        })
    }

    /// The run's folder, created if missing.
    fn create_out(&self) -> Result<&Path> {
        create_dir(&self.out)?;
        Ok(&self.out)
    }
}

/// `dir`, created with its parents if missing.
fn create_dir(dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(atomic_write::io_error(dir))?;
    Ok(dir.to_path_buf())
}

/// The first `limit` items (all without a limit).
fn limited<T>(mut items: Vec<T>, limit: Option<usize>) -> Vec<T> {
    if let Some(limit) = limit {
        items.truncate(limit);
    }
    items
}

/// The summary of answers-only replies written to `file`.
fn summary(replies: &[(String, usize)], file: &str) -> AnswerSummary {
    let tokens: usize = replies.iter().map(|(_, n)| n).sum();
    AnswerSummary {
        n: replies.len(),
        mean_answer_tokens: tokens as f64 / replies.len().max(1) as f64,
        answers: file.into(),
    }
}
