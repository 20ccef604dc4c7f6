//! The online runs: every strategy × seed (× condition where the strategy reads the offline
//! router) through rlhf-trainer's one loop, from the same SFT policy, the same online prompts
//! and the same budget; the verifier is the trainer's oracle (never routed to) and the
//! truth each routed label is compared with. Each run lives in its own folder with the
//! trainer config it ran (`train.toml`, rerunnable with `cargo xtask train --config`) and
//! its result (`result.json`, written last: a folder without it is rerun).
//!
//! Runs are independent (their own seeds, files and pool), so they run on several threads
//! without changing any result.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use rlhf_trainer::{
    NormalizerKind, ROUTING_FILE, RoutingRecord, StrategyConfig, Trainer, TrainerConfig,
};
use serde::Deserialize;
use synthetic_tasks::Task;

use crate::config::OnlineConfig;
use crate::error::{Error, Result};
use crate::offline::Condition;
use crate::policy;
use crate::results::{DomainScores, RunResult};

/// The file a finished run leaves.
pub const RESULT_FILE: &str = "result.json";

/// One online run to do.
#[derive(Clone, Debug)]
pub struct Job {
    /// Its name in results: the strategy's, or an ablation's (`bayesian-v5-no-quantile`).
    pub label: String,
    /// The strategy.
    pub strategy: StrategyConfig,
    /// A normaliser replacing the strategy's own (ablations).
    pub normalizer: Option<NormalizerKind>,
    /// The offline router it reads (`None`: the strategy does not read one, and its result
    /// stands for both conditions).
    pub condition: Option<Condition>,
    /// The online seed.
    pub seed: u64,
}

impl Job {
    /// A folder name: strategy, condition (or `any`), seed.
    pub fn folder(&self) -> String {
        format!(
            "{}-{}-s{}",
            self.label.replace(':', "_"),
            self.condition.map_or("any", Condition::name),
            self.seed
        )
    }
}

/// Whether `strategy` reads the offline router (its prior or its context function).
pub fn reads_router(strategy: &StrategyConfig) -> bool {
    strategy.needs_pair_contexts()
}

/// The label of bayesian-v5 without quantile rescaling (the ablation's runs).
pub const NO_QUANTILE: &str = "bayesian-v5-no-quantile";

/// Every job of `strategies` × `seeds` (× both conditions for strategies that read the
/// offline router), in report order; with `quantile_ablation`, bayesian-v5 once more with
/// raw batch advantages as rewards ([`NO_QUANTILE`]).
pub fn jobs(
    strategies: &[StrategyConfig],
    seeds: usize,
    conditions: &[Condition],
    quantile_ablation: bool,
) -> Vec<Job> {
    let mut runs: Vec<(String, StrategyConfig, Option<NormalizerKind>)> = strategies
        .iter()
        .map(|s| (s.name(), s.clone(), None))
        .collect();
    if let Some(v5) = strategies.iter().find(|s| s.name() == "bayesian-v5")
        && quantile_ablation
    {
        runs.push((
            NO_QUANTILE.to_string(),
            v5.clone(),
            Some(NormalizerKind::BatchAdvantage),
        ));
    }
    let mut jobs = Vec::new();
    for (label, strategy, normalizer) in runs {
        let strategy = &strategy;
        let per_condition: Vec<Option<Condition>> = if reads_router(strategy) {
            conditions.iter().copied().map(Some).collect()
        } else {
            vec![None]
        };
        for condition in per_condition {
            for seed in 0..seeds as u64 {
                jobs.push(Job {
                    label: label.clone(),
                    strategy: strategy.clone(),
                    normalizer,
                    condition,
                    seed,
                });
            }
        }
    }
    jobs
}

/// What every run shares: the files of the earlier stages.
#[derive(Clone, Debug)]
pub struct World {
    /// The SFT policy folder.
    pub policy: PathBuf,
    /// The online prompts (JSONL).
    pub prompts: PathBuf,
    /// The pool file.
    pub pool: PathBuf,
    /// The offline router export per condition.
    pub routers: BTreeMap<Condition, PathBuf>,
    /// Held-out evaluation tasks.
    pub eval: Vec<Task>,
    /// The online settings.
    pub online: OnlineConfig,
}

/// The trainer config of `job` (TOML text; absolute paths).
pub fn trainer_toml(world: &World, job: &Job) -> Result<String> {
    let o = &world.online;
    let mut table = toml::Table::new();
    let mut insert = |key: &str, value: toml::Value| {
        table.insert(key.into(), value);
    };
    insert("seed", toml::Value::Integer(job.seed as i64));
    insert("iterations", toml::Value::Integer(o.iterations as i64));
    insert("output", "run".into());
    insert("device", "cpu".into());
    let path = |p: &Path| toml::Value::String(p.display().to_string());
    let mut policy = toml::Table::new();
    policy.insert("path".into(), path(&world.policy));
    insert("policy", policy.into());
    let mut data = toml::Table::new();
    data.insert("prompts".into(), path(&world.prompts));
    data.insert("pool".into(), path(&world.pool));
    if let Some(condition) = job.condition {
        data.insert("router".into(), path(&world.routers[&condition]));
    }
    data.insert("context_batch_size".into(), toml::Value::Integer(64));
    insert("data", data.into());
    let strategy = toml::Value::try_from(&job.strategy).map_err(|err| Error::Config {
        path: "strategy".into(),
        reason: err.to_string(),
    })?;
    insert("strategy", strategy);
    if let Some(kind) = job.normalizer {
        let kind = toml::Value::try_from(kind).map_err(|err| Error::Config {
            path: "normalizer".into(),
            reason: err.to_string(),
        })?;
        insert("normalizer", kind);
    }
    let mut sampling = toml::Table::new();
    sampling.insert(
        "prompts_per_batch".into(),
        toml::Value::Integer(o.prompts_per_batch as i64),
    );
    sampling.insert(
        "samples_per_prompt".into(),
        toml::Value::Integer(o.samples_per_prompt as i64),
    );
    sampling.insert(
        "temperature".into(),
        toml::Value::Float(f64::from(o.temperature)),
    );
    sampling.insert(
        "max_new_tokens".into(),
        toml::Value::Integer(o.max_new_tokens as i64),
    );
    insert("sampling", sampling.into());
    let mut pairs = toml::Table::new();
    pairs.insert(
        "pairs_per_prompt".into(),
        toml::Value::Integer(o.pairs_per_prompt as i64),
    );
    pairs.insert("tie_eps".into(), toml::Value::Float(f64::from(o.tie_eps)));
    insert("pairs", pairs.into());
    let mut dpo = toml::Table::new();
    dpo.insert("beta".into(), toml::Value::Float(o.beta));
    dpo.insert("lr".into(), toml::Value::Float(o.lr));
    insert("dpo", dpo.into());
    let mut oracle = toml::Table::new();
    oracle.insert("name".into(), "verifier".into());
    oracle.insert("kind".into(), "verifier".into());
    oracle.insert("task".into(), "synthetic".into());
    insert("oracle", oracle.into());
    let header = format!(
        "# Online DPO run `{}` of `cargo xtask experiment` (rerun: cargo xtask train --config <this file>).\n",
        job.folder()
    );
    Ok(header + &toml::to_string(&table).expect("TOML tables serialise"))
}

/// Runs `job` in `dir` (or reads its finished result); `iteration` hears each iteration.
pub fn run_job(
    world: &World,
    job: &Job,
    dir: &Path,
    fresh: bool,
    device: &Device,
    iteration: &mut dyn FnMut(usize),
) -> Result<RunResult> {
    let result_file = dir.join(RESULT_FILE);
    if !fresh && result_file.exists() {
        let text = std::fs::read_to_string(&result_file).map_err(Error::io(&result_file))?;
        return serde_json::from_str(&text).map_err(|err| Error::Config {
            path: result_file.clone(),
            reason: format!("an unreadable run result ({err}); delete it or pass --fresh"),
        });
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(Error::io(dir))?;
    }
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let config_file = dir.join("train.toml");
    let text = trainer_toml(world, job)?;
    std::fs::write(&config_file, &text).map_err(Error::io(&config_file))?;
    let (config, table) = TrainerConfig::from_toml(&text, &config_file, &Default::default())?;
    let mut trainer = Trainer::from_config(config, table, false)?;
    let summary = trainer.run(&mut |report| iteration(report.iteration + 1))?;
    let (_, model) = lm::load_causal_lm(&summary.policy, device, lm::WeightDType::F32)?;
    let tokenizer = lm::Tokenizer::from_hf_dir(&summary.policy)?;
    let policy_accuracy = policy::evaluate(
        &model,
        &tokenizer,
        &world.eval,
        world.online.max_new_tokens,
        device,
    )?;
    let result = summarise(
        job,
        &summary.dir,
        world.online.iterations,
        trainer.pool().names(),
        policy_accuracy,
    )?;
    let text = serde_json::to_string_pretty(&result).expect("results serialise") + "\n";
    crate::results::write_atomic(&result_file, text.as_bytes()).map_err(Error::io(&result_file))?;
    Ok(result)
}

/// A run's metrics from its logs.
fn summarise(
    job: &Job,
    run: &Path,
    iterations: usize,
    rm_names: Vec<String>,
    policy_accuracy: DomainScores,
) -> Result<RunResult> {
    let routing: Vec<RoutingRecord> = read_jsonl(&run.join(ROUTING_FILE))?;
    let metrics: Vec<serde_json::Value> = read_jsonl(&run.join(rlhf_trainer::METRICS_FILE))?;
    let rm_calls = metrics
        .iter()
        .filter_map(|m| m.get("rm/items_scored").and_then(serde_json::Value::as_u64))
        .sum();
    let decided = |r: &&RoutingRecord| r.kept && r.truth.is_some();
    let label_accuracy = policy::domain_scores(
        routing
            .iter()
            .filter(decided)
            .map(|r| (r.category.clone().unwrap_or_default(), r.chosen == r.truth)),
    );
    let label_accuracy_by_iteration = (0..iterations)
        .map(|i| {
            let hits: Vec<bool> = routing
                .iter()
                .filter(|r| r.iteration == i)
                .filter(decided)
                .map(|r| r.chosen == r.truth)
                .collect();
            (!hits.is_empty())
                .then(|| hits.iter().filter(|h| **h).count() as f64 / hits.len() as f64)
        })
        .collect();
    let arm_share_by_iteration = (0..iterations)
        .map(|i| {
            let mut counts: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            for r in routing.iter().filter(|r| r.iteration == i && r.visited) {
                let Some(arm) = r.arm else { continue };
                let row = counts
                    .entry(r.category.clone().unwrap_or_default())
                    .or_insert_with(|| vec![0.0; rm_names.len()]);
                row[arm] += 1.0;
            }
            for row in counts.values_mut() {
                let total: f64 = row.iter().sum();
                row.iter_mut().for_each(|c| *c /= total.max(1.0));
            }
            counts
        })
        .collect();
    Ok(RunResult {
        strategy: job.label.clone(),
        condition: job.condition.map_or("any", Condition::name).to_string(),
        seed: job.seed,
        policy_accuracy,
        label_accuracy,
        label_accuracy_by_iteration,
        arm_share_by_iteration,
        rm_calls,
        pairs_judged: routing.iter().filter(|r| r.visited).count() as u64,
        pairs_kept: routing.iter().filter(|r| r.kept).count() as u64,
    })
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>> {
    let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|err| Error::Config {
                path: path.to_path_buf(),
                reason: format!("line {}: {err}", i + 1),
            })
        })
        .collect()
}

/// Writes the online prompts file the trainer reads (`prompt`, `category`, `reference`).
pub fn write_prompts(path: &Path, tasks: &[Task]) -> Result<()> {
    let text: String = tasks
        .iter()
        .map(|t| synthetic_tasks::prompt_record(t).to_string() + "\n")
        .collect();
    std::fs::write(path, text).map_err(Error::io(path))
}
