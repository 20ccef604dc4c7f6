//! Near misses: plausible wrong answers, the negatives of reward-model training data.

use answer_check::synthetic::{Domain, canonical};
use rand::{Rng, RngExt};

use crate::generate::{Task, spaced};

/// A plausible wrong answer to `task`: well-formed in its domain ([`canonical`] accepts it),
/// never its answer, and close to it in the way a small model's mistakes are:
/// - `add`, `count`: the answer ±1, ±2 or ±3 (never negative), or the answer with one digit
///   changed (never to a leading zero), each half of the time;
/// - `reverse`: the prompt's string itself (not reversed) when it differs from the answer;
///   for a palindrome, two adjacent differing letters swapped, or, when all its letters are
///   equal, one letter replaced by another of `a`–`z`;
/// - `sort`: two adjacent differing digits swapped or one digit changed, each half of the
///   time (always a digit changed when all the digits are equal), so that a wrong answer is
///   not always out of order.
/// - `shuffle`: the answer with one letter dropped, or with one letter written over by
///   another of its letters, each half of the time (a one-letter answer, or one of a single
///   repeated letter, gets a letter changed to another of `a`–`z` instead): the letters a
///   small model loses or repeats.
/// - `rotate`: the prompt's string itself (not rotated) or it rotated the other way (last
///   letter first), each half of the time, whichever differs from the answer; when neither
///   does (one repeated letter), one letter replaced by another of `a`–`z`.
/// - `next`: the prompt's string itself (copied, not advanced) half of the time; otherwise
///   the answer with one letter moved one step too far or left as it was (`lrb` → `lsb` or
///   `lqb`).
///
/// # Panics
/// When `task.answer` is not a well-formed answer of `task.domain` ([`canonical`] is `None`);
/// a [`generate`](crate::generate)d or [`sample`](crate::sample)d task's always is.
pub fn near_miss<R: Rng + ?Sized>(task: &Task, rng: &mut R) -> String {
    let Some(answer) = canonical(task.domain, &task.answer) else {
        panic!(
            "near_miss: task {} has answer {:?}, which is not a well-formed {} answer",
            task.id, task.answer, task.domain
        );
    };
    match task.domain {
        Domain::Add | Domain::Count => integer_near_miss(&answer, rng),
        Domain::Reverse => {
            let unreversed = prompt_letters(task).filter(|text| *text != answer);
            unreversed.unwrap_or_else(|| letters_near_miss(&answer, rng))
        }
        Domain::Sort => {
            let digits: Vec<u8> = answer.bytes().filter(u8::is_ascii_digit).collect();
            let mut wrong = digits.clone();
            if !swap_adjacent(&mut wrong, rng) || rng.random_bool(0.5) {
                wrong.clone_from(&digits);
                change_digit(&mut wrong, false, rng);
            }
            spaced(&wrong)
        }
        Domain::Shuffle => shuffle_near_miss(&answer, rng),
        Domain::Rotate => rotate_near_miss(task, &answer, rng),
        Domain::Next => {
            let copied = prompt_letters(task).filter(|text| *text != answer);
            match copied {
                Some(copied) if rng.random_bool(0.5) => copied,
                _ => next_near_miss(&answer, rng),
            }
        }
    }
}

/// The letters a `reverse`, `rotate` or `next` prompt operates on (`reverse kqzt` → `kqzt`),
/// or `None` when the prompt is not the domain's name, a space and a well-formed string.
fn prompt_letters(task: &Task) -> Option<String> {
    task.prompt
        .strip_prefix(task.domain.name())
        .and_then(|rest| rest.strip_prefix(' '))
        .and_then(|text| canonical(task.domain, text))
}

/// A rotation's near miss: the prompt's string unrotated, or rotated the other way (its last
/// letter first), whichever differs from the answer; one letter replaced when neither does.
/// A prompt without a well-formed string (a hand-built task) stands in as the answer rotated
/// back, which is what the prompt's string would be.
fn rotate_near_miss<R: Rng + ?Sized>(task: &Task, answer: &str, rng: &mut R) -> String {
    let text = prompt_letters(task).unwrap_or_else(|| {
        let (init, last) = answer.split_at(answer.len() - 1);
        format!("{last}{init}")
    });
    let (init, last) = text.split_at(text.len() - 1);
    let the_other_way = format!("{last}{init}");
    let mut candidates: Vec<&str> = [text.as_str(), the_other_way.as_str()]
        .into_iter()
        .filter(|candidate| *candidate != answer)
        .collect();
    candidates.dedup();
    if candidates.is_empty() {
        letters_near_miss(answer, rng)
    } else {
        candidates[rng.random_range(0..candidates.len())].to_string()
    }
}

/// An advanced string's near miss: one letter a step too far or not advanced (a letter
/// that cannot move, `a` back or `z` on, moves the only way it can).
fn next_near_miss<R: Rng + ?Sized>(answer: &str, rng: &mut R) -> String {
    let mut letters = answer.as_bytes().to_vec();
    let at = rng.random_range(0..letters.len());
    letters[at] = match letters[at] {
        b'a' => b'b',
        b'z' => b'y',
        letter if rng.random_bool(0.5) => letter + 1,
        letter => letter - 1,
    };
    String::from_utf8(letters).expect("ASCII letters")
}

/// A rearrangement's near miss: a letter dropped or repeated in place of another.
fn shuffle_near_miss<R: Rng + ?Sized>(answer: &str, rng: &mut R) -> String {
    let mut letters = answer.as_bytes().to_vec();
    if letters.len() > 1 && rng.random_bool(0.5) {
        letters.remove(rng.random_range(0..letters.len()));
        return String::from_utf8(letters).expect("ASCII letters");
    }
    let differing: Vec<(usize, usize)> = (0..letters.len())
        .flat_map(|i| (0..letters.len()).map(move |j| (i, j)))
        .filter(|&(i, j)| letters[i] != letters[j])
        .collect();
    if differing.is_empty() {
        let at = rng.random_range(0..letters.len());
        let others: Vec<u8> = (b'a'..=b'z').filter(|&b| b != letters[at]).collect();
        letters[at] = others[rng.random_range(0..others.len())];
    } else {
        let (from, to) = differing[rng.random_range(0..differing.len())];
        letters[to] = letters[from];
    }
    String::from_utf8(letters).expect("ASCII letters")
}

/// A sign-free integer's near miss: ±1..=3 or one digit changed.
fn integer_near_miss<R: Rng + ?Sized>(answer: &str, rng: &mut R) -> String {
    if rng.random_bool(0.5) {
        // Integers too long for a u128 (never generated) fall through to a digit change.
        if let Ok(value) = answer.parse::<u128>() {
            let shifted: Vec<u128> = [-3, -2, -1, 1, 2, 3]
                .into_iter()
                .filter_map(|delta| value.checked_add_signed(delta))
                .collect();
            return shifted[rng.random_range(0..shifted.len())].to_string();
        }
    }
    let mut digits = answer.as_bytes().to_vec();
    change_digit(&mut digits, true, rng);
    String::from_utf8(digits).expect("ASCII digits")
}

/// A palindrome's near miss: two adjacent differing letters swapped, else one replaced.
fn letters_near_miss<R: Rng + ?Sized>(answer: &str, rng: &mut R) -> String {
    let mut letters = answer.as_bytes().to_vec();
    if !swap_adjacent(&mut letters, rng) {
        let at = rng.random_range(0..letters.len());
        let others: Vec<u8> = (b'a'..=b'z').filter(|&b| b != letters[at]).collect();
        letters[at] = others[rng.random_range(0..others.len())];
    }
    String::from_utf8(letters).expect("ASCII letters")
}

/// Swaps a uniformly chosen pair of adjacent differing items; false (and no change) when
/// there is none.
fn swap_adjacent<R: Rng + ?Sized>(items: &mut [u8], rng: &mut R) -> bool {
    let differing: Vec<usize> = (1..items.len())
        .filter(|&i| items[i - 1] != items[i])
        .collect();
    if differing.is_empty() {
        return false;
    }
    let i = differing[rng.random_range(0..differing.len())];
    items.swap(i - 1, i);
    true
}

/// Replaces a uniformly chosen ASCII digit by another; with `no_leading_zero`, the first of
/// several digits never becomes `0`.
fn change_digit<R: Rng + ?Sized>(digits: &mut [u8], no_leading_zero: bool, rng: &mut R) {
    let at = rng.random_range(0..digits.len());
    let lowest = if no_leading_zero && at == 0 && digits.len() > 1 {
        b'1'
    } else {
        b'0'
    };
    let others: Vec<u8> = (lowest..=b'9').filter(|&d| d != digits[at]).collect();
    digits[at] = others[rng.random_range(0..others.len())];
}

#[cfg(test)]
mod tests {
    use answer_check::synthetic::is_correct;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn task(domain: Domain, prompt: &str, answer: &str) -> Task {
        Task {
            id: "t".into(),
            domain,
            prompt: prompt.into(),
            answer: answer.into(),
        }
    }

    /// Every near miss of `task` over many draws, checked well-formed and wrong.
    fn misses(task: &Task) -> Vec<String> {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        (0..300)
            .map(|_| {
                let miss = near_miss(task, &mut rng);
                assert!(
                    canonical(task.domain, &miss).is_some(),
                    "{task:?} -> {miss:?}"
                );
                assert!(
                    !is_correct(task.domain, &miss, &task.answer),
                    "{task:?} -> {miss:?}"
                );
                miss
            })
            .collect()
    }

    #[test]
    fn integers_move_a_little_or_change_a_digit() {
        let zero = misses(&task(Domain::Count, "count a in bbb", "0"));
        assert!(zero.iter().all(|m| m.len() == 1), "{zero:?}");
        let near = misses(&task(Domain::Add, "add 47 85", "132"));
        assert!(near.iter().any(|m| m == "129" || m == "135"), "{near:?}");
        assert!(near.iter().any(|m| m == "192" || m == "932"), "{near:?}");
        assert!(near.iter().all(|m| !m.starts_with('0')), "{near:?}");
        misses(&task(Domain::Add, "add 5 5", "10"));
    }

    #[test]
    fn reversals_prefer_the_unreversed_string() {
        let near = misses(&task(Domain::Reverse, "reverse kqzt", "tzqk"));
        assert!(near.iter().all(|m| m == "kqzt"), "{near:?}");
        let palindrome = misses(&task(Domain::Reverse, "reverse aba", "aba"));
        assert!(
            palindrome.iter().all(|m| m == "baa" || m == "aab"),
            "{palindrome:?}"
        );
        let same = misses(&task(Domain::Reverse, "reverse aa", "aa"));
        assert!(same.iter().all(|m| m.len() == 2), "{same:?}");
        misses(&task(Domain::Reverse, "reverse q", "q"));
    }

    #[test]
    fn sorts_swap_or_change_a_digit() {
        let near = misses(&task(Domain::Sort, "sort 5 2 9 1", "1 2 5 9"));
        assert!(near.iter().any(|m| m == "2 1 5 9"), "{near:?}");
        assert!(
            near.iter().any(|m| m == "1 2 5 8" || m == "0 2 5 9"),
            "{near:?}"
        );
        misses(&task(Domain::Sort, "sort 3 3", "3 3"));
        misses(&task(Domain::Sort, "sort 7", "7"));
    }

    #[test]
    fn shuffles_lose_or_repeat_a_letter() {
        let near = misses(&task(Domain::Shuffle, "shuffle kqzt", "zktq"));
        assert!(near.iter().any(|m| m.len() == 3), "{near:?}");
        assert!(
            near.iter()
                .any(|m| m.len() == 4 && m.bytes().all(|b| b"kqzt".contains(&b))),
            "{near:?}"
        );
        let same = misses(&task(Domain::Shuffle, "shuffle aaa", "aaa"));
        assert!(same.iter().any(|m| m == "aa"), "{same:?}");
        misses(&task(Domain::Shuffle, "shuffle q", "q"));
    }

    #[test]
    fn rotations_are_unrotated_or_rotated_the_other_way() {
        let near = misses(&task(Domain::Rotate, "rotate kqzt", "qztk"));
        assert!(near.iter().any(|m| m == "kqzt"), "{near:?}");
        assert!(near.iter().any(|m| m == "tkqz"), "{near:?}");
        assert!(near.iter().all(|m| m == "kqzt" || m == "tkqz"), "{near:?}");
        // `abab` rotated the other way is the answer itself, so only the prompt's string is left.
        let near = misses(&task(Domain::Rotate, "rotate abab", "baba"));
        assert!(near.iter().all(|m| m == "abab"), "{near:?}");
        let same = misses(&task(Domain::Rotate, "rotate aaa", "aaa"));
        assert!(same.iter().all(|m| m.len() == 3), "{same:?}");
        misses(&task(Domain::Rotate, "rotate q", "q"));
        // A hand-built task whose prompt has no well-formed string still gets a right-shaped
        // miss, never a panic.
        for prompt in ["rotate ", "rotate kqZt", "rotate kqé", "spin kqzt"] {
            let near = misses(&task(Domain::Rotate, prompt, "qztk"));
            assert!(near.iter().all(|m| m == "kqzt" || m == "tkqz"), "{near:?}");
        }
    }

    #[test]
    fn next_letters_are_copied_or_one_letter_off() {
        let near = misses(&task(Domain::Next, "next kqa", "lrb"));
        assert!(near.iter().any(|m| m == "kqa"), "{near:?}");
        assert!(near.iter().any(|m| m == "lsb"), "{near:?}");
        assert!(near.iter().any(|m| m == "lqb"), "{near:?}");
        for miss in &near {
            assert_eq!(miss.len(), 3, "{miss:?}");
            let off: usize = miss
                .bytes()
                .zip("lrb".bytes())
                .map(|(m, r)| usize::from(m != r))
                .sum();
            assert!(miss == "kqa" || off == 1, "{miss:?}");
        }
        let from_a = misses(&task(Domain::Next, "next a", "b"));
        assert!(from_a.iter().all(|m| m == "a" || m == "c"), "{from_a:?}");
    }

    #[test]
    #[should_panic(expected = "not a well-formed add answer")]
    fn malformed_answers_panic() {
        near_miss(
            &task(Domain::Add, "add 1 1", "02"),
            &mut ChaCha8Rng::seed_from_u64(0),
        );
    }
}
