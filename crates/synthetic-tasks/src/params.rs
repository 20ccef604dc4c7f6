//! The suite's difficulty knobs, per domain, checked before use.

use answer_check::synthetic::Domain;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Most digits per `add` operand: two 18-digit operands and their sum fit a `u64`.
pub const MAX_ADD_DIGITS: u32 = 18;

/// How the suite's prompts are drawn. Every field has a default (`#[serde(default)]`), so a
/// config names only what it changes; unknown fields are refused.
///
/// Lengths are inclusive `[min, max]` ranges, drawn uniformly. Alphabets are sets of ASCII
/// lowercase letters, each drawn uniformly with replacement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SuiteParams {
    /// The domains to draw from, in the order [`sample`](crate::sample) lists their tasks;
    /// nonempty, without repeats. Default: [`SuiteParams::DEFAULT_DOMAINS`], `add`,
    /// `reverse`, `sort` and `count` (`shuffle`, whose prompts have many right answers, and
    /// `rotate` and `next`, which a small reward model can check, are opt-in).
    pub domains: Vec<Domain>,
    /// Digits per `add` operand, 1..=[`MAX_ADD_DIGITS`]: each operand is uniform over the
    /// integers with exactly that many digits (0–9 for one digit, so `0` can appear).
    /// Default: 2.
    pub add_digits: u32,
    /// Letters in a `reverse` string, `[min, max]` with 1 ≤ min ≤ max. Default: `[3, 5]`.
    pub reverse_len: [usize; 2],
    /// The letters of `reverse` strings. Default: `"abcdefghij"`.
    pub reverse_alphabet: String,
    /// Digits in a `sort` list, `[min, max]` with 1 ≤ min ≤ max. Default: `[3, 5]`.
    pub sort_len: [usize; 2],
    /// Letters in a `count` string, `[min, max]` with 1 ≤ min ≤ max. Default: `[4, 8]`.
    pub count_len: [usize; 2],
    /// The letters of `count` strings, and of the letter counted. Default: `"abc"`.
    pub count_alphabet: String,
    /// Letters in a `shuffle` string, `[min, max]` with 1 ≤ min ≤ max. Default: `[3, 5]`.
    pub shuffle_len: [usize; 2],
    /// The letters of `shuffle` strings. Default: `"abcdefghij"`.
    pub shuffle_alphabet: String,
    /// Letters in a `rotate` string, `[min, max]` with 1 ≤ min ≤ max. Default: `[3, 5]`.
    pub rotate_len: [usize; 2],
    /// The letters of `rotate` strings. Default: `"abcdefghij"`.
    pub rotate_alphabet: String,
    /// Letters in a `next` string, `[min, max]` with 1 ≤ min ≤ max. Default: `[3, 5]`.
    pub next_len: [usize; 2],
    /// The letters of `next` strings, without `z` (it has no next letter). Default:
    /// `"abcdefghi"`, so that answers use `b`–`j`.
    pub next_alphabet: String,
}

impl Default for SuiteParams {
    fn default() -> Self {
        Self {
            domains: Self::DEFAULT_DOMAINS.to_vec(),
            add_digits: 2,
            reverse_len: [3, 5],
            reverse_alphabet: "abcdefghij".into(),
            sort_len: [3, 5],
            count_len: [4, 8],
            count_alphabet: "abc".into(),
            shuffle_len: [3, 5],
            shuffle_alphabet: "abcdefghij".into(),
            rotate_len: [3, 5],
            rotate_alphabet: "abcdefghij".into(),
            next_len: [3, 5],
            next_alphabet: "abcdefghi".into(),
        }
    }
}

impl SuiteParams {
    /// The domains drawn when a config names none: `add`, `reverse`, `sort`, `count`.
    pub const DEFAULT_DOMAINS: [Domain; 4] =
        [Domain::Add, Domain::Reverse, Domain::Sort, Domain::Count];

    /// Validates every field; the error names the first bad one.
    pub fn check(&self) -> Result<()> {
        if self.domains.is_empty() {
            return Err(invalid("domains", "[]", "must name at least one domain"));
        }
        for (i, domain) in self.domains.iter().enumerate() {
            if self.domains[..i].contains(domain) {
                return Err(invalid(
                    "domains",
                    format!("{:?}", self.domains),
                    "must not repeat a domain",
                ));
            }
        }
        if !(1..=MAX_ADD_DIGITS).contains(&self.add_digits) {
            return Err(invalid("add_digits", self.add_digits, "must be in 1..=18"));
        }
        length_range("reverse_len", self.reverse_len)?;
        alphabet("reverse_alphabet", &self.reverse_alphabet)?;
        length_range("sort_len", self.sort_len)?;
        length_range("count_len", self.count_len)?;
        alphabet("count_alphabet", &self.count_alphabet)?;
        length_range("shuffle_len", self.shuffle_len)?;
        alphabet("shuffle_alphabet", &self.shuffle_alphabet)?;
        length_range("rotate_len", self.rotate_len)?;
        alphabet("rotate_alphabet", &self.rotate_alphabet)?;
        length_range("next_len", self.next_len)?;
        alphabet("next_alphabet", &self.next_alphabet)?;
        if self.next_alphabet.contains('z') {
            return Err(invalid(
                "next_alphabet",
                format!("{:?}", self.next_alphabet),
                "must not contain z, which has no next letter",
            ));
        }
        Ok(())
    }
}

/// An [`Error::InvalidParameter`].
fn invalid(name: &'static str, value: impl ToString, reason: &'static str) -> Error {
    Error::InvalidParameter {
        name,
        value: value.to_string(),
        reason,
    }
}

/// Rejects anything but `[min, max]` with 1 ≤ min ≤ max.
fn length_range(name: &'static str, [min, max]: [usize; 2]) -> Result<()> {
    if 1 <= min && min <= max {
        Ok(())
    } else {
        Err(invalid(
            name,
            format!("[{min}, {max}]"),
            "must be [min, max] with 1 <= min <= max",
        ))
    }
}

/// Rejects anything but a nonempty set of distinct ASCII lowercase letters.
fn alphabet(name: &'static str, letters: &str) -> Result<()> {
    let bytes = letters.as_bytes();
    let distinct_letters = bytes.iter().all(u8::is_ascii_lowercase)
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| !bytes[..i].contains(b));
    if !bytes.is_empty() && distinct_letters {
        Ok(())
    } else {
        Err(invalid(
            name,
            format!("{letters:?}"),
            "must be one or more distinct letters a-z",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_fill_missing_fields() {
        SuiteParams::default().check().unwrap();
        let params: SuiteParams = serde_json::from_str(r#"{"add_digits": 3}"#).unwrap();
        assert_eq!(
            params,
            SuiteParams {
                add_digits: 3,
                ..SuiteParams::default()
            }
        );
        let params: SuiteParams = serde_json::from_str(r#"{"domains": ["sort", "add"]}"#).unwrap();
        assert_eq!(params.domains, [Domain::Sort, Domain::Add]);
        assert!(serde_json::from_str::<SuiteParams>(r#"{"add_digit": 3}"#).is_err());
    }

    #[test]
    fn rejects_bad_values_by_name() {
        let cases: [(&str, SuiteParams); 14] = [
            (
                "domains",
                SuiteParams {
                    domains: vec![],
                    ..Default::default()
                },
            ),
            (
                "domains",
                SuiteParams {
                    domains: vec![Domain::Add, Domain::Add],
                    ..Default::default()
                },
            ),
            (
                "add_digits",
                SuiteParams {
                    add_digits: 0,
                    ..Default::default()
                },
            ),
            (
                "add_digits",
                SuiteParams {
                    add_digits: 19,
                    ..Default::default()
                },
            ),
            (
                "reverse_len",
                SuiteParams {
                    reverse_len: [0, 3],
                    ..Default::default()
                },
            ),
            (
                "sort_len",
                SuiteParams {
                    sort_len: [4, 3],
                    ..Default::default()
                },
            ),
            (
                "count_len",
                SuiteParams {
                    count_len: [0, 0],
                    ..Default::default()
                },
            ),
            (
                "reverse_alphabet",
                SuiteParams {
                    reverse_alphabet: "abA".into(),
                    ..Default::default()
                },
            ),
            (
                "count_alphabet",
                SuiteParams {
                    count_alphabet: "aba".into(),
                    ..Default::default()
                },
            ),
            (
                "shuffle_len",
                SuiteParams {
                    shuffle_len: [2, 1],
                    ..Default::default()
                },
            ),
            (
                "shuffle_alphabet",
                SuiteParams {
                    shuffle_alphabet: "a b".into(),
                    ..Default::default()
                },
            ),
            (
                "rotate_len",
                SuiteParams {
                    rotate_len: [0, 2],
                    ..Default::default()
                },
            ),
            (
                "next_alphabet",
                SuiteParams {
                    next_alphabet: "xyz".into(),
                    ..Default::default()
                },
            ),
            (
                "next_len",
                SuiteParams {
                    next_len: [3, 2],
                    ..Default::default()
                },
            ),
        ];
        for (name, params) in cases {
            let message = params.check().unwrap_err().to_string();
            assert!(message.contains(&format!("`{name}`")), "{message}");
        }
        let empty = SuiteParams {
            count_alphabet: String::new(),
            ..Default::default()
        };
        assert!(
            empty
                .check()
                .unwrap_err()
                .to_string()
                .contains("count_alphabet")
        );
    }
}
