//! The online DPO loop with routing (METHOD.md §5): [`Trainer`] owns the policy, the DPO
//! reference (frozen unless the config copies the policy into it), the pool, the strategy and
//! the run folder, and runs one iteration at a time.
//!
//! One iteration, one file per phase: copy the policy into the reference when due
//! ([`reference`]) → draw B prompts → sample n responses each from the policy or the
//! reference ([`sampling`]) → form the n(n−1)/2 candidate pairs, their contexts (one batched
//! call) and every pair's route ([`routing`]) → label lazily, round by round, until each
//! prompt has its pairs, and the oracle's truth for the kept ones ([`labelling`]) → DPO step
//! on the kept pairs ([`dpo_update`]) → per-pair losses → normaliser → bandit update
//! ([`feedback`]) → logs and metrics ([`report`]). An iteration that cannot be labelled (no RM left) is
//! skipped with a warning and changes no state but the prompt cursor. What a run holds is in
//! [`state`]; building a run in [`setup`]; checkpoints, resumption and `final/` in
//! [`persistence`]. The files depend one way: each phase on the state and on the phases
//! before it, this file on all of them.

mod dpo_update;
mod feedback;
mod labelling;
mod persistence;
mod reference;
mod report;
mod routing;
mod sampling;
mod setup;
mod state;

use std::time::Instant;

use bandit::ArmMask;
use burn::prelude::*;
use serde_json::{Map, Value, json};

use crate::config::Generator;
use crate::error::Result;
use crate::labels::NoLabeller;
use crate::logs::{RoutingRecord, SampleRecord};

use self::labelling::Outcomes;
use self::report::Timer;

pub use self::persistence::RunSummary;
pub use self::setup::RUN_CONFIG_FILE;
pub use self::state::Trainer;

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

impl Trainer {
    /// Runs the remaining iterations, checkpointing every `checkpoint_every` and at the end,
    /// then writes the final policy and bandit state; `observe` sees each iteration.
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
            self.strategy.bandit.clone(),
            self.normalizer.clone(),
        );
        let reference_before = self.reference_due(iteration).then(|| {
            let previous = self.reference.clone();
            self.sync_reference();
            previous
        });
        let batch = self
            .schedule
            .next_batch(self.config.sampling.prompts_per_batch);
        let mut report = match self.iterate(iteration, &batch) {
            Ok(report) => report,
            Err(err) => {
                (self.schedule, self.strategy.bandit, self.normalizer) = before;
                if let Some(reference) = reference_before {
                    self.reference = reference;
                }
                return Err(err);
            }
        };
        if report.skipped.is_some() {
            // Its prompts are spent; what routing and judging drew is undone.
            (_, self.strategy.bandit, self.normalizer) = before;
            self.skipped += 1;
        }
        let seconds = started.elapsed().as_secs_f64();
        report
            .metrics
            .insert("time/iteration".into(), json!(seconds));
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
        let mut metrics = self.header_metrics(iteration);
        let mut timer = Timer::start();
        // The policy's current weights without a graph, for sampling and LASeR's contexts.
        let current = self.policy.valid();
        let generator = match self.config.sampling.generator {
            Generator::Policy => &current,
            Generator::Reference => &self.reference,
        };
        let drawn = self.sample(generator, iteration, batch)?;
        let generate_s = timer.lap("generate", &mut metrics);
        metrics.insert(
            "tokens/s".into(),
            json!(drawn.generated_tokens() as f64 / generate_s.max(f64::MIN_POSITIVE)),
        );
        let samples = drawn.records(iteration, &self.prompts);
        let contexts = self.contexts(&current, &drawn)?;
        drop(current);
        timer.lap("context", &mut metrics);
        let mut mask = ArmMask::from_flags(self.pool.availability());
        let mut routes = match self.route(&contexts, &mask)? {
            Ok(routes) => routes,
            Err(NoLabeller(reason)) => return Ok(skipped(iteration, metrics, samples, reason)),
        };
        timer.lap("route", &mut metrics);
        let items_before = self.items_scored();
        let judged =
            match self.judge_lazily(iteration, &drawn, &contexts, &mut mask, &mut routes)? {
                Ok(judged) => judged,
                Err(NoLabeller(reason)) => return Ok(skipped(iteration, metrics, samples, reason)),
            };
        timer.lap("score", &mut metrics);
        let mut outcomes = Outcomes::of(judged);
        outcomes.truth = self.truth(&drawn, &outcomes.judged)?;
        let dpo = self.dpo_update(iteration, &drawn, &mut outcomes)?;
        timer.lap("dpo", &mut metrics);
        self.feedback(&contexts, &routes, &mut outcomes)?;
        timer.lap("update", &mut metrics);
        let routing = self.routing_records(iteration, &drawn, &contexts, &routes, &outcomes);
        self.iteration_metrics(&mut metrics, &routing, &dpo, &items_before, &drawn);
        Ok(IterationReport {
            iteration,
            metrics,
            routing,
            samples,
            skipped: None,
        })
    }
}

/// The report of a skipped iteration (its samples and a metrics line saying why).
fn skipped(
    iteration: usize,
    mut metrics: Map<String, Value>,
    samples: Vec<SampleRecord>,
    reason: String,
) -> IterationReport {
    tracing::warn!(iteration, %reason, "iteration skipped: no reward model could judge its pairs");
    metrics.insert("skipped".into(), json!(reason));
    IterationReport {
        iteration,
        metrics,
        routing: Vec::new(),
        samples,
        skipped: Some(reason),
    }
}
