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

use answer_check::VerifierTask;
use burn::prelude::*;
use lm::DeviceSpec;
use rlhf_trainer::{
    DataConfig, DpoConfig, NormalizerKind, PairsConfig, PolicyConfig, ROUTING_FILE, RoutingRecord,
    SamplingConfig, StrategyConfig, Trainer, TrainerConfig,
};
use rm_pool::RmSpec;
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
    /// The trainer config every run shares (absolute paths); each job sets `seed`,
    /// `output`, `strategy`, `normalizer` and `data.router` ([`job_config`]).
    pub trainer: TrainerConfig,
    /// DPO updates per run.
    pub iterations: usize,
    /// The offline router export per condition.
    pub routers: BTreeMap<Condition, PathBuf>,
    /// How each final policy is scored.
    pub evaluation: Evaluation,
}

/// The trainer config the suite's runs share (absolute paths given): the SFT policy, the
/// online prompts, the learned pool, `[online]`'s sampling, pairs and DPO settings, and the
/// suite's verifier as the oracle. Its strategy and output are placeholders every job
/// replaces.
pub fn suite_trainer_template(
    online: &OnlineConfig,
    policy: &Path,
    prompts: &Path,
    pool: &Path,
) -> TrainerConfig {
    let o = online;
    TrainerConfig {
        seed: 0,
        iterations: o.iterations,
        output: PathBuf::new(),
        device: DeviceSpec::Cpu,
        checkpoint_every: 0,
        policy: PolicyConfig {
            path: policy.to_path_buf(),
            lora: None,
        },
        data: DataConfig {
            prompts: prompts.to_path_buf(),
            pool: pool.to_path_buf(),
            router: None,
            context_batch_size: 64,
        },
        strategy: StrategyConfig::Random,
        normalizer: None,
        sampling: SamplingConfig {
            prompts_per_batch: o.prompts_per_batch,
            samples_per_prompt: o.samples_per_prompt,
            temperature: o.temperature,
            max_new_tokens: o.max_new_tokens,
            ..SamplingConfig::default()
        },
        pairs: PairsConfig {
            pairs_per_prompt: o.pairs_per_prompt,
            tie_eps: o.tie_eps,
        },
        dpo: DpoConfig {
            beta: o.beta,
            lr: o.lr,
            ..DpoConfig::default()
        },
        oracle: Some(RmSpec::Verifier {
            name: "verifier".into(),
            task: VerifierTask::Synthetic,
            pattern: None,
        }),
        log_contexts: false,
    }
}

/// The trainer config of `job`: the world's template with the job's seed, strategy,
/// normaliser and router, writing into `dir/run`.
pub fn job_config(world: &World, job: &Job, dir: &Path) -> Result<TrainerConfig> {
    let router = match job.condition {
        Some(condition) => {
            Some(
                world
                    .routers
                    .get(&condition)
                    .cloned()
                    .ok_or_else(|| Error::Config {
                        path: "routers".into(),
                        reason: format!("no offline router for condition `{}`", condition.name()),
                    })?,
            )
        }
        None => None,
    };
    let mut config = world.trainer.clone();
    config.seed = job.seed;
    config.output = dir.join("run");
    config.strategy = job.strategy.clone();
    config.normalizer = job.normalizer;
    config.data.router = router;
    config.validate()?;
    Ok(config)
}

/// `config` as the `train.toml` a job leaves in its folder.
fn train_toml(job: &Job, config: &TrainerConfig) -> Result<String> {
    let header = format!(
        "# Online DPO run `{}` of `cargo xtask experiment` (rerun: cargo xtask train --config <this file>).\n",
        job.folder()
    );
    Ok(header + &config.to_toml()?)
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
        let text =
            std::fs::read_to_string(&result_file).map_err(atomic_write::io_error(&result_file))?;
        return serde_json::from_str(&text).map_err(|err| Error::Config {
            path: result_file.clone(),
            reason: format!("an unreadable run result ({err}); delete it or pass --fresh"),
        });
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(atomic_write::io_error(dir))?;
    }
    std::fs::create_dir_all(dir).map_err(atomic_write::io_error(dir))?;
    let config = job_config(
        world,
        job,
        &std::path::absolute(dir).map_err(atomic_write::io_error(dir))?,
    )?;
    let config_file = dir.join("train.toml");
    let text = train_toml(job, &config)?;
    std::fs::write(&config_file, &text).map_err(atomic_write::io_error(&config_file))?;
    let mut trainer = Trainer::from_config(config, false)?;
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
    let routing: Vec<RoutingRecord> = atomic_write::read_jsonl(&run.join(ROUTING_FILE))?;
    let metrics: Vec<serde_json::Value> =
        atomic_write::read_jsonl(&run.join(rlhf_trainer::METRICS_FILE))?;
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

/// Writes the online prompts file the trainer reads (`prompt`, `category`, `reference`).
pub fn write_prompts(path: &Path, tasks: &[Task]) -> Result<()> {
    let text: String = tasks
        .iter()
        .map(|t| synthetic_tasks::prompt_record(t).to_string() + "\n")
        .collect();
    Ok(std::fs::write(path, text).map_err(atomic_write::io_error(path))?)
}
