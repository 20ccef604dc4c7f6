//! The endpoints against direct computation: /get_reward's scores are the routed RM's own,
//! /route_pairs judges as the RM would, feedback leaves the posterior a replay of the same
//! events gives, /healthz and /metrics report what happened.

use std::time::Duration;

use bandit::{ArmMask, Feedback, Policy};
use serde_json::json;

use crate::common::{Server, client, digits, get_text, length, means, metric, parts, post, vowels};

/// OpenRLHF's request shape: every reward is the routed RM's score of the response (the query
/// minus its prompt), extra_logs carry the route ids, arms and propensities (1/3 under uniform
/// routing), and the routes name the RMs.
#[test]
fn get_reward_is_the_routed_rms_score() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        parts(Policy::Uniform, Duration::ZERO, 7),
        dir.path(),
        |_| {},
    );
    let prompts = ["What is 2+2?", "Spell cat.", "Name a colour."];
    let responses = [" It is 4, I think.", " c-a-t", " Blue, or maybe 12 others."];
    let query: Vec<String> = prompts
        .iter()
        .zip(&responses)
        .map(|(p, r)| format!("{p}{r}"))
        .collect();
    let agent = client();
    let (status, answer) = post(
        &agent,
        &server.url("/get_reward"),
        &json!({"query": query, "prompts": prompts, "labels": ["4", "cat", "blue"]}),
    );
    assert_eq!(status, 200, "{answer}");
    let score_fns = [length, vowels, digits];
    let rewards = answer["rewards"].as_array().unwrap();
    assert_eq!(answer["scores"], answer["rewards"]);
    for (i, response) in responses.iter().enumerate() {
        let arm = answer["extra_logs"]["rm_index"][i].as_f64().unwrap() as usize;
        let expected = f64::from(score_fns[arm](response));
        assert_eq!(
            rewards[i].as_f64().unwrap(),
            expected,
            "item {i} on arm {arm}"
        );
        assert_eq!(
            answer["extra_logs"]["propensity"][i].as_f64().unwrap(),
            1.0 / 3.0
        );
        assert_eq!(
            answer["extra_logs"]["route_id"][i].as_f64().unwrap(),
            i as f64
        );
        let route = &answer["routes"][i];
        assert_eq!(route["arm"], arm);
        assert_eq!(route["rm"], ["length", "vowels", "digits"][arm]);
        assert_eq!(
            route["propensities"],
            json!([1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0])
        );
    }
    // Without prompts every query is the response.
    let (status, answer) = post(
        &agent,
        &server.url("/get_reward"),
        &json!({"query": ["abc12"]}),
    );
    assert_eq!(status, 200, "{answer}");
    let arm = answer["extra_logs"]["rm_index"][0].as_f64().unwrap() as usize;
    assert_eq!(
        answer["rewards"][0].as_f64().unwrap(),
        f64::from(score_fns[arm]("abc12"))
    );
}

/// Each pair is judged by its routed RM: both scores and the preferred response are that
/// RM's; without `pairs` every pair of the responses is routed.
#[test]
fn route_pairs_judges_with_the_routed_rm() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        parts(Policy::Uniform, Duration::ZERO, 3),
        dir.path(),
        |_| {},
    );
    let responses = ["aaa", "b1", "ccccc 222"];
    let (status, answer) = post(
        &client(),
        &server.url("/route_pairs"),
        &json!({"prompt": "Say something.", "responses": responses}),
    );
    assert_eq!(status, 200, "{answer}");
    let pairs = answer["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 3);
    let score_fns = [length, vowels, digits];
    for (pair, expected) in pairs.iter().zip([[0, 1], [0, 2], [1, 2]]) {
        assert_eq!(pair["pair"], json!(expected));
        let arm = pair["arm"].as_u64().unwrap() as usize;
        let [a, b] = expected.map(|r| f64::from(score_fns[arm](responses[r])));
        assert_eq!(pair["scores"], json!([a, b]));
        let preferred = if a > b {
            json!(0)
        } else if b > a {
            json!(1)
        } else {
            json!(null)
        };
        assert_eq!(pair["preferred"], preferred);
    }
}

/// After a stream of routes and feedback (losses and rewards, delayed and out of order),
/// the service's posterior equals a bandit that makes the same selections and absorbs the
/// same rewards; /healthz and /metrics count them.
#[test]
fn feedback_leaves_the_posterior_a_replay_gives() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        parts(Policy::Thompson, Duration::ZERO, 11),
        dir.path(),
        |_| {},
    );
    let agent = client();
    let mut reference = parts(Policy::Thompson, Duration::ZERO, 11).bandit;
    let mask = ArmMask::all(3);
    let mut routes: Vec<(u64, usize)> = Vec::new();
    for round in 0..4 {
        let query: Vec<String> = (0..5).map(|i| format!("response {round} {i}")).collect();
        let (status, answer) = post(&agent, &server.url("/get_reward"), &json!({"query": query}));
        assert_eq!(status, 200, "{answer}");
        let expected = reference.select_batch(&[1.0; 5], &mask).unwrap();
        for (route, choice) in answer["routes"].as_array().unwrap().iter().zip(&expected) {
            assert_eq!(route["arm"].as_u64().unwrap() as usize, choice.arm);
            routes.push((route["route_id"].as_u64().unwrap(), choice.arm));
        }
    }
    // Feedback in three calls, newest routes first, rewards given directly.
    let rewards: Vec<f64> = (0..routes.len()).map(|i| (i % 4) as f64 / 4.0).collect();
    let order: Vec<usize> = (0..routes.len()).rev().collect();
    for chunk in order.chunks(7) {
        let items: Vec<_> = chunk
            .iter()
            .map(|&i| json!({"route_id": routes[i].0, "reward": rewards[i]}))
            .collect();
        let (status, answer) = post(&agent, &server.url("/feedback"), &json!({"items": items}));
        assert_eq!(status, 200, "{answer}");
        let context = [1.0];
        let feedback: Vec<Feedback<'_>> = chunk
            .iter()
            .map(|&i| Feedback {
                arm: routes[i].1,
                context: &context,
                reward: rewards[i],
            })
            .collect();
        reference.update_batch(&feedback).unwrap();
    }
    let expected: Vec<Vec<f64>> = (0..3)
        .map(|k| reference.mean(k).unwrap().to_vec())
        .collect();
    assert_eq!(means(&server.service), expected);
    assert_eq!(server.service.core().updates(), 20);
    assert_eq!(server.service.core().pending(), 0);
    // Losses go through the normaliser (v5's batch baseline needs a history: the first
    // batches give no reward, and are still consumed).
    let (_, answer) = post(
        &agent,
        &server.url("/get_reward"),
        &json!({"query": ["a", "b"]}),
    );
    let ids: Vec<u64> = answer["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["route_id"].as_u64().unwrap())
        .collect();
    let (status, answer) = post(
        &agent,
        &server.url("/feedback"),
        &json!({"items": [{"route_id": ids[0], "loss": 0.3}, {"route_id": ids[1], "loss": 0.9}]}),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["consumed"], 2);
    let (_, text) = get_text(&agent, &server.url("/healthz"));
    let health: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(health["pending"], 0);
    assert_eq!(health["rms"], json!(["length", "vowels", "digits"]));
    let (_, metrics) = get_text(&agent, &server.url("/metrics"));
    let routed: u64 = ["length", "vowels", "digits"]
        .iter()
        .map(|rm| metric(&metrics, &format!("rm_service_routed_total{{rm=\"{rm}\"}}")))
        .sum();
    assert_eq!(routed, 22, "{metrics}");
    assert_eq!(metric(&metrics, "rm_service_feedback_items_total"), 22);
    assert!(metrics.contains("rm_service_request_seconds_bucket"));
}
