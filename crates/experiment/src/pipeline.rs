//! The experiment end to end: suite → tokenizer → SFT policy → reward models → offline data
//! and routers → online runs → results and report. Each stage is cached by the hash of what
//! it reads (`cache.rs`); the online runs go on `jobs` threads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use answer_check::synthetic::Domain;
use burn::prelude::*;
use lm::{CausalLm, DecoderConfig, DeviceSpec};
use synthetic_tasks::{Split, Task};

use crate::cache::{StageCache, key_of};
use crate::config::ExperimentConfig;
use crate::error::{Error, Result};
use crate::evaluation::Evaluation;
use crate::offline::{self, CONDITIONS, Condition};
use crate::online::{self, PanelWorld, World};
use crate::panel::Panel;
use crate::policy::{self, Sampling, SftReport};
use crate::premise::PremiseChecks;
use crate::results::{OfflineRouterTable, Results, RmAccuracy, RunResult, Timings};
use crate::reward_models::{self, POOL_FILE, RmTraining, TaskPair};
use crate::tokenizer::train_tokenizer;
use crate::{ablations, report, workers};

/// How to run (not part of any result).
#[derive(Clone, Debug)]
pub struct Options {
    /// The output root; the run folder is `<out>/<name>`.
    pub out: PathBuf,
    /// Rebuild every stage instead of reusing cached ones.
    pub fresh: bool,
    /// Online runs at once (0: one per core).
    pub jobs: usize,
}

/// Progress, for bars and logs.
#[derive(Clone, Debug)]
pub enum Event {
    /// A stage starts with `total` units of work.
    Started {
        /// The stage.
        stage: String,
        /// Units of work.
        total: u64,
    },
    /// One more unit done.
    Advanced {
        /// The stage.
        stage: String,
    },
    /// A stage ended.
    Finished {
        /// The stage.
        stage: String,
        /// Wall time, s.
        seconds: f64,
        /// Reused from an earlier run.
        cached: bool,
    },
}

/// What a finished experiment left.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The run folder.
    pub dir: PathBuf,
    /// Every measured number (results.json).
    pub results: Results,
    /// Wall times (timings.json).
    pub timings: Timings,
    /// report.md.
    pub report: PathBuf,
}

/// The data of one split, `n` tasks per domain.
fn tasks(config: &ExperimentConfig, split: Split, n: usize) -> Result<Vec<Task>> {
    Ok(synthetic_tasks::sample(
        &config.suite,
        split,
        n,
        config.seed,
    )?)
}

/// The stages of one run folder: their cache, timings and observer.
pub(crate) struct Stages<'a> {
    /// The run folder.
    pub(crate) dir: PathBuf,
    pub(crate) cache: StageCache,
    pub(crate) device: Device,
    observe: &'a (dyn Fn(&Event) + Sync),
    pub(crate) timings: Vec<(String, f64)>,
}

impl<'a> Stages<'a> {
    /// The stages of run folder `dir` (cached under `dir/stages`), on `device`.
    pub(crate) fn new(
        dir: &Path,
        fresh: bool,
        device: Device,
        observe: &'a (dyn Fn(&Event) + Sync),
    ) -> Self {
        Self {
            dir: dir.to_path_buf(),
            cache: StageCache::new(&dir.join("stages"), fresh),
            device,
            observe,
            timings: Vec::new(),
        }
    }

    /// The wall times of this run folder: every stage's, each online run's (`runs`, s by
    /// folder), and the total since `started`, with the CPU model.
    pub(crate) fn timings(&self, runs: BTreeMap<String, f64>, started: Instant) -> Timings {
        Timings {
            stages: self.timings.clone(),
            runs,
            total_s: started.elapsed().as_secs_f64(),
            cpu: lm::cpu::cpu_model(),
        }
    }

    /// Runs `body` as stage `name`, timing it and telling the observer.
    pub(crate) fn timed<T>(
        &mut self,
        name: &str,
        total: u64,
        body: impl FnOnce(&Self, &(dyn Fn() + Sync)) -> Result<(T, bool)>,
    ) -> Result<T> {
        let start = Instant::now();
        let _span = tracing::info_span!("stage", name).entered();
        (self.observe)(&Event::Started {
            stage: name.into(),
            total,
        });
        let advance = || {
            (self.observe)(&Event::Advanced { stage: name.into() });
        };
        let (value, cached) = body(self, &advance)?;
        let seconds = start.elapsed().as_secs_f64();
        (self.observe)(&Event::Finished {
            stage: name.into(),
            seconds,
            cached,
        });
        self.timings.push((name.to_string(), seconds));
        Ok(value)
    }
}

/// Runs `config` as `options` say; `observe` hears progress (from several threads).
pub fn run_experiment(
    config: &ExperimentConfig,
    options: &Options,
    observe: &(dyn Fn(&Event) + Sync),
) -> Result<Outcome> {
    let started = Instant::now();
    let c = config;
    let dir = options.out.join(&c.name);
    let device = DeviceSpec::Cpu.device()?;
    let mut stages = Stages::new(&dir, options.fresh, device.clone(), observe);
    let sft = sft_stage(&mut stages, c)?;
    let (_, sft_model) = lm::load_causal_lm(&sft.policy_dir, &device, lm::WeightDType::F32)?;
    let eval_tasks = tasks(c, Split::Eval, c.eval.prompts_per_domain)?;
    let sft_accuracy = policy::evaluate(
        &sft_model,
        &sft.tokenizer,
        &eval_tasks,
        c.online.max_new_tokens,
        &device,
    )?;
    tracing::info!(
        accuracy = sft_accuracy.overall,
        loss_first = sft.report.loss_first,
        loss_last = sft.report.loss_last,
        "SFT policy"
    );
    let rms = reward_model_stage(&mut stages, c, &sft, &sft_model, options.jobs)?;
    let pool_file = rms.dir.join(POOL_FILE);
    let offline = offline_stage(&mut stages, c, &sft, &sft_model, &rms)?;
    let panel = panel_stage(&mut stages, c, &sft, &sft_model, &rms)?;

    // Online runs.
    let mut world = suite_world(
        c,
        &dir,
        &sft.policy_dir,
        &pool_file,
        &offline.dir,
        eval_tasks,
    )?;
    world.panel = Some(Arc::new(PanelWorld::new(
        panel.value,
        &world.routers,
        &sft.tokenizer,
        c.panel.checkpoints(c.online.iterations),
        &device,
    )?));
    let jobs = online::jobs(
        &c.expanded_strategies()?,
        c.seed_counts(),
        &CONDITIONS,
        &c.ablations,
    );
    let online_key = key_of(&[&"online", &offline.key, &panel.key, &c.online, &c.eval]);
    let (runs, run_times) = online_stage(&mut stages, &world, &jobs, &online_key, options, None)?;
    let reported = reported_runs(&jobs, &runs, &CONDITIONS);
    let results = Results {
        name: c.name.clone(),
        config_hash: key_of(&[c]),
        domains: c
            .suite
            .domains
            .iter()
            .map(|d| d.name().to_string())
            .collect(),
        rm_names: rm_names(c),
        seeds: c.seeds,
        premise_seeds: c.premise_seeds.filter(|&n| n > c.seeds),
        iterations: c.online.iterations,
        sampling: Some(world.trainer.sampling_regime()),
        sft_accuracy,
        rm_accuracy: rms.value,
        offline_router: offline.value,
        ablations: ablations::measure(&reported, &CONDITIONS),
        runs: reported,
        panel: world.panel.as_ref().map(|p| p.panel.baselines()),
        premise: None,
    };
    let timings = stages.timings(run_times, started);
    write_outcome(
        dir,
        results,
        timings,
        &toml::to_string(c).expect("configs serialise"),
    )
}

/// A finished stage: the cache key of everything it read, its folder and its value.
struct Staged<T> {
    key: String,
    dir: PathBuf,
    value: T,
}

/// The SFT stage's products: the tokenizer and policy every later stage starts from.
struct Sft {
    /// The cache key of the tokenizer and the policy.
    key: String,
    tokenizer: lm::Tokenizer,
    decoder: DecoderConfig,
    /// The policy as a Hugging Face folder.
    policy_dir: PathBuf,
    report: SftReport,
}

/// `per_domain` tasks of `split` and the SFT policy's `n` samples of each (temperature 1,
/// the online response cap, seeded by the world's seed and `stream`).
fn sft_samples(
    c: &ExperimentConfig,
    sft: &Sft,
    sft_model: &CausalLm,
    (split, per_domain): (Split, usize),
    (n, stream): (usize, u64),
    device: &Device,
) -> Result<(Vec<Task>, Vec<Vec<String>>)> {
    let split_tasks = tasks(c, split, per_domain)?;
    let prompts: Vec<String> = split_tasks.iter().map(|t| t.prompt.clone()).collect();
    let sampling = Sampling {
        n,
        temperature: 1.0,
        max_new_tokens: c.online.max_new_tokens,
        seed: c.seed ^ stream,
    };
    let samples = policy::sample_responses(sft_model, &sft.tokenizer, &prompts, sampling, device)?;
    Ok((split_tasks, samples))
}

/// Offline routers per condition: one per online seed when `[offline] redraw_per_seed`.
fn router_seeds(c: &ExperimentConfig) -> usize {
    if c.offline.redraw_per_seed {
        c.seeds
    } else {
        1
    }
}

/// The RM names in arm order.
fn rm_names(c: &ExperimentConfig) -> Vec<String> {
    c.reward_models.rm.iter().map(|r| r.name.clone()).collect()
}

/// Trains the tokenizer (on the SFT split's prompts and answers), then the SFT policy.
fn sft_stage(stages: &mut Stages, c: &ExperimentConfig) -> Result<Sft> {
    let sft_tasks = tasks(c, Split::Sft, c.sft.examples_per_domain)?;
    let tokenizer_key = key_of(&[
        &"tokenizer",
        &c.seed,
        &c.suite,
        &c.tokenizer,
        &c.sft.examples_per_domain,
    ]);
    let tokenizer_dir = stages.timed("tokenizer", 1, |s, _| {
        let stage = s.cache.stage("tokenizer", tokenizer_key.clone(), |dir| {
            let texts: Vec<String> = sft_tasks
                .iter()
                .map(|t| format!("{}\n{}", t.prompt, t.answer))
                .collect();
            let tokenizer = train_tokenizer(&texts, c.tokenizer.vocab_size, dir)?;
            Ok(tokenizer.vocab_size())
        })?;
        Ok((stage.dir, stage.cached))
    })?;
    let tokenizer = lm::Tokenizer::from_hf_dir(&tokenizer_dir)?;
    let decoder = policy::decoder_config(&c.policy, &tokenizer)?;
    let key = key_of(&[&"sft", &tokenizer_key, &c.policy, &c.sft]);
    let (policy_dir, report) = stages.timed("sft", c.sft.steps as u64, |s, advance| {
        let stage = s.cache.stage("sft", key.clone(), |dir| {
            let autodiff = s.device.clone().autodiff();
            let model = policy::init_policy(&decoder, c.seed, &autodiff);
            let (model, report) = policy::supervised_fine_tune(
                model,
                &tokenizer,
                &sft_tasks,
                &c.sft,
                c.seed,
                &autodiff,
                &mut |_| advance(),
            )?;
            policy::save(&dir.join("policy"), &model, &decoder, &tokenizer)?;
            Ok(report)
        })?;
        Ok(((stage.dir.join("policy"), stage.value), stage.cached))
    })?;
    Ok(Sft {
        key,
        tokenizer,
        decoder,
        policy_dir,
        report,
    })
}

/// Trains the reward models (one per worker, from the SFT decoder, on pairs of the SFT
/// policy's samples) and measures each one's held-out accuracy per domain; the folder holds
/// their HF folders and the pool file.
fn reward_model_stage(
    stages: &mut Stages,
    c: &ExperimentConfig,
    sft: &Sft,
    sft_model: &CausalLm,
    jobs_wanted: usize,
) -> Result<Staged<Vec<RmAccuracy>>> {
    let key = key_of(&[
        &"reward-models",
        &sft.key,
        &c.reward_models,
        &c.online.max_new_tokens,
    ]);
    let n_rm = c.reward_models.pairs_per_domain + c.reward_models.eval_pairs_per_domain;
    let rm_total = (c.reward_models.steps * c.reward_models.rm.len()) as u64;
    let (dir, accuracy) = stages.timed("reward-models", rm_total, |s, advance| {
        let stage = s.cache.stage("reward-models", key.clone(), |dir| {
            let rm_tasks = tasks(c, Split::RewardModel, n_rm)?;
            let prompts: Vec<String> = rm_tasks.iter().map(|t| t.prompt.clone()).collect();
            let samples = policy::sample_responses(
                sft_model,
                &sft.tokenizer,
                &prompts,
                Sampling {
                    n: 4,
                    temperature: 1.0,
                    max_new_tokens: c.online.max_new_tokens,
                    seed: c.seed ^ 0x4a11,
                },
                &s.device,
            )?;
            let pairs = reward_models::task_pairs(&rm_tasks, &samples, c.seed);
            let (train, held_out) = first_per_domain(pairs, c.reward_models.pairs_per_domain);
            // One RM per worker: each loads the SFT decoder on its own device.
            let rms = &c.reward_models.rm;
            let outcomes = workers::run(jobs_wanted, rms.len(), |i, device| {
                let autodiff = device.clone().autodiff();
                let (_, policy_model) =
                    lm::load_causal_lm(&sft.policy_dir, &autodiff, lm::WeightDType::F32)?;
                reward_models::train_reward_model(
                    &rms[i],
                    &policy_model,
                    &sft.decoder,
                    &sft.tokenizer,
                    &train,
                    &c.reward_models,
                    c.seed + i as u64,
                    &dir.join(&rms[i].name),
                    &autodiff,
                    &mut |_| advance(),
                )
            });
            let trained: Vec<RmTraining> =
                collect("reward-models", outcomes, |i| rms[i].name.clone())?;
            let pool_file = dir.join(POOL_FILE);
            std::fs::write(
                &pool_file,
                reward_models::pool_toml(&c.reward_models.rm, c.policy.max_position_embeddings),
            )
            .map_err(atomic_write::io_error(&pool_file))?;
            let mut pool = rm_pool::RmPool::from_config_file(&pool_file)?;
            let accuracy = (0..pool.len())
                .map(|k| reward_models::rm_accuracy(&mut pool, k, &held_out, &c.suite.domains))
                .collect::<Result<Vec<RmAccuracy>>>()?;
            tracing::info!(?trained, "reward models");
            Ok(accuracy)
        })?;
        Ok(((stage.dir, stage.value), stage.cached))
    })?;
    Ok(Staged {
        key,
        dir,
        value: accuracy,
    })
}

/// Per domain, the first `n` pairs (to train on) and the rest (held out).
fn first_per_domain(pairs: Vec<TaskPair>, n: usize) -> (Vec<TaskPair>, Vec<TaskPair>) {
    let mut seen: BTreeMap<Domain, usize> = BTreeMap::new();
    pairs.into_iter().partition(|p| {
        let count = seen.entry(p.task.domain).or_default();
        *count += 1;
        *count <= n
    })
}

/// Offline data (verifier-decided pairs of SFT samples, judged by the pool, a held-out test
/// part) and one offline router per condition, with each router's routing-accuracy table.
fn offline_stage(
    stages: &mut Stages,
    c: &ExperimentConfig,
    sft: &Sft,
    sft_model: &CausalLm,
    rms: &Staged<Vec<RmAccuracy>>,
) -> Result<Staged<Vec<OfflineRouterTable>>> {
    let router_seeds = router_seeds(c);
    let key = key_of(&[&"offline", &rms.key, &c.offline, &router_seeds]);
    let pool_file = rms.dir.join(POOL_FILE);
    let rm_names = rm_names(c);
    let total = 1 + (router_seeds * CONDITIONS.len()) as u64;
    let (dir, tables) = stages.timed("offline-router", total, |s, advance| {
        let stage = s.cache.stage("offline-router", key.clone(), |dir| {
            let (offline_tasks, samples) = sft_samples(
                c,
                sft,
                sft_model,
                (Split::Offline, c.offline.prompts_per_domain),
                (c.offline.samples_per_prompt, 0x0ff1),
                &s.device,
            )?;
            let mut records =
                offline::verifier_pairs(&offline_tasks, &samples, c.offline.pairs_per_prompt);
            if records.len() < 4 {
                return Err(Error::Stage {
                    stage: "offline-router",
                    reason: format!(
                        "only {} verifier-decided pairs: the SFT policy is almost always right \
                         or always wrong on the offline prompts",
                        records.len()
                    ),
                });
            }
            offline::judge(&pool_file, &mut records, &mut |_, _| {})?;
            advance();
            let mut tables: Vec<OfflineRouterTable> = Vec::new();
            for router_seed in 0..router_seeds as u64 {
                let seed = c.seed + router_seed;
                let (train, test) =
                    offline::split_test(records.clone(), c.offline.test_fraction, seed);
                let test_file = dir.join(format!("test-s{router_seed}.jsonl"));
                offline_router::write_records(&test_file, &test)?;
                for condition in CONDITIONS {
                    let mut table = offline::train_router(
                        condition,
                        &train,
                        &test_file,
                        test.len(),
                        &rm_names,
                        &sft.policy_dir,
                        &c.offline,
                        seed,
                        &offline::router_dir(dir, condition, router_seed),
                        &s.device,
                    )?;
                    table.seed = router_seed;
                    tables.push(table);
                    advance();
                }
            }
            Ok(tables)
        })?;
        Ok(((stage.dir, stage.value), stage.cached))
    })?;
    Ok(Staged {
        key,
        dir,
        value: tables,
    })
}

/// The routing panel: the SFT policy's samples on evaluation-split prompts, verifier-decided
/// pairs of them, every RM's scores (`panel.rs`).
fn panel_stage(
    stages: &mut Stages,
    c: &ExperimentConfig,
    sft: &Sft,
    sft_model: &CausalLm,
    rms: &Staged<Vec<RmAccuracy>>,
) -> Result<Staged<Panel>> {
    let key = key_of(&[&"panel", &rms.key, &c.panel, &c.online.max_new_tokens]);
    let pool_file = rms.dir.join(POOL_FILE);
    let (dir, panel) = stages.timed("panel", 1, |s, advance| {
        let stage = s.cache.stage("panel", key.clone(), |_| {
            let (panel_tasks, samples) = sft_samples(
                c,
                sft,
                sft_model,
                (Split::Eval, c.panel.prompts_per_domain),
                (c.panel.samples_per_prompt, 0x9a2e1),
                &s.device,
            )?;
            let mut pool = rm_pool::RmPool::from_config_file(&pool_file)?;
            let panel = Panel::build(
                &panel_tasks,
                &samples,
                c.panel.pairs_per_prompt,
                &mut pool,
                c.seed,
            )?;
            advance();
            Ok(panel)
        })?;
        Ok(((stage.dir, stage.value), stage.cached))
    })?;
    Ok(Staged {
        key,
        dir,
        value: panel,
    })
}

/// What every online run of the suite shares: the trainer template (the SFT policy, the
/// online prompts written into `dir/online`, the pool), the routers per condition, and the
/// greedy evaluation on `eval_tasks`.
fn suite_world(
    c: &ExperimentConfig,
    dir: &Path,
    policy_dir: &Path,
    pool_file: &Path,
    offline_dir: &Path,
    eval_tasks: Vec<Task>,
) -> Result<World> {
    let online_tasks = tasks(c, Split::Online, c.online.prompts_per_domain)?;
    let online_root = dir.join("online");
    std::fs::create_dir_all(&online_root).map_err(atomic_write::io_error(&online_root))?;
    let prompts_file = online_root.join("prompts.jsonl");
    online::write_prompts(&prompts_file, &online_tasks)?;
    let absolute = |p: &Path| std::path::absolute(p).map_err(atomic_write::io_error(p));
    Ok(World {
        trainer: online::suite_trainer_template(
            &c.online,
            &absolute(policy_dir)?,
            &absolute(&prompts_file)?,
            &absolute(pool_file)?,
        ),
        iterations: c.online.iterations,
        routers: CONDITIONS
            .iter()
            .map(|&cond| {
                let exports = (0..router_seeds(c) as u64)
                    .map(|s| {
                        let dir = offline::router_dir(offline_dir, cond, s);
                        Ok(absolute(&offline::export_dir(&dir))?)
                    })
                    .collect::<Result<Vec<PathBuf>>>()?;
                Ok((cond, exports))
            })
            .collect::<Result<_>>()?,
        evaluation: Evaluation::Suite {
            tasks: eval_tasks,
            max_new_tokens: c.online.max_new_tokens,
        },
        panel: None,
    })
}

/// Runs every job through the trainer (in `<run folder>/online/<job>-<key>/`, reusing
/// finished ones unless `options.fresh`) on `options.jobs` CPU workers, or one at a time
/// with the final policies scored on `device` when one is given (a GPU); returns the
/// results in job order and each run's wall time (s) by [`online::Job::timing_key`].
pub(crate) fn online_stage(
    stages: &mut Stages,
    world: &World,
    jobs: &[online::Job],
    key: &str,
    options: &Options,
    device: Option<&Device>,
) -> Result<(Vec<RunResult>, BTreeMap<String, f64>)> {
    let root = stages.dir.join("online");
    let workers = if device.is_some() { 1 } else { options.jobs };
    let run_times: Mutex<BTreeMap<String, f64>> = Mutex::default();
    let runs: Vec<RunResult> = stages.timed(
        "online",
        (jobs.len() * world.iterations) as u64,
        |_, advance| {
            let outcomes = workers::run(workers, jobs.len(), |i, worker_device| {
                let job = &jobs[i];
                let start = Instant::now();
                let run_dir = root.join(format!("{}-{key}", job.folder()));
                let result = online::run_job(
                    world,
                    job,
                    &run_dir,
                    options.fresh,
                    device.unwrap_or(worker_device),
                    &mut |_| advance(),
                );
                run_times
                    .lock()
                    .expect("no panics while held")
                    .insert(job.timing_key(), start.elapsed().as_secs_f64());
                result
            });
            let runs = collect("online", outcomes, |i| format!("run {}", jobs[i].folder()))?;
            Ok((runs, false))
        },
    )?;
    Ok((runs, run_times.into_inner().expect("no panics while held")))
}

/// The runs as reported, per condition in order: a run that read no router stands for
/// every condition.
pub(crate) fn reported_runs(
    jobs: &[online::Job],
    runs: &[RunResult],
    conditions: &[Condition],
) -> Vec<RunResult> {
    let mut reported: Vec<RunResult> = Vec::new();
    for &condition in conditions {
        for (job, run) in jobs.iter().zip(runs) {
            if job.condition.is_none() || job.condition == Some(condition) {
                let mut run = run.clone();
                run.condition = condition.name().to_string();
                reported.push(run);
            }
        }
    }
    reported
}

/// Checks the premise on `results`, then writes results.json, timings.json, the effective
/// config (`config_text`) and the report into `dir`.
pub(crate) fn write_outcome(
    dir: PathBuf,
    mut results: Results,
    timings: Timings,
    config_text: &str,
) -> Result<Outcome> {
    results.premise = Some(PremiseChecks::measure(&results));
    results
        .write_json(&dir.join("results.json"))
        .map_err(atomic_write::io_error(&dir))?;
    timings
        .write_json(&dir.join("timings.json"))
        .map_err(atomic_write::io_error(&dir))?;
    let config_file = dir.join("config.toml");
    atomic_write::replace_file(&config_file, config_text.as_bytes())?;
    report::write_report(&dir, &results, Some(&timings)).map_err(atomic_write::io_error(&dir))?;
    Ok(Outcome {
        report: dir.join("report.md"),
        dir,
        results,
        timings,
    })
}

/// The results of `outcomes` in order, or the first failure named by `what(i)`.
fn collect<T>(
    stage: &'static str,
    outcomes: Vec<Option<Result<T>>>,
    what: impl Fn(usize) -> String,
) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(outcomes.len());
    for (i, outcome) in outcomes.into_iter().enumerate() {
        match outcome {
            Some(Ok(value)) => out.push(value),
            Some(Err(err)) => {
                return Err(Error::Stage {
                    stage,
                    reason: format!("{}: {err}", what(i)),
                });
            }
            None => {
                return Err(Error::Stage {
                    stage,
                    reason: format!("{} did not start (an earlier job failed)", what(i)),
                });
            }
        }
    }
    Ok(out)
}
