//! GSM8K answers as lm-evaluation-harness's `gsm8k` task reads them, plus a numeric-equivalence
//! check.
//!
//! Two filters pick the answer out of a completion — `strict-match` (the number after
//! `#### `) and `flexible-extract` (the last number-like run) — and `exact_match` compares it
//! with the gold solution after deleting, in order, commas, `$`, everything up to `#### `, and
//! one trailing period, case-insensitively. A completion the filter finds nothing in becomes
//! `[invalid]`, which never matches (lm-eval `lm_eval/tasks/gsm8k/gsm8k.yaml`).
//!
//! `numeric_equivalence` is ours: the strict answer if there is one, else the flexible one,
//! parsed as a number and compared with the gold number (so `18`, `18.0`, `$18` and `18.`
//! all equal 18).

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

/// Where generation stops (lm-eval's `until` for gsm8k).
pub const STOP_SEQUENCES: [&str; 3] = ["Question:", "</s>", "<|im_end|>"];

/// What lm-eval's regex filter returns when nothing matches.
pub const INVALID: &str = "[invalid]";

/// A completion cut at the first stop sequence (what a server honouring `until` returns).
pub fn truncate_at_stop(completion: &str) -> &str {
    let end = STOP_SEQUENCES
        .iter()
        .filter_map(|stop| completion.find(stop))
        .min()
        .unwrap_or(completion.len());
    &completion[..end]
}

static STRICT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"#### (\-?[0-9\.\,]+)").expect("valid pattern"));
static FLEXIBLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(-?[$0-9.,]{2,})|(-?[0-9]+)").expect("valid pattern"));

/// `strict-match`: the first `#### number`, or [`INVALID`].
pub fn extract_strict(completion: &str) -> String {
    select(&STRICT, completion, Pick::First)
}

/// `flexible-extract`: the last number-like run, or [`INVALID`].
pub fn extract_flexible(completion: &str) -> String {
    select(&FLEXIBLE, completion, Pick::Last)
}

enum Pick {
    First,
    Last,
}

/// lm-eval's regex filter: of all matches take the first or last; of its groups the first
/// non-empty one; strip whitespace; [`INVALID`] when nothing matched.
fn select(pattern: &Regex, text: &str, pick: Pick) -> String {
    let mut matches = pattern.captures_iter(text);
    let chosen = match pick {
        Pick::First => matches.next(),
        Pick::Last => matches.last(),
    };
    chosen
        .and_then(|caps| {
            caps.iter()
                .skip(1)
                .flatten()
                .map(|m| m.as_str())
                .find(|s| !s.is_empty())
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| INVALID.to_string())
}

static IGNORED: LazyLock<[Regex; 4]> = LazyLock::new(|| {
    [",", r"\$", r"(?s).*#### ", r"\.(\n?)\z"].map(|p| Regex::new(p).expect("valid pattern"))
});

/// lm-eval's exact_match normalisation, applied to predictions and gold solutions alike:
/// delete commas, `$`, everything up to the last `#### `, and a final period (Python's `$`
/// also matches before a final newline, which is kept); then lower-case.
pub fn normalize(text: &str) -> String {
    let [commas, dollars, up_to_answer, final_period] = &*IGNORED;
    let text = commas.replace_all(text, "");
    let text = dollars.replace_all(&text, "");
    let text = up_to_answer.replace_all(&text, "");
    let text = final_period.replace_all(&text, "$1");
    text.to_lowercase()
}

/// The number in an extracted answer (`$1,234.50`, `18.`, `-3`), if it is one.
pub fn numeric_value(answer: &str) -> Option<f64> {
    let cleaned: String = answer
        .trim()
        .chars()
        .filter(|c| !matches!(c, ',' | '$'))
        .collect();
    let cleaned = cleaned.strip_suffix('.').unwrap_or(&cleaned);
    if cleaned.is_empty() || !cleaned.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    cleaned.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// The gold number of a GSM8K solution (after its `#### `).
pub fn gold_number(solution: &str) -> Option<f64> {
    let (_, tail) = solution.rsplit_once("#### ")?;
    numeric_value(tail)
}

/// How one completion scored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Gsm8kScore {
    /// What `strict-match` extracted.
    pub strict_answer: String,
    /// What `flexible-extract` extracted.
    pub flexible_answer: String,
    /// `exact_match` under `strict-match`.
    pub exact_match_strict: bool,
    /// `exact_match` under `flexible-extract`.
    pub exact_match_flexible: bool,
    /// The extracted number equals the gold number.
    pub numeric_equivalence: bool,
}

/// Scores `completion` against the gold `solution` (ending in `#### N`).
pub fn score(completion: &str, solution: &str) -> Gsm8kScore {
    let strict_answer = extract_strict(completion);
    let flexible_answer = extract_flexible(completion);
    let gold = normalize(solution);
    let numeric = if strict_answer != INVALID {
        &strict_answer
    } else {
        &flexible_answer
    };
    let numeric_equivalence = match (numeric_value(numeric), gold_number(solution)) {
        (Some(ours), Some(gold)) => (ours - gold).abs() <= 1e-9 * gold.abs().max(1.0),
        _ => false,
    };
    Gsm8kScore {
        exact_match_strict: normalize(&strict_answer) == gold,
        exact_match_flexible: normalize(&flexible_answer) == gold,
        strict_answer,
        flexible_answer,
        numeric_equivalence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOLD: &str = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 1,072";

    #[test]
    fn normalizes_the_gold_solution_to_its_number() {
        assert_eq!(normalize(GOLD), "1072");
        assert_eq!(normalize("So $18."), "so 18");
        assert_eq!(normalize("18.\n"), "18\n");
    }

    #[test]
    fn strict_and_flexible_extraction() {
        let cases = [
            // (completion, strict, flexible)
            ("She sold 1,072 clips.\n#### 1,072", "1,072", "1,072"),
            ("The answer is $18.", INVALID, "$18."),
            ("It is -5 degrees, so #### -5", "-5", "-5"),
            ("First 3 then 4", INVALID, "4"),
            ("no numbers at all", INVALID, INVALID),
            ("#### 12 and later #### 13", "12", "13"),
            ("#### .5", ".5", ".5"),
        ];
        for (completion, strict, flexible) in cases {
            assert_eq!(extract_strict(completion), strict, "{completion:?}");
            assert_eq!(extract_flexible(completion), flexible, "{completion:?}");
        }
    }

    #[test]
    fn scores_like_lm_eval() {
        let s = score("48 + 1024 = 1072.\n#### 1072", GOLD);
        assert!(s.exact_match_strict && s.exact_match_flexible && s.numeric_equivalence);
        // Flexible takes "1072." → "1072" after the trailing-period rule.
        let s = score("So the total is 1072.", GOLD);
        assert!(!s.exact_match_strict && s.exact_match_flexible && s.numeric_equivalence);
        // 1072.0 is not an exact match, but is numerically equal.
        let s = score("#### 1072.0", GOLD);
        assert!(!s.exact_match_strict && s.numeric_equivalence);
        let s = score("I don't know.", GOLD);
        assert!(!s.exact_match_strict && !s.exact_match_flexible && !s.numeric_equivalence);
    }

    #[test]
    fn stop_sequences_cut_the_completion() {
        assert_eq!(truncate_at_stop("#### 4\n\nQuestion: next"), "#### 4\n\n");
        assert_eq!(truncate_at_stop("no stop"), "no stop");
    }

    #[test]
    fn numbers() {
        assert_eq!(numeric_value("$1,234.50"), Some(1234.5));
        assert_eq!(numeric_value("18."), Some(18.0));
        assert_eq!(numeric_value("[invalid]"), None);
        assert_eq!(numeric_value("..."), None);
        assert_eq!(gold_number(GOLD), Some(1072.0));
    }
}
