//! The in-process backends against transformers' numbers (tiny fixtures), the real MiniLM
//! encoder, the verifiers, and the truncation rule.

use lm::DeviceSpec;
use rm_pool::backends::classifier::ClassifierRm;
use rm_pool::backends::embedding::{EmbeddingRm, EmbeddingTarget};
use rm_pool::backends::llm_judge::{JudgeScoring, LlmJudgeRm};
use rm_pool::backends::verifier::{VerifierRm, VerifierTask};
use rm_pool::{Error, RewardModel, ScoreItem};

use crate::{assert_close, asset, expected, fixture};

#[test]
fn classifier_matches_transformers() {
    let expected = expected();
    let mut rm =
        ClassifierRm::load("tiny-rm", &fixture("tiny-rm"), &DeviceSpec::Cpu, 512, 2).unwrap();
    let scores = rm.score(&expected.items).unwrap();
    assert_close(&scores, &expected.rm_scores, 1e-4, "classifier");
    assert_eq!(rm.truncations(), 0);
}

#[test]
fn judge_verdict_margin_and_rating_match_transformers() {
    let expected = expected();
    let verdict = JudgeScoring::Verdict {
        positive: "Yes".into(),
        negative: "No".into(),
    };
    let judge = |template: &str, scoring| {
        LlmJudgeRm::load(
            "tiny-judge",
            &fixture("tiny-judge"),
            &DeviceSpec::Cpu,
            template,
            scoring,
            512,
            2,
        )
        .unwrap()
    };
    // Saved scores are matched by description: it changes with the template.
    let other = judge("Other words. {{ response }}", verdict.clone());
    let mut verdict_judge = judge(&expected.judge_template, verdict);
    assert_ne!(verdict_judge.info().description, other.info().description);
    let margins = verdict_judge.score(&expected.items).unwrap();
    assert_close(&margins, &expected.judge_margins, 1e-4, "verdict margin");
    let mut rating_judge = judge(
        &expected.rating_template,
        JudgeScoring::Rating { min: 1, max: 5 },
    );
    let ratings = rating_judge.score(&expected.items).unwrap();
    assert_close(&ratings, &expected.judge_ratings, 1e-4, "expected rating");
    assert_eq!(verdict_judge.truncations() + rating_judge.truncations(), 0);
}

#[test]
fn judge_refuses_multi_token_labels_by_name() {
    let err = LlmJudgeRm::load(
        "tiny-judge",
        &fixture("tiny-judge"),
        &DeviceSpec::Cpu,
        "{{ response }}",
        JudgeScoring::Verdict {
            positive: "Absolutely".into(),
            negative: "No".into(),
        },
        512,
        1,
    )
    .err()
    .expect("a multi-token label is refused");
    let text = err.to_string();
    assert!(
        text.contains("tiny-judge") && text.contains("Absolutely"),
        "{text}"
    );
}

/// A response longer than the context is cut (response first) and counted, not refused.
#[test]
fn long_responses_are_truncated_and_counted() {
    let mut rm =
        ClassifierRm::load("tiny-rm", &fixture("tiny-rm"), &DeviceSpec::Cpu, 40, 4).unwrap();
    let long = "Paris is the capital of France. ".repeat(20);
    let items = vec![
        ScoreItem::single_turn("What is the capital of France?", long.clone()),
        ScoreItem::single_turn("What is two plus two?", "4"),
    ];
    let scores = rm.score(&items).unwrap();
    assert!(scores.iter().all(|s| s.is_finite()));
    assert_eq!(rm.truncations(), 1);
}

#[test]
fn embedding_similarity_ranks_the_paraphrase_first() {
    let mut rm = EmbeddingRm::load(
        "minilm",
        &asset("models/all-MiniLM-L6-v2"),
        &DeviceSpec::Cpu,
        8,
    )
    .unwrap();
    let reference = "Paris is the capital of France.";
    let item = |response: &str| {
        ScoreItem::single_turn("What is the capital of France?", response).with_reference(reference)
    };
    let scores = rm
        .score(&[
            item(reference),
            item("The capital city of France is Paris."),
            item("Photosynthesis turns light into chemical energy."),
        ])
        .unwrap();
    assert!((scores[0] - 1.0).abs() < 1e-4, "{scores:?}");
    assert!(scores[1] > 0.8 && scores[2] < 0.3, "{scores:?}");
    let err = rm
        .score(&[ScoreItem::single_turn("q", "no reference")])
        .unwrap_err();
    assert!(matches!(err, Error::Input { item: 0, .. }), "{err}");

    // Reference-free: the response against the question, no reference needed.
    let mut rm = rm.comparing_with(EmbeddingTarget::Question);
    let question =
        |response: &str| ScoreItem::single_turn("What is the capital of France?", response);
    assert_eq!(rm.check(&question("Paris.")), Ok(()));
    let scores = rm
        .score(&[
            question("The capital of France is Paris."),
            question("Photosynthesis turns light into chemical energy."),
        ])
        .unwrap();
    assert!(scores[0] > scores[1] + 0.3, "{scores:?}");
    assert!(rm.info().description.contains("to the question"));
}

#[test]
fn verifiers_check_answers_as_eval_harness_extracts_them() {
    let gsm8k = |response: &str| {
        ScoreItem::single_turn("How many?", response)
            .with_reference("She has 3 + 15 = 18 apples.\n#### 18")
    };
    let mut rm = VerifierRm::new("gsm8k", VerifierTask::Gsm8k, None).unwrap();
    let scores = rm
        .score(&[
            gsm8k("3 + 15 = 18.\n#### 18"),
            gsm8k("So the answer is $18.00."),
            gsm8k("The answer is 17."),
            gsm8k("I don't know."),
        ])
        .unwrap();
    assert_eq!(scores, [1.0, 1.0, 0.0, 0.0]);

    let mmlu = |response: &str| ScoreItem::single_turn("Which?", response).with_reference("C");
    let mut rm = VerifierRm::new("mmlu", VerifierTask::Mmlu, None).unwrap();
    let scores = rm
        .score(&[mmlu("The answer is C."), mmlu("B"), mmlu("(C) because…")])
        .unwrap();
    assert_eq!(scores, [1.0, 0.0, 1.0]);

    let mut rm = VerifierRm::new("regex", VerifierTask::Regex, Some(r"answer: (\w+)")).unwrap();
    let item = |response: &str| ScoreItem::single_turn("q", response).with_reference("blue");
    assert_eq!(
        rm.score(&[item("final answer: blue"), item("answer: red")])
            .unwrap(),
        [1.0, 0.0]
    );
    assert!(VerifierRm::new("regex", VerifierTask::Regex, None).is_err());
    let err = rm.score(&[ScoreItem::single_turn("q", "a")]).unwrap_err();
    assert!(
        err.to_string().contains("regex") && err.to_string().contains("item 0"),
        "{err}"
    );
}

/// The summed likelihood is the mean times the response's token count: the same
/// log-probabilities, not normalised by length.
#[test]
fn summed_likelihood_is_the_mean_times_the_response_length() {
    let load = |scoring| {
        LlmJudgeRm::load(
            "tiny-judge",
            &fixture("tiny-judge"),
            &DeviceSpec::Cpu,
            "",
            scoring,
            512,
            4,
        )
        .unwrap()
    };
    let items = vec![
        ScoreItem::single_turn("What is two plus two?", "4"),
        ScoreItem::single_turn(
            "What is two plus two?",
            "The answer is 4, because 2 + 2 = 4.",
        ),
    ];
    let mean = load(JudgeScoring::Likelihood).score(&items).unwrap();
    let sum = load(JudgeScoring::SummedLikelihood).score(&items).unwrap();
    let lengths: Vec<f32> = sum.iter().zip(&mean).map(|(s, m)| s / m).collect();
    for length in &lengths {
        assert!(
            *length >= 1.0 && (length - length.round()).abs() < 1e-3,
            "sum / mean = {lengths:?}, expected whole token counts"
        );
    }
    assert!(lengths[1] > lengths[0], "{lengths:?}");
}

/// The likelihood judge scores an empty response as ending the turn at once (log p(EOS)),
/// a finite log-probability like any other response's.
#[test]
fn likelihood_judge_scores_empty_responses() {
    let mut judge = LlmJudgeRm::load(
        "tiny-judge",
        &fixture("tiny-judge"),
        &DeviceSpec::Cpu,
        "",
        JudgeScoring::Likelihood,
        512,
        4,
    )
    .unwrap();
    let items = vec![
        ScoreItem::single_turn("What is two plus two?", ""),
        ScoreItem::single_turn("What is two plus two?", "The answer is 4."),
    ];
    let scores = judge.score(&items).unwrap();
    assert!(
        scores.iter().all(|s| s.is_finite() && *s < 0.0),
        "{scores:?}"
    );
}
