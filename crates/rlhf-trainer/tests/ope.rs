//! Off-policy evaluation on a run's log: the log's rows and propensities as written by a real
//! run, estimates that must equal what the log gives by hand, and bad logs refused with the
//! file and line.

use std::path::Path;

use bandit::BanditSpec;
use off_policy::{BootstrapConfig, Estimator};
use rlhf_trainer::ope::{
    LoggedValue, OpeRequest, Target, evaluate_log, logged_pairs, read_routing_log,
};
use rlhf_trainer::{Overrides, ROUTING_FILE};

use crate::common::{fn_rms, trainer, write_config};

const ORACLE: &str =
    "[oracle]\nname = \"yes\"\nkind = \"verifier\"\ntask = \"regex\"\npattern = \"(Yes)\"\n";

/// The pool file the run's config names, with the programmatic RMs' names (only read for
/// the names: the models are never built from it).
fn write_pool_names(dir: &Path) {
    let mut text = String::new();
    for name in ["length", "vowels", "digits"] {
        text.push_str(&format!(
            "[[rm]]\nkind = \"classifier\"\nname = \"{name}\"\npath = \"unused\"\n\n"
        ));
    }
    std::fs::write(dir.join("unused-pool.toml"), text).unwrap();
}

/// A random-routing run of 6 iterations with the regex oracle; its routing log's path.
fn random_run(dir: &Path) -> std::path::PathBuf {
    let path = write_config(dir, "kind = \"random\"", ORACLE);
    write_pool_names(dir);
    let overrides = Overrides {
        iterations: Some(6),
        ..Overrides::default()
    };
    let rms = fn_rms();
    trainer(&path, &overrides, &rms, false)
        .run(&mut |_| {})
        .unwrap();
    dir.join("run").join(ROUTING_FILE)
}

/// Every visited pair carries the verifier's verdict and the router's whole distribution;
/// under uniform logging a uniform target has weight 1 everywhere (IPS = SNIPS = the mean
/// value) and a fixed RM's IPS is K times its rows' value sum over N.
#[test]
fn a_random_run_is_evaluated_off_policy() {
    let dir = tempfile::tempdir().unwrap();
    let log = random_run(dir.path());
    let lines = read_routing_log(&log).unwrap();
    for (line, record) in &lines {
        let distribution = record.propensities.as_ref().unwrap();
        assert_eq!(distribution, &vec![1.0 / 3.0; 3], "line {line}");
        assert_eq!(record.propensity_draws, None);
        if !record.visited {
            assert_eq!(
                record.truth, None,
                "line {line}: truth on an unvisited pair"
            );
        }
    }
    let decided: Vec<_> = lines
        .iter()
        .map(|(_, r)| r)
        .filter(|r| r.visited && r.truth.is_some())
        .collect();
    assert!(decided.len() >= 5, "only {} decided pairs", decided.len());
    assert!(
        decided.iter().any(|r| !r.kept),
        "a pair the routed RM tied still has the verifier's truth"
    );
    let value = |r: &&rlhf_trainer::RoutingRecord| f64::from(u8::from(r.chosen == r.truth));
    let mean = decided.iter().map(value).sum::<f64>() / decided.len() as f64;
    let vowels_ips = decided
        .iter()
        .filter(|r| r.arm == Some(1))
        .map(|r| 3.0 * value(r))
        .sum::<f64>()
        / decided.len() as f64;

    let export = dir.path().join("router-export");
    // A replay spec that explores uniformly: it accepts about a third of the rows.
    let spec = dir.path().join("uniform-replay.toml");
    std::fs::write(
        &spec,
        "policy = { kind = \"epsilon_greedy\", epsilon = 1.0 }\nseed = 3\n\n[params]\n\
         lambda0 = 1.0\nsigma2 = 1.0\njitter = 1e-8\nrefactor_every = 0\n\
         propensity_draws = 0\n",
    )
    .unwrap();
    let request = OpeRequest {
        log: log.clone(),
        targets: vec![
            Target::Uniform,
            Target::Fixed("vowels".into()),
            Target::Export {
                path: export.clone(),
                thompson: false,
            },
            Target::Export {
                path: export,
                thompson: true,
            },
            Target::Replay(spec),
        ],
        value: LoggedValue::Correct,
        estimators: ["ips", "snips", "dm", "dr", "switch-dr"]
            .iter()
            .map(|e| e.parse::<Estimator>().unwrap())
            .collect(),
        reward_model: None,
        folds: 2,
        export: None,
        spec: BanditSpec::bayesian_v5(),
        bootstrap: BootstrapConfig {
            resamples: 200,
            ..BootstrapConfig::default()
        },
    };
    let report = evaluate_log(&request).unwrap();
    assert_eq!(report.rows, decided.len());
    assert_eq!(report.arms, ["length", "vowels", "digits"]);
    assert_eq!(report.targets.len(), 5);
    let estimate = |target: usize, name: &str| {
        let evaluation = report.targets[target].evaluation.as_ref().unwrap();
        let e = evaluation
            .estimates
            .iter()
            .find(|e| e.estimator == name)
            .unwrap();
        assert!(e.low <= e.value && e.value <= e.high, "{name}: {e:?}");
        e.value
    };
    assert!((estimate(0, "ips") - mean).abs() < 1e-12);
    assert!((estimate(0, "snips") - mean).abs() < 1e-12);
    let uniform = report.targets[0].evaluation.as_ref().unwrap();
    assert!((uniform.weights.ess - decided.len() as f64).abs() < 1e-9);
    assert!((estimate(1, "ips") - vowels_ips).abs() < 1e-12);
    // The Thompson target is sampled: its estimates carry a Monte-Carlo error, the argmax's not.
    assert_eq!(report.targets[3].target_draws, Some(1000));
    assert_eq!(report.targets[2].target_draws, None);
    let thompson = report.targets[3].evaluation.as_ref().unwrap();
    assert!(
        thompson
            .estimates
            .iter()
            .all(|e| e.monte_carlo_se.is_some())
    );
    let argmax = report.targets[2].evaluation.as_ref().unwrap();
    assert!(argmax.estimates.iter().all(|e| e.monte_carlo_se.is_none()));
    assert!(
        report.contexts.ends_with("router-export"),
        "{}",
        report.contexts
    );
    let replay = report.targets[4].replay.as_ref().unwrap();
    assert!(replay.uniform_logging);
    assert_eq!(replay.offered, decided.len());
    let third = decided.len() as f64 / 3.0;
    assert!(
        (replay.accepted as f64 - third).abs() < 0.5 * third + 3.0,
        "accepted {} of {}",
        replay.accepted,
        decided.len()
    );
    assert!(replay.low <= replay.value && replay.value <= replay.high);
}

/// Bad lines are refused naming the file, the line and the field.
#[test]
fn bad_logs_are_refused_with_file_and_line() {
    let good = serde_json::json!({
        "iteration": 0, "prompt_id": 3, "category": "math", "pair": [0, 1], "context": null,
        "judge": "vowels", "arm": 1, "propensity": 0.5, "propensities": [0.25, 0.5, 0.25],
        "visited": true, "tie": false, "kept": true, "scores": [1.0, 0.0], "chosen": 0,
        "truth": 0, "loss": 0.6, "reward": 0.2, "rerouted": false
    });
    let with = |key: &str, value: serde_json::Value| {
        let mut line = good.clone();
        line[key] = value;
        line.to_string()
    };
    let without = |key: &str| {
        let mut line = good.clone();
        line.as_object_mut().unwrap().remove(key);
        line.to_string()
    };
    let cases = [
        (with("propensity", 0.0.into()), "propensity` is 0"),
        (
            with("arm", serde_json::Value::Null),
            "field `arm` is missing",
        ),
        (with("arm", 7.into()), "field `arm` is 7"),
        (
            with("propensities", serde_json::json!([0.2, 0.5, 0.2])),
            "sums to",
        ),
        (
            with("propensities", serde_json::json!([0.5, 0.25, 0.25])),
            "logged arm 1 probability 0.25",
        ),
        (without("visited"), "missing field `visited`"),
        (without("propensities"), "field `propensities` is missing"),
        (good.to_string().replace("0.5,", "NaN,"), "expected value"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routing.jsonl");
    for (bad, expected) in cases {
        std::fs::write(&path, format!("{good}\n\n{bad}\n")).unwrap();
        let err = logged_pairs(&path, LoggedValue::Correct, 3)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("routing.jsonl:3") && err.contains(expected),
            "expected `{expected}` at line 3: {err}"
        );
    }
    // The good line alone is one row; `reward` reads the reward column.
    std::fs::write(&path, format!("{good}\n")).unwrap();
    let pairs = logged_pairs(&path, LoggedValue::Correct, 3).unwrap();
    assert_eq!(pairs.rows.len(), 1);
    assert_eq!(pairs.rows[0].value, 1.0);
    assert_eq!(pairs.rows[0].cluster, 3);
    assert_eq!(pairs.logging.unwrap().values, vec![0.25, 0.5, 0.25]);
    let rewards = logged_pairs(&path, LoggedValue::Reward, 3).unwrap();
    assert_eq!(rewards.rows[0].value, 0.2);

    // A re-routed pair is left out and counted; a prompt that is in one batch twice (an
    // epoch boundary) is told apart by where its pair order restarts.
    let second = with("pair", serde_json::json!([0, 2]));
    let rerouted = with("rerouted", true.into());
    let again = good.to_string();
    std::fs::write(&path, format!("{good}\n{second}\n{again}\n{rerouted}\n")).unwrap();
    let pairs = logged_pairs(&path, LoggedValue::Correct, 3).unwrap();
    assert_eq!(pairs.rows.len(), 3);
    assert_eq!(pairs.occurrences, [0, 0, 1]);
    assert_eq!(pairs.lines, [1, 2, 3]);
    assert_eq!(pairs.rerouted, 1);

    // No observing line: an error naming the file.
    let untruthful = with("truth", serde_json::Value::Null);
    std::fs::write(&path, format!("{untruthful}\n")).unwrap();
    let err = logged_pairs(&path, LoggedValue::Correct, 3)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("routing.jsonl") && err.contains("no line has"),
        "{err}"
    );
}
