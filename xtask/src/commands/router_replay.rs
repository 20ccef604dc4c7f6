//! `cargo xtask router replay`: rebuild a Thompson router's posterior from a reward log.
//!
//! Formats (docs/FORMATS.md): PRIOR.json is a `bandit-prior` file; EVENTS.jsonl has one JSON
//! object per line, `{"arm": 2, "context": [..d numbers..], "reward": 0.73}`, where `arm` is
//! an index or an arm name from the prior; blank lines are skipped. The output is a
//! `bandit-posterior` file: per arm, the mean vector and the precision matrix.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use bandit::{LinearRouter, Prior, RouterSpec};
use clap::Args;
use serde::Deserialize;

/// Arguments of `router replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Prior means, a `bandit-prior` JSON file (e.g. exported by the offline router).
    #[arg(long, value_name = "PRIOR.json")]
    prior: PathBuf,
    /// Logged rewards, one JSON object per line.
    #[arg(long, value_name = "EVENTS.jsonl")]
    events: PathBuf,
    /// Where to write the posterior (atomically).
    #[arg(long, value_name = "STATE.json")]
    out: PathBuf,
    /// Router spec (policy must learn; default: configs/router/bayesian-v4.toml's values).
    #[arg(long, value_name = "ROUTER.toml")]
    config: Option<PathBuf>,
}

/// One logged reward.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Event {
    arm: ArmRef,
    context: Vec<f64>,
    reward: f64,
}

/// An arm given by index or by name.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ArmRef {
    Index(usize),
    Name(String),
}

/// Replays the log and writes the posterior.
pub fn run(args: &ReplayArgs) -> Result<()> {
    let spec = match &args.config {
        Some(path) => RouterSpec::load(path)?,
        None => RouterSpec::bayesian_v4(),
    };
    if !spec.policy.learns() {
        bail!(
            "policy `{}` never updates: replay needs thompson, linucb or epsilon_greedy",
            spec.policy.name()
        );
    }
    let prior = Prior::load(&args.prior)?;
    let mut router = LinearRouter::new(spec.policy, prior, spec.params, spec.seed)?;
    let replayed = replay(&mut router, &args.events)?;
    router.posterior_summary().save(&args.out)?;
    println!(
        "replayed {replayed} events into {} arms (d = {}); wrote {}",
        router.n_arms(),
        router.dim(),
        args.out.display()
    );
    Ok(())
}

/// Feeds every event of `path` to `router`, in order; returns how many.
fn replay(router: &mut LinearRouter, path: &Path) -> Result<usize> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut count = 0;
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let at = || format!("{}:{}", path.display(), index + 1);
        let line = line.with_context(at)?;
        if line.trim().is_empty() {
            continue;
        }
        let event: Event = serde_json::from_str(&line).with_context(at)?;
        let arm = resolve_arm(router, &event.arm).with_context(at)?;
        router
            .update(arm, &event.context, event.reward)
            .with_context(at)?;
        count += 1;
    }
    Ok(count)
}

fn resolve_arm(router: &LinearRouter, arm: &ArmRef) -> Result<usize> {
    match arm {
        ArmRef::Index(index) => Ok(*index),
        ArmRef::Name(name) => {
            let names = router.prior().names();
            names
                .iter()
                .position(|known| known == name)
                .with_context(|| format!("unknown arm {name:?}; the prior has {names:?}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(events: &str) -> (tempfile::TempDir, ReplayArgs) {
        let dir = tempfile::tempdir().unwrap();
        let prior = Prior::new(vec![
            ("math".into(), vec![1.0, 0.0]),
            ("chat".into(), vec![0.0, 1.0]),
        ])
        .unwrap();
        prior.save(&dir.path().join("prior.json")).unwrap();
        std::fs::write(dir.path().join("events.jsonl"), events).unwrap();
        let args = ReplayArgs {
            prior: dir.path().join("prior.json"),
            events: dir.path().join("events.jsonl"),
            out: dir.path().join("state.json"),
            config: None,
        };
        (dir, args)
    }

    #[test]
    fn replays_indices_and_names() {
        let (_dir, args) = setup(
            "{\"arm\": 0, \"context\": [1.0, 0.0], \"reward\": 1.0}\n\n\
             {\"arm\": \"chat\", \"context\": [0.0, 2.0], \"reward\": -1.0}\n",
        );
        run(&args).unwrap();
        let out: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&args.out).unwrap()).unwrap();
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
            let (_dir, args) = setup(events);
            let err = format!("{:#}", run(&args).unwrap_err());
            assert!(err.contains(expected), "{err} should contain {expected}");
            assert!(!args.out.exists(), "no output on error");
        }
    }
}
