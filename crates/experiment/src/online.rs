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
use std::sync::Arc;

use answer_check::VerifierTask;
use burn::prelude::*;
use lm::DeviceSpec;
use rlhf_trainer::{
    ContextKind, DataConfig, DpoConfig, NormalizerKind, PairsConfig, PolicyConfig, ROUTING_FILE,
    RewardSource, RoutingRecord, SamplingConfig, StrategyConfig, Trainer, TrainerConfig,
    mean_prompt_embedding,
};
use rm_pool::RmSpec;
use router_export::{PairRef, RouterExport};
use synthetic_tasks::Task;

use crate::config::{AblationsConfig, OnlineConfig};
use crate::error::{Error, Result};
use crate::evaluation::Evaluation;
use crate::offline::Condition;
use crate::panel::{Panel, PanelPoint, score_router};
use crate::policy;
use crate::premise::{self, Moments};
use crate::results::{DomainScores, ImplicitMargin, MarginStats, RunResult};

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
    /// What its router learns from (the method's DPO losses, or the verifier: an ablation).
    pub reward: RewardSource,
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

    /// The run's key in timings.json: `"strategy/condition/seed"` (condition `any` for a
    /// strategy that reads no offline router), which the report groups by strategy.
    pub fn timing_key(&self) -> String {
        format!(
            "{}/{}/{}",
            self.label,
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

/// The label of bayesian-v5 with σ² matched to its rewards' variance (the ablation's runs).
pub const SIGMA2_MATCHED: &str = "bayesian-v5-sigma2-matched";

/// The suffix of a learning router's label when it learns from the verifier instead of the
/// DPO losses (`bayesian-v5-verifier-reward`, `online-only-v5-verifier-reward`).
pub const VERIFIER_REWARD_SUFFIX: &str = "-verifier-reward";

/// The routers `[ablations] verifier_reward` runs once more with the verifier's reward.
const VERIFIER_REWARD_ROUTERS: [&str; 2] = ["bayesian-v5", "online-only-v5"];

/// The label of bayesian-v5 learning from the verifier (the ablation's runs).
pub const VERIFIER_REWARD_V5: &str = "bayesian-v5-verifier-reward";

/// How many online seeds each run label gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedCounts {
    /// Seeds of every strategy (0, 1, …).
    pub every: usize,
    /// Seeds of the lines the premise checks read ([`premise::LINES`]); at least `every`.
    pub premise_lines: usize,
}

impl SeedCounts {
    /// The same number of seeds for every strategy.
    pub fn uniform(seeds: usize) -> Self {
        Self {
            every: seeds,
            premise_lines: seeds,
        }
    }

    /// Seeds of the runs labelled `label`.
    pub fn of(&self, label: &str) -> usize {
        if premise::LINES.contains(&label) {
            self.premise_lines.max(self.every)
        } else {
            self.every
        }
    }
}

/// Every job of `strategies` × their seeds ([`SeedCounts`]; × both conditions for
/// strategies that read the offline router), in report order; when bayesian-v5 is among them, the ablations'
/// variants of it: raw batch advantages as rewards ([`NO_QUANTILE`]) and a matched σ²
/// ([`SIGMA2_MATCHED`]); and bayesian-v5 and online-only-v5 learning from the verifier
/// ([`VERIFIER_REWARD_SUFFIX`]) where `ablations.verifier_reward` asks.
pub fn jobs(
    strategies: &[StrategyConfig],
    seeds: SeedCounts,
    conditions: &[Condition],
    ablations: &AblationsConfig,
) -> Vec<Job> {
    let method = RewardSource::DpoLoss;
    let mut runs: Vec<(String, StrategyConfig, Option<NormalizerKind>, RewardSource)> = strategies
        .iter()
        .map(|s| (s.name(), s.clone(), None, method))
        .collect();
    if let Some(v5) = strategies.iter().find(|s| s.name() == "bayesian-v5") {
        if ablations.quantile_rescaling {
            runs.push((
                NO_QUANTILE.to_string(),
                v5.clone(),
                Some(NormalizerKind::BatchAdvantage),
                method,
            ));
        }
        if let (Some(sigma2), StrategyConfig::Bayesian { preset, bandit, .. }) =
            (ablations.sigma2_matched, v5)
        {
            let matched = StrategyConfig::Bayesian {
                preset: *preset,
                bandit: bandit.clone(),
                sigma2: Some(sigma2),
            };
            runs.push((SIGMA2_MATCHED.to_string(), matched, None, method));
        }
    }
    if ablations.verifier_reward {
        for router in strategies
            .iter()
            .filter(|s| VERIFIER_REWARD_ROUTERS.contains(&s.name().as_str()))
        {
            let label = format!("{}{VERIFIER_REWARD_SUFFIX}", router.name());
            runs.push((label, router.clone(), None, RewardSource::Verifier));
        }
    }
    let mut jobs = Vec::new();
    for (label, strategy, normalizer, reward) in runs {
        let strategy = &strategy;
        let per_condition: Vec<Option<Condition>> = if reads_router(strategy) {
            conditions.iter().copied().map(Some).collect()
        } else {
            vec![None]
        };
        for condition in per_condition {
            for seed in 0..seeds.of(&label) as u64 {
                jobs.push(Job {
                    label: label.clone(),
                    strategy: strategy.clone(),
                    normalizer,
                    reward,
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
    /// The offline router exports per condition: online seed s reads export s modulo their
    /// number (one export serves every seed).
    pub routers: BTreeMap<Condition, Vec<PathBuf>>,
    /// How each final policy is scored.
    pub evaluation: Evaluation,
    /// The routing panel every router is scored on during training (`None`: no panel).
    pub panel: Option<Arc<PanelWorld>>,
}

/// The routing panel with what scoring a router on it needs: every pair's context under
/// each condition's context function (computed once), the prompts' tokens (LASeR's
/// contexts are the current policy's mean prompt embedding), and the checkpoints.
#[derive(Debug)]
pub struct PanelWorld {
    /// The panel.
    pub panel: Panel,
    /// Per condition, per export of [`World::routers`]: e(x, a, b) of every pair,
    /// `[pairs, d]` row-major.
    pub pair_contexts: BTreeMap<Condition, Vec<Vec<f64>>>,
    /// Per panel prompt: its tokens as the trainer feeds them (chat template applied).
    pub prompt_tokens: Vec<Vec<u32>>,
    /// Per panel pair: the right and the wrong response's tokens (end-of-turn included).
    pub right_wrong_tokens: Vec<[Vec<u32>; 2]>,
    /// Iterations after which routers are scored (0: before training).
    pub checkpoints: Vec<usize>,
}

impl PanelWorld {
    /// `panel` with its contexts under each of `routers`' exports, on `device`.
    pub fn new(
        panel: Panel,
        routers: &BTreeMap<Condition, Vec<PathBuf>>,
        tokenizer: &lm::Tokenizer,
        checkpoints: Vec<usize>,
        device: &Device,
    ) -> Result<Self> {
        let mut pair_contexts = BTreeMap::new();
        let messages: Vec<Vec<lm::ChatMessage>> = panel
            .prompts
            .iter()
            .map(|p| vec![lm::ChatMessage::user(p.clone())])
            .collect();
        let pairs: Vec<PairRef<'_>> = panel
            .pairs
            .iter()
            .map(|p| (messages[p.prompt].as_slice(), p.a.as_str(), p.b.as_str()))
            .collect();
        for (&condition, exports) in routers {
            let mut contexts = Vec::with_capacity(exports.len());
            for export in exports {
                let function =
                    RouterExport::load(export, device)?.into_context_function(device, 64)?;
                contexts.push(function.contexts_f64(&pairs)?.concat());
            }
            pair_contexts.insert(condition, contexts);
        }
        let prompt_tokens = panel
            .prompts
            .iter()
            .map(|p| policy::prompt_tokens(tokenizer, p))
            .collect::<Result<_>>()?;
        let right_wrong_tokens = panel
            .pairs
            .iter()
            .map(|p| {
                let (right, wrong) = if p.right_is_a {
                    (&p.a, &p.b)
                } else {
                    (&p.b, &p.a)
                };
                Ok([
                    policy::response_tokens(tokenizer, right)?,
                    policy::response_tokens(tokenizer, wrong)?,
                ])
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            panel,
            pair_contexts,
            prompt_tokens,
            right_wrong_tokens,
            checkpoints,
        })
    }

    /// m = Δ(right) − Δ(wrong) of every panel pair under `trainer`'s policy now
    /// ([`Trainer::implicit_rewards`]).
    fn implicit_margins(&self, trainer: &Trainer) -> Result<Vec<f64>> {
        let sequences: Vec<(Vec<u32>, Vec<u32>)> = self
            .panel
            .pairs
            .iter()
            .zip(&self.right_wrong_tokens)
            .flat_map(|(pair, responses)| {
                let prompt = &self.prompt_tokens[pair.prompt];
                responses.iter().map(|r| (prompt.clone(), r.clone()))
            })
            .collect();
        let rewards = trainer.implicit_rewards(&sequences)?;
        Ok(rewards.chunks(2).map(|d| d[0] - d[1]).collect())
    }

    /// The panel's contexts for the router of `trainer` running `job`, `[pairs, d]`; `None`
    /// for strategies that do not route.
    fn contexts(&self, trainer: &Trainer, job: &Job) -> Option<Vec<f64>> {
        let pairs = &self.panel.pairs;
        match trainer.context_kind()? {
            ContextKind::Constant => Some(vec![1.0; pairs.len()]),
            ContextKind::Pair => {
                let exports = self.pair_contexts.get(&job.condition?)?;
                exports
                    .get(job.seed as usize % exports.len().max(1))
                    .cloned()
            }
            ContextKind::PromptEmbedding { .. } => {
                let policy = trainer.policy();
                let device = policy.devices()[0].clone();
                let means: Vec<Vec<f64>> = self
                    .prompt_tokens
                    .iter()
                    .map(|ids| mean_prompt_embedding(policy, ids, &device))
                    .collect();
                Some(pairs.iter().flat_map(|p| means[p.prompt].clone()).collect())
            }
        }
    }

    /// `trainer`'s router on the panel now (`None` for strategies that do not route).
    fn score(&self, trainer: &Trainer, job: &Job) -> Result<Option<PanelPoint>> {
        let (Some(bandit), Some(contexts)) = (trainer.bandit(), self.contexts(trainer, job)) else {
            return Ok(None);
        };
        Ok(Some(score_router(
            bandit,
            &contexts,
            &self.panel,
            trainer.iteration(),
        )?))
    }
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
        reward: RewardSource::DpoLoss,
        sampling: SamplingConfig {
            prompts_per_batch: o.prompts_per_batch,
            samples_per_prompt: o.samples_per_prompt,
            temperature: o.temperature,
            max_new_tokens: o.max_new_tokens,
            generator: o.generator,
            ..SamplingConfig::default()
        },
        pairs: PairsConfig {
            pairs_per_prompt: o.pairs_per_prompt,
            tie_eps: o.tie_eps,
        },
        dpo: DpoConfig {
            beta: o.beta,
            lr: o.lr,
            rpo_alpha: o.rpo_alpha,
            reference_sync_every: o.reference_sync_every,
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
        Some(condition) => Some(
            world
                .routers
                .get(&condition)
                .filter(|exports| !exports.is_empty())
                .map(|exports| exports[job.seed as usize % exports.len()].clone())
                .ok_or_else(|| Error::Config {
                    path: "routers".into(),
                    reason: format!("no offline router for condition `{}`", condition.name()),
                })?,
        ),
        None => None,
    };
    let mut config = world.trainer.clone();
    config.seed = job.seed;
    config.output = dir.join("run");
    config.strategy = job.strategy.clone();
    config.normalizer = job.normalizer;
    config.reward = job.reward;
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
    let mut panel_points = Vec::new();
    let mut score_panel = |trainer: &Trainer| -> Result<()> {
        if let Some(panel) = &world.panel
            && panel.checkpoints.contains(&trainer.iteration())
            && let Some(point) = panel.score(trainer, job)?
        {
            panel_points.push(point);
        }
        Ok(())
    };
    score_panel(&trainer)?;
    while trainer.iteration() < world.iterations {
        let report = trainer.step()?;
        iteration(report.iteration + 1);
        score_panel(&trainer)?;
    }
    // Every iteration is done: `run` only writes the last checkpoint and the final policy.
    let summary = trainer.run(&mut |_| {})?;
    let policy_accuracy = world.evaluation.score(&summary.policy, device)?;
    let mut result = summarise(
        job,
        &summary.dir,
        world.iterations,
        trainer.pool().names(),
        policy_accuracy,
        world.trainer.dpo.beta,
    )?;
    result.panel = panel_points;
    // The premise strategies' final policies on the panel (check (b)'s why; the other
    // strategies would add a panel forward pass per run for a diagnostic).
    if let Some(margin) = result.implicit_margin.as_mut()
        && let Some(panel) = &world.panel
        && MARGIN_STRATEGIES.contains(&job.label.as_str())
    {
        margin.panel = MarginStats::of(&panel.implicit_margins(&trainer)?);
    }
    let text = serde_json::to_string_pretty(&result).expect("results serialise") + "\n";
    atomic_write::replace_file(&result_file, text.as_bytes())?;
    Ok(result)
}

/// The strategies whose final policies are scored on the panel's implicit-reward margin:
/// check (b)'s strategy and the oracle to contrast it with.
pub const MARGIN_STRATEGIES: [&str; 2] = [crate::premise::UNBIASED_ROUTING, crate::premise::ORACLE];

/// A run's metrics from its logs; `beta` is the run's DPO β (to read margins back from
/// losses).
fn summarise(
    job: &Job,
    run: &Path,
    iterations: usize,
    rm_names: Vec<String>,
    policy_accuracy: DomainScores,
    beta: f64,
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
    let labels_decided = routing.iter().filter(decided).count() as u64;
    let labels_correct = routing
        .iter()
        .filter(decided)
        .filter(|r| r.chosen == r.truth)
        .count() as u64;
    let mut reward_label: BTreeMap<String, Moments> = BTreeMap::new();
    for r in routing.iter().filter(decided).filter(|r| r.iteration >= 1) {
        if let Some(reward) = r.reward {
            let correct = f64::from(u8::from(r.chosen == r.truth));
            reward_label
                .entry(r.category.clone().unwrap_or_default())
                .or_default()
                .push(reward, correct);
        }
    }
    let on_policy: Vec<f64> = routing
        .iter()
        .filter(decided)
        .filter(|r| r.iteration >= 1)
        .filter_map(|r| {
            let margin = chosen_margin(r.loss?, beta)?;
            Some(if r.chosen == r.truth { margin } else { -margin })
        })
        .collect();
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
        labels_decided,
        labels_correct,
        reward_label,
        panel: Vec::new(),
        implicit_margin: Some(ImplicitMargin {
            on_policy: MarginStats::of(&on_policy),
            panel: None,
        }),
        label_accuracy_by_iteration,
        arm_share_by_iteration,
        rm_calls,
        pairs_judged: routing.iter().filter(|r| r.visited).count() as u64,
        pairs_kept: routing.iter().filter(|r| r.kept).count() as u64,
    })
}

/// Δ(chosen) − Δ(rejected) of a pair whose DPO loss was `loss` nats at β = `beta`:
/// ℓ = −log σ(βx) gives βx = −ln(e^ℓ − 1). `None` for a loss of 0 (x infinite) or a
/// non-positive β.
fn chosen_margin(loss: f64, beta: f64) -> Option<f64> {
    let x = -loss.exp_m1().ln() / beta;
    (beta > 0.0 && x.is_finite()).then_some(x)
}

/// Writes the online prompts file the trainer reads (`prompt`, `category`, `reference`).
pub fn write_prompts(path: &Path, tasks: &[Task]) -> Result<()> {
    let text: String = tasks
        .iter()
        .map(|t| synthetic_tasks::prompt_record(t).to_string() + "\n")
        .collect();
    Ok(std::fs::write(path, text).map_err(atomic_write::io_error(path))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kept routing record of `domain` in `iteration` with the label `chosen`, the
    /// verifier's `truth` and a reward.
    fn record(
        iteration: usize,
        domain: &str,
        chosen: usize,
        truth: Option<usize>,
        reward: f64,
    ) -> RoutingRecord {
        RoutingRecord {
            iteration,
            prompt_id: 0,
            category: Some(domain.into()),
            pair: [0, 1],
            context: None,
            judge: "rm".into(),
            arm: Some(0),
            propensity: Some(1.0),
            propensities: Some(vec![1.0]),
            propensity_draws: None,
            visited: true,
            tie: false,
            kept: true,
            scores: Some([1.0, 0.0]),
            chosen: Some(chosen),
            truth,
            loss: Some(0.6),
            reward: Some(reward),
            rerouted: false,
        }
    }

    #[test]
    fn summary_counts_micro_accuracy_and_reward_moments_from_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut unkept = record(1, "add", 0, Some(0), 0.9);
        unkept.kept = false;
        let routing = [
            record(0, "add", 0, Some(0), 0.5),  // right, iteration 0: no moment
            record(1, "add", 0, Some(1), 0.2),  // wrong
            record(1, "add", 1, Some(1), 0.8),  // right
            record(2, "sort", 0, Some(0), 0.7), // right
            record(2, "sort", 0, None, 0.1),    // undecided by the verifier
            unkept,
        ];
        atomic_write::write_jsonl(&dir.path().join(ROUTING_FILE), &routing).unwrap();
        atomic_write::write_jsonl(
            &dir.path().join(rlhf_trainer::METRICS_FILE),
            &[serde_json::json!({"rm/items_scored": 12})],
        )
        .unwrap();
        let job = Job {
            label: "random".into(),
            strategy: StrategyConfig::Random,
            normalizer: None,
            reward: RewardSource::DpoLoss,
            condition: None,
            seed: 3,
        };
        let policy = DomainScores {
            overall: 0.5,
            per_domain: BTreeMap::new(),
            count: 2,
        };
        let result = summarise(&job, dir.path(), 3, vec!["rm".into()], policy, 0.5).unwrap();
        assert_eq!((result.labels_decided, result.labels_correct), (4, 3));
        assert_eq!(result.label_accuracy_micro(), Some(0.75));
        // Stratified: add 2 of 3, sort 1 of 1 → (2/3 + 1)/2.
        assert!((result.label_accuracy.overall - (2.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12);
        let add = result.reward_label["add"];
        assert_eq!(add.n, 2);
        assert!((add.sum_x - 1.0).abs() < 1e-12 && (add.sum_xy - 0.8).abs() < 1e-12);
        assert_eq!(result.reward_label["sort"].n, 1);
        assert_eq!(result.rm_calls, 12);
        // Every decided pair from iteration 1 has loss 0.6: |m| = −ln(e^0.6 − 1)/0.5, positive
        // for the 2 right labels, negative for the wrong one.
        let x = -(0.6_f64.exp() - 1.0).ln() / 0.5;
        let on_policy = result.implicit_margin.unwrap().on_policy.unwrap();
        assert_eq!(on_policy.pairs, 3);
        assert!((on_policy.mean - x / 3.0).abs() < 1e-12, "{on_policy:?}");
        // x > 0 here (0.6 < ln 2): the right labels' margins are the positive ones.
        assert!(x > 0.0);
        assert!((on_policy.positive - 2.0 / 3.0).abs() < 1e-12);
    }

    /// `[ablations] verifier_reward` runs the learning routers the strategies name once more
    /// with the verifier's reward, under the labels the report reads, and no other job.
    #[test]
    fn the_verifier_reward_ablation_adds_one_job_per_learning_router() {
        let strategies: Vec<StrategyConfig> = ["bayesian-v5", "online-only-v5", "random"]
            .map(|name| name.parse().unwrap())
            .to_vec();
        let conditions = [Condition::InDistribution];
        let plain = AblationsConfig {
            quantile_rescaling: false,
            ..AblationsConfig::default()
        };
        let with = AblationsConfig {
            verifier_reward: true,
            ..plain.clone()
        };
        let before = jobs(&strategies, SeedCounts::uniform(2), &conditions, &plain);
        let after = jobs(&strategies, SeedCounts::uniform(2), &conditions, &with);
        assert!(before.iter().all(|j| j.reward == RewardSource::DpoLoss));
        let added: Vec<&Job> = after
            .iter()
            .filter(|j| j.reward == RewardSource::Verifier)
            .collect();
        let labels: std::collections::BTreeSet<&str> =
            added.iter().map(|j| j.label.as_str()).collect();
        assert_eq!(
            labels,
            [VERIFIER_REWARD_V5, "online-only-v5-verifier-reward"].into()
        );
        assert_eq!(added.len(), 2 * 2);
        assert_eq!(after.len(), before.len() + added.len());
        assert!(added.iter().all(|j| j.normalizer.is_none()));
        // Without the routers it applies to, it adds nothing.
        let random = ["random".parse().unwrap()];
        assert_eq!(
            jobs(&random, SeedCounts::uniform(2), &conditions, &with).len(),
            2
        );
    }

    /// `premise_seeds` gives the lines the premise checks read their own seeds 0..n, in
    /// both conditions where they have them, and leaves every other strategy at `seeds`.
    #[test]
    fn the_premise_lines_run_their_own_seeds() {
        let strategies: Vec<StrategyConfig> = ["bayesian-v5", "random", "oracle", "oracle-coin"]
            .map(|name| name.parse().unwrap())
            .to_vec();
        let conditions = [Condition::InDistribution, Condition::Shifted];
        let seeds = SeedCounts {
            every: 3,
            premise_lines: 10,
        };
        let all = jobs(&strategies, seeds, &conditions, &AblationsConfig::default());
        let seeds_of = |label: &str| -> Vec<u64> {
            all.iter()
                .filter(|j| j.label == label)
                .map(|j| j.seed)
                .collect()
        };
        // bayesian-v5 reads the offline router: 3 seeds in each of the two conditions.
        assert_eq!(seeds_of("bayesian-v5"), [0, 1, 2, 0, 1, 2]);
        for line in premise::LINES {
            assert_eq!(seeds_of(line), (0..10).collect::<Vec<_>>(), "{line}");
        }
        // Fewer premise seeds than `seeds` never shrinks a line.
        let fewer = SeedCounts {
            every: 3,
            premise_lines: 1,
        };
        assert_eq!(fewer.of("random"), 3);
        assert_eq!(SeedCounts::uniform(4).of("oracle"), 4);
    }

    /// The margin read back from a loss is the one the loss was computed from.
    #[test]
    fn a_margin_is_read_back_from_its_dpo_loss() {
        for (x, beta) in [(0.3_f64, 0.1_f64), (-2.0, 0.5), (5.0, 1.0)] {
            let loss: f64 = -(1.0 / (1.0 + (-beta * x).exp())).ln();
            let back = chosen_margin(loss, beta).unwrap();
            assert!((back - x).abs() < 1e-9, "{x} {beta} → {back}");
        }
        assert_eq!(chosen_margin(0.0, 0.1), None);
    }
}
