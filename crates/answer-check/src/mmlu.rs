//! MMLU answer letters: the letter index of a gold answer, and the letter a generated answer
//! gives.

use std::sync::LazyLock;

use regex::Regex;

/// The answer letters, in choice order.
pub const LETTERS: [&str; 4] = ["A", "B", "C", "D"];

/// The index (0–3) of answer letter `letter` (`A`–`D`, surrounding space ignored).
pub fn letter_index(letter: &str) -> Option<usize> {
    LETTERS.iter().position(|l| *l == letter.trim())
}

static LETTER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i:answer(?: is)?:?)\s*\(?([ABCD])\b|^\s*\(?([ABCD])[).:\s]|^\s*([ABCD])\s*$")
        .expect("valid pattern")
});

/// The answer letter in generated text: after "answer is"/"Answer:", or a letter opening the
/// text (`"B. …"`, `"(C)"`, `"D"`); `None` when there is none.
pub fn extract_letter(completion: &str) -> Option<usize> {
    let caps = LETTER.captures(completion)?;
    let letter = caps.iter().skip(1).flatten().next()?.as_str();
    letter_index(letter)
}

/// "A"…"D" (any case) or "0"…"3": a reference answer's letter index.
pub fn reference_letter(reference: &str) -> Option<usize> {
    match reference.trim() {
        "A" | "a" | "0" => Some(0),
        "B" | "b" | "1" => Some(1),
        "C" | "c" | "2" => Some(2),
        "D" | "d" | "3" => Some(3),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_in_generated_text() {
        for (text, letter) in [
            ("B. 42", Some(1)),
            ("(C) because", Some(2)),
            ("D", Some(3)),
            ("The answer is A.", Some(0)),
            ("Answer: (B)", Some(1)),
            ("I think a cat", None),
            ("Because of E", None),
        ] {
            assert_eq!(extract_letter(text), letter, "{text:?}");
        }
    }
}
