//! What an iteration reports: its routing.jsonl lines and its metrics.jsonl line (pairs,
//! DPO, routing shares, RM calls, labels against the verifier, bandit rewards, phase times).

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::dpo::DpoMetrics;
use crate::labels::Route;
use crate::logs::RoutingRecord;
use crate::strategy::Labeller;

use super::labelling::Outcomes;
use super::routing::Contexts;
use super::sampling::Drawn;
use super::state::Trainer;

impl Trainer {
    /// The metrics every iteration line starts with.
    pub(super) fn header_metrics(&self, iteration: usize) -> Map<String, Value> {
        let mut metrics = Map::new();
        metrics.insert("iteration".into(), json!(iteration));
        metrics.insert("epoch".into(), json!(self.schedule.epoch()));
        metrics.insert("strategy".into(), json!(self.strategy.config.name()));
        metrics.insert("beta".into(), json!(self.config.dpo.beta));
        metrics
    }

    /// Items each RM of the pool has scored so far, in arm order.
    pub(super) fn items_scored(&self) -> Vec<usize> {
        (0..self.pool.len())
            .map(|k| self.pool.stats(k).items)
            .collect()
    }

    /// One routing.jsonl line per candidate pair of the batch, by prompt then pair.
    pub(super) fn routing_records(
        &self,
        iteration: usize,
        drawn: &Drawn,
        contexts: &Contexts,
        routes: &[Vec<Route>],
        outcomes: &Outcomes,
    ) -> Vec<RoutingRecord> {
        let names = self.pool.names();
        let judge_name = |route: Option<&Route>| -> String {
            match (self.strategy.labeller, route) {
                (Labeller::Routed, Some(route)) => names[route.choice.arm].clone(),
                (Labeller::Routed, None) => unreachable!("routed strategies route every pair"),
                (Labeller::Ensemble, _) => "ensemble".into(),
                (Labeller::Majority, _) => "majority".into(),
                (Labeller::Oracle { .. }, _) => "oracle".into(),
            }
        };
        let kept_index: BTreeMap<(usize, usize), usize> = outcomes
            .kept
            .iter()
            .enumerate()
            .map(|(j, &key)| (key, j))
            .collect();
        let mut routing = Vec::with_capacity(drawn.batch.len() * drawn.pairs.len());
        for (p, &prompt) in drawn.batch.iter().enumerate() {
            for (pair, &(a, b)) in drawn.pairs.iter().enumerate() {
                let judgment = outcomes.judged.get(&(p, pair));
                let j = kept_index.get(&(p, pair)).copied();
                let route = routes.get(p).map(|r| &r[pair]);
                routing.push(RoutingRecord {
                    iteration,
                    prompt_id: self.prompts[prompt].id,
                    category: self.prompts[prompt].category.clone(),
                    pair: [a, b],
                    context: (self.config.log_contexts && contexts.dim > 0)
                        .then(|| contexts.row(route.map_or(0, |r| r.context_row)).to_vec()),
                    judge: judge_name(route),
                    arm: route.map(|r| r.choice.arm),
                    propensity: route.and_then(|r| r.choice.propensity),
                    propensities: route
                        .and_then(|r| r.choice.distribution.as_ref())
                        .map(|d| d.probabilities.clone()),
                    propensity_draws: route
                        .and_then(|r| r.choice.distribution.as_ref())
                        .and_then(|d| d.draws),
                    visited: judgment.is_some(),
                    tie: judgment.is_some_and(|j| j.winner.is_none()),
                    kept: j.is_some(),
                    scores: judgment.and_then(|j| j.scores),
                    chosen: judgment.and_then(|j| j.winner),
                    truth: outcomes.truth.get(&(p, pair)).copied().flatten(),
                    loss: j.and_then(|j| outcomes.losses[j]),
                    reward: j.and_then(|j| outcomes.rewards[j]),
                    rerouted: route.is_some_and(|r| r.rerouted),
                });
            }
        }
        routing
    }

    /// Adds the routing, pair, RM-call and label metrics of an iteration.
    pub(super) fn iteration_metrics(
        &self,
        metrics: &mut Map<String, Value>,
        routing: &[RoutingRecord],
        dpo: &DpoMetrics,
        items_before: &[usize],
        drawn: &Drawn,
    ) {
        pair_metrics(metrics, routing);
        dpo_metrics(metrics, dpo);
        metrics.insert("learning_rate".into(), json!(self.config.dpo.lr));
        self.rm_metrics(metrics, routing, items_before, drawn);
        label_metrics(metrics, routing);
        reward_metrics(metrics, routing);
    }

    /// Routing shares among visited pairs, each RM's calls, failures and mean score, and
    /// what lazy judging saved.
    fn rm_metrics(
        &self,
        metrics: &mut Map<String, Value>,
        routing: &[RoutingRecord],
        items_before: &[usize],
        drawn: &Drawn,
    ) {
        let visited = routing.iter().filter(|r| r.visited).count();
        let names = self.pool.names();
        for (k, name) in names.iter().enumerate() {
            let judged: Vec<&RoutingRecord> = routing
                .iter()
                .filter(|r| r.visited && r.arm == Some(k))
                .collect();
            if self.strategy.labeller == Labeller::Routed {
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
        let lazy: usize = (0..names.len())
            .map(|k| self.pool.stats(k).items - items_before[k])
            .sum();
        metrics.insert("rm/items_scored".into(), json!(lazy));
        metrics.insert(
            "rm/items_if_every_pair_scored".into(),
            json!(self.eager_items(routing, drawn)),
        );
    }

    /// What scoring every candidate pair with its judge would have cost, in items.
    fn eager_items(&self, routing: &[RoutingRecord], drawn: &Drawn) -> usize {
        match self.strategy.labeller {
            Labeller::Routed => {
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
            Labeller::Ensemble | Labeller::Majority => {
                self.pool.len() * drawn.responses.iter().map(Vec::len).sum::<usize>()
            }
            Labeller::Oracle { .. } => 0,
        }
    }
}

/// Candidate, visited, tied, kept, re-routed and non-finite pairs.
fn pair_metrics(metrics: &mut Map<String, Value>, routing: &[RoutingRecord]) {
    let count = |f: &dyn Fn(&RoutingRecord) -> bool| routing.iter().filter(|r| f(r)).count();
    metrics.insert("pairs/candidates".into(), json!(routing.len()));
    metrics.insert("pairs/visited".into(), json!(count(&|r| r.visited)));
    metrics.insert("pairs/ties".into(), json!(count(&|r| r.tie)));
    metrics.insert("pairs/kept".into(), json!(count(&|r| r.kept)));
    metrics.insert("pairs/rerouted".into(), json!(count(&|r| r.rerouted)));
    metrics.insert(
        "pairs/skipped_nonfinite".into(),
        json!(count(&|r| r.kept && r.loss.is_none())),
    );
}

/// The DPO step's loss, implicit rewards, log-probs and gradient norm (TRL's names), when
/// it trained on any pair.
fn dpo_metrics(metrics: &mut Map<String, Value>, dpo: &DpoMetrics) {
    if dpo.pairs == 0 {
        return;
    }
    for (key, value) in [
        ("loss", Some(dpo.loss)),
        ("rewards/chosen", Some(dpo.rewards_chosen)),
        ("rewards/rejected", Some(dpo.rewards_rejected)),
        ("rewards/margins", Some(dpo.rewards_margins)),
        ("rewards/accuracies", Some(dpo.rewards_accuracies)),
        ("logps/chosen", Some(dpo.logps_chosen)),
        ("logps/rejected", Some(dpo.logps_rejected)),
        ("nll_loss", Some(dpo.nll_chosen)),
        ("grad_norm", dpo.grad_norm),
    ] {
        metrics.insert(key.into(), json!(value));
    }
}

/// Routed labels against the verifier, over kept pairs it decided.
fn label_metrics(metrics: &mut Map<String, Value>, routing: &[RoutingRecord]) {
    let decided: Vec<&RoutingRecord> = routing
        .iter()
        .filter(|r| r.kept && r.truth.is_some())
        .collect();
    if decided.is_empty() {
        return;
    }
    let agree = decided.iter().filter(|r| r.chosen == r.truth).count();
    metrics.insert(
        "labels/agreement".into(),
        json!(agree as f64 / decided.len() as f64),
    );
    metrics.insert("labels/decided".into(), json!(decided.len()));
}

/// Mean and standard deviation of the iteration's bandit rewards.
fn reward_metrics(metrics: &mut Map<String, Value>, routing: &[RoutingRecord]) {
    let rewards: Vec<f64> = routing.iter().filter_map(|r| r.reward).collect();
    if rewards.is_empty() {
        return;
    }
    let mean = rewards.iter().sum::<f64>() / rewards.len() as f64;
    let var = rewards.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / rewards.len() as f64;
    metrics.insert("bandit/reward_mean".into(), json!(mean));
    metrics.insert("bandit/reward_std".into(), json!(var.sqrt()));
    metrics.insert("bandit/rewards".into(), json!(rewards.len()));
}

/// Wall time of an iteration's phases, recorded as `time/<phase>` seconds.
pub(super) struct Timer {
    last: Instant,
}

impl Timer {
    pub(super) fn start() -> Self {
        Self {
            last: Instant::now(),
        }
    }

    /// Seconds since the previous lap (or the start), recorded under `phase`.
    pub(super) fn lap(&mut self, phase: &str, metrics: &mut Map<String, Value>) -> f64 {
        let now = Instant::now();
        let seconds = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        metrics.insert(format!("time/{phase}"), json!(seconds));
        seconds
    }
}
