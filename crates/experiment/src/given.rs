//! A given world: the comparison on models and data a user already has — a policy, a pool
//! of reward models, training prompts, offline routers and held-out prompts with reference
//! answers (SmolLM2-135M-Instruct on GSM8K: configs/experiment/smollm2-gsm8k.toml).
//!
//! Nothing is trained before the online runs. A trainer config (docs/FORMATS.md, "Trainer
//! config") is the template every run shares — policy and LoRA, prompts, pool, sampling,
//! pairs, DPO, oracle, device — and each run sets its seed, strategy, normaliser and
//! router. The starting policy and every final one are scored greedily on the held-out
//! prompts by a verifier. The report has no RM-accuracy or offline-router tables: the pool
//! and the routers come from elsewhere (`cargo xtask offline-router eval` reports those).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use answer_check::{Verifier, VerifierTask};
use lm::DeviceSpec;
use rlhf_trainer::{StrategyConfig, TrainerConfig};
use serde::{Deserialize, Serialize};

use crate::ablations;
use crate::cache::key_of;
use crate::config::{AblationsConfig, expand_strategies};
use crate::error::{Error, Result};
use crate::evaluation::Evaluation;
use crate::offline::Condition;
use crate::online::{self, SeedCounts, World};
use crate::pipeline::{
    Event, Options, Outcome, Stages, online_stage, reported_runs, write_outcome,
};
use crate::results::Results;

/// An experiment on given models and data (a config file with a `[world]` table).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GivenWorldConfig {
    /// Name of the run folder under the output root (`runs/experiment/<name>`).
    pub name: String,
    /// Online seeds per strategy (0, 1, …).
    pub seeds: usize,
    /// Strategies (`rlhf-trainer` names; `single:*` expands to one run per RM of the pool).
    pub strategies: Vec<String>,
    /// The files every run shares.
    pub world: WorldFiles,
    /// Held-out scoring of the policies.
    pub eval: HeldOutConfig,
    /// Extra runs for ablations.
    #[serde(default)]
    pub ablations: AblationsConfig,
}

/// `[world]`: what the runs start from. Relative paths are relative to the config file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldFiles {
    /// The trainer config every run starts from (its `seed`, `output`, `strategy`,
    /// `normalizer` and `data.router` are set per run).
    pub trainer: PathBuf,
    /// The offline router export per condition (`in-distribution`, `shifted`); at least one.
    pub routers: BTreeMap<Condition, PathBuf>,
}

/// `[eval]`: greedy accuracy on held-out prompts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeldOutConfig {
    /// The prompts (the trainer's prompts format, each with a `reference`).
    pub prompts: PathBuf,
    /// The answer check (`gsm8k`, `mmlu`, `exact`, `regex`, `synthetic`).
    pub task: VerifierTask,
    /// The pattern of `regex`.
    #[serde(default)]
    pub pattern: Option<String>,
    /// Response cap in tokens.
    pub max_new_tokens: usize,
}

impl GivenWorldConfig {
    /// Reads and checks a config file; its relative paths become absolute.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(atomic_write::io_error(path))?;
        Self::from_toml(&text, path)
    }

    /// Parses and checks `text` (read from `origin`, whose folder relative paths start from).
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self> {
        let bad = |reason: String| Error::Config {
            path: origin.to_path_buf(),
            reason,
        };
        let mut config: Self = toml::from_str(text).map_err(|err| bad(err.to_string()))?;
        let base = origin.parent().unwrap_or(Path::new(""));
        let absolute = |path: &mut PathBuf| -> Result<()> {
            let joined = base.join(&*path);
            *path = std::path::absolute(&joined).map_err(atomic_write::io_error(&joined))?;
            Ok(())
        };
        absolute(&mut config.world.trainer)?;
        config.world.routers.values_mut().try_for_each(absolute)?;
        absolute(&mut config.eval.prompts)?;
        config.check().map_err(|err| match err {
            Error::Config { path, reason } if path.as_os_str().is_empty() => bad(reason),
            other => other,
        })?;
        Ok(config)
    }

    /// The trainer template, read (paths absolute) and checked.
    pub fn trainer(&self) -> Result<TrainerConfig> {
        Ok(TrainerConfig::read(
            &self.world.trainer,
            &rlhf_trainer::Overrides::default(),
        )?)
    }

    /// The routed pool's RM names, in arm order (from the template's pool file; no model is
    /// loaded).
    pub fn rm_names(&self) -> Result<Vec<String>> {
        let trainer = self.trainer()?;
        let pool = rm_pool::PoolConfig::read(&trainer.data.pool)?;
        Ok(pool.rms.iter().map(|rm| rm.name().to_string()).collect())
    }

    /// The strategies to run, `single:*` expanded over the pool.
    pub fn expanded_strategies(&self) -> Result<Vec<StrategyConfig>> {
        expand_strategies(&self.strategies, &self.rm_names()?)
    }

    /// The checks that need no model: sizes, the trainer template, the pool's names, the
    /// verifier.
    pub fn check(&self) -> Result<()> {
        let bad = |reason: &str| {
            Err(Error::Config {
                path: PathBuf::new(),
                reason: reason.into(),
            })
        };
        if self.seeds == 0 {
            return bad("`seeds` must be at least 1");
        }
        if self.eval.max_new_tokens == 0 {
            return bad("`eval.max_new_tokens` must be at least 1");
        }
        if self.world.routers.is_empty() {
            return bad(
                "`[world.routers]` needs at least one offline router export \
                 (e.g. in-distribution = \"…/best\"): it is the prior and the context function",
            );
        }
        self.verifier()?;
        self.expanded_strategies()?;
        Ok(())
    }

    fn verifier(&self) -> Result<Verifier> {
        Verifier::new(self.eval.task.clone(), self.eval.pattern.as_deref()).map_err(|err| {
            Error::Config {
                path: PathBuf::new(),
                reason: format!("[eval]: {err}"),
            }
        })
    }
}

/// Every file the runs read, named by its key, must exist before anything runs.
fn check_files(config: &GivenWorldConfig, trainer: &TrainerConfig) -> Result<()> {
    let mut files: Vec<(String, PathBuf)> = vec![
        ("policy.path".into(), trainer.policy.path.clone()),
        ("data.prompts".into(), trainer.data.prompts.clone()),
        ("data.pool".into(), trainer.data.pool.clone()),
        ("[eval] prompts".into(), config.eval.prompts.clone()),
    ];
    for (condition, path) in &config.world.routers {
        files.push((format!("world.routers.{}", condition.name()), path.clone()));
    }
    match files.into_iter().find(|(_, path)| !path.exists()) {
        Some((key, path)) => Err(Error::Config {
            path,
            reason: format!(
                "not found (`{key}`); the comments at the top of the experiment config \
                 give the commands that make it"
            ),
        }),
        None => Ok(()),
    }
}

/// Runs a given world as `options` say; `observe` hears progress (from several threads).
/// On a GPU (the template's `device`) the runs go one at a time.
pub fn run_given_world(
    config: &GivenWorldConfig,
    options: &Options,
    observe: &(dyn Fn(&Event) + Sync),
) -> Result<Outcome> {
    let started = Instant::now();
    let dir = options.out.join(&config.name);
    let trainer = config.trainer()?;
    check_files(config, &trainer)?;
    let device_spec = trainer.device;
    let device = device_spec.device()?;
    let mut stages = Stages::new(&dir, options.fresh, device.clone(), observe);
    let prompts = rlhf_trainer::read_prompts(&config.eval.prompts)?;
    let evaluation = Evaluation::verifier(
        prompts,
        config.verifier()?,
        config.eval.max_new_tokens,
        &config.eval.prompts,
    )?;

    // The starting policy's held-out accuracy.
    let policy = trainer.policy.path.clone();
    let start_key = key_of(&[&"start-policy", &policy, &config.eval]);
    let start_accuracy = stages.timed("start-policy", 1, |s, advance| {
        let stage = s.cache.stage("start-policy", start_key.clone(), |_| {
            let scores = evaluation.score(&policy, &s.device)?;
            advance();
            Ok(scores)
        })?;
        Ok((stage.value, stage.cached))
    })?;

    // Online runs.
    let world = World {
        iterations: trainer.iterations,
        trainer,
        routers: config
            .world
            .routers
            .iter()
            .map(|(&condition, path)| (condition, vec![path.clone()]))
            .collect(),
        evaluation,
        panel: None,
    };
    let conditions: Vec<Condition> = config.world.routers.keys().copied().collect();
    let jobs = online::jobs(
        &config.expanded_strategies()?,
        SeedCounts::uniform(config.seeds),
        &conditions,
        &config.ablations,
    );
    let online_key = key_of(&[
        &"online",
        &world.trainer,
        &config.world.routers,
        &config.eval,
    ]);
    let gpu = (device_spec != DeviceSpec::Cpu).then_some(&device);
    let (runs, run_times) = online_stage(&mut stages, &world, &jobs, &online_key, options, gpu)?;
    let reported = reported_runs(&jobs, &runs, &conditions);
    let results = Results {
        name: config.name.clone(),
        config_hash: key_of(&[config]),
        domains: world.evaluation.categories(),
        rm_names: config.rm_names()?,
        seeds: config.seeds,
        premise_seeds: None,
        iterations: world.iterations,
        sampling: Some(world.trainer.sampling_regime()),
        sft_accuracy: start_accuracy,
        rm_accuracy: Vec::new(),
        offline_router: Vec::new(),
        ablations: ablations::measure(&reported, &conditions),
        runs: reported,
        premise: None,
        panel: None,
    };
    let timings = stages.timings(run_times, started);
    write_outcome(
        dir,
        results,
        timings,
        &toml::to_string(config).expect("configs serialise"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../configs/experiment")
            .join(name)
    }

    #[test]
    fn shipped_given_worlds_load_and_expand_over_their_pool() {
        for name in ["smollm2-gsm8k.toml", "smollm2-gsm8k-gpu.toml"] {
            let config = GivenWorldConfig::read(&shipped(name)).unwrap();
            assert!(config.world.trainer.is_absolute());
            let names: Vec<String> = config
                .expanded_strategies()
                .unwrap()
                .iter()
                .map(StrategyConfig::name)
                .collect();
            assert!(
                names.contains(&"single:minilm-similarity".into()),
                "{names:?}"
            );
            assert!(names.contains(&"bayesian-v5".into()));
        }
    }

    #[test]
    fn bad_given_worlds_are_named() {
        let text = std::fs::read_to_string(shipped("smollm2-gsm8k.toml")).unwrap();
        let origin = shipped("x.toml");
        let no_router = text.replace(
            "routers = { in-distribution = \"../../runs/offline-router/smollm2-gsm8k/best\" }",
            "routers = {}",
        );
        let err = GivenWorldConfig::from_toml(&no_router, &origin).unwrap_err();
        assert!(err.to_string().contains("[world.routers]") && err.to_string().contains("x.toml"));
        let unknown_rm = text.replace("\"single:*\",", "\"single:gpt-judge\",");
        let err = GivenWorldConfig::from_toml(&unknown_rm, &origin).unwrap_err();
        assert!(err.to_string().contains("gpt-judge"), "{err}");
        let typo = text.replace("max_new_tokens = 192", "max_new_token = 192");
        let err = GivenWorldConfig::from_toml(&typo, &origin).unwrap_err();
        assert!(err.to_string().contains("max_new_token"), "{err}");
    }
}
