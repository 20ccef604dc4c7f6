//! The suite's contract: the verifier accepts every generated answer and rejects every near
//! miss; splits are disjoint and deterministic; a too-small domain is named in the error.

use std::collections::{HashMap, HashSet};

use answer_check::synthetic::{canonical, is_correct};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use synthetic_tasks::{
    Domain, Error, Split, SuiteParams, generate, near_miss, prompt_record, sample,
};

/// Valid parameters across the whole range of each knob (small enough to stay fast).
fn params() -> impl Strategy<Value = SuiteParams> {
    let range = |max: usize| (1..=max).prop_flat_map(move |min| (Just(min), min..=max));
    let alphabet = proptest::sample::subsequence(('a'..='z').collect::<Vec<_>>(), 1..=26)
        .prop_shuffle()
        .prop_map(|letters| letters.into_iter().collect::<String>());
    (
        1..=18_u32,
        range(12),
        alphabet.clone(),
        range(12),
        range(12),
        alphabet,
    )
        .prop_map(
            |(add_digits, reverse_len, reverse_alphabet, sort_len, count_len, count_alphabet)| {
                SuiteParams {
                    domains: Domain::ALL.to_vec(),
                    add_digits,
                    reverse_len: [reverse_len.0, reverse_len.1],
                    reverse_alphabet,
                    sort_len: [sort_len.0, sort_len.1],
                    count_len: [count_len.0, count_len.1],
                    count_alphabet,
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
                prop_assert!(is_correct(domain, &task.answer, &task.answer));
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
