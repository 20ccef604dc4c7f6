//! Rebuilding a learning router's posterior from a reward log, e.g. one written by a training
//! run on another machine (`cargo xtask router replay` on the command line).
//!
//! The log is JSONL, one reward per line: `{"arm": 2, "context": [..d numbers..],
//! "reward": 0.73}`, where `arm` is an index or an arm name from the prior; blank lines are
//! skipped; unknown fields are errors. Rows of a routing log (the trainer's routing.jsonl
//! written with `log_contexts`, or the reward service's) are read too: a line with a `judge`
//! field is such a row, its `arm`, `context` and `reward` are used, its other fields ignored,
//! and a row whose `reward` is null (no reward yet: a normaliser warming up, a pair not
//! kept) is skipped. Events are applied in file order, each as one
//! [`LinearBandit::update`].

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::linear_bandit::LinearBandit;
use crate::prior::Prior;
use crate::spec::BanditSpec;

/// One logged reward.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RewardEvent {
    arm: ArmRef,
    context: Vec<f64>,
    reward: f64,
}

/// One row of a routing log (other fields ignored).
#[derive(Debug, Deserialize)]
struct RoutingRow {
    arm: ArmRef,
    context: Option<Vec<f64>>,
    reward: Option<f64>,
}

/// An arm given by index or by name.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ArmRef {
    Index(usize),
    Name(String),
}

/// A router built from `spec` and `prior`, with every event of the log at `events` applied
/// in order; returns it and the number of events. A spec whose policy never updates
/// (offline, fixed, random) is refused; a bad line is an error naming the file and line.
pub fn replay_reward_log(
    spec: BanditSpec,
    prior: Prior,
    events: &Path,
) -> Result<(LinearBandit, usize)> {
    if !spec.policy.learns() {
        return Err(Error::InvalidParameter {
            name: "policy",
            value: spec.policy.name().into(),
            reason: "never updates: replay needs thompson, linucb or epsilon_greedy",
        });
    }
    let mut router = LinearBandit::new(spec.policy, prior, spec.params, spec.seed)?;
    let file = File::open(events).map_err(atomic_write::io_error(events))?;
    let mut count = 0;
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let at = |reason: String| Error::InvalidRecord {
            path: events.to_path_buf(),
            line: index + 1,
            reason,
        };
        let line = line.map_err(|err| at(err.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(&line).map_err(|err| at(err.to_string()))?;
        let event = if value.get("judge").is_some() {
            let row: RoutingRow =
                serde_json::from_value(value).map_err(|err| at(err.to_string()))?;
            let Some(reward) = row.reward else {
                continue;
            };
            let context = row.context.ok_or_else(|| {
                at(
                    "a routing row without its context: the run was written without \
                    log_contexts"
                        .into(),
                )
            })?;
            RewardEvent {
                arm: row.arm,
                context,
                reward,
            }
        } else {
            serde_json::from_value(value).map_err(|err| at(err.to_string()))?
        };
        let arm = arm_index(&router, &event.arm).map_err(at)?;
        router
            .update(arm, &event.context, event.reward)
            .map_err(|err| at(err.to_string()))?;
        count += 1;
    }
    Ok((router, count))
}

fn arm_index(router: &LinearBandit, arm: &ArmRef) -> std::result::Result<usize, String> {
    match arm {
        ArmRef::Index(index) => Ok(*index),
        ArmRef::Name(name) => {
            let names = router.prior().names();
            names
                .iter()
                .position(|known| known == name)
                .ok_or_else(|| format!("unknown arm {name:?}; the prior has {names:?}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(events: &str) -> Result<(LinearBandit, usize)> {
        let dir = tempfile::tempdir().unwrap();
        let prior = Prior::new(vec![
            ("math".into(), vec![1.0, 0.0]),
            ("chat".into(), vec![0.0, 1.0]),
        ])
        .unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, events).unwrap();
        replay_reward_log(BanditSpec::bayesian_v4(), prior, &path)
    }

    #[test]
    fn replays_indices_and_names() {
        let (router, count) = replay(
            "{\"arm\": 0, \"context\": [1.0, 0.0], \"reward\": 1.0}\n\n\
             {\"arm\": \"chat\", \"context\": [0.0, 2.0], \"reward\": -1.0}\n",
        )
        .unwrap();
        assert_eq!(count, 2);
        let out = serde_json::to_value(router.posterior_summary()).unwrap();
        assert_eq!(out["format"], "bandit-posterior");
        // Arm 0: Λ = 1 + 1 = 2 on the first axis, b = 1 + 1 → μ0 ≈ 1 (jitter 1e-8 aside).
        let arm0 = &out["arms"][0];
        assert_eq!(arm0["name"], "math");
        assert_eq!(arm0["updates"], 1);
        assert_eq!(arm0["precision"][0][0], 2.0);
        assert!((arm0["mean"][0].as_f64().unwrap() - 1.0).abs() < 1e-7);
        // Arm 1: Λ = 1 + 4 = 5 on the second axis, b = 1 − 2 = −1 → μ1 = −0.2.
        let arm1 = &out["arms"][1];
        assert_eq!(arm1["precision"][1][1], 5.0);
        assert!((arm1["mean"][1].as_f64().unwrap() + 0.2).abs() < 1e-7);
    }

    #[test]
    fn routing_rows_give_their_arm_context_and_reward() {
        let (router, count) = replay(
            "{\"judge\": \"math\", \"arm\": 0, \"context\": [1.0, 0.0], \"reward\": 1.0, \"loss\": 0.2, \"propensity\": 0.5}\n\
             {\"judge\": \"chat\", \"arm\": 1, \"context\": [0.0, 2.0], \"reward\": null}\n\
             {\"judge\": \"chat\", \"arm\": \"chat\", \"context\": [0.0, 2.0], \"reward\": -1.0}\n",
        )
        .unwrap();
        assert_eq!(count, 2);
        let (reference, _) = replay(
            "{\"arm\": 0, \"context\": [1.0, 0.0], \"reward\": 1.0}\n\
             {\"arm\": 1, \"context\": [0.0, 2.0], \"reward\": -1.0}\n",
        )
        .unwrap();
        for arm in 0..2 {
            assert_eq!(router.mean(arm).unwrap(), reference.mean(arm).unwrap());
        }
        let err = replay("{\"judge\": \"math\", \"arm\": 0, \"context\": null, \"reward\": 1.0}\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("events.jsonl:1") && err.contains("log_contexts"),
            "{err}"
        );
    }

    #[test]
    fn malformed_lines_are_named() {
        for (events, expected) in [
            (
                "{\"arm\": 0, \"context\": [1.0, 0.0], \"reward\": 1.0}\n{\"arm\": 0, \"context\": [1.0]",
                "events.jsonl:2",
            ),
            (
                "{\"arm\": 0, \"context\": [1.0, 0.0], \"reward\": 1.0}\n\n{\"arm\": 5, \"context\": [1.0, 0.0], \"reward\": 1.0}",
                "events.jsonl:3",
            ),
            (
                "{\"arm\": \"safety\", \"context\": [1.0, 0.0], \"reward\": 1.0}",
                "unknown arm \"safety\"",
            ),
            (
                "{\"arm\": 0, \"context\": [1.0, 0.0, 3.0], \"reward\": 1.0}",
                "expected 2 values, found 3",
            ),
            (
                "{\"arm\": 0, \"context\": [1.0, 0.0], \"reward\": 1.0, \"extra\": 1}",
                "unknown field `extra`",
            ),
        ] {
            let err = replay(events).unwrap_err().to_string();
            assert!(err.contains(expected), "{err} should contain {expected}");
        }
    }

    #[test]
    fn a_policy_that_never_learns_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, "").unwrap();
        let prior = Prior::new(vec![("math".into(), vec![1.0])]).unwrap();
        let spec = BanditSpec {
            policy: crate::Policy::Uniform,
            ..BanditSpec::bayesian_v4()
        };
        let err = replay_reward_log(spec, prior, &path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("never updates"), "{err}");
    }
}
