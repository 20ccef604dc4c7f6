//! Synthetic tasks with exactly checkable answers, in seven domains ([`Domain`]): a response is
//! correct when its canonical form ([`canonical`]) equals the reference's, except in `shuffle`,
//! the domain with many right answers, where any rearrangement of the reference's letters is
//! correct.
//!
//! # Canonical forms
//! Whitespace (Unicode `White_Space`, as [`str::trim`]) is trimmed at both ends first. Then:
//! - `add` and `count`: a decimal integer without a sign, in ASCII digits only, with no
//!   leading zeros except `0` itself (`"0132"` and `"+5"` are malformed). The canonical form is
//!   the digits.
//! - `reverse`, `shuffle`, `rotate` and `next`: ASCII lowercase letters only (`a`–`z`), at
//!   least one. The canonical form is the letters.
//! - `sort`: one or more single ASCII digits separated by whitespace, e.g. `1 2 5 9`. Runs of
//!   whitespace between digits are accepted and collapsed; anything else (`1,2`, `12 5`, an
//!   empty answer) is malformed. The canonical form is the digits joined by single spaces.
//!
//! Anything else, including surrounding prose (`"the answer is 132"`), is malformed: the
//! policy that answers these prompts is trained to answer with the bare answer, and a
//! malformed response is never correct.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::verifier::Error;

/// A synthetic task domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Domain {
    /// Add two non-negative integers: `add 47 85` → `132`.
    Add,
    /// Reverse a string of lowercase letters: `reverse kqzt` → `tzqk`.
    Reverse,
    /// Sort digits ascending: `sort 5 2 9 1` → `1 2 5 9`.
    Sort,
    /// Count a letter's occurrences in a string: `count a in abcab` → `2`.
    Count,
    /// Rearrange a string's letters in any order: `shuffle kqzt` → `zktq`, `tqkz`, … (every
    /// permutation is right, the string itself included).
    Shuffle,
    /// Move a string's first letter to its end: `rotate kqzt` → `qztk`.
    Rotate,
    /// Replace each letter by the next one of the alphabet: `next kqa` → `lrb`.
    Next,
}

impl Domain {
    /// Every domain, in declaration order.
    pub const ALL: [Domain; 7] = [
        Domain::Add,
        Domain::Reverse,
        Domain::Sort,
        Domain::Count,
        Domain::Shuffle,
        Domain::Rotate,
        Domain::Next,
    ];

    /// Whether a prompt of this domain has more than one right answer (only `shuffle`).
    pub fn has_many_answers(&self) -> bool {
        matches!(self, Domain::Shuffle)
    }

    /// The domain's name: `add`, `reverse`, `sort`, `count`, `shuffle`, `rotate` or `next`
    /// (its serde name too).
    pub fn name(&self) -> &'static str {
        match self {
            Domain::Add => "add",
            Domain::Reverse => "reverse",
            Domain::Sort => "sort",
            Domain::Count => "count",
            Domain::Shuffle => "shuffle",
            Domain::Rotate => "rotate",
            Domain::Next => "next",
        }
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Domain {
    type Err = Error;

    /// Parses a domain's exact [`name`](Domain::name).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Domain::ALL
            .into_iter()
            .find(|domain| domain.name() == s)
            .ok_or_else(|| Error::UnknownDomain {
                found: s.to_string(),
                expected: Domain::ALL.map(|domain| domain.name()).join(", "),
            })
    }
}

/// The canonical form of `text` as an answer of `domain`, or `None` when it is not a
/// well-formed answer of that domain (see the [module docs](self) for the rules).
pub fn canonical(domain: Domain, text: &str) -> Option<String> {
    let text = text.trim();
    match domain {
        Domain::Add | Domain::Count => canonical_integer(text),
        Domain::Reverse | Domain::Shuffle | Domain::Rotate | Domain::Next => {
            let well_formed = !text.is_empty() && text.bytes().all(|b| b.is_ascii_lowercase());
            well_formed.then(|| text.to_string())
        }
        Domain::Sort => {
            let digits: Vec<&str> = text.split_whitespace().collect();
            let well_formed = !digits.is_empty()
                && digits
                    .iter()
                    .all(|d| d.len() == 1 && d.as_bytes()[0].is_ascii_digit());
            well_formed.then(|| digits.join(" "))
        }
    }
}

/// Whether `response` is a correct answer of `domain`: both it and `reference` are
/// well-formed and their canonical forms are equal — in `shuffle`, equal once each one's
/// letters are sorted (the same letters, each as often).
pub fn is_correct(domain: Domain, response: &str, reference: &str) -> bool {
    match (canonical(domain, response), canonical(domain, reference)) {
        (Some(response), Some(reference)) if domain == Domain::Shuffle => {
            sorted_letters(&response) == sorted_letters(&reference)
        }
        (Some(response), Some(reference)) => response == reference,
        _ => false,
    }
}

/// The bytes of `text` in ascending order.
fn sorted_letters(text: &str) -> Vec<u8> {
    let mut letters = text.as_bytes().to_vec();
    letters.sort_unstable();
    letters
}

/// A sign-free decimal integer in ASCII digits without leading zeros (other than `0`).
fn canonical_integer(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let well_formed = !bytes.is_empty()
        && bytes.iter().all(u8::is_ascii_digit)
        && (bytes.len() == 1 || bytes[0] != b'0');
    well_formed.then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(domain: Domain, text: &str, canonical_form: &str) {
        assert_eq!(
            canonical(domain, text).as_deref(),
            Some(canonical_form),
            "{domain} {text:?}"
        );
    }

    fn rejects(domain: Domain, text: &str) {
        assert_eq!(canonical(domain, text), None, "{domain} {text:?}");
    }

    #[test]
    fn integers_are_bare_digits_without_leading_zeros() {
        for domain in [Domain::Add, Domain::Count] {
            accepts(domain, "132", "132");
            accepts(domain, " 132\n", "132");
            accepts(domain, "0", "0");
            accepts(domain, "\t0 ", "0");
            accepts(
                domain,
                "1000000000000000000000000",
                "1000000000000000000000000",
            );
            for bad in [
                "",
                " ",
                "0132",
                "00",
                "+5",
                "-5",
                "1 32",
                "1,32",
                "13.2",
                "132.",
                "x",
                "١٢",
                "the answer is 132",
            ] {
                rejects(domain, bad);
            }
        }
    }

    #[test]
    fn letter_answers_are_lowercase_ascii_letters() {
        for domain in [
            Domain::Reverse,
            Domain::Shuffle,
            Domain::Rotate,
            Domain::Next,
        ] {
            accepts(domain, "tzqk", "tzqk");
            accepts(domain, "  a ", "a");
            for bad in ["", "  ", "Tzqk", "tz qk", "tzqk.", "tz1k", "é", "tzqk!"] {
                rejects(domain, bad);
            }
        }
    }

    #[test]
    fn a_shuffle_is_right_in_any_order_of_the_same_letters() {
        for right in ["zktq", "kqzt", " tqkz\n"] {
            assert!(is_correct(Domain::Shuffle, right, "kqzt"), "{right:?}");
        }
        // A letter dropped, added, repeated instead of another, or changed.
        for wrong in ["zkt", "zktqq", "zktt", "zktx", "ZKTQ", ""] {
            assert!(!is_correct(Domain::Shuffle, wrong, "kqzt"), "{wrong:?}");
        }
        assert!(is_correct(Domain::Shuffle, "aab", "aba"));
        assert!(!is_correct(Domain::Shuffle, "abb", "aba"));
        // Only shuffle has many right answers.
        assert!(!is_correct(Domain::Reverse, "zktq", "kqzt"));
        let many: Vec<Domain> = Domain::ALL
            .into_iter()
            .filter(Domain::has_many_answers)
            .collect();
        assert_eq!(many, [Domain::Shuffle]);
    }

    #[test]
    fn sorted_digits_are_collapsed_to_single_spaces() {
        accepts(Domain::Sort, "1 2 5 9", "1 2 5 9");
        accepts(Domain::Sort, " 1  2\t5\n9 ", "1 2 5 9");
        accepts(Domain::Sort, "7", "7");
        // The form is checked, not the order: a wrong order is well-formed and wrong.
        accepts(Domain::Sort, "9 5 2 1", "9 5 2 1");
        for bad in ["", " ", "1,2,5", "12 5", "1 2 x", "1 -2", "1259 ", "[1 2]"] {
            rejects(Domain::Sort, bad);
        }
    }

    #[test]
    fn correctness_compares_canonical_forms() {
        assert!(is_correct(Domain::Add, " 132 ", "132"));
        assert!(!is_correct(Domain::Add, "0132", "132"));
        assert!(!is_correct(Domain::Add, "133", "132"));
        assert!(is_correct(Domain::Sort, "1  2 5 9", "1 2 5 9"));
        assert!(!is_correct(Domain::Sort, "2 1 5 9", "1 2 5 9"));
        assert!(is_correct(Domain::Reverse, "tzqk\n", "tzqk"));
        assert!(!is_correct(Domain::Reverse, "kqzt", "tzqk"));
        assert!(is_correct(Domain::Count, "0", "0"));
        assert!(is_correct(Domain::Rotate, " qztk", "qztk"));
        assert!(!is_correct(Domain::Rotate, "kqzt", "qztk"));
        assert!(is_correct(Domain::Next, "lrb", "lrb"));
        assert!(!is_correct(Domain::Next, "kqa", "lrb"));
        // A malformed reference never matches, not even itself.
        assert!(!is_correct(Domain::Count, "x", "x"));
        assert!(!is_correct(Domain::Add, "", ""));
    }

    #[test]
    fn domains_round_trip_through_their_names() {
        use serde::de::IntoDeserializer;
        use serde::de::value::{Error as DeError, StrDeserializer};
        for domain in Domain::ALL {
            assert_eq!(domain.name().parse::<Domain>().unwrap(), domain);
            assert_eq!(domain.to_string(), domain.name());
            // The serde name is the name too.
            let de: StrDeserializer<'_, DeError> = domain.name().into_deserializer();
            assert_eq!(Domain::deserialize(de).unwrap(), domain);
        }
        let message = "Add".parse::<Domain>().unwrap_err().to_string();
        assert!(message.contains("`Add`"), "{message}");
        assert!(
            message.contains("add, reverse, sort, count, shuffle, rotate, next"),
            "{message}"
        );
    }
}
