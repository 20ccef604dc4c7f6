//! One task at a time: a seeded draw of a prompt of a domain and its exact answer.
//!
//! Prompts are short and plain, one word naming the domain then its operands separated by
//! single spaces, so that a tiny model trained from scratch can learn them:
//!
//! | domain    | prompt             | answer    |
//! |-----------|--------------------|-----------|
//! | `add`     | `add 47 85`        | `132`     |
//! | `reverse` | `reverse kqzt`     | `tzqk`    |
//! | `sort`    | `sort 5 2 9 1`     | `1 2 5 9` |
//! | `count`   | `count a in abcab` | `2`       |
//! | `shuffle` | `shuffle kqzt`     | `zktq`    |
//! | `rotate`  | `rotate kqzt`      | `qztk`    |
//! | `next`    | `next kqa`         | `lrb`     |
//!
//! A `shuffle` prompt has many right answers (every ordering of its letters); its task
//! carries one of them, drawn uniformly. Answers are in the canonical form of [`answer_check::synthetic::canonical`].

use answer_check::synthetic::Domain;
use rand::seq::SliceRandom;
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use crate::params::SuiteParams;
use seed_mix::fnv1a64;

/// A prompt with its exact answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Task {
    /// Identifier: `{split}-{domain}-{index:04}` from [`sample`](crate::sample), e.g.
    /// `eval-add-0007`; `{domain}-{hash:016x}` (the prompt's `seed_mix::fnv1a64`) from [`generate`].
    pub id: String,
    /// The task's domain.
    pub domain: Domain,
    /// What the policy is asked, e.g. `add 47 85`.
    pub prompt: String,
    /// The canonical correct answer, e.g. `132`; for `shuffle`, one right answer of many.
    pub answer: String,
}

/// Draws one task of `domain` from `rng`, as `params` say.
///
/// - `add`: two operands of `add_digits` digits each; the answer is their sum.
/// - `reverse`: a string of `reverse_len` letters of `reverse_alphabet`; the answer is it
///   reversed.
/// - `sort`: `sort_len` digits 0–9; the answer is them in ascending order.
/// - `count`: a letter of `count_alphabet` and a string of `count_len` letters of
///   `count_alphabet`; the answer is how often the letter occurs in the string (may be 0).
/// - `shuffle`: a string of `shuffle_len` letters of `shuffle_alphabet`; the answer is a
///   uniformly drawn permutation of its letters (possibly the string itself).
/// - `rotate`: a string of `rotate_len` letters of `rotate_alphabet`; the answer is it with
///   its first letter moved to the end.
/// - `next`: a string of `next_len` letters of `next_alphabet`; the answer replaces each
///   letter by the one after it in `a`–`z`.
///
/// # Panics
/// When `params` fail [`SuiteParams::check`].
pub fn generate<R: Rng + ?Sized>(domain: Domain, params: &SuiteParams, rng: &mut R) -> Task {
    if let Err(err) = params.check() {
        panic!("synthetic-tasks generate: {err}");
    }
    let (prompt, answer) = match domain {
        Domain::Add => {
            let digits = params.add_digits;
            let low = if digits == 1 {
                0
            } else {
                10_u64.pow(digits - 1)
            };
            let high = 10_u64.pow(digits) - 1;
            let a = rng.random_range(low..=high);
            let b = rng.random_range(low..=high);
            (format!("add {a} {b}"), (a + b).to_string())
        }
        Domain::Reverse => {
            let text = letters(&params.reverse_alphabet, params.reverse_len, rng);
            let reversed: String = text.chars().rev().collect();
            (format!("reverse {text}"), reversed)
        }
        Domain::Sort => {
            let [min, max] = params.sort_len;
            let len = rng.random_range(min..=max);
            let mut digits: Vec<u8> = (0..len).map(|_| rng.random_range(b'0'..=b'9')).collect();
            let prompt = format!("sort {}", spaced(&digits));
            digits.sort_unstable();
            (prompt, spaced(&digits))
        }
        Domain::Count => {
            let alphabet = params.count_alphabet.as_bytes();
            let letter = char::from(alphabet[rng.random_range(0..alphabet.len())]);
            let text = letters(&params.count_alphabet, params.count_len, rng);
            let count = text.chars().filter(|&c| c == letter).count();
            (format!("count {letter} in {text}"), count.to_string())
        }
        Domain::Shuffle => {
            let text = letters(&params.shuffle_alphabet, params.shuffle_len, rng);
            let mut shuffled = text.clone().into_bytes();
            shuffled.shuffle(rng);
            let shuffled = String::from_utf8(shuffled).expect("ASCII letters");
            (format!("shuffle {text}"), shuffled)
        }
        Domain::Rotate => {
            let text = letters(&params.rotate_alphabet, params.rotate_len, rng);
            let rotated = format!("{}{}", &text[1..], &text[..1]);
            (format!("rotate {text}"), rotated)
        }
        Domain::Next => {
            let text = letters(&params.next_alphabet, params.next_len, rng);
            let next: String = text.bytes().map(|b| char::from(b + 1)).collect();
            (format!("next {text}"), next)
        }
    };
    Task {
        id: format!("{}-{:016x}", domain.name(), fnv1a64(prompt.as_bytes())),
        domain,
        prompt,
        answer,
    }
}

/// A string of a uniform length in `[min, max]`, each letter uniform over `alphabet`.
fn letters<R: Rng + ?Sized>(alphabet: &str, [min, max]: [usize; 2], rng: &mut R) -> String {
    let alphabet = alphabet.as_bytes();
    let len = rng.random_range(min..=max);
    (0..len)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

/// ASCII digits (as bytes) joined by single spaces.
pub(crate) fn spaced(digits: &[u8]) -> String {
    let mut out = String::with_capacity(2 * digits.len());
    for (i, &digit) in digits.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push(char::from(digit));
    }
    out
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn prompts_have_the_documented_shapes() {
        let params = SuiteParams::default();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..200 {
            let add = generate(Domain::Add, &params, &mut rng);
            let words: Vec<&str> = add.prompt.split(' ').collect();
            assert_eq!(words.len(), 3, "{add:?}");
            assert_eq!(words[0], "add");
            let [a, b]: [u64; 2] = [words[1].parse().unwrap(), words[2].parse().unwrap()];
            assert!((10..=99).contains(&a) && (10..=99).contains(&b), "{add:?}");
            assert_eq!(add.answer, (a + b).to_string());
            assert!(
                add.id.starts_with("add-") && add.id.len() == 4 + 16,
                "{}",
                add.id
            );

            let reverse = generate(Domain::Reverse, &params, &mut rng);
            let text = reverse.prompt.strip_prefix("reverse ").unwrap();
            assert!((3..=5).contains(&text.len()), "{reverse:?}");
            assert!(
                text.bytes().all(|b| (b'a'..=b'j').contains(&b)),
                "{reverse:?}"
            );
            assert_eq!(reverse.answer.chars().rev().collect::<String>(), text);

            let sort = generate(Domain::Sort, &params, &mut rng);
            let digits: Vec<&str> = sort
                .prompt
                .strip_prefix("sort ")
                .unwrap()
                .split(' ')
                .collect();
            assert!((3..=5).contains(&digits.len()), "{sort:?}");
            let mut sorted = digits.clone();
            sorted.sort_unstable();
            assert_eq!(sort.answer, sorted.join(" "));

            let count = generate(Domain::Count, &params, &mut rng);
            let rest = count.prompt.strip_prefix("count ").unwrap();
            let (letter, text) = rest.split_once(" in ").unwrap();
            assert!(["a", "b", "c"].contains(&letter), "{count:?}");
            assert!((4..=8).contains(&text.len()), "{count:?}");
            assert_eq!(count.answer, text.matches(letter).count().to_string());

            let shuffle = generate(Domain::Shuffle, &params, &mut rng);
            let text = shuffle.prompt.strip_prefix("shuffle ").unwrap();
            assert!((3..=5).contains(&text.len()), "{shuffle:?}");
            let mut letters: Vec<u8> = text.bytes().collect();
            let mut answer: Vec<u8> = shuffle.answer.bytes().collect();
            letters.sort_unstable();
            answer.sort_unstable();
            assert_eq!(answer, letters, "{shuffle:?}");

            let rotate = generate(Domain::Rotate, &params, &mut rng);
            let text = rotate.prompt.strip_prefix("rotate ").unwrap();
            assert!((3..=5).contains(&text.len()), "{rotate:?}");
            assert_eq!(rotate.answer.len(), text.len());
            assert_eq!(format!("{}{}", &text[1..], &text[..1]), rotate.answer);

            let next = generate(Domain::Next, &params, &mut rng);
            let text = next.prompt.strip_prefix("next ").unwrap();
            assert!((3..=5).contains(&text.len()), "{next:?}");
            assert!(text.bytes().all(|b| (b'a'..=b'i').contains(&b)), "{next:?}");
            let back: String = next.answer.bytes().map(|b| char::from(b - 1)).collect();
            assert_eq!(back, text, "{next:?}");
        }
    }

    #[test]
    fn a_shuffle_prompt_gets_different_right_answers() {
        // 27 prompts in all, so each is drawn many times.
        let params = SuiteParams {
            shuffle_len: [3, 3],
            shuffle_alphabet: "abc".into(),
            ..SuiteParams::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut answers: std::collections::HashMap<String, std::collections::HashSet<String>> =
            std::collections::HashMap::new();
        for _ in 0..2000 {
            let task = generate(Domain::Shuffle, &params, &mut rng);
            answers.entry(task.prompt).or_default().insert(task.answer);
        }
        // `shuffle abc` has 6 right answers, and the draws find them all.
        assert_eq!(
            answers["shuffle abc"].len(),
            6,
            "{:?}",
            answers["shuffle abc"]
        );
        assert_eq!(answers["shuffle aaa"].len(), 1);
    }

    #[test]
    fn one_digit_operands_include_zero_and_the_widest_do_not_overflow() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let one = SuiteParams {
            add_digits: 1,
            ..SuiteParams::default()
        };
        let zero_seen = (0..2000)
            .map(|_| generate(Domain::Add, &one, &mut rng))
            .any(|task| task.prompt.split(' ').any(|word| word == "0"));
        assert!(zero_seen);
        let widest = SuiteParams {
            add_digits: 18,
            ..SuiteParams::default()
        };
        for _ in 0..100 {
            let task = generate(Domain::Add, &widest, &mut rng);
            assert!(task.answer.len() >= 18, "{task:?}");
        }
    }

    #[test]
    #[should_panic(expected = "reverse_alphabet")]
    fn invalid_params_panic_by_name() {
        let params = SuiteParams {
            reverse_alphabet: String::new(),
            ..SuiteParams::default()
        };
        generate(Domain::Reverse, &params, &mut ChaCha8Rng::seed_from_u64(0));
    }
}
