//! Verifiers: whether a response's answer matches a reference answer.
//! - `gsm8k`: the strict `#### N` answer, else the last number (lm-eval's two filters), equal
//!   as numbers to the reference solution's `#### N` (so 18 = 18.0 = $18);
//! - `mmlu`: the answer letter ([`crate::mmlu::extract_letter`]) equals the reference letter
//!   (A–D, or its 0-based index);
//! - `exact`: the trimmed response equals the trimmed reference, case-insensitively;
//! - `regex`: the pattern's first capture group (or whole match) in the response equals the
//!   trimmed reference;
//! - `synthetic`: the response's canonical answer equals the reference's in the item's
//!   [`Domain`] (`add`, `reverse`, `sort`, `count`, `shuffle`, `rotate`, `next`;
//!   [`crate::synthetic`]). It needs the item's category, so only
//!   [`Verifier::is_correct_in`] can say yes.

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::synthetic::{self, Domain};
use crate::{gsm8k, mmlu};

/// Which answer check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerifierTask {
    /// GSM8K final number.
    Gsm8k,
    /// MMLU answer letter.
    Mmlu,
    /// Whole-response match.
    Exact,
    /// Pattern-extracted match.
    Regex,
    /// Synthetic-task answer in the domain named by the item's category.
    Synthetic,
}

impl std::str::FromStr for VerifierTask {
    type Err = String;

    /// The kebab-case names of the config files: `gsm8k`, `mmlu`, `exact`, `regex`,
    /// `synthetic`.
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "gsm8k" => Ok(Self::Gsm8k),
            "mmlu" => Ok(Self::Mmlu),
            "exact" => Ok(Self::Exact),
            "regex" => Ok(Self::Regex),
            "synthetic" => Ok(Self::Synthetic),
            other => Err(format!(
                "unknown verifier task `{other}`: expected gsm8k, mmlu, exact, regex or synthetic"
            )),
        }
    }
}

/// A verifier's settings, or a synthetic domain's name, are invalid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `regex` without a pattern, or a pattern that does not compile.
    #[error("verifier pattern: {0}")]
    Pattern(String),
    /// A name that is no synthetic [`Domain`].
    #[error("unknown synthetic domain `{found}`: expected one of {expected}")]
    UnknownDomain {
        /// The name given.
        found: String,
        /// The valid names, comma-separated.
        expected: String,
    },
}

/// An answer check.
#[derive(Clone, Debug)]
pub struct Verifier {
    task: VerifierTask,
    pattern: Option<Regex>,
}

impl Verifier {
    /// A verifier for `task`; `regex` needs `pattern` (other tasks ignore it).
    pub fn new(task: VerifierTask, pattern: Option<&str>) -> Result<Self, Error> {
        let pattern = match (&task, pattern) {
            (VerifierTask::Regex, Some(p)) => {
                Some(Regex::new(p).map_err(|err| Error::Pattern(err.to_string()))?)
            }
            (VerifierTask::Regex, None) => {
                return Err(Error::Pattern("task `regex` needs a `pattern`".into()));
            }
            (_, _) => None,
        };
        Ok(Self { task, pattern })
    }

    /// The task.
    pub fn task(&self) -> &VerifierTask {
        &self.task
    }

    /// Whether `response` answers with `reference`.
    ///
    /// Always false for `synthetic`, which needs the item's category to know the domain: use
    /// [`Verifier::is_correct_in`].
    pub fn is_correct(&self, response: &str, reference: &str) -> bool {
        match self.task {
            VerifierTask::Gsm8k => gsm8k::score(response, reference).numeric_equivalence,
            VerifierTask::Mmlu => {
                let gold = mmlu::reference_letter(reference);
                gold.is_some() && mmlu::extract_letter(response) == gold
            }
            VerifierTask::Exact => {
                response.trim().to_lowercase() == reference.trim().to_lowercase()
            }
            VerifierTask::Regex => {
                let pattern = self.pattern.as_ref().expect("checked in new");
                pattern.captures(response).is_some_and(|caps| {
                    let found = caps
                        .get(1)
                        .or_else(|| caps.get(0))
                        .map_or("", |m| m.as_str());
                    found.trim() == reference.trim()
                })
            }
            VerifierTask::Synthetic => false,
        }
    }

    /// Whether `response` answers with `reference` for an item in `category`.
    ///
    /// For `synthetic`, `category` must be a [`Domain`]'s exact name (`add`, `reverse`,
    /// `sort`, `count`, `shuffle`, `rotate`, `next`); a missing or unknown category is never
    /// correct. Every other task ignores `category` and equals [`Verifier::is_correct`].
    pub fn is_correct_in(&self, response: &str, reference: &str, category: Option<&str>) -> bool {
        match self.task {
            VerifierTask::Synthetic => category
                .and_then(|name| name.parse::<Domain>().ok())
                .is_some_and(|domain| synthetic::is_correct(domain, response, reference)),
            _ => self.is_correct(response, reference),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_task_accepts_its_answer_and_rejects_a_near_miss() {
        let gsm8k = Verifier::new(VerifierTask::Gsm8k, None).unwrap();
        assert!(gsm8k.is_correct("so #### 18", "3 + 15 = 18\n#### 18"));
        assert!(gsm8k.is_correct("The answer is $18.", "#### 18"));
        assert!(!gsm8k.is_correct("#### 19", "#### 18"));
        let mmlu = Verifier::new(VerifierTask::Mmlu, None).unwrap();
        assert!(mmlu.is_correct("The answer is C.", "C"));
        assert!(mmlu.is_correct("(C)", "2"));
        assert!(!mmlu.is_correct("B. no", "C"));
        let exact = Verifier::new(VerifierTask::Exact, None).unwrap();
        assert!(exact.is_correct(" Paris ", "paris"));
        assert!(!exact.is_correct("Paris.", "paris"));
        let regex = Verifier::new(VerifierTask::Regex, Some(r"answer: (\w+)")).unwrap();
        assert!(regex.is_correct("the answer: blue", "blue"));
        assert!(!regex.is_correct("the answer: bluer", "blue"));
        assert!(Verifier::new(VerifierTask::Regex, None).is_err());
        assert!(Verifier::new(VerifierTask::Regex, Some("(")).is_err());
    }

    #[test]
    fn synthetic_needs_the_category() {
        let synthetic = Verifier::new(VerifierTask::Synthetic, None).unwrap();
        assert!(synthetic.is_correct_in(" 132", "132", Some("add")));
        assert!(!synthetic.is_correct_in("0132", "132", Some("add")));
        assert!(synthetic.is_correct_in("1  2 5", "1 2 5", Some("sort")));
        assert!(!synthetic.is_correct_in("132", "132", None));
        assert!(!synthetic.is_correct_in("132", "132", Some("Add")));
        assert!(!synthetic.is_correct_in("132", "132", Some("gsm8k")));
        assert!(!synthetic.is_correct("132", "132"));
        // Other tasks ignore the category.
        let exact = Verifier::new(VerifierTask::Exact, None).unwrap();
        assert!(exact.is_correct_in("Paris", "paris", Some("add")));
        assert!(exact.is_correct_in("Paris", "paris", None));
        assert!(!exact.is_correct_in("Rome", "paris", Some("add")));
    }
}
