//! `cargo xtask bandit replay` (alias `router replay`): rebuild a Thompson bandit's posterior
//! from a reward log (`bandit::replay_reward_log`).
//!
//! Formats (docs/FORMATS.md): PRIOR.json is a `bandit-prior` file; EVENTS.jsonl has one JSON
//! object per line, `{"arm": 2, "context": [..d numbers..], "reward": 0.73}`, where `arm` is
//! an index or an arm name from the prior; blank lines are skipped. The output is a
//! `bandit-posterior` file: per arm, the mean vector and the precision matrix.

use std::path::PathBuf;

use anyhow::Result;
use bandit::{BanditSpec, Prior, replay_reward_log};
use clap::Args;

/// Arguments of `bandit replay`.
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
    /// Router spec (policy must learn; default: configs/bandit/bayesian-v4.toml's values).
    #[arg(long, value_name = "ROUTER.toml")]
    config: Option<PathBuf>,
}

/// Replays the log and writes the posterior.
pub fn run(args: &ReplayArgs) -> Result<()> {
    let spec = match &args.config {
        Some(path) => BanditSpec::load(path)?,
        None => BanditSpec::bayesian_v4(),
    };
    let prior = Prior::load(&args.prior)?;
    let (bandit, replayed) = replay_reward_log(spec, prior, &args.events)?;
    bandit.posterior_summary().save(&args.out)?;
    println!(
        "replayed {replayed} events into {} arms (d = {}); wrote {}",
        bandit.n_arms(),
        bandit.dim(),
        args.out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command writes the posterior file, and nothing when a line is bad.
    #[test]
    fn writes_the_posterior_and_nothing_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let prior = Prior::new(vec![
            ("math".into(), vec![1.0, 0.0]),
            ("chat".into(), vec![0.0, 1.0]),
        ])
        .unwrap();
        prior.save(&dir.path().join("prior.json")).unwrap();
        let args = ReplayArgs {
            prior: dir.path().join("prior.json"),
            events: dir.path().join("events.jsonl"),
            out: dir.path().join("state.json"),
            config: None,
        };
        std::fs::write(
            &args.events,
            "{\"arm\": 5, \"context\": [1.0, 0.0], \"reward\": 1.0}",
        )
        .unwrap();
        assert!(run(&args).is_err());
        assert!(!args.out.exists(), "no output on error");
        std::fs::write(
            &args.events,
            "{\"arm\": 1, \"context\": [1.0, 0.0], \"reward\": 1.0}",
        )
        .unwrap();
        run(&args).unwrap();
        let out: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&args.out).unwrap()).unwrap();
        assert_eq!(out["arms"][1]["updates"], 1);
    }
}
