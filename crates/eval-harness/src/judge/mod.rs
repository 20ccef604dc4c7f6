//! Judges: chat models that read a judging prompt and answer with a verdict in text, and
//! the benchmark protocols built on them (MT-Bench single-answer grading here).
//!
//! Backends implement [`Judge`]: [`OpenAiJudge`] speaks the OpenAI-compatible
//! chat-completions protocol (GPT-4-class APIs, vLLM, llama.cpp servers); [`LocalJudge`]
//! runs an lm model in-process. The judge prompts are data, read from the files they ship
//! in: FastChat's `judge_prompts.jsonl` for MT-Bench ([`crate::data::JudgePrompt`]),
//! alpaca_eval's `alpaca_eval_clf.txt` for AlpacaEval 2 ([`alpaca_eval`]) and the Python
//! constants holding Arena-Hard's prompts ([`arena_hard`]). [`reward_model`] makes a
//! reward model of an rm-pool the pairwise judge instead (its score margin is the verdict).

pub mod alpaca_eval;
pub mod arena_hard;
mod local;
mod openai;
pub mod pairwise;
pub mod reward_model;
mod spec;

use crate::data::{JudgePrompt, MtBenchQuestion};
use crate::error::{Error, Result};
use crate::mt_bench::{MtBenchJudgment, parse_rating};
use crate::outputs::{MtBenchAnswer, MtBenchJudgmentRecord, timestamp};

pub use local::LocalJudge;
pub use openai::{OpenAiJudge, OpenAiJudgeConfig};
pub use spec::JudgeSpec;

/// A chat model used as a judge.
pub trait Judge {
    /// A name for reports (e.g. the served model's name).
    fn name(&self) -> &str;

    /// The judge's reply to `user_prompt` under `system_prompt` (greedy where the backend
    /// allows it, so judgments are repeatable).
    fn judge(&self, system_prompt: &str, user_prompt: &str) -> Result<String>;

    /// The `top` most likely first tokens of the reply, most likely first, with their
    /// log-probabilities (what alpaca_eval's weighted annotators read). Backends that do not
    /// report log-probabilities say so.
    fn first_token_logprobs(
        &self,
        system_prompt: &str,
        user_prompt: &str,
        top: usize,
    ) -> Result<Vec<TokenLogprob>> {
        let _ = (system_prompt, user_prompt, top);
        Err(Error::Metric {
            metric: "judge",
            reason: format!("{} does not report token log-probabilities", self.name()),
        })
    }
}

/// A candidate token of a reply and its log-probability (natural log).
#[derive(Clone, Debug, PartialEq)]
pub struct TokenLogprob {
    /// The token's text.
    pub token: String,
    /// Its log-probability.
    pub logprob: f64,
}

/// Fills a judge prompt template the way Python's `str.format` does with named fields:
/// `{name}` is replaced by its value, `{{` and `}}` are literal braces; a field without a
/// value, or an unbalanced brace, is an error naming it.
pub fn fill_template(template: &str, fields: &[(&str, &str)]) -> Result<String> {
    let error = |reason: String| Error::Metric {
        metric: "judge prompt",
        reason,
    };
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find(['{', '}']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
        } else if tail.starts_with('}') {
            return Err(error(format!(
                "unbalanced '}}' at byte {}",
                template.len() - tail.len()
            )));
        } else {
            let end = tail
                .find('}')
                .ok_or_else(|| error("a '{' is never closed".into()))?;
            out.push_str(field_value(fields, &tail[1..end], "judge prompt")?);
            rest = &tail[end + 1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The value of template field `name` in `fields`, or an error (under `metric`) naming it.
pub(crate) fn field_value<'a>(
    fields: &[(&str, &'a str)],
    name: &str,
    metric: &'static str,
) -> Result<&'a str> {
    fields
        .iter()
        .find(|(field, _)| *field == name)
        .map(|(_, value)| *value)
        .ok_or_else(|| Error::Metric {
            metric,
            reason: format!("the template asks for {{{name}}}, which has no value"),
        })
}

/// One MT-Bench turn to grade: the two user turns, the model's two answers, and the
/// reference answers where the category has them (math, reasoning, coding).
#[derive(Clone, Debug)]
pub struct MtBenchTurn<'a> {
    /// 1 or 2.
    pub turn: u8,
    /// The user's two questions.
    pub questions: [&'a str; 2],
    /// The model's two answers.
    pub answers: [&'a str; 2],
    /// Reference answers, if the question has them.
    pub references: Option<[&'a str; 2]>,
}

/// The judge prompt of one turn, filled with the conversation (FastChat's fields).
pub fn mt_bench_user_prompt(prompt: &JudgePrompt, turn: &MtBenchTurn<'_>) -> Result<String> {
    let [q1, q2] = turn.questions;
    let [a1, a2] = turn.answers;
    let [r1, r2] = turn.references.unwrap_or(["", ""]);
    let fields: Vec<(&str, &str)> = if turn.turn == 1 {
        vec![("question", q1), ("answer", a1), ("ref_answer_1", r1)]
    } else {
        vec![
            ("question_1", q1),
            ("question_2", q2),
            ("answer_1", a1),
            ("answer_2", a2),
            ("ref_answer_1", r1),
            ("ref_answer_2", r2),
        ]
    };
    fill_template(&prompt.prompt_template, &fields)
}

/// Grades one turn with FastChat's single-answer protocol: `prompt` is the judge prompt
/// for the turn (`single-v1`, `single-math-v1`, or their `-multi-turn` variants for turn 2),
/// filled with the conversation; the rating is parsed from the reply (`None` if it has none,
/// which FastChat records as −1).
pub fn grade_mt_bench_turn(
    judge: &dyn Judge,
    prompt: &JudgePrompt,
    turn: &MtBenchTurn<'_>,
) -> Result<MtBenchJudgment> {
    let user_prompt = mt_bench_user_prompt(prompt, turn)?;
    let reply = judge.judge(&prompt.system_prompt, &user_prompt)?;
    Ok(MtBenchJudgment {
        question_id: None,
        turn: turn.turn,
        score: Some(parse_rating(&reply).unwrap_or(-1.0)),
        judgment: Some(reply),
    })
}

/// FastChat's categories whose questions are judged against reference answers.
pub const MT_BENCH_REFERENCE_CATEGORIES: [&str; 3] = ["math", "reasoning", "coding"];

/// Grades both turns of every answered question as FastChat's `gen_judgment.py --mode
/// single` does: `single-v1` (turn 1) and `single-v1-multi-turn` (turn 2), or their
/// `single-math-v1` variants with the reference answers for math, reasoning and coding;
/// `progress` is told how many judgments are done.
pub fn grade_mt_bench(
    judge: &dyn Judge,
    prompts: &[JudgePrompt],
    questions: &[MtBenchQuestion],
    answers: &[MtBenchAnswer],
    references: &[MtBenchAnswer],
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<MtBenchJudgmentRecord>> {
    let error = |reason: String| Error::Metric {
        metric: "mt-bench judging",
        reason,
    };
    let prompt = |name: &str| {
        prompts
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| error(format!("judge_prompts.jsonl has no prompt {name:?}")))
    };
    let mut records = Vec::with_capacity(2 * answers.len());
    for answer in answers {
        let question = questions
            .iter()
            .find(|q| q.question_id == answer.question_id)
            .ok_or_else(|| error(format!("no question {}", answer.question_id)))?;
        let turns = two(&question.turns, "question", question.question_id)?;
        let replies = two(
            answer.choices.first().map_or(&[][..], |c| &c.turns[..]),
            "answer",
            question.question_id,
        )?;
        let needs_reference = MT_BENCH_REFERENCE_CATEGORIES.contains(&question.category.as_str());
        let reference = if needs_reference {
            let reference = references
                .iter()
                .find(|r| r.question_id == question.question_id)
                .ok_or_else(|| {
                    error(format!(
                        "no reference answer for question {}",
                        question.question_id
                    ))
                })?;
            Some(two(
                reference.choices.first().map_or(&[][..], |c| &c.turns[..]),
                "reference",
                question.question_id,
            )?)
        } else {
            None
        };
        for turn in [1_u8, 2] {
            let name = match (needs_reference, turn) {
                (false, 1) => "single-v1",
                (false, _) => "single-v1-multi-turn",
                (true, 1) => "single-math-v1",
                (true, _) => "single-math-v1-multi-turn",
            };
            let judge_prompt = prompt(name)?;
            let conversation = MtBenchTurn {
                turn,
                questions: turns,
                answers: replies,
                references: reference,
            };
            let user_prompt = mt_bench_user_prompt(judge_prompt, &conversation)?;
            let reply = judge.judge(&judge_prompt.system_prompt, &user_prompt)?;
            records.push(MtBenchJudgmentRecord {
                question_id: question.question_id,
                model: answer.model_id.clone(),
                judge: (judge.name().to_string(), name.to_string()),
                user_prompt,
                score: parse_rating(&reply).unwrap_or(-1.0),
                judgment: reply,
                turn,
                tstamp: timestamp(),
            });
            progress(records.len());
        }
    }
    Ok(records)
}

/// The first two entries of `items` (a question's or an answer's two turns).
fn two<'a>(items: &'a [String], what: &str, question_id: u32) -> Result<[&'a str; 2]> {
    match items {
        [first, second, ..] => Ok([first.as_str(), second.as_str()]),
        _ => Err(Error::Metric {
            metric: "mt-bench judging",
            reason: format!(
                "question {question_id}: the {what} has {} turns, not 2",
                items.len()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_like_python_format() {
        let text = fill_template(
            "Q: {question}\n{{literal}} A: {answer}",
            &[("question", "2+2?"), ("answer", "{4}")],
        )
        .unwrap();
        assert_eq!(text, "Q: 2+2?\n{literal} A: {4}");
        let err = fill_template("{missing}", &[]).unwrap_err().to_string();
        assert!(err.contains("{missing}"), "{err}");
        assert!(fill_template("a } b", &[]).is_err());
        assert!(fill_template("a { b", &[]).is_err());
    }
}
