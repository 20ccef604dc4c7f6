//! Arena-Hard v2 judging as arena-hard-auto's `gen_judgment.py` does it: every question is
//! judged twice, game 1 with the baseline's answer as assistant A and the model's as B, game
//! 2 with the positions swapped; the system prompt depends on the question's category (the
//! creative-writing prompt does not ask the judge to answer first) and so does the baseline
//! (o3-mini for hard prompts, Gemini 2.0 Flash for creative writing); the verdict is the
//! v2 label parse ([`crate::arena_hard::parse_verdict_v2`]). The prompts are read from the
//! Python constants they ship as ([`ArenaHardPrompts::from_python_module`]).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::arena_hard::parse_verdict_v2;
use crate::data::ArenaHardQuestion;
use crate::error::{Error, Result};
use crate::judge::{Judge, fill_template};
use crate::python_literals::{PyValue, module_constants};

/// The constant holding the user-prompt template (`{QUESTION}`, `{ANSWER_A}`, `{ANSWER_B}`).
pub const TEMPLATE_CONSTANT: &str = "DEFAULT_PROMPT_TEMPLATE";
/// The constant holding the default (hard-prompt) system prompt.
pub const SYSTEM_PROMPT_CONSTANT: &str = "OG_ARENA_HARD_PROMPT";
/// The constant mapping each category to its `baseline` and `system_prompt`.
pub const SETTINGS_CONSTANT: &str = "JUDGE_SETTINGS";

/// A category's judge setting.
#[derive(Clone, Debug, PartialEq)]
pub struct CategorySetting {
    /// The baseline model whose answers the model is compared with.
    pub baseline: String,
    /// The judge's system prompt.
    pub system_prompt: String,
}

/// Arena-Hard's judge prompts.
#[derive(Clone, Debug, PartialEq)]
pub struct ArenaHardPrompts {
    /// The user turn, with `{QUESTION}`, `{ANSWER_A}` and `{ANSWER_B}` (Python `str.format`).
    pub user_template: String,
    /// The system prompt for categories without their own.
    pub default_system_prompt: String,
    /// Per category (`hard_prompt`, `creative_writing`, …).
    pub categories: BTreeMap<String, CategorySetting>,
}

impl ArenaHardPrompts {
    /// Reads the prompts from a Python module defining [`TEMPLATE_CONSTANT`],
    /// [`SYSTEM_PROMPT_CONSTANT`] and [`SETTINGS_CONSTANT`] (the layout of the file
    /// `cargo xtask assets` fetches); errors name the file and the missing constant.
    pub fn from_python_module(path: &Path) -> Result<Self> {
        let source = std::fs::read_to_string(path).map_err(atomic_write::io_error(path))?;
        let constants = module_constants(&source)?;
        let missing = |what: String| Error::Metric {
            metric: "arena-hard prompts",
            reason: format!("{}: {what}", path.display()),
        };
        let string = |name: &str| {
            constants
                .get(name)
                .and_then(PyValue::as_str)
                .map(str::to_string)
                .ok_or_else(|| missing(format!("no string constant {name}")))
        };
        let settings = match constants.get(SETTINGS_CONSTANT) {
            Some(PyValue::Dict(entries)) => entries,
            _ => return Err(missing(format!("no dict constant {SETTINGS_CONSTANT}"))),
        };
        let mut categories = BTreeMap::new();
        for (category, setting) in settings {
            let field = |key: &str| {
                setting
                    .get(key)
                    .and_then(PyValue::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| {
                        missing(format!(
                            "{SETTINGS_CONSTANT}[{category:?}] has no string {key:?}"
                        ))
                    })
            };
            categories.insert(
                category.clone(),
                CategorySetting {
                    baseline: field("baseline")?,
                    system_prompt: field("system_prompt")?,
                },
            );
        }
        Ok(Self {
            user_template: string(TEMPLATE_CONSTANT)?,
            default_system_prompt: string(SYSTEM_PROMPT_CONSTANT)?,
            categories,
        })
    }

    /// The system prompt for `category`.
    pub fn system_prompt(&self, category: &str) -> &str {
        self.categories
            .get(category)
            .map_or(&self.default_system_prompt, |s| &s.system_prompt)
    }

    /// The baseline for `category`, if the settings name one.
    pub fn baseline(&self, category: &str) -> Option<&str> {
        self.categories.get(category).map(|s| s.baseline.as_str())
    }

    /// The user turn for a question and the answers in positions A and B.
    pub fn user_prompt(&self, question: &str, answer_a: &str, answer_b: &str) -> Result<String> {
        fill_template(
            &self.user_template,
            &[
                ("QUESTION", question),
                ("ANSWER_A", answer_a),
                ("ANSWER_B", answer_b),
            ],
        )
    }
}

/// One game: the label parsed from the judge's reply and the reply.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Game {
    /// The verdict label (`A>>B` … `B>>A`), `null` if the reply had none.
    pub score: Option<String>,
    /// The judge's reply.
    pub judgment: GameJudgment,
}

/// The judge's reply of a game, as arena-hard-auto nests it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct GameJudgment {
    /// The reply text.
    pub answer: String,
}

/// One question's judgment in arena-hard-auto's `model_judgment/<judge>/<model>.jsonl`
/// layout (readable by [`crate::arena_hard::Judgment`]).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct JudgmentRecord {
    /// Question id.
    pub uid: String,
    /// The question's category.
    pub category: String,
    /// The judge model.
    pub judge: String,
    /// The judged model.
    pub model: String,
    /// The baseline model.
    pub baseline: String,
    /// Game 1 (A = baseline, B = model) and game 2 (A = model, B = baseline).
    pub games: Vec<Game>,
}

/// A question with the model's and the baseline's answers.
#[derive(Clone, Debug)]
pub struct AnswerPair<'a> {
    /// The question.
    pub question: &'a ArenaHardQuestion,
    /// The judged model's answer.
    pub model: &'a str,
    /// The baseline's name.
    pub baseline_name: &'a str,
    /// The baseline's answer.
    pub baseline: &'a str,
}

/// Judges each pair twice (positions swapped) with `judge`; `progress` is told how many
/// games are done.
pub fn judge_pairs(
    judge: &dyn Judge,
    prompts: &ArenaHardPrompts,
    model_name: &str,
    pairs: &[AnswerPair<'_>],
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<JudgmentRecord>> {
    let mut records = Vec::with_capacity(pairs.len());
    let mut done = 0;
    for pair in pairs {
        let system = prompts.system_prompt(&pair.question.category);
        let mut games = Vec::with_capacity(2);
        for (a, b) in [(pair.baseline, pair.model), (pair.model, pair.baseline)] {
            let user = prompts.user_prompt(&pair.question.prompt, a, b)?;
            let answer = judge.judge(system, &user)?;
            games.push(Game {
                score: parse_verdict_v2(&answer),
                judgment: GameJudgment { answer },
            });
            done += 1;
            progress(done);
        }
        records.push(JudgmentRecord {
            uid: pair.question.uid.clone(),
            category: pair.question.category.clone(),
            judge: judge.name().to_string(),
            model: model_name.to_string(),
            baseline: pair.baseline_name.to_string(),
            games,
        });
    }
    Ok(records)
}
