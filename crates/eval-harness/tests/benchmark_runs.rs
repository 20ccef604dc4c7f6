//! Benchmark runs end to end (benchmark::BenchmarkRun) on the real benchmark files, with the
//! tiny fixture decoder answering (its answers are noise; what is checked is the pipeline:
//! which questions are answered, the files written in the official layouts, the stages
//! reported, and the judge's verdicts reaching the metrics).

use std::cell::RefCell;
use std::path::Path;

use burn::prelude::Device;
use eval_harness::Progress;
use eval_harness::benchmark::{BenchmarkRun, ChatReport, MmluScoring};
use eval_harness::judge::Judge;
use eval_harness::outputs::MtBenchAnswer;
use eval_harness::run::LanguageModel;
use lm::{CausalLm, Tokenizer, WeightDType, load_causal_lm, load_tokenizer};

use crate::asset;

/// The tiny decoder (a 64-token context), its tokenizer and the CPU.
fn tiny() -> (CausalLm, Tokenizer, Device, usize) {
    let path = test_support::tiny_decoder();
    let device = Device::default();
    let (config, model) = load_causal_lm(&path, &device, WeightDType::F32).unwrap();
    (
        model,
        load_tokenizer(&path).unwrap(),
        device,
        config.max_positions,
    )
}

/// A run of the tiny decoder (batches of 2, answers of ≤ 4 tokens) writing into `out`.
fn tiny_run<'a>(
    (model, tokenizer, device, max_length): &'a (CausalLm, Tokenizer, Device, usize),
    out: &Path,
) -> BenchmarkRun<'a> {
    BenchmarkRun {
        lm: LanguageModel {
            model,
            tokenizer,
            device,
            max_length: *max_length,
        },
        model_name: "tiny".into(),
        batch_size: 2,
        max_new_tokens: 4,
        out: out.to_path_buf(),
    }
}

/// A judge that rates every answer 7 and remembers the prompts it was shown.
struct SevenJudge {
    prompts: RefCell<Vec<String>>,
}

impl Judge for SevenJudge {
    fn name(&self) -> &str {
        "seven"
    }
    fn judge(&self, _system: &str, user: &str) -> eval_harness::Result<String> {
        self.prompts.borrow_mut().push(user.to_string());
        Ok("The answer is fine. Rating: [[7]]".into())
    }
}

#[test]
fn mt_bench_answers_both_turns_then_grades_each() {
    let model = tiny();
    let out = tempfile::tempdir().unwrap();
    let run = tiny_run(&model, &out.path().join("run"));
    let judge = SevenJudge {
        prompts: RefCell::new(Vec::new()),
    };
    let mut stages: Vec<String> = Vec::new();
    let report = run
        .mt_bench(
            &asset("data/mt_bench"),
            Some(&judge),
            Some(2),
            &mut |p: Progress<'_>| {
                if stages.last().is_none_or(|s| s != p.stage) {
                    stages.push(p.stage.to_string());
                }
            },
        )
        .unwrap();
    assert_eq!(
        stages,
        ["mt-bench turn 1", "mt-bench turn 2", "mt-bench judging"]
    );
    let ChatReport::MtBench(metrics) = report else {
        panic!("expected MT-Bench metrics, got {report:?}");
    };
    assert_eq!((metrics.n, metrics.n_failed, metrics.average), (4, 0, 7.0));
    assert_eq!(
        judge.prompts.borrow().len(),
        4,
        "two turns of two questions"
    );
    let answers: Vec<MtBenchAnswer> =
        atomic_write::read_jsonl(&out.path().join("run/model_answer/tiny.jsonl")).unwrap();
    assert_eq!(answers.len(), 2);
    assert!(answers.iter().all(|a| a.choices[0].turns.len() == 2));
    let judgments: Vec<serde_json::Value> =
        atomic_write::read_jsonl(&out.path().join("run/model_judgment/seven_single.jsonl"))
            .unwrap();
    assert_eq!(judgments.len(), 4);
}

#[test]
fn gsm8k_sets_the_shots_aside_and_answers_the_limit() {
    let model = tiny();
    let out = tempfile::tempdir().unwrap();
    let run = tiny_run(&model, out.path());
    let file = asset("data/gsm8k/test.jsonl");
    let metrics = run.gsm8k(&file, 2, Some(3), &mut |_| {}).unwrap();
    assert_eq!(metrics.n, 3);
    let predictions: Vec<serde_json::Value> =
        atomic_write::read_jsonl(&out.path().join("predictions.jsonl")).unwrap();
    let docs = eval_harness::data::read_gsm8k(&file).unwrap();
    let answers: Vec<&str> = predictions
        .iter()
        .map(|p| p["answer"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = docs[2..5].iter().map(|d| d.answer.as_str()).collect();
    assert_eq!(
        answers, expected,
        "problems 3–5: the first two are the shots"
    );
}

/// Five-shot MMLU prompts are far longer than the tiny decoder's 64-token context: they are
/// cut from the left as lm-eval cuts them, and every subject is answered.
#[test]
fn mmlu_contexts_longer_than_the_model_are_cut_from_the_left() {
    let model = tiny();
    assert_eq!(model.3, 64);
    let out = tempfile::tempdir().unwrap();
    let run = tiny_run(&model, out.path());
    let metrics = run
        .mmlu(
            &asset("data/mmlu/mmlu.jsonl"),
            5,
            Some(1),
            MmluScoring::LogLikelihood,
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(metrics.n, 57, "one question of each subject");
}
