//! A reward model as the benchmarks' pairwise judge (judge::reward_model), with the
//! benchmarks' own scoring on top, and the pairwise judging pipeline (judge::pairwise) on the
//! real benchmark files.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use eval_harness::Progress;
use eval_harness::data::{AlpacaEvalItem, ArenaHardAnswer};
use eval_harness::judge::pairwise::{PairwiseJudge, judge_alpaca_eval, judge_arena_hard};
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

/// The pool of one length RM, with its call counter.
fn length_pool() -> RmPool {
    let rm = LengthRm {
        calls: Arc::new(AtomicUsize::new(0)),
    };
    RmPool::new(vec![Box::new(rm)]).unwrap()
}

/// Benchmark judging end to end on the real AlpacaEval files: outputs that are the
/// baseline's own plus a long tail beat it under a length RM; the annotations land in
/// alpaca_eval's layout and the metrics are alpaca_eval's.
#[test]
fn pairwise_alpaca_eval_by_an_rm_writes_annotations_and_win_rates() {
    let baseline_path = crate::asset("data/alpaca_eval/alpaca_eval_gpt4_baseline.json");
    let template = crate::asset("data/alpaca_eval/alpaca_eval_clf.txt");
    let outputs: Vec<AlpacaEvalItem> = eval_harness::data::read_alpaca_eval(&baseline_path)
        .unwrap()
        .into_iter()
        .take(6)
        .map(|item| AlpacaEvalItem {
            output: format!("{} And, in more detail, much more.", item.output),
            generator: "longer".into(),
            ..item
        })
        .collect();
    let out = tempfile::tempdir().unwrap();
    let mut pool = length_pool();
    let mut judge = PairwiseJudge::Rm {
        pool: &mut pool,
        rm: 0,
        name: "length".into(),
    };
    let mut stages = Vec::new();
    let metrics = judge_alpaca_eval(
        &mut judge,
        &outputs,
        &baseline_path,
        &template,
        out.path(),
        &mut |p: Progress<'_>| stages.push((p.stage.to_string(), p.done, p.total)),
    )
    .unwrap();
    assert_eq!(metrics.raw.n_total, 6);
    assert!(metrics.raw.win_rate > 50.0, "{metrics:?}");
    let annotations: Vec<alpaca_eval::Annotation> =
        atomic_write::read_json(&out.path().join("annotations-rm-length.json")).unwrap();
    assert_eq!(annotations.len(), 6);
    assert_eq!(annotations[0].output_2, outputs[0].output);
    assert_eq!(
        stages.first(),
        Some(&("alpaca-eval judging".to_string(), 0, 6))
    );
    assert_eq!(
        stages.last(),
        Some(&("alpaca-eval judging".to_string(), 6, 6))
    );

    // An output whose instruction the baseline does not have is named.
    let mut stray = outputs[0].clone();
    stray.instruction = "Not an AlpacaEval instruction".into();
    let err = judge_alpaca_eval(
        &mut judge,
        &[stray],
        &baseline_path,
        &template,
        out.path(),
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("output 0") && err.contains("Not an AlpacaEval"),
        "{err}"
    );
}

/// Arena-Hard v2 judging end to end on the real v2.0 folder: very long answers beat the
/// category baselines under a length RM, both games carry a verdict, the judgments land in
/// arena-hard-auto's layout, and an answer to an unknown question is named.
#[test]
fn pairwise_arena_hard_by_an_rm_writes_judgments_and_scores() {
    let arena = crate::asset("data/arena-hard-v2.0");
    let questions =
        eval_harness::data::read_arena_hard_questions(&arena.join("question.jsonl")).unwrap();
    let long = "detail ".repeat(20_000);
    let answers: Vec<ArenaHardAnswer> = questions
        .iter()
        .take(4)
        .map(|q| {
            serde_json::from_value(eval_harness::outputs::arena_hard_answer(
                &q.uid, "wordy", &q.prompt, &long, 20_000,
            ))
            .unwrap()
        })
        .collect();
    let out = tempfile::tempdir().unwrap();
    let mut pool = length_pool();
    let mut judge = PairwiseJudge::Rm {
        pool: &mut pool,
        rm: 0,
        name: "length".into(),
    };
    let report = judge_arena_hard(&mut judge, &answers, &arena, out.path(), &mut |_| {}).unwrap();
    assert_eq!((report.games, report.games_with_verdict), (8, 8));
    assert!(report.scores["wordy"].score > 50.0, "{report:?}");
    let written: Vec<arena_hard::Judgment> =
        atomic_write::read_jsonl(&out.path().join("model_judgment/rm-length/wordy.jsonl")).unwrap();
    assert_eq!(written.len(), 4);

    let mut unknown = answers[0].clone();
    unknown.uid = "no-such-question".into();
    let err = judge_arena_hard(&mut judge, &[unknown], &arena, out.path(), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("no-such-question"), "{err}");
}
