//! Pool services: the cache (one backend call per distinct item), accounting, errors that
//! name the RM and item and leave the cache untouched, configuration files, and the K×
//! baselines.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rm_pool::{Error, PoolConfig, RewardModel, RmInfo, RmPool, ScoreItem, Verdict};

use crate::fixture;

/// Scores a response by its length times `scale` (NaN for the response "nan"), counting
/// backend calls and items.
struct LengthRm {
    name: String,
    scale: f32,
    calls: Arc<AtomicUsize>,
    items: Arc<AtomicUsize>,
}

impl LengthRm {
    fn boxed(name: &str, scale: f32) -> (Box<dyn RewardModel>, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let items = Arc::new(AtomicUsize::new(0));
        let rm = Self {
            name: name.into(),
            scale,
            calls: calls.clone(),
            items: items.clone(),
        };
        (Box::new(rm), calls, items)
    }
}

impl RewardModel for LengthRm {
    fn name(&self) -> &str {
        &self.name
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
        self.items.fetch_add(items.len(), Ordering::SeqCst);
        Ok(items
            .iter()
            .map(|i| {
                if i.response == "nan" {
                    f32::NAN
                } else {
                    i.response.len() as f32 * self.scale
                }
            })
            .collect())
    }
}

fn items(responses: &[&str]) -> Vec<ScoreItem> {
    responses
        .iter()
        .map(|r| ScoreItem::single_turn("question", *r))
        .collect()
}

#[test]
fn scoring_the_same_items_twice_makes_one_call() {
    let (rm, calls, scored) = LengthRm::boxed("length", 1.0);
    let mut pool = RmPool::new(vec![rm]).unwrap();
    // Duplicates inside a batch are scored once too.
    let batch = items(&["a", "bb", "a", "ccc"]);
    assert_eq!(pool.score(0, &batch).unwrap(), [1.0, 2.0, 1.0, 3.0]);
    assert_eq!(pool.score(0, &batch).unwrap(), [1.0, 2.0, 1.0, 3.0]);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(scored.load(Ordering::SeqCst), 3);
    // A different conversation is a different item.
    let other = vec![ScoreItem::single_turn("another question", "a")];
    pool.score(0, &other).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let stats = pool.stats(0);
    assert_eq!((stats.calls, stats.items, stats.cache_hits), (2, 4, 5));
    assert_eq!(pool.moments(0).n, 4);
}

#[test]
fn saved_scores_are_reused_and_another_rms_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("length.jsonl");
    let batch = items(&["a", "bb", "ccc"]);
    let (rm, _, _) = LengthRm::boxed("length", 1.0);
    let mut pool = RmPool::new(vec![rm]).unwrap();
    let scores = pool.score(0, &batch).unwrap();
    pool.save_scores(0, &file).unwrap();

    let (rm, calls, _) = LengthRm::boxed("length", 1.0);
    let mut fresh = RmPool::new(vec![rm]).unwrap();
    assert_eq!(fresh.load_scores(0, &file).unwrap(), 3);
    assert_eq!(fresh.score(0, &batch).unwrap(), scores);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "saved scores were scored again"
    );
    assert_eq!(fresh.moments(0).n, 3);
    // One more item: only it is scored.
    fresh.score(0, &items(&["dddd"])).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        fresh
            .load_scores(0, &dir.path().join("none.jsonl"))
            .unwrap(),
        0
    );

    let (rm, _, _) = LengthRm::boxed("longer", 1.0);
    let mut other = RmPool::new(vec![rm]).unwrap();
    let err = other.load_scores(0, &file).unwrap_err().to_string();
    assert!(
        err.contains("length.jsonl:1") && err.contains("`length`"),
        "{err}"
    );
}

#[test]
fn kept_scores_are_appended_as_computed_and_survive_a_torn_line() {
    let dir = tempfile::tempdir().unwrap();
    let (rm, _, _) = LengthRm::boxed("length", 1.0);
    let mut pool = RmPool::new(vec![rm]).unwrap();
    assert_eq!(pool.keep_scores_in(dir.path()).unwrap(), vec![0]);
    let file = rm_pool::score_file_path(dir.path(), "length");
    let lines = |file: &std::path::Path| std::fs::read_to_string(file).unwrap().lines().count();
    assert_eq!(lines(&file), 1, "the header alone");
    let scores = pool.score(0, &items(&["a", "bb"])).unwrap();
    assert_eq!(lines(&file), 3, "written before score returned");
    pool.score(0, &items(&["a", "ccc"])).unwrap();
    assert_eq!(lines(&file), 4, "only the new item is appended");

    // An interrupted append leaves half a line: it is dropped and the file repaired.
    let mut text = std::fs::read_to_string(&file).unwrap();
    text += "{\"item\":\"00ff";
    std::fs::write(&file, text).unwrap();
    let (rm, calls, _) = LengthRm::boxed("length", 1.0);
    let mut resumed = RmPool::new(vec![rm]).unwrap();
    assert_eq!(resumed.keep_scores_in(dir.path()).unwrap(), vec![3]);
    assert_eq!(lines(&file), 4);
    assert_eq!(resumed.score(0, &items(&["a", "bb"])).unwrap(), scores);
    resumed.score(0, &items(&["dddd"])).unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "only the missing item was scored"
    );
    assert_eq!(lines(&file), 5);

    // A bad line elsewhere is an error naming the line.
    std::fs::write(
        &file,
        std::fs::read_to_string(&file)
            .unwrap()
            .replacen("\"score\"", "\"scor\"", 1),
    )
    .unwrap();
    let (rm, _, _) = LengthRm::boxed("length", 1.0);
    let err = RmPool::new(vec![rm])
        .unwrap()
        .keep_scores_in(dir.path())
        .unwrap_err();
    assert!(err.to_string().contains("length.jsonl:2"), "{err}");
}

#[test]
fn inputs_an_rm_cannot_score_are_refused_before_any_call() {
    use rm_pool::backends::verifier::{VerifierRm, VerifierTask};
    let (length, calls, _) = LengthRm::boxed("length", 1.0);
    let verifier = VerifierRm::new("gsm8k", VerifierTask::Gsm8k, None).unwrap();
    let pool = RmPool::new(vec![length, Box::new(verifier)]).unwrap();
    let mut batch = vec![ScoreItem::single_turn("1 + 1?", "2").with_reference("#### 2")];
    assert!(pool.check_items(&batch).is_ok());
    batch.push(ScoreItem::single_turn("2 + 2?", "4"));
    let err = pool.check_items(&batch).unwrap_err().to_string();
    assert!(
        err.contains("gsm8k") && err.contains("item 1") && err.contains("reference"),
        "{err}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn a_bounded_cache_empties_when_full_and_still_answers_every_item() {
    let (rm, calls, scored) = LengthRm::boxed("length", 1.0);
    let mut pool = RmPool::new(vec![rm]).unwrap().with_cache_capacity(Some(3));
    assert_eq!(pool.score(0, &items(&["a", "bb"])).unwrap(), [1.0, 2.0]);
    // "a" is a hit, "ccc" and "dddd" would make 4 > 3 entries: the cache is emptied, yet
    // the hit's score still comes back.
    assert_eq!(
        pool.score(0, &items(&["a", "ccc", "dddd"])).unwrap(),
        [1.0, 3.0, 4.0]
    );
    assert_eq!(scored.load(Ordering::SeqCst), 4);
    // "a" was dropped with the old entries; "ccc" was kept.
    assert_eq!(pool.score(0, &items(&["ccc", "a"])).unwrap(), [3.0, 1.0]);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(scored.load(Ordering::SeqCst), 5);
}

#[test]
fn split_gives_one_pool_per_rm_with_its_cache_and_accounting() {
    let (first, first_calls, _) = LengthRm::boxed("first", 1.0);
    let (second, _, _) = LengthRm::boxed("second", 10.0);
    let mut pool = RmPool::new(vec![first, second]).unwrap();
    pool.score(0, &items(&["a"])).unwrap();
    let mut parts = pool.split();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].names(), ["first"]);
    assert_eq!(parts[1].names(), ["second"]);
    assert_eq!(parts[1].score(0, &items(&["bb"])).unwrap(), [20.0]);
    // The first RM's cache came along: no new call.
    assert_eq!(parts[0].score(0, &items(&["a"])).unwrap(), [1.0]);
    assert_eq!(first_calls.load(Ordering::SeqCst), 1);
    assert_eq!(parts[0].stats(0).cache_hits, 1);
}

#[test]
fn a_nan_score_names_the_rm_and_item_and_caches_nothing() {
    let (rm, calls, _) = LengthRm::boxed("length", 1.0);
    let mut pool = RmPool::new(vec![rm]).unwrap();
    let err = pool.score(0, &items(&["a", "a", "nan"])).unwrap_err();
    match &err {
        Error::NonFinite { rm, item, .. } => assert_eq!((rm.as_str(), *item), ("length", 2)),
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("length"));
    assert_eq!(pool.stats(0).failures, 1);
    // Nothing was cached: the good item is scored again.
    pool.score(0, &items(&["a"])).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn names_must_be_unique() {
    let (a, _, _) = LengthRm::boxed("same", 1.0);
    let (b, _, _) = LengthRm::boxed("same", 2.0);
    assert!(RmPool::new(vec![a, b]).is_err());
}

#[test]
fn ensemble_standardises_each_rm_and_majority_votes() {
    let (short, _, _) = LengthRm::boxed("short-is-better", -1.0);
    let (long, _, _) = LengthRm::boxed("long-is-better", 100.0);
    let (long2, _, _) = LengthRm::boxed("long-is-better-too", 1.0);
    let mut pool = RmPool::new(vec![short, long, long2]).unwrap();
    let batch = items(&["a", "bbb", "cccccc"]);
    let (scores, members) = pool.ensemble_mean(&batch).unwrap();
    assert_eq!(members, 3);
    // Two of three RMs prefer long: the standardised mean ranks by length despite the
    // ×100 scale of one member.
    assert!(scores[0] < scores[1] && scores[1] < scores[2], "{scores:?}");
    let pairs = vec![
        (batch[0].clone(), batch[2].clone()),
        (batch[1].clone(), batch[1].clone()),
    ];
    assert_eq!(
        pool.majority_vote(&pairs, 0.0).unwrap(),
        [Verdict::Second, Verdict::Tie]
    );
    assert_eq!(Verdict::from_scores(1.0, 1.05, 0.1), Verdict::Tie);
    assert_eq!(Verdict::from_scores(1.0, 1.5, 0.1), Verdict::Second);
}

#[test]
fn the_example_pool_file_parses_and_bad_fields_are_named() {
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/rm-pool.toml");
    let config = PoolConfig::read(&example).unwrap();
    assert!(config.rms.len() >= 3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pool.toml");
    std::fs::write(
        &path,
        "[[rm]]\nname = \"v\"\nkind = \"verifier\"\ntask = \"gsm8k\"\ntemprature = 0.1\n",
    )
    .unwrap();
    let err = PoolConfig::read(&path).unwrap_err().to_string();
    assert!(
        err.contains("pool.toml") && err.contains("temprature"),
        "{err}"
    );
    std::fs::write(&path, "[[rm]]\nname = \"v\"\nkind = \"oracle\"\n").unwrap();
    let err = PoolConfig::read(&path).unwrap_err().to_string();
    assert!(err.contains("oracle"), "{err}");
}

/// A pool file with the tiny fixtures builds a working pool (relative paths from the file).
#[test]
fn a_pool_file_builds_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pool.toml");
    let fixtures = fixture("");
    std::fs::write(
        &path,
        format!(
            r#"
[[rm]]
name = "tiny-rm"
kind = "classifier"
path = "{fixtures}/tiny-rm"

[[rm]]
name = "tiny-judge"
kind = "llm-judge"
model = "{fixtures}/tiny-judge"
template = "Question: {{{{ prompt }}}}\nResponse: {{{{ response }}}}\nIs the response correct? Answer Yes or No."
scoring = {{ verdict = {{ positive = "Yes", negative = "No" }} }}

[[rm]]
name = "gsm8k"
kind = "verifier"
task = "gsm8k"
"#,
            fixtures = fixtures.display()
        ),
    )
    .unwrap();
    let mut pool = RmPool::from_config_file(&path).unwrap();
    assert_eq!(pool.names(), ["tiny-rm", "tiny-judge", "gsm8k"]);
    let item = ScoreItem::single_turn("What is two plus two?", "The answer is 4.\n#### 4")
        .with_reference("#### 4");
    for rm in 0..pool.len() {
        let scores = pool.score(rm, std::slice::from_ref(&item)).unwrap();
        assert!(scores[0].is_finite());
    }
    assert_eq!(pool.score(2, &[item]).unwrap(), [1.0]);
}

#[test]
fn pairs_files_read_both_trl_layouts_and_name_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pairs.jsonl");
    std::fs::write(
        &path,
        concat!(
            r#"{"prompt": "2+2?", "chosen": "4", "rejected": "5", "category": "math"}"#,
            "\n\n",
            r#"{"prompt": [{"role": "user", "content": "Hi"}], "chosen": [{"role": "assistant", "content": "Hello!"}], "rejected": [{"role": "assistant", "content": "Go away."}]}"#,
            "\n",
        ),
    )
    .unwrap();
    let pairs = rm_pool::read_pairs(&path).unwrap();
    assert_eq!(pairs.len(), 2);
    assert_eq!(pairs[0].category.as_deref(), Some("math"));
    assert_eq!(
        (pairs[1].chosen.as_str(), pairs[1].rejected.as_str()),
        ("Hello!", "Go away.")
    );
    std::fs::write(
        &path,
        concat!(
            r#"{"prompt": "a", "chosen": "b", "rejected": "c"}"#,
            "\n",
            r#"{"prompt": "a", "chosen": [{"role": "user", "content": "b"}], "rejected": "c"}"#,
            "\n"
        ),
    )
    .unwrap();
    let err = rm_pool::read_pairs(&path).unwrap_err().to_string();
    assert!(
        err.contains("pairs.jsonl:2") && err.contains("chosen"),
        "{err}"
    );
    std::fs::write(&path, "{\"prompt\": \"a\", \"chosen\": \"b\"}\n").unwrap();
    let err = rm_pool::read_pairs(&path).unwrap_err().to_string();
    assert!(err.contains(":1") && err.contains("rejected"), "{err}");
}

/// The programmatic noisy verifier: deterministic per item whatever the batch, and as
/// accurate per category as configured (over 400 items: within 0.1 of 0.9 and of 0.5).
#[test]
fn noisy_verifiers_are_seeded_and_as_accurate_as_configured() {
    use rm_pool::backends::programmatic::{NoisyVerifierConfig, NoisyVerifierRm};
    use rm_pool::backends::verifier::VerifierTask;
    let config = NoisyVerifierConfig {
        task: VerifierTask::Exact,
        pattern: None,
        accuracy: [("math".to_string(), 0.9)].into(),
        default_accuracy: 0.5,
        seed: 11,
    };
    let mut rm = NoisyVerifierRm::new("noisy", config.clone()).unwrap();
    let items: Vec<ScoreItem> = (0..400)
        .map(|i| {
            let category = if i % 2 == 0 { "math" } else { "chat" };
            ScoreItem::single_turn(format!("question {i}"), "yes")
                .with_reference("yes")
                .with_category(category)
        })
        .collect();
    let scores = rm.score(&items).unwrap();
    let rate = |parity: usize| {
        let hits: f32 = scores.iter().skip(parity).step_by(2).sum();
        hits / 200.0
    };
    assert!((rate(0) - 0.9).abs() < 0.1, "math accuracy {}", rate(0));
    assert!((rate(1) - 0.5).abs() < 0.1, "chat accuracy {}", rate(1));
    let mut reversed = items.clone();
    reversed.reverse();
    let mut again = NoisyVerifierRm::new("noisy", config.clone()).unwrap();
    let mut back = again.score(&reversed).unwrap();
    back.reverse();
    assert_eq!(
        back, scores,
        "the same item gets the same score in any order"
    );
    let bad = NoisyVerifierConfig {
        default_accuracy: 1.5,
        ..config
    };
    assert!(NoisyVerifierRm::new("noisy", bad).is_err());
}
