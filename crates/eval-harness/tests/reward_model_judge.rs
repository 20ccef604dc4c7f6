//! A reward model as the benchmarks' pairwise judge (judge::reward_model), with the
//! benchmarks' own scoring on top.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use eval_harness::judge::reward_model::{
    AnswerPair, VerdictScale, alpaca_eval_preferences, arena_hard_judgments,
};
use eval_harness::{alpaca_eval, arena_hard};
use rm_pool::{RewardModel, RmInfo, RmPool, ScoreItem};

/// Scores a response by its length, counting its backend calls.
struct LengthRm {
    calls: Arc<AtomicUsize>,
}

impl RewardModel for LengthRm {
    fn name(&self) -> &str {
        "length"
    }
    fn info(&self) -> RmInfo {
        RmInfo {
            kind: "test",
            description: "response length".into(),
            score_range: (0.0, f32::INFINITY),
        }
    }
    fn score(&mut self, items: &[ScoreItem]) -> rm_pool::Result<Vec<f32>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(items.iter().map(|i| i.response.len() as f32).collect())
    }
}

/// An RM as the benchmarks' pairwise judge: a length RM prefers the longer answers, so the
/// verbose model beats the baseline on Arena-Hard (Bradley–Terry) and AlpacaEval, and the
/// terse one loses; margins beyond `strong_margin` are strong verdicts.
#[test]
fn an_rm_judges_arena_hard_and_alpaca_eval() {
    let calls = Arc::new(AtomicUsize::new(0));
    let rm = LengthRm {
        calls: calls.clone(),
    };
    let mut pool = RmPool::new(vec![Box::new(rm)]).unwrap();
    let baseline = [
        "a medium answer",
        "another medium one",
        "a third medium answer",
    ];
    let verbose = [
        "a much longer and more detailed answer",
        "another long and detailed one",
        "ok",
    ];
    let terse = ["short", "tiny", "a third medium answer"];
    let pairs = |answers: &[&'static str; 3]| -> Vec<AnswerPair<'static>> {
        (0..3)
            .map(|i| AnswerPair {
                question: "Explain.",
                baseline: baseline[i],
                model: answers[i],
            })
            .collect()
    };
    let scale = VerdictScale {
        tie_eps: 0.5,
        strong_margin: 10.0,
        temperature: 5.0,
    };
    let mut judgments =
        arena_hard_judgments(&mut pool, 0, "verbose", &pairs(&verbose), scale).unwrap();
    assert_eq!(judgments[0].game1.as_deref(), Some("B>>A"));
    assert_eq!(judgments[0].game2.as_deref(), Some("A>>B"));
    assert_eq!(judgments[2].game1.as_deref(), Some("A>>B"));
    judgments.extend(arena_hard_judgments(&mut pool, 0, "terse", &pairs(&terse), scale).unwrap());
    assert_eq!(
        judgments[5].game1.as_deref(),
        Some("A=B"),
        "equal lengths tie"
    );
    let scores = arena_hard::evaluate(&judgments, 0).unwrap();
    assert!(
        scores["verbose"].score > 50.0 && scores["terse"].score < 50.0,
        "{scores:?}"
    );
    let preferences = alpaca_eval_preferences(&mut pool, 0, &pairs(&verbose), scale).unwrap();
    assert!(
        preferences[0] > 1.5 && preferences[2] < 1.5,
        "{preferences:?}"
    );
    let rate =
        alpaca_eval::win_rate(&preferences.iter().map(|p| Some(*p)).collect::<Vec<_>>()).unwrap();
    assert!(rate.win_rate > 50.0, "{rate:?}");
    // The baseline answers were scored once, however often they were judged.
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}
