//! Judges: chat models that read a judging prompt and answer with a verdict in text, and
//! the benchmark protocols built on them (MT-Bench single-answer grading here).
//!
//! Backends implement [`Judge`]: [`OpenAiJudge`] speaks the OpenAI-compatible
//! chat-completions protocol (GPT-4-class APIs, vLLM, llama.cpp servers). The judge prompts
//! are data: FastChat's `judge_prompts.jsonl` for MT-Bench ([`crate::data::JudgePrompt`]).

mod openai;

use crate::data::JudgePrompt;
use crate::error::{Error, Result};
use crate::mt_bench::{MtBenchJudgment, parse_rating};

pub use openai::{OpenAiJudge, OpenAiJudgeConfig};

/// A chat model used as a judge.
pub trait Judge {
    /// A name for reports (e.g. the served model's name).
    fn name(&self) -> &str;

    /// The judge's reply to `user_prompt` under `system_prompt` (greedy where the backend
    /// allows it, so judgments are repeatable).
    fn judge(&self, system_prompt: &str, user_prompt: &str) -> Result<String>;
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
            let name = &tail[1..end];
            let value = fields
                .iter()
                .find(|(field, _)| *field == name)
                .ok_or_else(|| {
                    error(format!(
                        "the template asks for {{{name}}}, which has no value"
                    ))
                })?;
            out.push_str(value.1);
            rest = &tail[end + 1..];
        }
    }
    out.push_str(rest);
    Ok(out)
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

/// Grades one turn with FastChat's single-answer protocol: `prompt` is the judge prompt
/// for the turn (`single-v1`, `single-math-v1`, or their `-multi-turn` variants for turn 2),
/// filled with the conversation; the rating is parsed from the reply (`None` if it has none,
/// which FastChat records as −1).
pub fn grade_mt_bench_turn(
    judge: &dyn Judge,
    prompt: &JudgePrompt,
    turn: &MtBenchTurn<'_>,
) -> Result<MtBenchJudgment> {
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
    let user_prompt = fill_template(&prompt.prompt_template, &fields)?;
    let reply = judge.judge(&prompt.system_prompt, &user_prompt)?;
    Ok(MtBenchJudgment {
        question_id: None,
        turn: turn.turn,
        score: Some(parse_rating(&reply).unwrap_or(-1.0)),
        judgment: Some(reply),
    })
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
