//! Micro-batching: concurrent requests for one RM share its backend calls, each request
//! still gets its own items' scores, and a bad item fails only the request that sent it.

use std::time::Duration;

use bandit::Policy;
use rm_pool::{RewardModel, RmPool};
use serde_json::json;

use crate::common::{FnRm, Server, client, get_text, length, metric, parts, post};

/// The response's length, NaN for the response "nan" (the pool refuses non-finite scores).
fn length_or_nan(text: &str) -> f32 {
    if text == "nan" {
        f32::NAN
    } else {
        length(text)
    }
}

/// Sends one /get_reward per response at once from as many threads; the answers in order.
fn concurrent_requests(server: &Server, responses: &[&str]) -> Vec<(u16, serde_json::Value)> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = responses
            .iter()
            .map(|response| {
                let url = server.url("/get_reward");
                scope.spawn(move || post(&client(), &url, &json!({"query": [response]})))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect()
    })
}

/// Every request is routed to the slow `length` RM: while its first call runs, the others
/// queue and are scored together, so 8 requests take far fewer than 8 calls, and each
/// answer is its own item's score.
#[test]
fn concurrent_requests_share_rm_calls() {
    let dir = tempfile::tempdir().unwrap();
    let mut parts = parts(Policy::Fixed { arm: 0 }, Duration::ZERO, 1);
    parts.pool = RmPool::new(vec![
        Box::new(FnRm::new("length", length, Duration::from_millis(300))) as Box<dyn RewardModel>,
        Box::new(FnRm::new("vowels", length, Duration::ZERO)),
        Box::new(FnRm::new("digits", length, Duration::ZERO)),
    ])
    .unwrap();
    let server = Server::start(parts, dir.path(), |_| {});
    let responses = [
        "a", "bb", "ccc", "dddd", "eeeee", "ffffff", "ggggggg", "hhhhhhhh",
    ];
    for (response, (status, answer)) in responses
        .iter()
        .zip(concurrent_requests(&server, &responses))
    {
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["rewards"], json!([response.len() as f64]));
    }
    let (_, metrics) = get_text(&client(), &server.url("/metrics"));
    let calls = metric(&metrics, "rm_service_rm_calls_total{rm=\"length\"}");
    let items = metric(&metrics, "rm_service_rm_items_total{rm=\"length\"}");
    assert_eq!(items, 8, "{metrics}");
    assert!(
        (1..=4).contains(&calls),
        "8 concurrent requests took {calls} calls: {metrics}"
    );
    assert!(metrics.contains("rm_service_rm_batch_items_bucket"));
    assert!(metrics.contains("rm_service_stage_seconds_bucket{stage=\"score\""));
}

/// A combined call that fails on one request's item is retried request by request: that
/// request gets a 502 naming the RM, the others their scores.
#[test]
fn a_bad_item_fails_only_its_own_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut parts = parts(Policy::Fixed { arm: 0 }, Duration::ZERO, 1);
    parts.pool = RmPool::new(vec![
        Box::new(FnRm::new(
            "length",
            length_or_nan,
            Duration::from_millis(200),
        )) as Box<dyn RewardModel>,
        Box::new(FnRm::new("vowels", length, Duration::ZERO)),
        Box::new(FnRm::new("digits", length, Duration::ZERO)),
    ])
    .unwrap();
    let server = Server::start(parts, dir.path(), |_| {});
    let responses = ["a", "bb", "nan", "dddd", "eeeee", "ffffff"];
    for (response, (status, answer)) in responses
        .iter()
        .zip(concurrent_requests(&server, &responses))
    {
        if *response == "nan" {
            assert_eq!(status, 502, "{answer}");
            let error = answer["error"].as_str().unwrap();
            assert!(
                error.contains("length") && error.contains("non-finite score"),
                "{error}"
            );
        } else {
            assert_eq!(status, 200, "{answer}");
            assert_eq!(answer["rewards"], json!([response.len() as f64]));
        }
    }
}
