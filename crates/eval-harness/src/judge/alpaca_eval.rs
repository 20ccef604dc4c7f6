//! AlpacaEval 2's default annotator, `weighted_alpaca_eval_gpt4_turbo`, as alpaca_eval runs
//! it, with any [`Judge`] that reports first-token log-probabilities in GPT-4 Turbo's place:
//!
//! 1. The two outputs are shown in a seeded random order: swapped when
//!    `random.Random("is_switched_outputs" + instruction + "0").choices([False, True])` is
//!    `True` ([`is_switched`], Python's own generator).
//! 2. The template (`alpaca_eval_clf.txt`, read from alpaca_eval's package) is filled by
//!    replacing the first occurrence of each `{placeholder}` in order, and split into chat
//!    messages at its `<|im_start|>role` … `<|im_end|>` markers.
//! 3. One reply token is requested with the top 5 log-probabilities; the judge names the
//!    better output `m` (the first shown) or `M` (the second). The preference is
//!    `2 − P(m) / (P(m) + P(M))` over the tokens found among the top 5 (a missing one has
//!    probability 0; neither found: no preference), then `3 − p` if the outputs were
//!    swapped, so 1 means the baseline (`output_1`) won and 2 the model (`output_2`).

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::judge::{Judge, TokenLogprob, field_value};
use crate::python_random::PythonRandom;

/// The annotator's name in alpaca_eval (and in the `annotator` field we write).
pub const ANNOTATOR: &str = "weighted_alpaca_eval_gpt4_turbo";
/// Top log-probabilities requested.
pub const TOP_LOGPROBS: usize = 5;
/// The token naming the first output shown.
pub const FIRST_TOKEN: &str = "m";
/// The token naming the second output shown.
pub const SECOND_TOKEN: &str = "M";
/// alpaca_eval's annotator seed.
const SEED: u64 = 0;

static PLACEHOLDER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{([^ \s]+?)\}").expect("valid pattern"));

/// One instruction with the baseline's and the model's outputs.
#[derive(Clone, Debug)]
pub struct OutputPair<'a> {
    /// The instruction.
    pub instruction: &'a str,
    /// The baseline's output (alpaca_eval's `output_1`).
    pub baseline: &'a str,
    /// The judged model's output (`output_2`).
    pub model: &'a str,
}

/// One annotation in alpaca_eval's `annotations.json` layout.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct AnnotationRecord {
    /// The instruction.
    pub instruction: String,
    /// The baseline's output.
    pub output_1: String,
    /// The baseline's name.
    pub generator_1: String,
    /// The model's output.
    pub output_2: String,
    /// The model's name.
    pub generator_2: String,
    /// The annotator (`weighted_alpaca_eval_gpt4_turbo`, with the judge in `judge`).
    pub annotator: String,
    /// The judge model that stood in for GPT-4 Turbo.
    pub judge: String,
    /// In [1, 2]: 1 = baseline better, 2 = model better; `null` when the judge's top tokens
    /// held neither `m` nor `M`.
    pub preference: Option<f64>,
    /// Whether the model's output was shown first.
    pub is_switched_outputs: bool,
    /// The judge's top first tokens and their log-probabilities.
    pub raw_completion: Vec<(String, f64)>,
}

/// Whether alpaca_eval shows the two outputs of `instruction` swapped.
pub fn is_switched(instruction: &str) -> bool {
    let seed = format!("is_switched_outputs{instruction}{SEED}");
    PythonRandom::from_str_seed(&seed).choice_index(2) == 1
}

/// The template filled as alpaca_eval's `make_prompts` fills it: each distinct placeholder,
/// in order of first appearance, replaced at its first occurrence by its value. Every
/// placeholder must appear exactly once and have a value.
pub fn fill_prompt(template: &str, fields: &[(&str, &str)]) -> Result<String> {
    let error = |reason: String| Error::Metric {
        metric: "alpaca_eval prompt",
        reason,
    };
    let mut names: Vec<&str> = Vec::new();
    for capture in PLACEHOLDER.captures_iter(template) {
        let name = capture.get(1).map_or("", |m| m.as_str());
        if names.contains(&name) {
            return Err(error(format!(
                "placeholder {{{name}}} appears more than once (one example per prompt)"
            )));
        }
        names.push(name);
    }
    let mut prompt = template.to_string();
    for name in names {
        let value = field_value(fields, name, "alpaca_eval prompt")?;
        prompt = prompt.replacen(&format!("{{{name}}}"), value, 1);
    }
    Ok(prompt)
}

/// A chat message of a ChatML-marked prompt.
#[derive(Clone, Debug, PartialEq)]
pub struct PromptMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The content, trimmed.
    pub content: String,
}

/// The messages of a prompt written with `<|im_start|>role\n…<|im_end|>` markers, split as
/// alpaca_eval's `prompt_to_chatml` splits them (roles like `system name=…` keep `system`).
pub fn prompt_to_messages(prompt: &str) -> Result<Vec<PromptMessage>> {
    const START: &str = "<|im_start|>";
    const END: &str = "<|im_end|>";
    let prompt = prompt.trim();
    if !(prompt.starts_with(START) && prompt.ends_with(END)) {
        return Err(Error::Metric {
            metric: "alpaca_eval prompt",
            reason: format!("a chat prompt must start with {START} and end with {END}"),
        });
    }
    Ok(prompt
        .split(START)
        .skip(1)
        .map(|part| {
            let (role, rest) = part.split_once('\n').unwrap_or((part, ""));
            let content = rest.split(END).next().unwrap_or("").trim();
            let role = role.trim();
            let role = role.split_whitespace().next().unwrap_or(role);
            PromptMessage {
                role: role.to_string(),
                content: content.to_string(),
            }
        })
        .collect())
}

/// The preference (in [1, 2], for the outputs in the order shown) that alpaca_eval's
/// `logprob_parser` reads from the top first tokens, unbinarised; `None` if neither token is
/// among them.
pub fn preference_from_logprobs(top: &[TokenLogprob]) -> Option<f64> {
    // A later duplicate replaces an earlier one, as in the Python dict it builds.
    let mut first = None;
    let mut second = None;
    for candidate in top {
        if candidate.token == FIRST_TOKEN {
            first = Some(candidate.logprob);
        } else if candidate.token == SECOND_TOKEN {
            second = Some(candidate.logprob);
        }
    }
    let (first, second) = match (first, second) {
        (None, None) => return None,
        (f, s) => (
            f.unwrap_or(f64::NEG_INFINITY),
            s.unwrap_or(f64::NEG_INFINITY),
        ),
    };
    let max = first.max(second);
    let denominator = max + ((first - max).exp() + (second - max).exp()).ln();
    Some(2.0 - (first - denominator).exp())
}

/// Annotates each pair with `judge` under `template` as `weighted_alpaca_eval_gpt4_turbo`
/// does; `progress` is told how many are done.
pub fn annotate(
    judge: &dyn Judge,
    template: &str,
    pairs: &[OutputPair<'_>],
    generators: (&str, &str),
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<AnnotationRecord>> {
    let mut records = Vec::with_capacity(pairs.len());
    for pair in pairs {
        let switched = is_switched(pair.instruction);
        let (shown_1, shown_2) = if switched {
            (pair.model, pair.baseline)
        } else {
            (pair.baseline, pair.model)
        };
        let prompt = fill_prompt(
            template,
            &[
                ("instruction", pair.instruction),
                ("output_1", shown_1),
                ("output_2", shown_2),
            ],
        )?;
        let messages = prompt_to_messages(&prompt)?;
        let (system, user) = match messages.as_slice() {
            [user] if user.role == "user" => ("", user.content.as_str()),
            [system, user] if system.role == "system" && user.role == "user" => {
                (system.content.as_str(), user.content.as_str())
            }
            _ => {
                return Err(Error::Metric {
                    metric: "alpaca_eval prompt",
                    reason: format!(
                        "expected a system and a user message, got roles {:?}",
                        messages.iter().map(|m| &m.role).collect::<Vec<_>>()
                    ),
                });
            }
        };
        let top = judge.first_token_logprobs(system, user, TOP_LOGPROBS)?;
        let preference = preference_from_logprobs(&top).map(|p| if switched { 3.0 - p } else { p });
        records.push(AnnotationRecord {
            instruction: pair.instruction.to_string(),
            output_1: pair.baseline.to_string(),
            generator_1: generators.0.to_string(),
            output_2: pair.model.to_string(),
            generator_2: generators.1.to_string(),
            annotator: ANNOTATOR.to_string(),
            judge: judge.name().to_string(),
            preference,
            is_switched_outputs: switched,
            raw_completion: top.into_iter().map(|t| (t.token, t.logprob)).collect(),
        });
        progress(records.len());
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lp(token: &str, logprob: f64) -> TokenLogprob {
        TokenLogprob {
            token: token.into(),
            logprob,
        }
    }

    #[test]
    fn preference_is_two_minus_the_first_tokens_share() {
        // P(m) = 0.75, P(M) = 0.25 → 2 − 0.75.
        let top = [
            lp("m", 0.75_f64.ln()),
            lp("M", 0.25_f64.ln()),
            lp("x", -1.0),
        ];
        assert!((preference_from_logprobs(&top).unwrap() - 1.25).abs() < 1e-12);
        // Only M among the top tokens: the first output has probability 0.
        assert_eq!(preference_from_logprobs(&[lp("M", -3.0)]), Some(2.0));
        assert_eq!(preference_from_logprobs(&[lp("m", -3.0)]), Some(1.0));
        assert_eq!(preference_from_logprobs(&[lp("The", -0.1)]), None);
        // Case matters and the whole token must match.
        assert_eq!(preference_from_logprobs(&[lp(" m", -0.1)]), None);
    }

    #[test]
    fn fills_first_occurrences_in_order_and_keeps_json_braces() {
        let template = "{\n \"i\": \"{instruction}\"\n}\n{output_1} | {output_2}";
        let prompt = fill_prompt(
            template,
            &[
                ("instruction", "say {output_1}"),
                ("output_1", "one"),
                ("output_2", "two"),
            ],
        )
        .unwrap();
        // As in alpaca_eval, a placeholder inside an earlier value is what gets replaced.
        assert_eq!(prompt, "{\n \"i\": \"say one\"\n}\n{output_1} | two");
        let err = fill_prompt("{a} {a}", &[("a", "x")]).unwrap_err();
        assert!(err.to_string().contains("more than once"), "{err}");
        let err = fill_prompt("{b}", &[("a", "x")]).unwrap_err();
        assert!(err.to_string().contains("{b}"), "{err}");
    }

    #[test]
    fn splits_chatml_markers_into_messages() {
        let prompt =
            "<|im_start|>system\nBe fair.\n<|im_end|>\n<|im_start|>user\nWhich?\n\n<|im_end|>";
        let messages = prompt_to_messages(prompt).unwrap();
        assert_eq!(
            messages,
            vec![
                PromptMessage {
                    role: "system".into(),
                    content: "Be fair.".into()
                },
                PromptMessage {
                    role: "user".into(),
                    content: "Which?".into()
                },
            ]
        );
        assert!(prompt_to_messages("no markers").is_err());
    }
}
