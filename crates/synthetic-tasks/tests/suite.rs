//! The suite's contract: every generated answer solves its prompt (checked by a solver
//! written here from the prompt grammar alone), the verifier accepts it and rejects every
//! near miss; splits are disjoint and deterministic; a too-small domain is named in the error.

use std::collections::{HashMap, HashSet};

use answer_check::synthetic::{canonical, is_correct};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use synthetic_tasks::{
    Domain, Error, Split, SuiteParams, generate, near_miss, prompt_record, sample,
};

/// The answer to a suite prompt, computed from the prompt text alone: `add A B`,
/// `reverse TEXT`, `sort D D …` (digits, answered space-separated in ascending order),
/// `count L in TEXT`, `shuffle TEXT` (many right answers: this gives the sorted letters),
/// `rotate TEXT` (first letter moved to the end), `next TEXT` (each letter's successor).
/// `None` for a prompt outside that grammar.
fn solve(prompt: &str) -> Option<String> {
    let (verb, rest) = prompt.split_once(' ')?;
    match verb {
        "add" => {
            let (a, b) = rest.split_once(' ')?;
            Some((a.parse::<u128>().ok()? + b.parse::<u128>().ok()?).to_string())
        }
        "reverse" => Some(rest.chars().rev().collect()),
        "sort" => {
            let mut digits: Vec<u32> = rest
                .split(' ')
                .map(|d| d.parse().ok().filter(|&d| d < 10))
                .collect::<Option<_>>()?;
            digits.sort();
            let digits: Vec<String> = digits.iter().map(u32::to_string).collect();
            Some(digits.join(" "))
        }
        "count" => {
            let (letter, text) = rest.split_once(" in ")?;
            let mut letter = letter.chars();
            let (Some(letter), None) = (letter.next(), letter.next()) else {
                return None;
            };
            Some(text.chars().filter(|&c| c == letter).count().to_string())
        }
        "shuffle" => Some(sorted_letters(rest)),
        "rotate" => {
            let mut letters = rest.chars();
            let first = letters.next()?;
            Some(letters.chain([first]).collect())
        }
        "next" => rest
            .chars()
            .map(|c| ('a'..='y').contains(&c).then(|| char::from(c as u8 + 1)))
            .collect(),
        _ => None,
    }
}

/// `text`'s letters in ascending order.
fn sorted_letters(text: &str) -> String {
    let mut letters: Vec<char> = text.chars().collect();
    letters.sort_unstable();
    letters.into_iter().collect()
}

/// What the solver says a task's answer is: itself, or for `shuffle` its sorted letters.
fn solved_form(domain: Domain, answer: &str) -> String {
    if domain.has_many_answers() {
        sorted_letters(answer)
    } else {
        answer.to_string()
    }
}

#[test]
fn the_solver_knows_the_grammar() {
    assert_eq!(solve("add 999 1").as_deref(), Some("1000"));
    assert_eq!(solve("reverse abc").as_deref(), Some("cba"));
    assert_eq!(solve("sort 3 1 2 1").as_deref(), Some("1 1 2 3"));
    assert_eq!(solve("count a in banana").as_deref(), Some("3"));
    assert_eq!(solve("shuffle kqzt").as_deref(), Some("kqtz"));
    assert_eq!(solve("rotate kqzt").as_deref(), Some("qztk"));
    assert_eq!(solve("next kqa").as_deref(), Some("lrb"));
    assert_eq!(solve("next kz"), None);
    assert_eq!(solve("sort 3 x"), None);
    assert_eq!(solve("multiply 2 3"), None);
}

/// Valid parameters across the whole range of each knob (small enough to stay fast).
fn params() -> impl Strategy<Value = SuiteParams> {
    let range = |max: usize| (1..=max).prop_flat_map(move |min| (Just(min), min..=max));
    let alphabet = proptest::sample::subsequence(('a'..='z').collect::<Vec<_>>(), 1..=26)
        .prop_shuffle()
        .prop_map(|letters| letters.into_iter().collect::<String>());
    let without_z = proptest::sample::subsequence(('a'..='y').collect::<Vec<_>>(), 1..=25)
        .prop_shuffle()
        .prop_map(|letters| letters.into_iter().collect::<String>());
    (
        1..=18_u32,
        range(12),
        alphabet.clone(),
        range(12),
        range(12),
        alphabet.clone(),
        range(12),
        alphabet.clone(),
        range(12),
        alphabet,
        range(12),
        without_z,
    )
        .prop_map(
            |(
                add_digits,
                reverse_len,
                reverse_alphabet,
                sort_len,
                count_len,
                count_alphabet,
                shuffle_len,
                shuffle_alphabet,
                rotate_len,
                rotate_alphabet,
                next_len,
                next_alphabet,
            )| {
                SuiteParams {
                    domains: Domain::ALL.to_vec(),
                    add_digits,
                    reverse_len: [reverse_len.0, reverse_len.1],
                    reverse_alphabet,
                    sort_len: [sort_len.0, sort_len.1],
                    count_len: [count_len.0, count_len.1],
                    count_alphabet,
                    shuffle_len: [shuffle_len.0, shuffle_len.1],
                    shuffle_alphabet,
                    rotate_len: [rotate_len.0, rotate_len.1],
                    rotate_alphabet,
                    next_len: [next_len.0, next_len.1],
                    next_alphabet,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn verifier_accepts_answers_and_rejects_near_misses(params in params(), seed: u64) {
        params.check().unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for domain in Domain::ALL {
            for _ in 0..8 {
                let task = generate(domain, &params, &mut rng);
                prop_assert_eq!(task.domain, domain);
                prop_assert!(task.prompt.starts_with(domain.name()), "{:?}", task);
                // The answer solves the prompt, and is already in canonical form.
                prop_assert_eq!(
                    solve(&task.prompt), Some(solved_form(domain, &task.answer)), "{:?}", task
                );
                let canonical_answer = canonical(domain, &task.answer);
                prop_assert_eq!(canonical_answer.as_deref(), Some(&*task.answer));
                prop_assert!(is_correct(domain, &task.answer, &task.answer), "{:?}", task);
                // An answer with surrounding whitespace is right too.
                let padded = format!(" {}\n", task.answer);
                prop_assert!(is_correct(domain, &padded, &task.answer), "{:?}", task);
                let miss = near_miss(&task, &mut rng);
                prop_assert!(canonical(domain, &miss).is_some(), "{:?} -> {:?}", task, miss);
                prop_assert!(!is_correct(domain, &miss, &task.answer), "{:?} -> {:?}", task, miss);
                // The prompts-file record names the domain for the verifier.
                let record = prompt_record(&task);
                prop_assert_eq!(&record["category"], domain.name());
                prop_assert_eq!(&record["reference"], &*task.answer);
                prop_assert_eq!(&record["prompt"], &*task.prompt);
            }
        }
    }

    #[test]
    fn splits_are_disjoint_and_deterministic(seed_a: u64, seed_b: u64) {
        let params = SuiteParams::default();
        let mut owner: HashMap<String, Split> = HashMap::new();
        for split in Split::ALL {
            let tasks = sample(&params, split, 10, seed_a).unwrap();
            prop_assert_eq!(&tasks, &sample(&params, split, 10, seed_a).unwrap());
            let more = sample(&params, split, 10, seed_b).unwrap();
            prop_assert_eq!(tasks.len(), 4 * 10);
            for (i, task) in tasks.iter().enumerate() {
                let domain = params.domains[i / 10];
                prop_assert_eq!(task.domain, domain);
                prop_assert_eq!(&task.id, &format!("{}-{}-{:04}", split, domain, i % 10));
                prop_assert_eq!(
                    solve(&task.prompt), Some(solved_form(domain, &task.answer)), "{:?}", task
                );
            }
            for task in tasks.iter().chain(&more) {
                prop_assert_eq!(Split::of(&task.prompt), split);
                let previous = owner.insert(task.prompt.clone(), split);
                prop_assert!(
                    previous.is_none_or(|s| s == split),
                    "{:?} in {:?} and {}", task.prompt, previous, split
                );
            }
            let distinct: HashSet<_> =
                tasks.iter().map(|task| &task.prompt).collect();
            prop_assert_eq!(distinct.len(), tasks.len());
        }
    }
}

#[test]
fn a_domain_keeps_its_tasks_whatever_else_is_asked() {
    let all = sample(&SuiteParams::default(), Split::Online, 5, 1).unwrap();
    let params = SuiteParams {
        domains: vec![Domain::Count, Domain::Sort],
        ..SuiteParams::default()
    };
    let two = sample(&params, Split::Online, 5, 1).unwrap();
    assert_eq!(two[..5], all[15..20]);
    assert_eq!(two[5..], all[10..15]);
    assert_ne!(
        all,
        sample(&SuiteParams::default(), Split::Online, 5, 2).unwrap()
    );
}

#[test]
fn a_too_small_domain_is_named() {
    let params = SuiteParams {
        add_digits: 1,
        ..SuiteParams::default()
    };
    let err = sample(&params, Split::Eval, 1000, 0).unwrap_err();
    let Error::PromptSpaceExhausted {
        domain,
        split,
        found,
        wanted,
        ..
    } = err
    else {
        panic!("{err:?}");
    };
    assert_eq!((domain, split, wanted), (Domain::Add, Split::Eval, 1000));
    // 100 add prompts exist in all; about an eighth of them are eval prompts.
    assert!(found > 0 && found < 100, "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("`add`") && message.contains("`eval`"),
        "{message}"
    );
    // The other domains have room: asking them alone succeeds.
    let others = SuiteParams {
        domains: vec![Domain::Reverse, Domain::Sort, Domain::Count],
        ..params
    };
    assert_eq!(sample(&others, Split::Eval, 50, 0).unwrap().len(), 150);
}

#[test]
fn invalid_params_are_an_error_not_a_panic() {
    let params = SuiteParams {
        sort_len: [5, 2],
        ..SuiteParams::default()
    };
    let message = sample(&params, Split::Sft, 1, 0).unwrap_err().to_string();
    assert!(message.contains("`sort_len`"), "{message}");
}
