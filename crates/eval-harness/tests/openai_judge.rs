//! The OpenAI-compatible judge against a real HTTP server started here on 127.0.0.1: good
//! replies, retried 5xx, timeouts, malformed JSON and a server that is gone.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use eval_harness::data::JudgePrompt;
use eval_harness::judge::{
    self, Judge, MtBenchTurn, OpenAiJudge, OpenAiJudgeConfig, grade_mt_bench_turn,
};
use tiny_http::{Header, Response, Server};

/// What the server does with the n-th request (0-based).
type Script = dyn Fn(usize, &str) -> (u16, String, Duration) + Send + Sync;

/// Starts a server answering by `script`; returns its base URL and the request counter.
fn serve(script: Box<Script>) -> (String, Arc<AtomicUsize>) {
    let server = Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}", server.server_addr().to_ip().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    thread::spawn(move || {
        for mut request in server.incoming_requests() {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let mut body = String::new();
            request.as_reader().read_to_string(&mut body).unwrap();
            assert_eq!(request.url(), "/v1/chat/completions");
            let (status, reply, delay) = script(n, &body);
            thread::sleep(delay);
            let header = Header::from_bytes("Content-Type", "application/json").unwrap();
            let _ = request.respond(
                Response::from_string(reply)
                    .with_status_code(status)
                    .with_header(header),
            );
        }
    });
    (url, count)
}

fn completion(content: &str) -> String {
    serde_json::json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]})
        .to_string()
}

fn judge(url: &str, timeout_s: f64) -> OpenAiJudge {
    OpenAiJudge::new(OpenAiJudgeConfig {
        base_url: url.into(),
        model: "judge-model".into(),
        api_key_env: None,
        temperature: 0.0,
        max_tokens: 64,
        retry: json_http::RetryPolicy {
            timeout_s,
            max_retries: 2,
            backoff_s: 0.01,
        },
    })
    .unwrap()
}

#[test]
fn grades_an_mt_bench_turn_and_sends_the_filled_prompt() {
    let (url, count) = serve(Box::new(|_, body| {
        let request: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(request["model"], "judge-model");
        assert_eq!(request["temperature"], 0.0);
        let user = request["messages"][1]["content"].as_str().unwrap();
        assert!(
            user.contains("Q: What is 2+2?") && user.contains("A: 4"),
            "{user}"
        );
        (
            200,
            completion("Correct and concise. Rating: [[9]]"),
            Duration::ZERO,
        )
    }));
    let prompt = JudgePrompt {
        name: "single-v1".into(),
        kind: "single".into(),
        system_prompt: "You are a helpful assistant.".into(),
        prompt_template: "Q: {question}\nA: {answer}".into(),
        output_format: "[[rating]]".into(),
    };
    let turn = MtBenchTurn {
        turn: 1,
        questions: ["What is 2+2?", ""],
        answers: ["4", ""],
        references: None,
    };
    let judgment = grade_mt_bench_turn(&judge(&url, 5.0), &prompt, &turn).unwrap();
    assert_eq!(judgment.score, Some(9.0));
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[test]
fn retries_server_errors_then_succeeds() {
    let (url, count) = serve(Box::new(|n, _| {
        if n < 2 {
            (503, "overloaded".into(), Duration::ZERO)
        } else {
            (200, completion("[[7]]"), Duration::ZERO)
        }
    }));
    assert_eq!(judge(&url, 5.0).judge("s", "u").unwrap(), "[[7]]");
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[test]
fn gives_up_after_bounded_retries_and_names_why() {
    let (url, count) = serve(Box::new(|_, _| (500, "boom".into(), Duration::ZERO)));
    let err = judge(&url, 5.0).judge("s", "u").unwrap_err().to_string();
    assert!(
        err.contains("gave up after 3 attempts") && err.contains("HTTP 500"),
        "{err}"
    );
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[test]
fn timeouts_are_retried_and_reported() {
    let (url, _) = serve(Box::new(|_, _| {
        (200, completion("late"), Duration::from_millis(800))
    }));
    let err = judge(&url, 0.2).judge("s", "u").unwrap_err().to_string();
    assert!(err.contains("gave up"), "{err}");
}

#[test]
fn malformed_json_and_client_errors_fail_at_once() {
    let (url, count) = serve(Box::new(|n, _| {
        if n == 0 {
            (200, "{not json".into(), Duration::ZERO)
        } else {
            (400, "bad request".into(), Duration::ZERO)
        }
    }));
    let judge = judge(&url, 5.0);
    let err = judge.judge("s", "u").unwrap_err().to_string();
    assert!(err.contains("malformed response"), "{err}");
    let err = judge.judge("s", "u").unwrap_err().to_string();
    assert!(err.contains("HTTP 400"), "{err}");
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[test]
fn an_unreachable_server_is_an_error_not_a_hang() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = judge(&format!("http://127.0.0.1:{port}"), 1.0)
        .judge("s", "u")
        .unwrap_err()
        .to_string();
    assert!(err.contains("gave up after 3 attempts"), "{err}");
}

/// A chat completion holding only first-token log-probabilities.
fn logprob_completion(top: &[(&str, f64)]) -> String {
    let top: Vec<serde_json::Value> = top
        .iter()
        .map(|(token, logprob)| serde_json::json!({"token": token, "logprob": logprob}))
        .collect();
    serde_json::json!({"choices": [{
        "index": 0,
        "message": {"role": "assistant", "content": top[0]["token"]},
        "logprobs": {"content": [{"token": top[0]["token"], "logprob": top[0]["logprob"], "top_logprobs": top}]},
    }]})
    .to_string()
}

#[test]
fn alpaca_eval_annotation_requests_logprobs_and_undoes_the_swap() {
    // The judge always gives the output shown first P = 0.8 ("m"), whichever it is.
    let (url, count) = serve(Box::new(|_, body| {
        let request: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(request["max_tokens"], 1);
        assert_eq!(request["logprobs"], true);
        assert_eq!(request["top_logprobs"], 5);
        assert_eq!(request["messages"][0]["role"], "system");
        assert_eq!(request["messages"][0]["content"], "Pick one.");
        (
            200,
            logprob_completion(&[("m", 0.8_f64.ln()), ("M", 0.2_f64.ln()), ("Both", -9.0)]),
            Duration::ZERO,
        )
    }));
    let template = "<|im_start|>system\nPick one.\n<|im_end|>\n<|im_start|>user\n\
                    Q: {instruction}\nm: {output_1}\nM: {output_2}\n<|im_end|>";
    // Instructions on both sides of alpaca_eval's swap decision.
    let instructions: Vec<String> = (0..12).map(|i| format!("instruction {i}")).collect();
    let swapped: Vec<bool> = instructions
        .iter()
        .map(|i| judge::alpaca_eval::is_switched(i))
        .collect();
    assert!(swapped.contains(&true) && swapped.contains(&false));
    let pairs: Vec<judge::alpaca_eval::OutputPair<'_>> = instructions
        .iter()
        .map(|instruction| judge::alpaca_eval::OutputPair {
            instruction,
            baseline: "baseline answer",
            model: "model answer",
        })
        .collect();
    let mut ticks = 0;
    let records = judge::alpaca_eval::annotate(
        &judge(&url, 5.0),
        template,
        &pairs,
        ("gpt4_1106_preview", "mine"),
        &mut |done| ticks = done,
    )
    .unwrap();
    assert_eq!((ticks, count.load(Ordering::SeqCst)), (12, 12));
    for (record, swapped) in records.iter().zip(swapped) {
        // Shown first = baseline → preference 2 − 0.8; shown first = model → 3 − 1.2.
        let expected = if swapped { 1.8 } else { 1.2 };
        assert!(
            (record.preference.unwrap() - expected).abs() < 1e-9,
            "{record:?}"
        );
        assert_eq!(record.is_switched_outputs, swapped);
        assert_eq!(
            (record.output_1.as_str(), record.output_2.as_str()),
            ("baseline answer", "model answer")
        );
    }
}

#[test]
fn arena_hard_judges_both_positions_with_the_category_prompt() {
    // The judge prefers whichever answer says "good", wherever it stands.
    let (url, count) = serve(Box::new(|_, body| {
        let request: serde_json::Value = serde_json::from_str(body).unwrap();
        let system = request["messages"][0]["content"].as_str().unwrap();
        let user = request["messages"][1]["content"].as_str().unwrap();
        assert_eq!(system, "creative system");
        let a = user
            .split("[A]")
            .nth(1)
            .unwrap()
            .split("[B]")
            .next()
            .unwrap();
        let verdict = if a.contains("good") {
            "A is better: [[A>>B]]"
        } else {
            "My final verdict: [[B>A]]"
        };
        (200, completion(verdict), Duration::ZERO)
    }));
    let prompts = judge::arena_hard::ArenaHardPrompts {
        user_template: "{QUESTION}\n[A]{ANSWER_A}\n[B]{ANSWER_B}".into(),
        default_system_prompt: "default system".into(),
        categories: [(
            "creative_writing".to_string(),
            judge::arena_hard::CategorySetting {
                baseline: "gemini".into(),
                system_prompt: "creative system".into(),
            },
        )]
        .into_iter()
        .collect(),
    };
    let question = eval_harness::data::ArenaHardQuestion {
        uid: "q1".into(),
        category: "creative_writing".into(),
        subcategory: None,
        prompt: "Write a poem.".into(),
    };
    let pairs = [judge::arena_hard::AnswerPair {
        question: &question,
        model: "a good poem",
        baseline_name: "gemini",
        baseline: "a dull poem",
    }];
    let records =
        judge::arena_hard::judge_pairs(&judge(&url, 5.0), &prompts, "mine", &pairs, &mut |_| {})
            .unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 2);
    let scores: Vec<Option<&str>> = records[0]
        .games
        .iter()
        .map(|g| g.score.as_deref())
        .collect();
    // Game 1: A = baseline (dull) → B>A; game 2: A = model (good) → A>>B.
    assert_eq!(scores, [Some("B>A"), Some("A>>B")]);
    // The record reads back as a judgment the v2 scorer counts for the model.
    let line = serde_json::to_string(&records[0]).unwrap();
    let judgment: eval_harness::arena_hard::Judgment = serde_json::from_str(&line).unwrap();
    let scores = eval_harness::arena_hard::evaluate_v2(&[judgment], 0).unwrap();
    assert!(scores["mine"].score > 50.0, "{scores:?}");
}
