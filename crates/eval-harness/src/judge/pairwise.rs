//! Pairwise benchmark judging end to end: a model's AlpacaEval outputs or Arena-Hard answers
//! paired with the benchmark's baselines, judged by an LLM judge with the benchmark's own
//! protocol ([`super::alpaca_eval`], [`super::arena_hard`]) or by an RM of a pool
//! ([`super::reward_model`]), the judgments written in the official tools' layouts and the
//! metrics computed as the official tools compute them.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rm_pool::RmPool;
use serde::Serialize;

use crate::alpaca_eval::{self, AlpacaEvalMetrics};
use crate::arena_hard::{self, ArenaScoreV2};
use crate::data::{self, AlpacaEvalItem, ArenaHardAnswer, ArenaHardQuestion};
use crate::error::{Error, Result};
use crate::judge::reward_model::{self, VerdictScale};
use crate::judge::{Judge, alpaca_eval as alpaca_judge, arena_hard as arena_judge};
use crate::outputs::file_safe;
use crate::progress::{OnProgress, stage};
use atomic_write::{write_json_pretty as write_json, write_jsonl};

/// Seed of Arena-Hard's bootstrap (arena-hard-auto's and `eval score`'s default).
pub const ARENA_HARD_SEED: u64 = 42;

/// Who judges a pair of answers.
pub enum PairwiseJudge<'a> {
    /// An LLM judge with the benchmark's own protocol and prompts.
    Llm(&'a dyn Judge),
    /// An RM of a pool: both answers scored, the margin read as a verdict
    /// ([`VerdictScale::default`]).
    Rm {
        /// The pool.
        pool: &'a mut RmPool,
        /// The RM's index in it.
        rm: usize,
        /// Its name.
        name: String,
    },
}

impl PairwiseJudge<'_> {
    /// The name judgments and file names carry: the LLM judge's, or `rm-<name>`.
    pub fn name(&self) -> String {
        match self {
            Self::Llm(judge) => judge.name().to_string(),
            Self::Rm { name, .. } => format!("rm-{name}"),
        }
    }
}

/// AlpacaEval 2: each of `outputs` against `baseline`'s output for the same instruction
/// (`baseline_path`: alpaca_eval's `alpaca_eval_gpt4_baseline.json`; `template_path`: its
/// `alpaca_eval_clf.txt`, read for an LLM judge only). Writes
/// `annotations-<judge>.json` (alpaca_eval's layout) in `out` and returns the raw and
/// length-controlled win rates. An output whose instruction the baseline lacks is an error
/// naming it.
pub fn judge_alpaca_eval(
    judge: &mut PairwiseJudge<'_>,
    outputs: &[AlpacaEvalItem],
    baseline_path: &Path,
    template_path: &Path,
    out: &Path,
    on_progress: &mut OnProgress<'_>,
) -> Result<AlpacaEvalMetrics> {
    let baseline = data::read_alpaca_eval(baseline_path)?;
    let by_instruction: HashMap<&str, &AlpacaEvalItem> = baseline
        .iter()
        .map(|item| (item.instruction.as_str(), item))
        .collect();
    let mut pairs = Vec::with_capacity(outputs.len());
    for (i, output) in outputs.iter().enumerate() {
        let base = by_instruction
            .get(output.instruction.as_str())
            .ok_or_else(|| Error::Inputs {
                context: format!("AlpacaEval output {i}"),
                reason: format!(
                    "its instruction is not one of {}'s: {:?}",
                    baseline_path.display(),
                    output.instruction.chars().take(80).collect::<String>()
                ),
            })?;
        pairs.push((*base, output));
    }
    let model_name = outputs.first().map_or("model", |o| o.generator.as_str());
    let baseline_name = pairs
        .first()
        .map_or("baseline", |(b, _)| b.generator.as_str());
    let judge_name = judge.name();
    let records = stage(
        on_progress,
        "alpaca-eval judging",
        pairs.len(),
        |tick| match judge {
            PairwiseJudge::Llm(llm) => {
                let template = std::fs::read_to_string(template_path)
                    .map_err(atomic_write::io_error(template_path))?;
                let pairs: Vec<alpaca_judge::OutputPair<'_>> = pairs
                    .iter()
                    .map(|(base, output)| alpaca_judge::OutputPair {
                        instruction: &output.instruction,
                        baseline: &base.output,
                        model: &output.output,
                    })
                    .collect();
                alpaca_judge::annotate(*llm, &template, &pairs, (baseline_name, model_name), tick)
            }
            PairwiseJudge::Rm { pool, rm, name } => {
                let answer_pairs: Vec<reward_model::AnswerPair<'_>> = pairs
                    .iter()
                    .map(|(base, output)| reward_model::AnswerPair {
                        question: &output.instruction,
                        baseline: &base.output,
                        model: &output.output,
                    })
                    .collect();
                let preferences = reward_model::alpaca_eval_preferences(
                    pool,
                    *rm,
                    &answer_pairs,
                    VerdictScale::default(),
                )?;
                tick(pairs.len());
                Ok(pairs
                    .iter()
                    .zip(preferences)
                    .map(
                        |((base, output), preference)| alpaca_judge::AnnotationRecord {
                            instruction: output.instruction.clone(),
                            output_1: base.output.clone(),
                            generator_1: base.generator.clone(),
                            output_2: output.output.clone(),
                            generator_2: output.generator.clone(),
                            annotator: format!("rm:{name}"),
                            judge: name.clone(),
                            preference: Some(preference),
                            is_switched_outputs: false,
                            raw_completion: Vec::new(),
                        },
                    )
                    .collect())
            }
        },
    )?;
    write_json(
        &out.join(format!("annotations-{}.json", file_safe(&judge_name))),
        &records,
    )?;
    let annotations: Vec<alpaca_eval::Annotation> = records
        .into_iter()
        .map(|r| alpaca_eval::Annotation {
            instruction: r.instruction,
            output_1: r.output_1,
            output_2: r.output_2,
            preference: r.preference,
        })
        .collect();
    alpaca_eval::metrics(&annotations, None)
}

/// What Arena-Hard v2 judging reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ArenaHardReport {
    /// Per model: the v2 score and its bootstrap interval.
    pub scores: BTreeMap<String, ArenaScoreV2>,
    /// Games played (two per answer).
    pub games: usize,
    /// Games whose reply held a verdict label.
    pub games_with_verdict: usize,
}

/// Arena-Hard v2: each of `answers` against its category's baseline (`arena_dir`: the
/// Arena-Hard v2.0 folder with `question.jsonl`, `judge_prompts.py` and the baselines'
/// `model_answer/<baseline>.jsonl`), two games each. Writes
/// `model_judgment/<judge>/<model>.jsonl` (arena-hard-auto's layout) in `out` and returns
/// the v2 scores.
pub fn judge_arena_hard(
    judge: &mut PairwiseJudge<'_>,
    answers: &[ArenaHardAnswer],
    arena_dir: &Path,
    out: &Path,
    on_progress: &mut OnProgress<'_>,
) -> Result<ArenaHardReport> {
    let prompts =
        arena_judge::ArenaHardPrompts::from_python_module(&arena_dir.join("judge_prompts.py"))?;
    let questions = data::read_arena_hard_questions(&arena_dir.join("question.jsonl"))?;
    let questions: HashMap<&str, &ArenaHardQuestion> =
        questions.iter().map(|q| (q.uid.as_str(), q)).collect();
    let mismatch = |reason: String| Error::Inputs {
        context: format!("Arena-Hard answers against {}", arena_dir.display()),
        reason,
    };
    // Each answer's question and its category's baseline, then the baselines' answers.
    let mut matched = Vec::with_capacity(answers.len());
    for answer in answers {
        let question = *questions
            .get(answer.uid.as_str())
            .ok_or_else(|| mismatch(format!("answer to unknown question {}", answer.uid)))?;
        let baseline = prompts.baseline(&question.category).ok_or_else(|| {
            mismatch(format!(
                "no baseline for category {:?} (question {})",
                question.category, question.uid
            ))
        })?;
        let model_answer = answer
            .answer()
            .ok_or_else(|| mismatch(format!("answer {} has no assistant message", answer.uid)))?;
        matched.push((question, baseline, model_answer));
    }
    let mut baselines: HashMap<&str, HashMap<String, String>> = HashMap::new();
    for (_, baseline, _) in &matched {
        if !baselines.contains_key(baseline) {
            let path = arena_dir.join(format!("model_answer/{baseline}.jsonl"));
            let by_uid = data::read_arena_hard_answers(&path)?
                .into_iter()
                .filter_map(|a| Some((a.uid.clone(), a.answer()?.to_string())))
                .collect();
            baselines.insert(baseline, by_uid);
        }
    }
    let mut pairs = Vec::with_capacity(matched.len());
    for (question, baseline, model_answer) in matched {
        let baseline_answer = baselines[baseline].get(&question.uid).ok_or_else(|| {
            mismatch(format!(
                "{baseline} did not answer question {}",
                question.uid
            ))
        })?;
        pairs.push((question, baseline, baseline_answer.as_str(), model_answer));
    }
    let model_name = answers.first().map_or("model", |a| a.model.as_str());
    let judge_dir = out.join("model_judgment").join(file_safe(&judge.name()));
    std::fs::create_dir_all(&judge_dir).map_err(atomic_write::io_error(&judge_dir))?;
    let judgment_file = judge_dir.join(format!("{}.jsonl", file_safe(model_name)));
    let judgments: Vec<arena_hard::Judgment> = match judge {
        PairwiseJudge::Llm(llm) => {
            let pairs: Vec<arena_judge::AnswerPair<'_>> = pairs
                .iter()
                .map(
                    |(question, baseline, baseline_answer, model)| arena_judge::AnswerPair {
                        question,
                        model,
                        baseline_name: baseline,
                        baseline: baseline_answer,
                    },
                )
                .collect();
            let records = stage(on_progress, "arena-hard judging", 2 * pairs.len(), |tick| {
                arena_judge::judge_pairs(*llm, &prompts, model_name, &pairs, tick)
            })?;
            write_jsonl(&judgment_file, &records)?;
            records
                .iter()
                .map(|r| arena_hard::Judgment {
                    model: r.model.clone(),
                    game1: r.games.first().and_then(|g| g.score.clone()),
                    game2: r.games.get(1).and_then(|g| g.score.clone()),
                })
                .collect()
        }
        PairwiseJudge::Rm { pool, rm, .. } => {
            let answer_pairs: Vec<reward_model::AnswerPair<'_>> = pairs
                .iter()
                .map(
                    |(question, _, baseline_answer, model)| reward_model::AnswerPair {
                        question: &question.prompt,
                        baseline: baseline_answer,
                        model,
                    },
                )
                .collect();
            let judgments = reward_model::arena_hard_judgments(
                pool,
                *rm,
                model_name,
                &answer_pairs,
                VerdictScale::default(),
            )?;
            write_jsonl(&judgment_file, &judgments)?;
            judgments
        }
    };
    let games = 2 * judgments.len();
    let games_with_verdict = judgments
        .iter()
        .map(|j| usize::from(j.game1.is_some()) + usize::from(j.game2.is_some()))
        .sum::<usize>();
    tracing::info!(
        "{games_with_verdict} of {games} games gave a verdict label; judgments in {}",
        judgment_file.display()
    );
    let scores =
        arena_hard::evaluate_v2(&judgments, ARENA_HARD_SEED).map_err(|err| Error::Inputs {
            context: format!("scoring {}", judgment_file.display()),
            reason: format!("{err} ({games_with_verdict} of {games} games gave a verdict label)"),
        })?;
    Ok(ArenaHardReport {
        scores,
        games,
        games_with_verdict,
    })
}
