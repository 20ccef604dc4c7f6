//! Learning without client feedback: the verifier rewards the routed RM on the pairs it
//! decides, audits reward agreement with the RMs' majority; both close their routes, land
//! in routing.jsonl, and `router replay` of that file gives the service's posterior.

use std::time::Duration;

use answer_check::VerifierTask;
use bandit::{BanditSpec, Policy, Prior, replay_reward_log};
use reward_service::{Learning, ROUTING_LOG_FILE};
use serde_json::json;

use crate::common::{Server, client, digits, get_text, length, means, metric, parts, post, vowels};

/// Each RM's verdict on a pair of responses: 0 or 1 (the preferred one), None on a tie.
fn verdict(score: fn(&str) -> f32, a: &str, b: &str) -> Option<usize> {
    let (sa, sb) = (score(a), score(b));
    if sa > sb {
        Some(0)
    } else if sb > sa {
        Some(1)
    } else {
        None
    }
}

/// The posterior `router replay` rebuilds from the state folder's routing.jsonl, with the
/// test pool's prior and v5's parameters.
fn replayed_means(state: &std::path::Path) -> Vec<Vec<f64>> {
    let prior = Prior::new(
        ["length", "vowels", "digits"]
            .into_iter()
            .zip([0.2, 0.0, -0.2])
            .map(|(name, mean)| (name.to_string(), vec![mean]))
            .collect(),
    )
    .unwrap();
    let spec = BanditSpec {
        policy: Policy::Thompson,
        ..BanditSpec::bayesian_v5()
    };
    let (bandit, _) = replay_reward_log(spec, prior, &state.join(ROUTING_LOG_FILE)).unwrap();
    (0..3).map(|k| bandit.mean(k).unwrap().to_vec()).collect()
}

fn assert_close(a: &[Vec<f64>], b: &[Vec<f64>]) {
    for (x, y) in a.iter().flatten().zip(b.iter().flatten()) {
        assert!((x - y).abs() < 1e-9, "{a:?} vs {b:?}");
    }
}

/// With an exact-match verifier and the label "4": pairs with exactly one "4" are rewarded
/// 1 when the routed RM preferred it, 0 otherwise; the other pairs stay open for feedback;
/// a rewarded route refuses client feedback; routing.jsonl replays to the posterior and is
/// rebuilt identically on a restart.
#[test]
fn the_verifier_rewards_the_routed_rm_on_decided_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let learning = Learning {
        verifier: Some((VerifierTask::Exact, None)),
        ..Learning::default()
    };
    let configure = |config: &mut reward_service::ServiceConfig| {
        config.learning = learning.clone();
    };
    let server = Server::start(
        parts(Policy::Thompson, Duration::ZERO, 5),
        dir.path(),
        configure,
    );
    let agent = client();
    let responses = ["4", "it is 22", "aaaa", "4"];
    let scores = [length as fn(&str) -> f32, vowels, digits];
    let mut rewarded = 0;
    let mut open = Vec::new();
    for _ in 0..6 {
        let (status, answer) = post(
            &agent,
            &server.url("/route_pairs"),
            &json!({"prompt": "What is 2+2?", "responses": responses, "label": "4"}),
        );
        assert_eq!(status, 200, "{answer}");
        for pair in answer["pairs"].as_array().unwrap() {
            let [a, b] = [0, 1].map(|i| pair["pair"][i].as_u64().unwrap() as usize);
            let arm = pair["arm"].as_u64().unwrap() as usize;
            let decided = (responses[a] == "4") != (responses[b] == "4");
            if decided {
                let truth = usize::from(responses[b] == "4");
                let expected = verdict(scores[arm], responses[a], responses[b]) == Some(truth);
                assert_eq!(
                    pair["reward"],
                    json!(f64::from(u8::from(expected))),
                    "{pair}"
                );
                assert_eq!(pair["reward_source"], "verifier");
                rewarded += 1;
            } else {
                assert!(pair.get("reward").is_none(), "{pair}");
                open.push(pair["route_id"].as_u64().unwrap());
            }
        }
    }
    // 4 of the 6 pairs are decided in each request.
    assert_eq!(rewarded, 24);
    assert_eq!(server.service.core().updates(), 24);
    assert_eq!(server.service.core().pending(), open.len());
    // A closed route refuses feedback; an open one takes it.
    let (status, answer) = post(
        &agent,
        &server.url("/feedback"),
        &json!({"items": [{"route_id": 0, "reward": 1.0}]}),
    );
    assert_eq!(status, 422, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("route_id 0"));
    let (status, answer) = post(
        &agent,
        &server.url("/feedback"),
        &json!({"items": [{"route_id": open[0], "reward": 0.25}]}),
    );
    assert_eq!(status, 200, "{answer}");
    let (_, metrics) = get_text(&agent, &server.url("/metrics"));
    let derived: u64 = ["0", "1"]
        .iter()
        .map(|value| {
            metric(
                &metrics,
                &format!(
                    "rm_service_derived_rewards_total{{source=\"verifier\",value=\"{value}\"}}"
                ),
            )
        })
        .sum();
    assert_eq!(derived, 24, "{metrics}");
    // routing.jsonl: one row per reward, replaying to the service's posterior.
    let log = std::fs::read_to_string(dir.path().join(ROUTING_LOG_FILE)).unwrap();
    assert_eq!(log.lines().count(), 25);
    assert!(
        log.lines()
            .next()
            .unwrap()
            .contains("\"source\":\"verifier\"")
    );
    let served = means(&server.service);
    assert_close(&replayed_means(dir.path()), &served);
    // A restart rebuilds the same file from the journal and restores the same posterior.
    drop(server);
    let restarted = Server::start(
        parts(Policy::Thompson, Duration::ZERO, 5),
        dir.path(),
        configure,
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join(ROUTING_LOG_FILE)).unwrap(),
        log
    );
    assert_eq!(means(&restarted.service), served);
}

/// With every pair audited, the routed RM is rewarded for agreeing with the majority of the
/// other two RMs. On ("aaa", "b12345") length and digits prefer the second, vowels the
/// first: routed to vowels, the others agree against it (reward 0); routed to length or
/// digits, the others split (no reward, the route stays open). On ("a", "aaa111") all three
/// prefer the second: reward 1 whoever judged.
#[test]
fn audits_reward_agreement_with_the_other_rms_majority() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        parts(Policy::Uniform, Duration::ZERO, 9),
        dir.path(),
        |config| {
            config.learning.audit_fraction = 1.0;
        },
    );
    let agent = client();
    let mut rewards = [0_u64; 2];
    let mut open = 0;
    for round in 0..24 {
        let contested = round % 2 == 0;
        let responses = if contested {
            ["aaa", "b12345"]
        } else {
            ["a", "aaa111"]
        };
        let (status, answer) = post(
            &agent,
            &server.url("/route_pairs"),
            &json!({"prompt": "Say something.", "responses": responses}),
        );
        assert_eq!(status, 200, "{answer}");
        let pair = &answer["pairs"][0];
        let arm = pair["arm"].as_u64().unwrap() as usize;
        let expected = match (contested, arm) {
            (false, _) => Some(1.0),
            (true, 1) => Some(0.0),
            (true, _) => None,
        };
        match expected {
            Some(reward) => {
                assert_eq!(pair["reward"], json!(reward), "{pair}");
                assert_eq!(pair["reward_source"], "audit");
                rewards[reward as usize] += 1;
            }
            None => {
                assert!(pair.get("reward").is_none(), "{pair}");
                open += 1;
            }
        }
    }
    assert!(
        rewards[0] > 0 && rewards[1] > 0 && open > 0,
        "{rewards:?} {open}"
    );
    assert_eq!(server.service.core().updates(), rewards[0] + rewards[1]);
    assert_eq!(server.service.core().pending() as u64, open);
    // Each audit scores the pair with the two other RMs: every RM sees each of the two
    // requests' 4 distinct responses once, the rest from its cache.
    let (_, metrics) = get_text(&agent, &server.url("/metrics"));
    let items: u64 = ["length", "vowels", "digits"]
        .iter()
        .map(|rm| {
            metric(
                &metrics,
                &format!("rm_service_rm_items_total{{rm=\"{rm}\"}}"),
            )
        })
        .sum();
    assert_eq!(items, 12, "{metrics}");
    assert_eq!(
        metric(
            &metrics,
            "rm_service_derived_rewards_total{source=\"audit\",value=\"0\"}"
        ),
        rewards[0]
    );
}

/// A state folder whose snapshot holds a normaliser with other settings (here a bounded
/// quantile history) is refused with a message naming the setting, not replayed into a
/// confusing mismatch.
#[test]
fn a_snapshot_with_other_normaliser_settings_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let server = Server::start(
            parts(Policy::Thompson, Duration::ZERO, 5),
            dir.path(),
            |config| config.snapshot_every = 1,
        );
        let (_, answer) = post(
            &client(),
            &server.url("/get_reward"),
            &json!({"query": ["a", "bb"]}),
        );
        let items: Vec<_> = answer["routes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| json!({"route_id": r["route_id"], "loss": 0.5}))
            .collect();
        let (status, _) = post(
            &client(),
            &server.url("/feedback"),
            &json!({"items": items}),
        );
        assert_eq!(status, 200);
    }
    let mut windowed = parts(Policy::Thompson, Duration::ZERO, 5);
    windowed.normalizer = Some(
        rlhf_trainer::Normalizer::with_history_window(
            rlhf_trainer::NormalizerKind::BatchBaseline,
            3,
            10,
        )
        .unwrap(),
    );
    let config = reward_service::ServiceConfig::local(0, dir.path().to_path_buf());
    let err = reward_service::Service::open(config, windowed)
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("--normalizer-window"), "{err}");
}
