//! Bad input gets the right 4xx with a message naming what is wrong and changes nothing;
//! too many requests at once get 503 with Retry-After; a configured token is required.

use std::time::Duration;

use bandit::Policy;
use serde_json::json;

use crate::common::{Server, client, get_text, means, parts, post, post_raw};

/// Malformed JSON, wrong types, unknown fields, too many items, unknown, repeated or
/// already-used route ids, both or neither of loss/reward: each refused, the posterior and
/// the pending routes untouched.
#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        parts(Policy::Thompson, Duration::ZERO, 5),
        dir.path(),
        |c| {
            c.limits.max_items = 4;
        },
    );
    let agent = client();
    let (status, answer) = post(
        &agent,
        &server.url("/get_reward"),
        &json!({"query": ["x", "y"]}),
    );
    assert_eq!(status, 200, "{answer}");
    let id = answer["routes"][0]["route_id"].as_u64().unwrap();
    let other = answer["routes"][1]["route_id"].as_u64().unwrap();
    let (status, _) = post(
        &agent,
        &server.url("/feedback"),
        &json!({"items": [{"route_id": other, "reward": 1.0}]}),
    );
    assert_eq!(status, 200);
    let before = means(&server.service);
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "/get_reward",
            "{\"query\": [\"x\"".into(),
            400,
            "invalid JSON",
        ),
        (
            "/get_reward",
            json!({"query": "x"}).to_string(),
            400,
            "invalid type",
        ),
        (
            "/get_reward",
            json!({"query": ["x"], "extra": 1}).to_string(),
            400,
            "unknown field `extra`",
        ),
        (
            "/get_reward",
            json!({"query": ["a", "b"], "prompts": ["a"]}).to_string(),
            400,
            "`prompts` has 1 entries",
        ),
        (
            "/get_reward",
            json!({"query": ["a", "a", "a", "a", "a"]}).to_string(),
            413,
            "limit (max_items) is 4",
        ),
        (
            "/route_pairs",
            json!({"prompt": "p", "responses": ["a", "b"], "pairs": [[0, 2]]}).to_string(),
            400,
            "pair [0, 2]",
        ),
        (
            "/feedback",
            json!({"items": [{"route_id": 999, "reward": 1.0}]}).to_string(),
            422,
            "route_id 999 was never issued",
        ),
        (
            "/feedback",
            json!({"items": [{"route_id": other, "reward": 1.0}]}).to_string(),
            422,
            "already received",
        ),
        (
            "/feedback",
            json!({"items": [{"route_id": id, "reward": 1.0}, {"route_id": id, "reward": 0.0}]})
                .to_string(),
            422,
            "appears twice",
        ),
        (
            "/feedback",
            json!({"items": [{"route_id": id, "reward": 1.0, "loss": 0.2}]}).to_string(),
            422,
            "exactly one",
        ),
        (
            "/feedback",
            json!({"items": [{"route_id": id}]}).to_string(),
            422,
            "exactly one",
        ),
        (
            "/feedback",
            "{\"items\": [{\"route_id\": 0, \"loss\": NaN}]}".into(),
            400,
            "invalid JSON",
        ),
        (
            "/feedback",
            json!({"items": [{"route_id": "r1", "loss": 0.1}]}).to_string(),
            400,
            "invalid type",
        ),
    ];
    for (path, body, expected, message) in cases {
        let (status, answer, _) = post_raw(&agent, &server.url(path), &body, None);
        assert_eq!(status, expected, "{path} {body}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(message),
            "{path} {body}: `{error}` lacks `{message}`"
        );
        assert_eq!(
            means(&server.service),
            before,
            "{path} {body} changed the posterior"
        );
        assert_eq!(
            server.service.core().pending(),
            1,
            "{path} {body} changed the pending routes"
        );
    }
    // A body over the size limit is refused before it is read.
    let dir2 = tempfile::tempdir().unwrap();
    let small = Server::start(
        parts(Policy::Uniform, Duration::ZERO, 5),
        dir2.path(),
        |c| {
            c.limits.max_body_bytes = 64;
        },
    );
    let body = json!({"query": ["x".repeat(100)]}).to_string();
    let (status, answer, _) = post_raw(&agent, &small.url("/get_reward"), &body, None);
    assert_eq!(status, 413, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("max_body_bytes"),
        "{answer}"
    );
}

/// With one request allowed in flight and an RM that takes 300 ms, of 6 simultaneous
/// requests the extra ones get 503 with Retry-After at once, the others succeed, and the
/// service keeps serving afterwards.
#[test]
fn overload_gets_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        parts(Policy::Uniform, Duration::from_millis(300), 5),
        dir.path(),
        |c| c.limits.max_in_flight = 1,
    );
    let url = server.url("/get_reward");
    let outcomes: Vec<(u16, Option<String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let url = url.clone();
                scope.spawn(move || {
                    let (status, _, retry) =
                        post_raw(&client(), &url, &json!({"query": ["x"]}).to_string(), None);
                    (status, retry)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = outcomes.iter().filter(|(s, _)| *s == 200).count();
    let refused: Vec<_> = outcomes.iter().filter(|(s, _)| *s == 503).collect();
    assert!(ok >= 1, "{outcomes:?}");
    assert!(!refused.is_empty(), "{outcomes:?}");
    assert_eq!(ok + refused.len(), 6, "{outcomes:?}");
    assert!(
        refused
            .iter()
            .all(|(_, retry)| retry.as_deref() == Some("1")),
        "{outcomes:?}"
    );
    let (status, _) = post(&client(), &url, &json!({"query": ["y"]}));
    assert_eq!(status, 200);
}

/// With a token configured every endpoint needs it; a non-loopback bind without one is a
/// configuration error.
#[test]
fn the_token_is_required() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(parts(Policy::Uniform, Duration::ZERO, 5), dir.path(), |c| {
        c.token = Some("s3cret".into());
    });
    let agent = client();
    let body = json!({"query": ["x"]}).to_string();
    for token in [None, Some("wrong")] {
        let (status, answer, _) = post_raw(&agent, &server.url("/get_reward"), &body, token);
        assert_eq!(status, 401, "{answer}");
    }
    let (status, answer, _) = post_raw(&agent, &server.url("/get_reward"), &body, Some("s3cret"));
    assert_eq!(status, 200, "{answer}");
    let (status, _) = get_text(&agent, &server.url("/healthz"));
    assert_eq!(status, 401);

    let mut config = reward_service::ServiceConfig::local(0, dir.path().join("other"));
    config.bind = "0.0.0.0:0".parse().unwrap();
    let err = reward_service::Service::open(config, parts(Policy::Uniform, Duration::ZERO, 5))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("bearer token"), "{err}");
}
