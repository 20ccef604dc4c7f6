//! The online DPO loop with routing (METHOD.md §5): [`Trainer`] owns the policy, the frozen
//! reference, the pool, the strategy and the run folder, and runs one iteration at a time.
//!
//! One iteration: draw B prompts → sample n responses each → form the n(n−1)/2 candidate
//! pairs → contexts (one batched call) → route every pair → judge lazily, round by round,
//! until each prompt has its pairs ([`crate::draw`]) → DPO step on the kept pairs → per-pair
//! losses → normaliser → bandit update → logs. An iteration that cannot be judged (no RM
//! left) is skipped with a warning and changes no state but the prompt cursor.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use bandit::{ArmMask, Feedback};
use burn::prelude::*;
use lm::{
    CausalLm, DecoderConfig, GenerationRequest, Optimizer, OptimizerConfig, SamplingParams,
    Tokenizer, WeightDType, load_causal_lm, load_tokenizer,
};
use offline_router::{CandidateGroup, ContextFunction, RouterExport};
use reward_norm::RoutedLoss;
use rm_pool::{RmPool, ScoreItem, Verdict};
use serde_json::{Map, Value, json};

use crate::checkpoint::{self, Checkpoint};
use crate::config::{TrainerConfig, first_difference};
use crate::dpo::{DpoMetrics, TokenPair, dpo_step};
use crate::draw::{LazyDraw, candidate_pairs, visiting_order};
use crate::error::{Error, Result};
use crate::judging::{JudgeContext, Judgment, NoJudge, PairId, Route, judge_round, winner};
use crate::logs::{LogLengths, RoutingRecord, RunLogs, SampleRecord};
use crate::normalizer::Normalizer;
use crate::prompts::{Prompt, PromptSchedule, read_prompts};
use crate::seeds::mix;
use crate::strategy::{ContextKind, JudgeKind, Strategy};

/// One sampled response: its tokens (what DPO scores) and its text (what RMs judge).
struct Sample {
    tokens: Vec<u32>,
    text: String,
}

/// An iteration's routing contexts.
struct Contexts {
    /// `[rows, dim]`, row-major.
    values: Vec<f64>,
    /// Context dimension (0 when the strategy routes without contexts).
    dim: usize,
    /// Per prompt of the batch and candidate pair: its row.
    rows: Vec<Vec<usize>>,
}

/// File (in the run folder) holding the effective config a resumption is checked against.
pub const RUN_CONFIG_FILE: &str = "config.toml";

/// What one iteration did, as the observer (progress bar, tests) sees it.
#[derive(Clone, Debug)]
pub struct IterationReport {
    /// The iteration (0-based).
    pub iteration: usize,
    /// Its metrics.jsonl line.
    pub metrics: Map<String, Value>,
    /// Its routing.jsonl lines.
    pub routing: Vec<RoutingRecord>,
    /// Its samples.jsonl lines.
    pub samples: Vec<SampleRecord>,
    /// Why it was skipped, if it was.
    pub skipped: Option<String>,
}

/// Where a finished run left its results.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSummary {
    /// The run folder.
    pub dir: PathBuf,
    /// Iterations run (all of them, resumed ones included).
    pub iterations: usize,
    /// Iterations skipped because no judge was left.
    pub skipped: usize,
    /// The final policy as a Hugging Face folder.
    pub policy: PathBuf,
}

/// The online DPO trainer (see the module docs).
pub struct Trainer {
    config: TrainerConfig,
    dir: PathBuf,
    device: Device,
    train_device: Device,
    decoder: DecoderConfig,
    policy: CausalLm,
    reference: CausalLm,
    tokenizer: Tokenizer,
    pad_id: u32,
    stop_ids: Vec<u32>,
    prompts: Vec<Prompt>,
    /// Chat-templated prompt tokens, per prompt.
    prompt_tokens: Vec<Vec<u32>>,
    pool: RmPool,
    oracle: Option<RmPool>,
    context_fn: Option<ContextFunction>,
    strategy: Strategy,
    normalizer: Normalizer,
    optimizer: Optimizer,
    schedule: PromptSchedule,
    iteration: usize,
    skipped: usize,
    logs: RunLogs,
}

impl Trainer {
    /// Builds a run from `config` (its effective TOML `table` is saved in the run folder):
    /// loads the policy, the pool from `data.pool`, the oracle and the offline router.
    /// `resume` continues from the run folder's latest checkpoint.
    pub fn from_config(config: TrainerConfig, table: toml::Table, resume: bool) -> Result<Self> {
        let pool = RmPool::from_config_file(&config.resolve(&config.data.pool))?;
        Self::with_pool(config, table, pool, resume)
    }

    /// [`Trainer::from_config`] with the routed pool given (e.g. RMs built in code).
    pub fn with_pool(
        config: TrainerConfig,
        table: toml::Table,
        pool: RmPool,
        resume: bool,
    ) -> Result<Self> {
        let dir = config.output_dir();
        prepare_run_folder(&dir, &table, resume)?;
        let device = config.device_spec()?.device()?;
        let train_device = device.clone().autodiff();
        let policy_path = config.resolve(&config.policy.path);
        let (decoder, reference) = load_causal_lm(&policy_path, &device, WeightDType::F32)?;
        let tokenizer = load_tokenizer(&policy_path)?;
        let pad_id = tokenizer.pad_id().or(tokenizer.eos_id()).unwrap_or(0);
        let stop_ids: Vec<u32> = tokenizer.eos_id().into_iter().collect();
        let prompts = read_prompts(&config.resolve(&config.data.prompts))?;
        let prompt_tokens = prompts
            .iter()
            .map(|p| p.tokens(&tokenizer))
            .collect::<Result<Vec<_>>>()?;
        let oracle = match &config.oracle {
            Some(spec) => Some(RmPool::new(vec![spec.build(&config.base)?])?),
            None => None,
        };
        let names = pool.names();
        if pool.is_empty() {
            return Err(Error::Mismatch("the routed pool has no RM".into()));
        }
        let (prior, context_fn) = match &config.data.router {
            Some(path) if config.strategy.needs_pair_contexts() => {
                let export = RouterExport::load(&config.resolve(path), &device)?;
                export.check_pool(&names, export.meta.dim)?;
                let prior = export.prior()?;
                let context =
                    export.into_context_function(&device, config.data.context_batch_size)?;
                (Some(prior), Some(context))
            }
            _ => (None, None),
        };
        let strategy = Strategy::new(&config, &names, prior.as_ref(), decoder.d_model)?;
        let normalizer = Normalizer::new(config.normalizer_kind(), names.len())?;
        let optimizer = Optimizer::new(OptimizerConfig {
            weight_decay: config.dpo.weight_decay,
            max_grad_norm: config.dpo.max_grad_norm,
            ..OptimizerConfig::default()
        })?;
        let policy_base = load_causal_lm(&policy_path, &train_device, WeightDType::F32)?.1;
        let policy = match &config.policy.lora {
            Some(lora) => policy_base.with_lora(lora)?,
            None => policy_base,
        };
        let restored = if resume {
            Some(checkpoint::latest(&dir)?.ok_or_else(|| Error::Resume {
                dir: dir.clone(),
                reason: "it has no checkpoint yet".into(),
            })?)
        } else {
            None
        };
        let lengths = restored
            .as_ref()
            .map_or(LogLengths::default(), |(_, s)| s.logs);
        let schedule = PromptSchedule::new(prompts.len(), config.seed);
        let mut trainer = Self {
            logs: RunLogs::open(&dir, lengths)?,
            config,
            dir,
            device,
            train_device,
            decoder,
            policy,
            reference,
            tokenizer,
            pad_id,
            stop_ids,
            prompts,
            prompt_tokens,
            pool,
            oracle,
            context_fn,
            strategy,
            normalizer,
            optimizer,
            schedule,
            iteration: 0,
            skipped: 0,
        };
        if let Some((checkpoint_dir, state)) = restored {
            trainer.restore(&checkpoint_dir, state)?;
        }
        Ok(trainer)
    }

    /// The next iteration to run (0-based); equals the iterations done.
    pub fn iteration(&self) -> usize {
        self.iteration
    }

    /// The run's config.
    pub fn config(&self) -> &TrainerConfig {
        &self.config
    }

    /// The policy being trained (on the training device).
    pub fn policy(&self) -> &CausalLm {
        &self.policy
    }

    /// The routed pool (its statistics count every RM call).
    pub fn pool(&self) -> &RmPool {
        &self.pool
    }

    /// The bandit, for strategies that route with one.
    pub fn router(&self) -> Option<&bandit::LinearRouter> {
        self.strategy.router.as_ref()
    }

    /// Runs the remaining iterations, checkpointing every `checkpoint_every` and at the end,
    /// then writes the final policy and router state; `observe` sees each iteration.
    pub fn run(&mut self, observe: &mut dyn FnMut(&IterationReport)) -> Result<RunSummary> {
        while self.iteration < self.config.iterations {
            let report = self.step()?;
            observe(&report);
            let every = self.config.checkpoint_every;
            if every > 0
                && self.iteration.is_multiple_of(every)
                && self.iteration < self.config.iterations
            {
                self.save_checkpoint()?;
            }
        }
        self.save_checkpoint()?;
        self.write_final()
    }

    /// Runs one iteration and appends its logs.
    pub fn step(&mut self) -> Result<IterationReport> {
        let started = Instant::now();
        let iteration = self.iteration;
        let _span = tracing::info_span!("iteration", iteration).entered();
        // A failed iteration leaves the run as it was (the policy and the optimiser change
        // only in the DPO step, after every fallible call but the logs).
        let before = (
            self.schedule.clone(),
            self.strategy.router.clone(),
            self.normalizer.clone(),
        );
        let batch = self
            .schedule
            .next_batch(self.config.sampling.prompts_per_batch);
        let mut report = match self.iterate(iteration, &batch) {
            Ok(report) => report,
            Err(err) => {
                (self.schedule, self.strategy.router, self.normalizer) = before;
                return Err(err);
            }
        };
        if report.skipped.is_some() {
            // Its prompts are spent; what routing and judging drew is undone.
            (_, self.strategy.router, self.normalizer) = before;
        }
        let seconds = started.elapsed().as_secs_f64();
        report
            .metrics
            .insert("time/iteration".into(), json!(seconds));
        if report.skipped.is_some() {
            self.skipped += 1;
        }
        report
            .metrics
            .insert("iterations/skipped".into(), json!(self.skipped));
        self.logs.append(
            &Value::Object(report.metrics.clone()),
            &report.routing,
            &report.samples,
        )?;
        self.iteration += 1;
        Ok(report)
    }

    /// One iteration over the prompts `batch` (indices into the prompts file). A skipped
    /// iteration returns a report saying why; the caller undoes its routing.
    fn iterate(&mut self, iteration: usize, batch: &[usize]) -> Result<IterationReport> {
        let mut metrics = Map::new();
        metrics.insert("iteration".into(), json!(iteration));
        metrics.insert("epoch".into(), json!(self.schedule.epoch()));
        metrics.insert("strategy".into(), json!(self.strategy.config.name()));
        metrics.insert("beta".into(), json!(self.config.dpo.beta));
        let mut timer = Timer::start();

        // The policy's current weights without a graph, for sampling and LASeR's contexts.
        let current = self.policy.valid();
        // Sample n responses per prompt.
        let samples = self.sample(&current, iteration, batch)?;
        let generated: usize = samples.iter().flatten().map(|s| s.tokens.len()).sum();
        let generate_s = timer.lap("generate", &mut metrics);
        metrics.insert(
            "tokens/s".into(),
            json!(generated as f64 / generate_s.max(f64::MIN_POSITIVE)),
        );
        let responses: Vec<Vec<String>> = samples
            .iter()
            .map(|s| s.iter().map(|sample| sample.text.clone()).collect())
            .collect();
        let sample_records: Vec<SampleRecord> = batch
            .iter()
            .zip(&samples)
            .map(|(&p, s)| SampleRecord {
                iteration,
                prompt_id: self.prompts[p].id,
                category: self.prompts[p].category.clone(),
                responses: s.iter().map(|sample| sample.text.clone()).collect(),
                token_ids: s.iter().map(|sample| sample.tokens.clone()).collect(),
            })
            .collect();
        let n = self.config.sampling.samples_per_prompt;
        let pairs = candidate_pairs(n);

        // Contexts and routes.
        let Contexts {
            values: contexts,
            dim,
            rows,
        } = self.contexts(&current, batch, &responses, &pairs)?;
        drop(current);
        timer.lap("context", &mut metrics);
        let mut mask = ArmMask::from_flags(self.pool.availability());
        let mut routes: Vec<Vec<Route>> = Vec::new();
        if let Some(router) = self.strategy.router.as_mut() {
            let choices = if mask.count_available() == 0 {
                Err(bandit::Error::NoArmAvailable {
                    reason: "every RM of the pool is unavailable".into(),
                })
            } else {
                router.select_batch(&contexts, &mask)
            };
            let choices = match choices {
                Ok(choices) => choices,
                Err(bandit::Error::NoArmAvailable { reason }) => {
                    return self.skip(iteration, metrics, sample_records, reason);
                }
                Err(err) => return Err(err.into()),
            };
            routes = rows
                .iter()
                .map(|row| {
                    row.iter()
                        .map(|&r| Route {
                            choice: choices[r],
                            rerouted: false,
                            context_row: r,
                        })
                        .collect()
                })
                .collect();
        }
        timer.lap("route", &mut metrics);

        // Judge lazily, round by round.
        let orders = batch
            .iter()
            .map(|&p| {
                visiting_order(
                    pairs.len(),
                    mix(&[self.config.seed, iteration as u64, p as u64, 1]),
                )
            })
            .collect();
        let mut draw = LazyDraw::new(orders, self.config.pairs.pairs_per_prompt);
        let mut judged: BTreeMap<(usize, usize), Judgment> = BTreeMap::new();
        let items_before: Vec<usize> = (0..self.pool.len())
            .map(|k| self.pool.stats(k).items)
            .collect();
        loop {
            let round = draw.next_round();
            if round.is_empty() {
                break;
            }
            let round_items: Vec<(PairId, ScoreItem, ScoreItem)> = round
                .iter()
                .map(|&(p, pair)| {
                    let (a, b) = pairs[pair];
                    (
                        PairId { prompt: p, pair },
                        self.item(batch[p], &responses[p][a]),
                        self.item(batch[p], &responses[p][b]),
                    )
                })
                .collect();
            let mut ctx = JudgeContext {
                pool: &mut self.pool,
                oracle: self.oracle.as_mut(),
                router: self.strategy.router.as_mut(),
                contexts: &contexts,
                dim,
                mask: &mut mask,
                routes: &mut routes,
                tie_eps: self.config.pairs.tie_eps,
            };
            match judge_round(self.strategy.judge, &mut ctx, &round_items)? {
                Ok(judgments) => {
                    for (&(p, pair), judgment) in round.iter().zip(judgments) {
                        draw.record(p, judgment.winner.is_none());
                        judged.insert((p, pair), judgment);
                    }
                }
                Err(NoJudge(reason)) => {
                    return self.skip(iteration, metrics, sample_records, reason);
                }
            }
        }
        timer.lap("score", &mut metrics);

        // The kept pairs, in prompt then visiting order, and the oracle's truth for them.
        let kept: Vec<(usize, usize)> = judged
            .iter()
            .filter(|(_, j)| j.winner.is_some())
            .map(|(&key, _)| key)
            .collect();
        let truth = self.truth(batch, &responses, &pairs, &kept)?;
        let token_pairs: Vec<TokenPair> = kept
            .iter()
            .map(|&(p, pair)| {
                let (a, b) = pairs[pair];
                let first_wins = judged[&(p, pair)].winner == Some(0);
                let (chosen, rejected) = if first_wins { (a, b) } else { (b, a) };
                TokenPair {
                    prompt: self.prompt_tokens[batch[p]].clone(),
                    chosen: samples[p][chosen].tokens.clone(),
                    rejected: samples[p][rejected].tokens.clone(),
                }
            })
            .collect();

        // The DPO step.
        let mut losses: Vec<Option<f64>> = vec![None; kept.len()];
        let mut dpo_metrics = DpoMetrics::default();
        if !token_pairs.is_empty() {
            let micro = self.config.dpo.accumulation.min(token_pairs.len());
            self.optimizer.set_accumulation_steps(micro)?;
            let policy = self.policy.clone();
            let (policy, step) = dpo_step(
                policy,
                &self.train_device,
                (&self.reference, &self.device),
                &token_pairs,
                self.config.dpo.beta,
                self.pad_id,
                &mut self.optimizer,
                self.config.dpo.lr,
                micro,
            )?;
            self.policy = policy;
            if step.metrics.skipped.is_none() {
                losses = step.pair_losses.iter().map(|&l| Some(l)).collect();
            } else {
                tracing::warn!(iteration, reason = ?step.metrics.skipped,
                    "DPO update skipped; its pairs reach neither the normaliser nor the bandit");
            }
            dpo_metrics = step.metrics;
        }
        timer.lap("dpo", &mut metrics);

        // Rewards and the bandit update.
        let arm_of = |p: usize, pair: usize| routes.get(p).map(|r| r[pair].choice.arm);
        let groups: Vec<usize> = kept
            .iter()
            .map(|&(p, _)| match self.strategy.context {
                Some(ContextKind::PromptEmbedding { per_prompt: false }) => 0,
                _ => p,
            })
            .collect();
        let finite: Vec<usize> = (0..kept.len()).filter(|&j| losses[j].is_some()).collect();
        let routed_losses: Vec<RoutedLoss> = finite
            .iter()
            .map(|&j| RoutedLoss {
                arm: arm_of(kept[j].0, kept[j].1).unwrap_or(0),
                loss: losses[j].expect("finite"),
            })
            .collect();
        let finite_groups: Vec<usize> = finite.iter().map(|&j| groups[j]).collect();
        let mut rewards: Vec<Option<f64>> = vec![None; kept.len()];
        if !routed_losses.is_empty() {
            let normalised = self.normalizer.rewards(&routed_losses, &finite_groups)?;
            for (&j, reward) in finite.iter().zip(normalised) {
                rewards[j] = reward;
            }
        }
        if self.strategy.learns() {
            let router = self
                .strategy
                .router
                .as_mut()
                .expect("learning strategies route");
            // One feedback per context row and arm: a pair's own context, or LASeR's shared
            // batch/prompt context with the group's reward (counted once).
            let mut seen: HashSet<(usize, usize)> = HashSet::new();
            let mut feedback: Vec<Feedback<'_>> = Vec::new();
            for (j, &(p, pair)) in kept.iter().enumerate() {
                let (Some(reward), route) = (rewards[j], routes[p][pair]) else {
                    continue;
                };
                if seen.insert((route.context_row, route.choice.arm)) {
                    feedback.push(Feedback {
                        arm: route.choice.arm,
                        context: &contexts[route.context_row * dim..(route.context_row + 1) * dim],
                        reward,
                    });
                }
            }
            router.update_batch(&feedback)?;
        }
        timer.lap("update", &mut metrics);

        // Logs.
        let names = self.pool.names();
        let judge_name = |p: usize, pair: usize| -> String {
            match self.strategy.judge {
                JudgeKind::Routed => names[routes[p][pair].choice.arm].clone(),
                JudgeKind::Ensemble => "ensemble".into(),
                JudgeKind::Majority => "majority".into(),
                JudgeKind::Oracle => "oracle".into(),
            }
        };
        let kept_index: BTreeMap<(usize, usize), usize> =
            kept.iter().enumerate().map(|(j, &key)| (key, j)).collect();
        let mut routing = Vec::new();
        for (p, &prompt) in batch.iter().enumerate() {
            for (pair, &(a, b)) in pairs.iter().enumerate() {
                let judgment = judged.get(&(p, pair));
                let j = kept_index.get(&(p, pair)).copied();
                let route = routes.get(p).map(|r| r[pair]);
                routing.push(RoutingRecord {
                    iteration,
                    prompt_id: self.prompts[prompt].id,
                    category: self.prompts[prompt].category.clone(),
                    pair: [a, b],
                    context: (self.config.log_contexts && dim > 0).then(|| {
                        let row = route.map_or(0, |r| r.context_row);
                        contexts[row * dim..(row + 1) * dim].to_vec()
                    }),
                    judge: judge_name(p, pair),
                    arm: route.map(|r| r.choice.arm),
                    propensity: route.and_then(|r| r.choice.propensity),
                    visited: judgment.is_some(),
                    tie: judgment.is_some_and(|j| j.winner.is_none()),
                    kept: j.is_some(),
                    scores: judgment.and_then(|j| j.scores),
                    chosen: judgment.and_then(|j| j.winner),
                    truth: j.and_then(|j| truth[j]),
                    loss: j.and_then(|j| losses[j]),
                    reward: j.and_then(|j| rewards[j]),
                    rerouted: route.is_some_and(|r| r.rerouted),
                });
            }
        }
        self.iteration_metrics(
            &mut metrics,
            &routing,
            &dpo_metrics,
            &items_before,
            &responses,
        );
        Ok(IterationReport {
            iteration,
            metrics,
            routing,
            samples: sample_records,
            skipped: None,
        })
    }

    /// The report of a skipped iteration (its samples and a metrics line saying why).
    fn skip(
        &mut self,
        iteration: usize,
        mut metrics: Map<String, Value>,
        samples: Vec<SampleRecord>,
        reason: String,
    ) -> Result<IterationReport> {
        tracing::warn!(iteration, %reason, "iteration skipped: no reward model could judge its pairs");
        metrics.insert("skipped".into(), json!(reason));
        Ok(IterationReport {
            iteration,
            metrics,
            routing: Vec::new(),
            samples,
            skipped: Some(reason),
        })
    }

    /// n responses per prompt of `batch`: (tokens, text) each, from seeds that depend only on
    /// the run's seed, the iteration, the prompt and the sample index.
    fn sample(
        &self,
        policy: &CausalLm,
        iteration: usize,
        batch: &[usize],
    ) -> Result<Vec<Vec<Sample>>> {
        let s = &self.config.sampling;
        let mut requests = Vec::with_capacity(batch.len() * s.samples_per_prompt);
        for &p in batch {
            for k in 0..s.samples_per_prompt {
                requests.push(GenerationRequest {
                    prompt: self.prompt_tokens[p].clone(),
                    params: SamplingParams {
                        max_new_tokens: s.max_new_tokens,
                        temperature: s.temperature,
                        top_k: s.top_k,
                        top_p: s.top_p,
                        seed: mix(&[self.config.seed, iteration as u64, p as u64, k as u64, 0]),
                        stop_token_ids: self.stop_ids.clone(),
                        stop_strings: Vec::new(),
                    },
                });
            }
        }
        let generations = lm::generate(
            policy,
            &requests,
            self.pad_id,
            Some(&self.tokenizer),
            &self.device,
        )?;
        let mut out = Vec::with_capacity(batch.len());
        let mut generations = generations.into_iter();
        for _ in batch {
            let mut per_prompt = Vec::with_capacity(s.samples_per_prompt);
            for _ in 0..s.samples_per_prompt {
                let g = generations.next().expect("one generation per request");
                let mut tokens = g.tokens;
                if tokens.is_empty() {
                    // A response needs one token to have a log-probability; EOS stands in.
                    tokens.push(self.stop_ids.first().copied().unwrap_or(self.pad_id));
                }
                per_prompt.push(Sample {
                    tokens,
                    text: g.text.unwrap_or_default(),
                });
            }
            out.push(per_prompt);
        }
        Ok(out)
    }

    /// The routing contexts of the iteration (`policy`: the current one, without a graph).
    fn contexts(
        &self,
        policy: &CausalLm,
        batch: &[usize],
        responses: &[Vec<String>],
        pairs: &[(usize, usize)],
    ) -> Result<Contexts> {
        let per_pair_rows = || -> Vec<Vec<usize>> {
            (0..batch.len())
                .map(|p| (0..pairs.len()).map(|j| p * pairs.len() + j).collect())
                .collect()
        };
        match self.strategy.context {
            None => Ok(Contexts {
                values: Vec::new(),
                dim: 0,
                rows: Vec::new(),
            }),
            Some(ContextKind::Constant) => Ok(Contexts {
                values: vec![1.0; batch.len() * pairs.len()],
                dim: 1,
                rows: per_pair_rows(),
            }),
            Some(ContextKind::Pair) => {
                let context_fn = self
                    .context_fn
                    .as_ref()
                    .expect("pair strategies load the export");
                let groups: Vec<CandidateGroup<'_>> = batch
                    .iter()
                    .zip(responses)
                    .map(|(&p, responses)| CandidateGroup {
                        prompt: &self.prompts[p].messages,
                        responses,
                        pairs,
                    })
                    .collect();
                let contexts = context_fn.candidate_contexts(&groups)?;
                let [_, dim] = contexts.dims();
                let values: Vec<f64> = contexts
                    .try_into_vec_as::<f64>()
                    .expect("a float tensor converts to f64");
                Ok(Contexts {
                    values,
                    dim,
                    rows: per_pair_rows(),
                })
            }
            Some(ContextKind::PromptEmbedding { per_prompt }) => {
                // Each prompt's mean input-token embedding under the current policy, [d].
                let means: Vec<Vec<f64>> = batch
                    .iter()
                    .map(|&p| {
                        let ids = &self.prompt_tokens[p];
                        let ids = Tensor::<1, Int>::from_data(
                            TensorData::new(
                                ids.iter().map(|&t| i64::from(t)).collect::<Vec<_>>(),
                                [ids.len()],
                            ),
                            &self.device,
                        );
                        // [len, d] → [d]
                        let mean = policy.token_embeddings(ids).mean_dim(0);
                        mean.try_into_vec_as::<f64>()
                            .expect("a float tensor converts to f64")
                    })
                    .collect();
                let dim = self.decoder.d_model;
                if per_prompt {
                    let rows = (0..batch.len()).map(|p| vec![p; pairs.len()]).collect();
                    Ok(Contexts {
                        values: means.concat(),
                        dim,
                        rows,
                    })
                } else {
                    // The batch's context: the mean of its prompts' means.
                    let mut context = vec![0.0; dim];
                    for mean in &means {
                        for (c, m) in context.iter_mut().zip(mean) {
                            *c += m / means.len() as f64;
                        }
                    }
                    Ok(Contexts {
                        values: context,
                        dim,
                        rows: vec![vec![0; pairs.len()]; batch.len()],
                    })
                }
            }
        }
    }

    /// A score item for `response` to prompt `prompt` (index into the prompts file).
    fn item(&self, prompt: usize, response: &str) -> ScoreItem {
        let prompt = &self.prompts[prompt];
        ScoreItem {
            prompt: prompt.messages.clone(),
            response: response.into(),
            reference: prompt.reference.clone(),
            category: prompt.category.clone(),
        }
    }

    /// The oracle verifier's preferred response for each kept pair (when the run has an
    /// oracle; `None` where the verifier ties). The oracle's calls are not the pool's.
    fn truth(
        &mut self,
        batch: &[usize],
        responses: &[Vec<String>],
        pairs: &[(usize, usize)],
        kept: &[(usize, usize)],
    ) -> Result<Vec<Option<usize>>> {
        if self.oracle.is_none() {
            return Ok(vec![None; kept.len()]);
        }
        if kept.is_empty() {
            return Ok(Vec::new());
        }
        let items: Vec<ScoreItem> = kept
            .iter()
            .flat_map(|&(p, pair)| {
                let (a, b) = pairs[pair];
                [
                    self.item(batch[p], &responses[p][a]),
                    self.item(batch[p], &responses[p][b]),
                ]
            })
            .collect();
        let oracle = self.oracle.as_mut().expect("checked above");
        let scores = oracle.score(0, &items)?;
        Ok(scores
            .chunks(2)
            .map(|s| winner(Verdict::from_scores(s[0], s[1], 0.0)))
            .collect())
    }

    /// Adds the routing, pair, RM-call and label metrics of an iteration.
    fn iteration_metrics(
        &self,
        metrics: &mut Map<String, Value>,
        routing: &[RoutingRecord],
        dpo: &DpoMetrics,
        items_before: &[usize],
        responses: &[Vec<String>],
    ) {
        let count = |f: &dyn Fn(&RoutingRecord) -> bool| routing.iter().filter(|r| f(r)).count();
        let visited = count(&|r| r.visited);
        metrics.insert("pairs/candidates".into(), json!(routing.len()));
        metrics.insert("pairs/visited".into(), json!(visited));
        metrics.insert("pairs/ties".into(), json!(count(&|r| r.tie)));
        metrics.insert("pairs/kept".into(), json!(count(&|r| r.kept)));
        metrics.insert("pairs/rerouted".into(), json!(count(&|r| r.rerouted)));
        metrics.insert(
            "pairs/skipped_nonfinite".into(),
            json!(count(&|r| r.kept && r.loss.is_none())),
        );
        for (key, value) in [
            ("loss", Some(dpo.loss)),
            ("rewards/chosen", Some(dpo.rewards_chosen)),
            ("rewards/rejected", Some(dpo.rewards_rejected)),
            ("rewards/margins", Some(dpo.rewards_margins)),
            ("rewards/accuracies", Some(dpo.rewards_accuracies)),
            ("logps/chosen", Some(dpo.logps_chosen)),
            ("logps/rejected", Some(dpo.logps_rejected)),
            ("grad_norm", dpo.grad_norm),
        ] {
            if dpo.pairs > 0 {
                metrics.insert(key.into(), json!(value));
            }
        }
        metrics.insert("learning_rate".into(), json!(self.config.dpo.lr));
        // Routing shares among visited pairs, and each RM's calls and mean score.
        let names = self.pool.names();
        for (k, name) in names.iter().enumerate() {
            let judged: Vec<&RoutingRecord> = routing
                .iter()
                .filter(|r| r.visited && r.arm == Some(k))
                .collect();
            if self.strategy.judge == JudgeKind::Routed {
                metrics.insert(
                    format!("routing/share/{name}"),
                    json!(judged.len() as f64 / visited.max(1) as f64),
                );
            }
            let stats = self.pool.stats(k);
            metrics.insert(
                format!("rm/{name}/calls"),
                json!(stats.items - items_before[k]),
            );
            metrics.insert(format!("rm/{name}/failures"), json!(stats.failures));
            let scores: Vec<f64> = judged
                .iter()
                .filter_map(|r| r.scores)
                .flat_map(|s| s.into_iter())
                .collect();
            if !scores.is_empty() {
                metrics.insert(
                    format!("rm/{name}/mean_score"),
                    json!(scores.iter().sum::<f64>() / scores.len() as f64),
                );
            }
        }
        // What scoring every candidate pair with its judge would have cost, in items.
        let lazy: usize = (0..names.len())
            .map(|k| self.pool.stats(k).items - items_before[k])
            .sum();
        let eager = match self.strategy.judge {
            JudgeKind::Routed => {
                let mut distinct: HashSet<(usize, usize, usize)> = HashSet::new();
                for r in routing {
                    if let Some(arm) = r.arm {
                        for response in r.pair {
                            distinct.insert((arm, r.prompt_id, response));
                        }
                    }
                }
                distinct.len()
            }
            JudgeKind::Ensemble | JudgeKind::Majority => {
                names.len() * responses.iter().map(Vec::len).sum::<usize>()
            }
            JudgeKind::Oracle => 0,
        };
        metrics.insert("rm/items_scored".into(), json!(lazy));
        metrics.insert("rm/items_if_every_pair_scored".into(), json!(eager));
        // Routed labels against the verifier.
        let decided: Vec<&RoutingRecord> = routing
            .iter()
            .filter(|r| r.kept && r.truth.is_some())
            .collect();
        if !decided.is_empty() {
            let agree = decided.iter().filter(|r| r.chosen == r.truth).count();
            metrics.insert(
                "labels/agreement".into(),
                json!(agree as f64 / decided.len() as f64),
            );
            metrics.insert("labels/decided".into(), json!(decided.len()));
        }
        let rewards: Vec<f64> = routing.iter().filter_map(|r| r.reward).collect();
        if !rewards.is_empty() {
            let mean = rewards.iter().sum::<f64>() / rewards.len() as f64;
            let var =
                rewards.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / rewards.len() as f64;
            metrics.insert("bandit/reward_mean".into(), json!(mean));
            metrics.insert("bandit/reward_std".into(), json!(var.sqrt()));
            metrics.insert("bandit/rewards".into(), json!(rewards.len()));
        }
    }

    /// Writes a checkpoint of everything the run needs to continue bit for bit.
    pub fn save_checkpoint(&mut self) -> Result<()> {
        let lengths = self.logs.lengths()?;
        let moments = (0..self.pool.len()).map(|k| self.pool.moments(k)).collect();
        let state = Checkpoint::new(
            self.iteration,
            self.skipped,
            self.schedule.clone(),
            self.normalizer.clone(),
            self.optimizer.steps(),
            lengths,
            moments,
        );
        checkpoint::save(
            &self.dir,
            &state,
            (&self.policy, &self.decoder),
            self.strategy.router.as_ref(),
            &self.optimizer,
        )
    }

    /// Restores checkpoint `dir` with its `state` (the logs are already cut back to it).
    fn restore(&mut self, dir: &Path, state: Checkpoint) -> Result<()> {
        let policy_path = self.config.resolve(&self.config.policy.path);
        self.policy = checkpoint::load_policy(
            dir,
            &policy_path,
            self.config.policy.lora.is_some(),
            &self.train_device,
        )?;
        self.optimizer
            .load_state(&dir.join(checkpoint::OPTIMIZER_FILE), state.optimizer_steps)?;
        if let Some(router) = self.strategy.router.as_mut() {
            *router = bandit::LinearRouter::load(
                &dir.join(checkpoint::ROUTER_FILE),
                router.n_arms(),
                router.dim(),
            )?;
        }
        self.pool.restore_moments(&state.pool_moments)?;
        self.normalizer = state.normalizer;
        self.schedule = state.schedule;
        self.iteration = state.iteration;
        self.skipped = state.skipped;
        tracing::info!(iteration = self.iteration, checkpoint = %dir.display(), "resumed");
        Ok(())
    }

    /// Writes `final/`: the policy as a Hugging Face folder (adapters merged), the PEFT
    /// adapter when LoRA trained, and the router state.
    fn write_final(&mut self) -> Result<RunSummary> {
        let final_dir = self.dir.join("final");
        let policy_dir = final_dir.join("policy");
        let plain = self.policy.valid();
        lm::save_pretrained(&policy_dir, &plain, &self.decoder, Some(&self.tokenizer))?;
        if self.policy.lora().is_some() {
            let base = self.config.resolve(&self.config.policy.path);
            lm::save_adapter(
                &final_dir.join("adapter"),
                &plain,
                &base.display().to_string(),
            )?;
        }
        if let Some(router) = &self.strategy.router {
            router.save(&final_dir.join(checkpoint::ROUTER_FILE))?;
        }
        Ok(RunSummary {
            dir: self.dir.clone(),
            iterations: self.iteration,
            skipped: self.skipped,
            policy: policy_dir,
        })
    }
}

/// Checks the run folder before a run: a new run needs a folder without checkpoints, a
/// resumed one the same effective config (bar `iterations`). Saves the config.
fn prepare_run_folder(dir: &Path, table: &toml::Table, resume: bool) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let saved_path = dir.join(RUN_CONFIG_FILE);
    if resume {
        let text = std::fs::read_to_string(&saved_path).map_err(|_| Error::Resume {
            dir: dir.to_path_buf(),
            reason: format!("no {RUN_CONFIG_FILE}: it is not a run folder"),
        })?;
        let saved: toml::Table = toml::from_str(&text).map_err(|e| Error::Config {
            path: saved_path.clone(),
            reason: e.to_string(),
        })?;
        if let Some(key) = first_difference(&saved, table) {
            return Err(Error::Resume {
                dir: dir.to_path_buf(),
                reason: format!(
                    "the config differs from the run's at `{key}` (saved in {})",
                    saved_path.display()
                ),
            });
        }
    } else if checkpoint::latest(dir)?.is_some() {
        return Err(Error::Resume {
            dir: dir.to_path_buf(),
            reason:
                "it already holds a run: pass --resume to continue it, or choose another output"
                    .into(),
        });
    }
    let text = toml::to_string(table).map_err(|e| Error::Config {
        path: saved_path.clone(),
        reason: e.to_string(),
    })?;
    Ok(atomic_write::replace_file(&saved_path, text.as_bytes())?)
}

/// Wall time of an iteration's phases, recorded as `time/<phase>` seconds.
struct Timer {
    last: Instant,
}

impl Timer {
    fn start() -> Self {
        Self {
            last: Instant::now(),
        }
    }

    /// Seconds since the previous lap (or the start), recorded under `phase`.
    fn lap(&mut self, phase: &str, metrics: &mut Map<String, Value>) -> f64 {
        let now = Instant::now();
        let seconds = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        metrics.insert(format!("time/{phase}"), json!(seconds));
        seconds
    }
}
