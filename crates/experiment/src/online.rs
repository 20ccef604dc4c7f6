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
use crate::evaluation::Evaluation;
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

/// What every run shares: the trainer config they start from and how their final policies
/// are scored.
#[derive(Clone, Debug)]
pub struct World {
    /// The trainer config every run shares, with absolute paths; each job sets `seed`,
    /// `output`, `strategy`, `normalizer` and `data.router`.
    pub trainer: toml::Table,
    /// DPO updates per run.
    pub iterations: usize,
    /// The offline router export per condition.
    pub routers: BTreeMap<Condition, PathBuf>,
    /// How each final policy is scored.
    pub evaluation: Evaluation,
}

/// The trainer config the suite's runs share (TOML table; absolute paths): the SFT policy,
/// the online prompts, the learned pool, `[online]`'s sampling, pairs and DPO settings, and
/// the suite's verifier as the oracle.
pub fn suite_trainer_template(
    online: &OnlineConfig,
    policy: &Path,
    prompts: &Path,
    pool: &Path,
) -> toml::Table {
    let o = online;
    let path = |p: &Path| toml::Value::String(p.display().to_string());
    let int = |n: usize| toml::Value::Integer(n as i64);
    let mut table = toml::Table::new();
    table.insert("iterations".into(), int(o.iterations));
    table.insert("device".into(), "cpu".into());
    let mut policy_table = toml::Table::new();
    policy_table.insert("path".into(), path(policy));
    table.insert("policy".into(), policy_table.into());
    let mut data = toml::Table::new();
    data.insert("prompts".into(), path(prompts));
    data.insert("pool".into(), path(pool));
    data.insert("context_batch_size".into(), int(64));
    table.insert("data".into(), data.into());
    let mut sampling = toml::Table::new();
    sampling.insert("prompts_per_batch".into(), int(o.prompts_per_batch));
    sampling.insert("samples_per_prompt".into(), int(o.samples_per_prompt));
    sampling.insert(
        "temperature".into(),
        toml::Value::Float(f64::from(o.temperature)),
    );
    sampling.insert("max_new_tokens".into(), int(o.max_new_tokens));
    table.insert("sampling".into(), sampling.into());
    let mut pairs = toml::Table::new();
    pairs.insert("pairs_per_prompt".into(), int(o.pairs_per_prompt));
    pairs.insert("tie_eps".into(), toml::Value::Float(f64::from(o.tie_eps)));
    table.insert("pairs".into(), pairs.into());
    let mut dpo = toml::Table::new();
    dpo.insert("beta".into(), toml::Value::Float(o.beta));
    dpo.insert("lr".into(), toml::Value::Float(o.lr));
    table.insert("dpo".into(), dpo.into());
    let mut oracle = toml::Table::new();
    oracle.insert("name".into(), "verifier".into());
    oracle.insert("kind".into(), "verifier".into());
    oracle.insert("task".into(), "synthetic".into());
    table.insert("oracle".into(), oracle.into());
    table
}

/// The trainer config of `job` (TOML text; absolute paths): the world's template with the
/// job's seed, strategy, normaliser and router, writing into `run/` beside the file.
pub fn trainer_toml(world: &World, job: &Job) -> Result<String> {
    let mut table = world.trainer.clone();
    let value = |what: &str, v: std::result::Result<toml::Value, toml::ser::Error>| {
        v.map_err(|err| Error::Config {
            path: what.into(),
            reason: err.to_string(),
        })
    };
    table.insert("seed".into(), toml::Value::Integer(job.seed as i64));
    table.insert("output".into(), "run".into());
    table.insert(
        "strategy".into(),
        value("strategy", toml::Value::try_from(&job.strategy))?,
    );
    match job.normalizer {
        Some(kind) => {
            table.insert(
                "normalizer".into(),
                value("normalizer", toml::Value::try_from(kind))?,
            );
        }
        None => {
            table.remove("normalizer");
        }
    }
    if let Some(toml::Value::Table(data)) = table.get_mut("data") {
        data.remove("router");
        if let Some(condition) = job.condition {
            let router = world.routers.get(&condition).ok_or_else(|| Error::Config {
                path: "routers".into(),
                reason: format!("no offline router for condition `{}`", condition.name()),
            })?;
            data.insert("router".into(), router.display().to_string().into());
        }
    }
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
    let policy_accuracy = world.evaluation.score(&summary.policy, device)?;
    let result = summarise(
        job,
        &summary.dir,
        world.iterations,
        trainer.pool().names(),
        policy_accuracy,
    )?;
    let text = serde_json::to_string_pretty(&result).expect("results serialise") + "\n";
    atomic_write::replace_file(&result_file, text.as_bytes())?;
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
