//! MT-Bench judging end to end on the real files (questions, FastChat judge prompts, GPT-4
//! reference answers): the prompt FastChat would pick for each question and turn, with the
//! references filled in for math/reasoning/coding, and the ratings parsed from the replies;
//! then a real local judge (SmolLM2-135M from its GGUF) replies in-process.

use std::cell::RefCell;

use burn::prelude::Device;
use eval_harness::data::{read_judge_prompts, read_mt_bench_questions};
use eval_harness::judge::{Judge, LocalJudge, grade_mt_bench};
use eval_harness::outputs::{MtBenchAnswer, read_mt_bench_answers};
use lm::{Gguf, Tokenizer, WeightDType, load_causal_lm};

use crate::asset;

/// Replies with a fixed rating and remembers the prompts it was shown.
struct Recorder {
    seen: RefCell<Vec<(String, String)>>,
}

impl Judge for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }
    fn judge(&self, system_prompt: &str, user_prompt: &str) -> eval_harness::Result<String> {
        self.seen
            .borrow_mut()
            .push((system_prompt.into(), user_prompt.into()));
        Ok("The answer is fine. Rating: [[7]]".into())
    }
}

#[test]
fn grading_picks_fastchat_prompts_and_references() {
    let dir = asset("data/mt_bench");
    let questions = read_mt_bench_questions(&dir.join("question.jsonl")).unwrap();
    let prompts = read_judge_prompts(&dir.join("judge_prompts.jsonl")).unwrap();
    let references = read_mt_bench_answers(&dir.join("reference_answer/gpt-4.jsonl")).unwrap();
    // One writing question and one math question.
    let writing = questions.iter().find(|q| q.category == "writing").unwrap();
    let math = questions.iter().find(|q| q.category == "math").unwrap();
    let answers: Vec<MtBenchAnswer> = [writing, math]
        .iter()
        .map(|q| MtBenchAnswer::new(q.question_id, "m", vec!["first".into(), "second".into()]))
        .collect();
    let judge = Recorder {
        seen: RefCell::new(Vec::new()),
    };
    let records = grade_mt_bench(
        &judge,
        &prompts,
        &questions,
        &answers,
        &references,
        &mut |_| {},
    )
    .unwrap();
    let names: Vec<&str> = records.iter().map(|r| r.judge.1.as_str()).collect();
    assert_eq!(
        names,
        [
            "single-v1",
            "single-v1-multi-turn",
            "single-math-v1",
            "single-math-v1-multi-turn"
        ]
    );
    assert!(records.iter().all(|r| r.score == 7.0));
    let seen = judge.seen.borrow();
    let reference = &references
        .iter()
        .find(|r| r.question_id == math.question_id)
        .unwrap()
        .choices[0]
        .turns[0];
    assert!(
        seen[2].1.contains(reference.as_str()),
        "the math prompt carries the reference"
    );
    assert!(seen[0].1.contains(&writing.turns[0]) && seen[0].1.contains("first"));
    assert!(seen[3].1.contains("second") && seen[3].1.contains(&math.turns[1]));
}

#[test]
fn a_local_model_judges_in_process() {
    let path = asset("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let device = Device::default();
    let (_, model) = load_causal_lm(&path, &device, WeightDType::F32).unwrap();
    let tokenizer = Tokenizer::from_gguf(&Gguf::open(&path).unwrap()).unwrap();
    let judge = LocalJudge::new("smollm2", model, tokenizer, device, 12);
    let reply = judge
        .judge(
            "You are a helpful assistant.",
            "Is Paris the capital of France? Answer Yes or No.",
        )
        .unwrap();
    assert!(!reply.trim().is_empty());
    // Greedy: the same prompt gives the same reply.
    let again = judge
        .judge(
            "You are a helpful assistant.",
            "Is Paris the capital of France? Answer Yes or No.",
        )
        .unwrap();
    assert_eq!(reply, again);

    // Its first-token distribution: sorted, a proper (partial) distribution, and led by the
    // token greedy decoding chose.
    let top = judge
        .first_token_logprobs(
            "You are a helpful assistant.",
            "Is Paris the capital of France? Answer Yes or No.",
            5,
        )
        .unwrap();
    assert_eq!(top.len(), 5);
    assert!(top.windows(2).all(|w| w[0].logprob >= w[1].logprob));
    let mass: f64 = top.iter().map(|t| t.logprob.exp()).sum();
    assert!(mass > 0.0 && mass <= 1.0 + 1e-6, "{mass}");
    assert!(reply.starts_with(&top[0].token), "{reply:?} vs {top:?}");

    // AlpacaEval 2's annotator runs through it on a real instruction and the real template.
    let template = std::fs::read_to_string(asset("data/alpaca_eval/alpaca_eval_clf.txt")).unwrap();
    let items = eval_harness::data::read_alpaca_eval(&asset(
        "data/alpaca_eval/alpaca_eval_gpt4_baseline.json",
    ))
    .unwrap();
    // The shortest baseline output keeps the forward pass small.
    let item = items.iter().min_by_key(|i| i.output.len()).unwrap();
    let pair = eval_harness::judge::alpaca_eval::OutputPair {
        instruction: &item.instruction,
        baseline: &item.output,
        model: "I do not know.",
    };
    let records = eval_harness::judge::alpaca_eval::annotate(
        &judge,
        &template,
        &[pair],
        ("gpt4_1106_preview", "terse"),
        &mut |_| {},
    )
    .unwrap();
    let record = &records[0];
    assert_eq!(record.raw_completion.len(), 5);
    if let Some(p) = record.preference {
        assert!((1.0..=2.0).contains(&p), "{record:?}");
    }
}
