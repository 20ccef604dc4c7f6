//! The OpenAI-compatible judge against a real HTTP server started here on 127.0.0.1: good
//! replies, retried 5xx, timeouts, malformed JSON and a server that is gone.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use eval_harness::data::JudgePrompt;
use eval_harness::judge::{
    Judge, MtBenchTurn, OpenAiJudge, OpenAiJudgeConfig, grade_mt_bench_turn,
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
        timeout_s,
        max_retries: 2,
        backoff_s: 0.01,
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
