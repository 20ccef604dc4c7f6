//! The benchmark files `cargo xtask assets` fetches load with the expected sizes. Not
//! ignored: CI fetches the assets first; locally a missing file fails naming the command.

use std::path::PathBuf;

use eval_harness::{data, judge, mmlu};

fn asset(relative: &str) -> PathBuf {
    let root = std::env::var_os("RM_ROUTING_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets")));
    let path = root.join(relative);
    assert!(
        path.exists(),
        "missing asset {}: run `cargo xtask assets` first",
        path.display()
    );
    path
}

#[test]
fn benchmark_files_load() {
    let gsm8k = data::read_gsm8k(&asset("data/gsm8k/test.jsonl")).unwrap();
    assert_eq!(gsm8k.len(), 1319);
    assert!(gsm8k.iter().all(|d| d.answer.contains("#### ")));

    let mmlu = mmlu::read_mmlu_jsonl(&asset("data/mmlu/mmlu.jsonl")).unwrap();
    assert_eq!(mmlu.len(), 14_042);
    let mut subjects: Vec<&str> = mmlu.iter().map(|d| d.subject.as_str()).collect();
    subjects.sort_unstable();
    subjects.dedup();
    assert_eq!(subjects.len(), 57);

    let alpaca =
        data::read_alpaca_eval(&asset("data/alpaca_eval/alpaca_eval_gpt4_baseline.json")).unwrap();
    assert_eq!(alpaca.len(), 805);
    assert!(alpaca.iter().all(|a| a.generator == "gpt4_1106_preview"));

    let arena =
        data::read_arena_hard_questions(&asset("data/arena-hard-v2.0/question.jsonl")).unwrap();
    assert_eq!(arena.len(), 750);
    let answers = data::read_arena_hard_answers(&asset(
        "data/arena-hard-v2.0/model_answer/o3-mini-2025-01-31.jsonl",
    ))
    .unwrap();
    assert_eq!(answers.len(), 750);
    assert!(
        answers
            .iter()
            .all(|a| a.answer().is_some_and(|t| !t.is_empty()))
    );

    let mt = data::read_mt_bench_questions(&asset("data/mt_bench/question.jsonl")).unwrap();
    assert_eq!(mt.len(), 80);
    assert!(mt.iter().all(|q| q.turns.len() == 2));
    let prompts = data::read_judge_prompts(&asset("data/mt_bench/judge_prompts.jsonl")).unwrap();
    assert!(
        prompts
            .iter()
            .any(|p| p.name == "single-v1" && p.output_format == "[[rating]]")
    );
    // Every FastChat template fills with the fields our MT-Bench grading supplies.
    let fields: Vec<(&str, &str)> = [
        "question",
        "answer",
        "answer_a",
        "answer_b",
        "question_1",
        "question_2",
        "answer_1",
        "answer_2",
        "answer_a_1",
        "answer_a_2",
        "answer_b_1",
        "answer_b_2",
        "ref_answer_1",
        "ref_answer_2",
    ]
    .iter()
    .map(|f| (*f, "x"))
    .collect();
    for prompt in &prompts {
        judge::fill_template(&prompt.prompt_template, &fields)
            .unwrap_or_else(|err| panic!("{}: {err}", prompt.name));
    }
}
