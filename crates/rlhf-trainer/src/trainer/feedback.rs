//! Feedback: per-pair losses → the run's normaliser → rewards → the bandit update for the
//! arm that judged each pair (METHOD.md §4–§5); with `reward = "verifier"` (an ablation) the
//! rewards are the verifier's verdicts on the routed labels instead.

use std::collections::HashSet;

use bandit::Feedback;
use reward_norm::RoutedLoss;

use crate::config::RewardSource;
use crate::error::Result;
use crate::labels::Route;
use crate::strategy::ContextKind;

use super::labelling::Outcomes;
use super::routing::Contexts;
use super::state::Trainer;

impl Trainer {
    /// Turns the kept pairs' losses (or verdicts) into `outcomes.rewards` and, for learning
    /// strategies, updates the router with them.
    pub(super) fn feedback(
        &mut self,
        contexts: &Contexts,
        routes: &[Vec<Route>],
        outcomes: &mut Outcomes,
    ) -> Result<()> {
        match self.config.reward {
            RewardSource::DpoLoss => self.normalise(routes, outcomes)?,
            RewardSource::Verifier => verdict_rewards(outcomes),
        }
        if !self.strategy.learns() {
            return Ok(());
        }
        // One feedback per context row and arm: a pair's own context, or LASeR's shared
        // batch/prompt context with the group's reward (counted once).
        let mut seen: HashSet<(usize, usize)> = HashSet::new();
        let mut feedback: Vec<Feedback<'_>> = Vec::new();
        for (j, &(p, pair)) in outcomes.kept.iter().enumerate() {
            let (Some(reward), route) = (outcomes.rewards[j], &routes[p][pair]) else {
                continue;
            };
            if seen.insert((route.context_row, route.choice.arm)) {
                feedback.push(Feedback {
                    arm: route.choice.arm,
                    context: contexts.row(route.context_row),
                    reward,
                });
            }
        }
        let bandit = self
            .strategy
            .bandit
            .as_mut()
            .expect("learning strategies route");
        bandit.update_batch(&feedback)?;
        Ok(())
    }

    /// The normaliser's reward for every kept pair with a finite loss. Pairs are grouped
    /// by prompt, or all in one group where LASeR routes per batch.
    fn normalise(&mut self, routes: &[Vec<Route>], outcomes: &mut Outcomes) -> Result<()> {
        let one_group = matches!(
            self.strategy.context,
            Some(ContextKind::PromptEmbedding { per_prompt: false })
        );
        let finite: Vec<usize> = (0..outcomes.kept.len())
            .filter(|&j| outcomes.losses[j].is_some())
            .collect();
        if finite.is_empty() {
            return Ok(());
        }
        let routed_losses: Vec<RoutedLoss> = finite
            .iter()
            .map(|&j| {
                let (p, pair) = outcomes.kept[j];
                RoutedLoss {
                    arm: routes.get(p).map_or(0, |r| r[pair].choice.arm),
                    loss: outcomes.losses[j].expect("finite"),
                }
            })
            .collect();
        let groups: Vec<usize> = finite
            .iter()
            .map(|&j| if one_group { 0 } else { outcomes.kept[j].0 })
            .collect();
        let normalised = self.normalizer.rewards(&routed_losses, &groups)?;
        for (&j, reward) in finite.iter().zip(normalised) {
            outcomes.rewards[j] = reward;
        }
        Ok(())
    }
}

/// The verifier's verdict on every kept pair's label as its reward: 1 when the judge chose
/// the response the verifier prefers, 0 when it chose the other, `None` where the verifier
/// ties (no update).
fn verdict_rewards(outcomes: &mut Outcomes) {
    for (j, key) in outcomes.kept.iter().enumerate() {
        let truth = outcomes.truth.get(key).copied().flatten();
        let chosen = outcomes.judged[key].winner;
        outcomes.rewards[j] = truth.map(|t| if chosen == Some(t) { 1.0 } else { 0.0 });
    }
}
