//! `cargo xtask eval judge`: pairwise judging of a model's AlpacaEval outputs or Arena-Hard
//! answers against the benchmark's baselines, by an LLM judge with the official protocol and
//! prompts (crates/eval-harness `judge`) or by an RM of a pool; writes the judgments in the
//! official tools' layouts and prints the metrics as one JSON line last. `eval run` calls
//! the same functions after generating when it is given a judge.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use eval_harness::data::{self, AlpacaEvalItem, ArenaHardAnswer, ArenaHardQuestion};
use eval_harness::judge::reward_model::{self as judging, VerdictScale};
use eval_harness::judge::{Judge, alpaca_eval as alpaca_judge, arena_hard as arena_judge};
use eval_harness::{alpaca_eval, arena_hard};
use lm::DeviceSpec;
use rm_pool::RmPool;

use super::eval_common::{JudgeArgs, file_safe, limited, progress_bar, write_jsonl};
use super::eval_score::alpaca_metrics;

/// Seed of Arena-Hard's bootstrap (the score command's default).
const ARENA_SEED: u64 = 42;

/// A pairwise benchmark.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PairwiseTask {
    /// model_outputs.json (alpaca_eval's layout) against the gpt4_1106_preview baseline:
    /// annotations.json, raw and length-controlled win rates.
    AlpacaEval,
    /// `model_answer/<model>.jsonl` (arena-hard-auto's layout) against the per-category
    /// baselines: `model_judgment/<judge>/<model>.jsonl` and the v2 score.
    ArenaHard,
}

/// Arguments of `eval judge`.
#[derive(Debug, Args)]
pub struct EvalJudgeArgs {
    /// Which benchmark.
    #[arg(long, value_enum)]
    task: PairwiseTask,
    /// The model's outputs (AlpacaEval) or answers (Arena-Hard).
    #[arg(long)]
    answers: PathBuf,
    #[command(flatten)]
    judge: JudgeArgs,
    /// Judge with an RM instead: the pool's config file (with `--rm`).
    #[arg(long, requires = "rm", conflicts_with = "judge")]
    rm_pool: Option<PathBuf>,
    /// The RM's name in `--rm-pool`.
    #[arg(long, requires = "rm_pool")]
    rm: Option<String>,
    /// Judge only the first N outputs.
    #[arg(long)]
    limit: Option<usize>,
    /// Where judgments and metrics go; default: the answers' folder.
    #[arg(long)]
    out: Option<PathBuf>,
    /// `cpu`, `libtorch` or `cuda[:N]` for a local judge.
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
}

/// Who judges.
pub enum Judger<'a> {
    /// An LLM judge with the benchmark's own protocol.
    Llm(&'a dyn Judge),
    /// An RM of a pool: both answers scored, the margin read as a verdict.
    Rm {
        /// The pool.
        pool: &'a mut RmPool,
        /// The RM's index in it.
        rm: usize,
        /// Its name.
        name: String,
    },
}

impl Judger<'_> {
    fn name(&self) -> String {
        match self {
            Self::Llm(judge) => judge.name().to_string(),
            Self::Rm { name, .. } => format!("rm-{name}"),
        }
    }
}

/// Runs `eval judge`.
pub fn run(args: &EvalJudgeArgs) -> Result<()> {
    let device = args.device.device()?;
    let out = match &args.out {
        Some(out) => out.clone(),
        None => {
            let parent = args.answers.parent().unwrap_or(Path::new("."));
            // Arena-Hard answers live in <run>/model_answer/; judgments go beside that.
            match args.task {
                PairwiseTask::ArenaHard if parent.ends_with("model_answer") => {
                    parent.parent().unwrap_or(Path::new(".")).to_path_buf()
                }
                _ => parent.to_path_buf(),
            }
        }
    };
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let llm = args.judge.build(&device)?;
    let mut pool;
    let mut judger = match (&llm, &args.rm_pool, &args.rm) {
        (Some(judge), _, _) => Judger::Llm(judge.as_ref()),
        (None, Some(config), Some(name)) => {
            pool = RmPool::from_config_file(config)
                .with_context(|| format!("loading the RM pool {}", config.display()))?;
            let rm = pool
                .index_of(name)
                .with_context(|| format!("{} has no RM named {name:?}", config.display()))?;
            Judger::Rm {
                pool: &mut pool,
                rm,
                name: name.clone(),
            }
        }
        _ => bail!("give a judge: --judge MODEL|URL, or --rm-pool FILE with --rm NAME"),
    };
    let metrics = match args.task {
        PairwiseTask::AlpacaEval => {
            let outputs = limited(data::read_alpaca_eval(&args.answers)?, args.limit);
            let baseline = Path::new(ALPACA_BASELINE);
            let template = Path::new(ALPACA_TEMPLATE);
            judge_alpaca_eval(&mut judger, &outputs, baseline, template, &out)?
        }
        PairwiseTask::ArenaHard => {
            let answers = limited(data::read_arena_hard_answers(&args.answers)?, args.limit);
            judge_arena_hard(&mut judger, &answers, Path::new(ARENA_DIR), &out)?
        }
    };
    atomic_write::replace_file(
        &out.join(format!("metrics-{}.json", file_safe(&judger.name()))),
        serde_json::to_string_pretty(&metrics)?.as_bytes(),
    )?;
    eprintln!("wrote {}", out.display());
    println!("{metrics}");
    Ok(())
}

/// The AlpacaEval baseline outputs `cargo xtask assets` fetches.
pub const ALPACA_BASELINE: &str = "assets/data/alpaca_eval/alpaca_eval_gpt4_baseline.json";
/// alpaca_eval's annotator template `cargo xtask assets` fetches.
pub const ALPACA_TEMPLATE: &str = "assets/data/alpaca_eval/alpaca_eval_clf.txt";
/// The Arena-Hard v2.0 folder `cargo xtask assets` fills.
pub const ARENA_DIR: &str = "assets/data/arena-hard-v2.0";

/// AlpacaEval 2: each output against the baseline's output for the same instruction;
/// writes `annotations.json` (alpaca_eval's layout) in `out` and returns the raw and LC win
/// rates.
pub fn judge_alpaca_eval(
    judger: &mut Judger<'_>,
    outputs: &[AlpacaEvalItem],
    baseline_path: &Path,
    template_path: &Path,
    out: &Path,
) -> Result<serde_json::Value> {
    let baseline = data::read_alpaca_eval(baseline_path)?;
    let by_instruction: HashMap<&str, &AlpacaEvalItem> = baseline
        .iter()
        .map(|item| (item.instruction.as_str(), item))
        .collect();
    let mut pairs = Vec::with_capacity(outputs.len());
    for (i, output) in outputs.iter().enumerate() {
        let base = by_instruction
            .get(output.instruction.as_str())
            .with_context(|| {
                format!(
                    "output {i}: its instruction is not one of {}'s: {:?}",
                    baseline_path.display(),
                    output.instruction.chars().take(80).collect::<String>()
                )
            })?;
        pairs.push((*base, output));
    }
    let model_name = outputs.first().map_or("model", |o| o.generator.as_str());
    let baseline_name = pairs
        .first()
        .map_or("baseline", |(b, _)| b.generator.as_str());
    let bar = progress_bar(pairs.len(), "alpaca-eval judging");
    let records = match judger {
        Judger::Llm(judge) => {
            let template = std::fs::read_to_string(template_path)
                .with_context(|| format!("reading {}", template_path.display()))?;
            let pairs: Vec<alpaca_judge::OutputPair<'_>> = pairs
                .iter()
                .map(|(base, output)| alpaca_judge::OutputPair {
                    instruction: &output.instruction,
                    baseline: &base.output,
                    model: &output.output,
                })
                .collect();
            alpaca_judge::annotate(
                *judge,
                &template,
                &pairs,
                (baseline_name, model_name),
                &mut |done| bar.set_position(done as u64),
            )?
        }
        Judger::Rm { pool, rm, name } => {
            let answer_pairs: Vec<judging::AnswerPair<'_>> = pairs
                .iter()
                .map(|(base, output)| judging::AnswerPair {
                    question: &output.instruction,
                    baseline: &base.output,
                    model: &output.output,
                })
                .collect();
            let preferences = judging::alpaca_eval_preferences(
                pool,
                *rm,
                &answer_pairs,
                VerdictScale::default(),
            )?;
            bar.set_position(pairs.len() as u64);
            pairs
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
                .collect()
        }
    };
    bar.finish();
    atomic_write::replace_file(
        &out.join(format!("annotations-{}.json", file_safe(&judger.name()))),
        serde_json::to_string_pretty(&records)?.as_bytes(),
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
    alpaca_metrics(&annotations, None)
}

/// Arena-Hard v2: each answer against its category's baseline, two games each; writes
/// `model_judgment/<judge>/<model>.jsonl` in `out` and returns the v2 scores.
pub fn judge_arena_hard(
    judger: &mut Judger<'_>,
    answers: &[ArenaHardAnswer],
    arena_dir: &Path,
    out: &Path,
) -> Result<serde_json::Value> {
    let prompts =
        arena_judge::ArenaHardPrompts::from_python_module(&arena_dir.join("judge_prompts.py"))?;
    let questions = data::read_arena_hard_questions(&arena_dir.join("question.jsonl"))?;
    let questions: HashMap<&str, &ArenaHardQuestion> =
        questions.iter().map(|q| (q.uid.as_str(), q)).collect();
    // Each answer's question and its category's baseline, then the baselines' answers.
    let mut matched = Vec::with_capacity(answers.len());
    for answer in answers {
        let question = *questions
            .get(answer.uid.as_str())
            .with_context(|| format!("answer to unknown question {}", answer.uid))?;
        let baseline = prompts.baseline(&question.category).with_context(|| {
            format!(
                "no baseline for category {:?} (question {})",
                question.category, question.uid
            )
        })?;
        let model_answer = answer
            .answer()
            .with_context(|| format!("answer {} has no assistant message", answer.uid))?;
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
        let baseline_answer = baselines[baseline]
            .get(&question.uid)
            .with_context(|| format!("{baseline} did not answer question {}", question.uid))?;
        pairs.push((question, baseline, baseline_answer.as_str(), model_answer));
    }
    let model_name = answers.first().map_or("model", |a| a.model.as_str());
    let judge_dir = out.join("model_judgment").join(file_safe(&judger.name()));
    std::fs::create_dir_all(&judge_dir)?;
    let judgment_file = judge_dir.join(format!("{}.jsonl", file_safe(model_name)));
    let judgments: Vec<arena_hard::Judgment> = match judger {
        Judger::Llm(judge) => {
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
            let bar = progress_bar(2 * pairs.len(), "arena-hard judging");
            let records =
                arena_judge::judge_pairs(*judge, &prompts, model_name, &pairs, &mut |done| {
                    bar.set_position(done as u64)
                })?;
            bar.finish();
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
        Judger::Rm { pool, rm, .. } => {
            let answer_pairs: Vec<judging::AnswerPair<'_>> = pairs
                .iter()
                .map(
                    |(question, _, baseline_answer, model)| judging::AnswerPair {
                        question: &question.prompt,
                        baseline: baseline_answer,
                        model,
                    },
                )
                .collect();
            let judgments = judging::arena_hard_judgments(
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
    let parsed = judgments
        .iter()
        .map(|j| usize::from(j.game1.is_some()) + usize::from(j.game2.is_some()))
        .sum::<usize>();
    eprintln!(
        "{parsed} of {games} games gave a verdict label; judgments in {}",
        judgment_file.display()
    );
    let scores = arena_hard::evaluate_v2(&judgments, ARENA_SEED).with_context(|| {
        format!(
            "scoring {}: {parsed} of {games} games gave a verdict label",
            judgment_file.display()
        )
    })?;
    Ok(serde_json::json!({
        "scores": scores,
        "games": games,
        "games_with_verdict": parsed,
    }))
}
