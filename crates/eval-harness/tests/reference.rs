//! The metrics against the numbers the official formulas give (fixtures/reference.json,
//! written by tools/make_eval_fixtures.py with Python `re`, numpy, pandas and scikit-learn).

use std::collections::BTreeMap;

use eval_harness::python_random::PythonRandom;
use eval_harness::{alpaca_eval, arena_hard, gsm8k, judge, mt_bench};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    gsm8k: Vec<Gsm8kCase>,
    mt_bench: Vec<MtBenchCase>,
    alpaca_eval: AlpacaCase,
    arena_hard: ArenaCase,
    python_random: Vec<PythonRandomCase>,
}

#[derive(Deserialize)]
struct PythonRandomCase {
    seed: String,
    draws: Vec<f64>,
    switched: bool,
}

#[derive(Deserialize)]
struct Gsm8kCase {
    completion: String,
    answer: String,
    strict: String,
    flexible: String,
    exact_match_strict: bool,
    exact_match_flexible: bool,
}

#[derive(Deserialize)]
struct MtBenchCase {
    judgment: String,
    rating: Option<f64>,
}

#[derive(Deserialize)]
struct AlpacaCase {
    annotations: Vec<CompactAnnotation>,
    instruction_difficulty: Vec<f64>,
    raw: RawReference,
    lc: LcReference,
    lc_with_difficulty: LcReference,
}

#[derive(Deserialize)]
struct CompactAnnotation {
    len_1: usize,
    len_2: usize,
    preference: f64,
}

#[derive(Deserialize)]
struct RawReference {
    win_rate: f64,
    standard_error: f64,
}

#[derive(Deserialize)]
struct LcReference {
    length_controlled_winrate: f64,
    c: f64,
    weights: [f64; 3],
}

#[derive(Deserialize)]
struct ArenaCase {
    judgments: Vec<arena_hard::Judgment>,
    scores: BTreeMap<String, ArenaReference>,
}

#[derive(Deserialize)]
struct ArenaReference {
    score: f64,
    lower: f64,
    upper: f64,
    battles: usize,
}

fn reference() -> Reference {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn gsm8k_matches_lm_eval() {
    for case in reference().gsm8k {
        let cut = gsm8k::truncate_at_stop(&case.completion);
        let score = gsm8k::score(cut, &case.answer);
        assert_eq!(score.strict_answer, case.strict, "{:?}", case.completion);
        assert_eq!(
            score.flexible_answer, case.flexible,
            "{:?}",
            case.completion
        );
        assert_eq!(
            (score.exact_match_strict, score.exact_match_flexible),
            (case.exact_match_strict, case.exact_match_flexible),
            "{:?}",
            case.completion
        );
    }
}

#[test]
fn mt_bench_parses_like_fastchat() {
    for case in reference().mt_bench {
        assert_eq!(
            mt_bench::parse_rating(&case.judgment),
            case.rating,
            "{:?}",
            case.judgment
        );
    }
}

fn annotations(case: &AlpacaCase) -> Vec<alpaca_eval::Annotation> {
    case.annotations
        .iter()
        .map(|a| alpaca_eval::Annotation {
            instruction: String::new(),
            output_1: "b".repeat(a.len_1),
            output_2: "m".repeat(a.len_2),
            preference: Some(a.preference),
        })
        .collect()
}

#[test]
fn alpaca_eval_raw_win_rate_matches() {
    let case = reference().alpaca_eval;
    let prefs: Vec<Option<f64>> = case
        .annotations
        .iter()
        .map(|a| Some(a.preference))
        .collect();
    let w = alpaca_eval::win_rate(&prefs).unwrap();
    assert!((w.win_rate - case.raw.win_rate).abs() < 1e-9);
    assert!((w.standard_error - case.raw.standard_error).abs() < 1e-9);
}

/// Same C chosen, weights within liblinear's tolerance, LC win rate within 0.05 points.
fn assert_lc_matches(ours: &alpaca_eval::LcWinRate, reference: &LcReference) {
    assert!(
        (ours.c - reference.c).abs() < 1e-9 * reference.c,
        "C {} vs {}",
        ours.c,
        reference.c
    );
    let weights = [
        ours.weight_std_delta_len,
        ours.weight_instruction_difficulty,
        ours.weight_not_gamed_baseline,
    ];
    for (w, r) in weights.iter().zip(&reference.weights) {
        assert!(
            (w - r).abs() < 2e-3,
            "weights {weights:?} vs {:?}",
            reference.weights
        );
    }
    assert!(
        (ours.length_controlled_winrate - reference.length_controlled_winrate).abs() < 0.05,
        "LC {} vs {}",
        ours.length_controlled_winrate,
        reference.length_controlled_winrate
    );
}

#[test]
fn alpaca_eval_lc_win_rate_matches_scikit_learn() {
    let case = reference().alpaca_eval;
    let annotations = annotations(&case);
    let lc = alpaca_eval::length_controlled_win_rate(&annotations, &Default::default()).unwrap();
    assert_lc_matches(&lc, &case.lc);
    let lc = alpaca_eval::length_controlled_win_rate(
        &annotations,
        &alpaca_eval::LcInputs {
            instruction_difficulty: Some(&case.instruction_difficulty),
        },
    )
    .unwrap();
    assert_lc_matches(&lc, &case.lc_with_difficulty);
}

#[test]
fn arena_hard_matches_show_result() {
    let case = reference().arena_hard;
    let scores = arena_hard::evaluate(&case.judgments, 42).unwrap();
    assert_eq!(scores.len(), case.scores.len());
    for (model, expected) in &case.scores {
        let ours = &scores[model];
        assert_eq!(ours.battles, expected.battles, "{model}");
        assert!(
            (ours.score - expected.score).abs() < 1e-6,
            "{model}: {} vs {}",
            ours.score,
            expected.score
        );
        // A different bootstrap stream: the interval's ends agree up to Monte-Carlo noise.
        assert!(
            (ours.lower - expected.lower).abs() < 1.5 && (ours.upper - expected.upper).abs() < 1.5,
            "{model}: [{}, {}] vs [{}, {}]",
            ours.lower,
            ours.upper,
            expected.lower,
            expected.upper
        );
    }
}

#[test]
fn string_seeded_draws_and_alpaca_eval_swaps_match_cpython() {
    for case in reference().python_random {
        let mut rng = PythonRandom::from_str_seed(&case.seed);
        let draws: Vec<f64> = case.draws.iter().map(|_| rng.random()).collect();
        assert_eq!(draws, case.draws, "seed {:?}", case.seed);
        let switched = PythonRandom::from_str_seed(&case.seed).choice_index(2) == 1;
        assert_eq!(switched, case.switched, "seed {:?}", case.seed);
        if let Some(instruction) = case
            .seed
            .strip_prefix("is_switched_outputs")
            .and_then(|rest| rest.strip_suffix('0'))
        {
            assert_eq!(judge::alpaca_eval::is_switched(instruction), case.switched);
        }
    }
}
