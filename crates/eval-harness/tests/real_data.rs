//! The benchmark files `cargo xtask assets` fetches load with the expected sizes. Not
//! ignored: CI fetches the assets first; locally a missing file fails naming the command.

use eval_harness::{data, judge, mmlu};

use crate::asset;

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

#[test]
fn alpaca_eval_judge_template_fills_into_a_system_and_a_user_turn() {
    let template = std::fs::read_to_string(asset("data/alpaca_eval/alpaca_eval_clf.txt")).unwrap();
    let prompt = judge::alpaca_eval::fill_prompt(
        &template,
        &[
            ("instruction", "Name a prime."),
            ("output_1", "2"),
            ("output_2", "{\"json\": 4}"),
        ],
    )
    .unwrap();
    let messages = judge::alpaca_eval::prompt_to_messages(&prompt).unwrap();
    let roles: Vec<&str> = messages.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["system", "user"]);
    let user = &messages[1].content;
    // Both outputs land in the user turn under the identifiers m and M, in that order.
    let (first, second) = (
        user.find("\"\"\"2\"\"\"").unwrap(),
        user.find("{\"json\": 4}").unwrap(),
    );
    assert!(first < second, "{user}");
    assert!(
        user.contains("Name a prime.") && user.contains("m or M"),
        "{user}"
    );
    assert!(!user.contains("{output_1}") && !user.contains("{instruction}"));
}

#[test]
fn arena_hard_prompts_read_from_the_shipped_python_constants() {
    let prompts = judge::arena_hard::ArenaHardPrompts::from_python_module(&asset(
        "data/arena-hard-v2.0/judge_prompts.py",
    ))
    .unwrap();
    assert_eq!(prompts.baseline("hard_prompt"), Some("o3-mini-2025-01-31"));
    assert_eq!(
        prompts.baseline("creative_writing"),
        Some("gemini-2.0-flash-001")
    );
    for category in ["hard_prompt", "creative_writing"] {
        let system = prompts.system_prompt(category);
        for label in ["[[A>>B]]", "[[A>B]]", "[[A=B]]", "[[B>A]]", "[[B>>A]]"] {
            assert!(system.contains(label), "{category}: {label}");
        }
    }
    // Only the hard-prompt judge is asked to write its own answer first.
    assert!(
        prompts
            .system_prompt("hard_prompt")
            .contains("generating your own answer")
    );
    assert!(
        !prompts
            .system_prompt("creative_writing")
            .contains("generating your own answer")
    );
    let user = prompts.user_prompt("Q?", "first", "second").unwrap();
    assert!(user.starts_with("<|User Prompt|>\nQ?"), "{user}");
    assert!(user.find("first").unwrap() < user.find("second").unwrap());
    // Both baselines answered every question of their category.
    let questions =
        data::read_arena_hard_questions(&asset("data/arena-hard-v2.0/question.jsonl")).unwrap();
    for category in ["hard_prompt", "creative_writing"] {
        let baseline = prompts.baseline(category).unwrap();
        let answers = data::read_arena_hard_answers(&asset(&format!(
            "data/arena-hard-v2.0/model_answer/{baseline}.jsonl"
        )))
        .unwrap();
        let answered: std::collections::HashSet<&str> =
            answers.iter().map(|a| a.uid.as_str()).collect();
        let missing = questions
            .iter()
            .filter(|q| q.category == category && !answered.contains(q.uid.as_str()))
            .count();
        assert_eq!(missing, 0, "{baseline} misses {category} questions");
    }
}
