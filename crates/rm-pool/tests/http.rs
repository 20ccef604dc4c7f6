//! Remote RMs against a real HTTP server on 127.0.0.1 (tiny_http, started by each test) that
//! speaks OpenRLHF's `/get_reward` and vLLM's `/pooling` and `/classify`: scores, batching,
//! timeouts, 5xx with retries, malformed bodies, and a server that dies mid-run (the RM turns
//! unavailable, then recovers when the server is back).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, sleep};
use std::time::{Duration, Instant};

use json_http::{ManualClock, RetryPolicy};
use rm_pool::backends::http::{HttpProtocol, HttpRm, HttpRmConfig};
use rm_pool::{Error, RewardModel, RmPool, ScoreItem};
use serde_json::{Value, json};

/// What the server does with the next requests.
#[derive(Clone, Debug)]
enum Behaviour {
    Healthy,
    /// Answer with this status `n` times, then healthy.
    Status(u16, usize),
    /// Answer 200 with a body that is not JSON.
    Malformed,
    /// Wait this long before answering.
    Slow(Duration),
}

/// A reward server: the reward of a text is its length / 100.
struct RmServer {
    port: u16,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    behaviour: Arc<Mutex<Behaviour>>,
    requests: Arc<AtomicUsize>,
}

fn reward(text: &str) -> f64 {
    text.len() as f64 / 100.0
}

impl RmServer {
    fn start(port: u16) -> Self {
        Self::start_with(
            port,
            Arc::new(Mutex::new(Behaviour::Healthy)),
            Arc::default(),
        )
    }

    fn start_with(port: u16, behaviour: Arc<Mutex<Behaviour>>, requests: Arc<AtomicUsize>) -> Self {
        let server = Arc::new(tiny_http::Server::http(("127.0.0.1", port)).unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let (srv, beh, count) = (server.clone(), behaviour.clone(), requests.clone());
        let thread = std::thread::spawn(move || {
            while let Ok(mut request) = srv.recv() {
                count.fetch_add(1, Ordering::SeqCst);
                let mut body = String::new();
                request.as_reader().read_to_string(&mut body).unwrap();
                let current = beh.lock().unwrap().clone();
                let (status, text) = match current {
                    Behaviour::Status(code, n) => {
                        *beh.lock().unwrap() = if n > 1 {
                            Behaviour::Status(code, n - 1)
                        } else {
                            Behaviour::Healthy
                        };
                        (code, "overloaded".to_string())
                    }
                    Behaviour::Malformed => (200, "{\"rewards\": [0.1,".to_string()),
                    Behaviour::Slow(delay) => {
                        sleep(delay);
                        (200, answer(request.url(), &body))
                    }
                    Behaviour::Healthy => (200, answer(request.url(), &body)),
                };
                let response = tiny_http::Response::from_string(text).with_status_code(status);
                let _ = request.respond(response);
            }
        });
        Self {
            port,
            server,
            thread: Some(thread),
            behaviour,
            requests,
        }
    }

    fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Stops listening (the port is closed).
    fn stop(mut self) -> (u16, Arc<Mutex<Behaviour>>, Arc<AtomicUsize>) {
        self.server.unblock();
        self.thread.take().unwrap().join().unwrap();
        (self.port, self.behaviour.clone(), self.requests.clone())
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// The protocol's answer for a request body.
fn answer(url: &str, body: &str) -> String {
    let request: Value = serde_json::from_str(body).unwrap();
    let texts: Vec<String> = serde_json::from_value(
        request
            .get("query")
            .or_else(|| request.get("input"))
            .cloned()
            .unwrap(),
    )
    .unwrap();
    let rewards: Vec<f64> = texts.iter().map(|t| reward(t)).collect();
    match url {
        "/get_reward" => json!({ "rewards": rewards }).to_string(),
        // Entries in reverse order: the client must place them by `index`.
        "/pooling" => {
            let data: Vec<Value> = rewards
                .iter()
                .enumerate()
                .rev()
                .map(|(i, r)| json!({"index": i, "object": "pooling", "data": [[0.0], [r]]}))
                .collect();
            json!({ "object": "list", "data": data }).to_string()
        }
        "/classify" => {
            let data: Vec<Value> = rewards
                .iter()
                .enumerate()
                .map(|(i, r)| json!({"index": i, "label": "LABEL_1", "probs": [1.0 - r, r], "num_classes": 2}))
                .collect();
            json!({ "data": data }).to_string()
        }
        other => panic!("unexpected path {other}"),
    }
}

fn config(url: String, protocol: HttpProtocol) -> HttpRmConfig {
    HttpRmConfig {
        url,
        protocol,
        model: Some("test-rm".into()),
        template: "{{ response }}".into(),
        label_index: 1,
        batch_size: 2,
        retry: RetryPolicy {
            timeout_s: 2.0,
            max_retries: 2,
            backoff_s: 0.01,
        },
        breaker_failures: 2,
        breaker_cooldown_s: 0.3,
    }
}

fn items() -> Vec<ScoreItem> {
    ["a", "bb", "a somewhat longer response"]
        .iter()
        .map(|r| ScoreItem::single_turn("q", *r))
        .collect()
}

fn expected_rewards() -> Vec<f32> {
    items().iter().map(|i| reward(&i.response) as f32).collect()
}

#[test]
fn all_three_protocols_score_in_batches() {
    let server = RmServer::start(0);
    for (path, protocol) in [
        ("/get_reward", HttpProtocol::Openrlhf),
        ("/pooling", HttpProtocol::VllmPooling),
        ("/classify", HttpProtocol::VllmClassify),
    ] {
        let before = server.requests();
        let mut rm = HttpRm::new("remote", config(server.url(path), protocol)).unwrap();
        assert_eq!(
            rm.score(&items()).unwrap(),
            expected_rewards(),
            "{protocol:?}"
        );
        // Three items in batches of two: two requests.
        assert_eq!(server.requests() - before, 2, "{protocol:?}");
    }
    server.stop();
}

#[test]
fn server_errors_are_retried_and_client_errors_are_not() {
    let server = RmServer::start(0);
    let mut rm = HttpRm::new(
        "remote",
        config(server.url("/get_reward"), HttpProtocol::Openrlhf),
    )
    .unwrap();
    server.set(Behaviour::Status(503, 2));
    let one = &items()[..1];
    assert_eq!(rm.score(one).unwrap(), [0.01]);
    assert_eq!(server.requests(), 3, "two 503s, then the answer");
    server.set(Behaviour::Status(400, 1));
    let err = rm.score(&items()[1..2]).unwrap_err();
    assert!(matches!(err, Error::Backend { .. }), "{err}");
    assert!(err.to_string().contains("HTTP 400"), "{err}");
    assert_eq!(server.requests(), 4, "a 400 is not retried");
    server.stop();
}

#[test]
fn timeouts_and_malformed_bodies_end_in_unavailable_not_a_hang() {
    let server = RmServer::start(0);
    let mut slow = config(server.url("/get_reward"), HttpProtocol::Openrlhf);
    slow.retry.timeout_s = 0.2;
    slow.retry.max_retries = 1;
    let mut rm = HttpRm::new("slow-rm", slow).unwrap();
    server.set(Behaviour::Slow(Duration::from_millis(1500)));
    let start = Instant::now();
    let err = rm.score(&items()[..1]).unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    assert!(
        start.elapsed() < Duration::from_millis(1200),
        "{:?}",
        start.elapsed()
    );

    server.set(Behaviour::Malformed);
    let mut rm = HttpRm::new(
        "garbled-rm",
        config(server.url("/get_reward"), HttpProtocol::Openrlhf),
    )
    .unwrap();
    let err = rm.score(&items()[..1]).unwrap_err().to_string();
    assert!(
        err.contains("garbled-rm") && err.contains("malformed"),
        "{err}"
    );
    server.stop();
}

#[test]
fn a_server_that_dies_is_masked_then_recovers() {
    let server = RmServer::start(0);
    // The breaker's cooldown runs on a manual clock: no assertion depends on wall time.
    let clock = ManualClock::new();
    let mut settings = config(server.url("/get_reward"), HttpProtocol::Openrlhf);
    settings.breaker_cooldown_s = 600.0;
    let rm = HttpRm::with_clock("remote", settings, Arc::new(clock.clone())).unwrap();
    let mut pool = RmPool::new(vec![Box::new(rm)]).unwrap();
    let batch = items();
    assert_eq!(pool.score(0, &batch[..1]).unwrap(), [0.01]);

    let (port, behaviour, requests) = server.stop();
    // Two failed calls (each after its retries) open the breaker.
    for _ in 0..2 {
        let err = pool.score(0, &batch[1..2]).unwrap_err();
        assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    }
    assert_eq!(pool.availability(), [false]);
    // While open, calls are refused (even once the server is back); cached items are still
    // served.
    assert!(pool.score(0, &batch[1..2]).is_err());
    assert_eq!(pool.score(0, &batch[..1]).unwrap(), [0.01]);
    let server = RmServer::start_with(port, behaviour, requests);
    clock.advance(Duration::from_secs(599));
    assert_eq!(pool.availability(), [false], "still cooling down");
    assert!(pool.score(0, &batch[1..2]).is_err());
    clock.advance(Duration::from_secs(1));
    assert_eq!(pool.availability(), [true], "half-open after the cooldown");
    assert_eq!(pool.score(0, &batch).unwrap(), expected_rewards());
    assert_eq!(pool.availability(), [true]);
    // Two failed calls and two refused while the breaker was open.
    assert_eq!(pool.stats(0).failures, 4);
    server.stop();
}
