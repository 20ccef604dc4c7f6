//! The router's state behind the endpoints: the bandit, the loss normaliser, the routes
//! awaiting feedback, and the journal and snapshots that make it durable.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use bandit::{ArmMask, Choice, Feedback, LinearBandit};
use reward_norm::RoutedLoss;
use rlhf_trainer::Normalizer;
use serde::{Deserialize, Serialize};

use crate::api::{FeedbackItem, FeedbackSource};
use crate::error::{Error, Result};
use crate::journal::{Event, Journal, RoutedItem, SNAPSHOT_DIR};
use crate::routing_log::{RoutingLog, rows_of};

/// The snapshot's format name and version.
const SNAPSHOT_FORMAT: &str = "reward-service-snapshot";
const SNAPSHOT_VERSION: u32 = 2;
/// File names inside the snapshot folder.
const ROUTER_FILE: &str = "router.json";
const SERVICE_FILE: &str = "service.json";

/// Everything of the service's state but the bandit and the pending routes (service.json
/// in a snapshot). The pending routes are rebuilt from the journal at start: they can be
/// many (each holds a d-wide context), and the journal holds them anyway. (Version 1 also
/// held them; its other fields read the same, so a v1 snapshot still loads.)
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ServiceState {
    format: String,
    version: u32,
    /// Journal events the snapshot includes.
    events: u64,
    next_route: u64,
    updates: u64,
    normalizer: Option<Normalizer>,
}

/// One routed item of a request.
#[derive(Clone, Debug)]
pub struct Routed {
    /// The route id.
    pub id: u64,
    /// The router's choice (arm, propensity, distribution).
    pub choice: Choice,
}

/// What a feedback call did.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    /// Items that updated the bandit.
    pub applied: usize,
    /// Items consumed.
    pub consumed: usize,
    /// Per item, the reward the bandit was updated with (`None`: the normaliser was
    /// warming up).
    pub rewards: Vec<Option<f64>>,
}

/// The router with its durable state.
pub struct RouterCore {
    bandit: LinearBandit,
    normalizer: Option<Normalizer>,
    pending: BTreeMap<u64, RoutedItem>,
    next_route: u64,
    updates: u64,
    events: u64,
    journal: Journal,
    routing_log: RoutingLog,
    state_dir: PathBuf,
    max_pending: usize,
    feedback_since_snapshot: u64,
    /// Set when memory and journal may disagree (a journal write failed after a bandit
    /// update); every later request is refused until a restart replays the journal.
    poisoned: Option<String>,
}

impl RouterCore {
    /// The state in `state_dir`: the snapshot there (else `bandit` and `normalizer` as
    /// given, fresh) with every later journal event replayed, the pending routes and
    /// routing.jsonl rebuilt from the whole journal. Errors if the snapshot's router does not
    /// fit `bandit` (arms, context width), its normaliser has other settings than
    /// `normalizer`, or a replayed event does not reproduce its journaled arm or reward.
    pub fn open(
        state_dir: &Path,
        bandit: LinearBandit,
        normalizer: Option<Normalizer>,
        max_pending: usize,
    ) -> Result<Self> {
        let (journal, events) = Journal::open(state_dir)?;
        let routing_log = RoutingLog::rebuild(state_dir, &events, bandit.prior().names())?;
        let configured = normalizer.clone();
        let mut core = Self {
            bandit,
            normalizer,
            pending: BTreeMap::new(),
            next_route: 0,
            updates: 0,
            events: 0,
            journal,
            routing_log,
            state_dir: state_dir.to_path_buf(),
            max_pending,
            feedback_since_snapshot: 0,
            poisoned: None,
        };
        core.restore_snapshot()?;
        let same = match (&configured, &core.normalizer) {
            (Some(a), Some(b)) => a.same_settings(b),
            (None, None) => true,
            _ => false,
        };
        if !same {
            return Err(Error::Config(format!(
                "{}: the state's normaliser was made with other settings (kind or \
                 --normalizer-window) than this service's; start with those settings or \
                 another state folder",
                state_dir.display()
            )));
        }
        let snapshot_events = core.events;
        let mut replayed = 0;
        for event in events {
            if event.seq() <= snapshot_events {
                core.track_pending(&event);
                continue;
            }
            core.replay(&event)?;
            core.events = event.seq();
            replayed += 1;
        }
        if replayed > 0 {
            tracing::info!(
                replayed,
                events = core.events,
                "replayed journal events after the snapshot"
            );
        }
        Ok(core)
    }

    /// Loads snapshot/ when there is one.
    fn restore_snapshot(&mut self) -> Result<()> {
        let dir = self.state_dir.join(SNAPSHOT_DIR);
        let service_path = dir.join(SERVICE_FILE);
        if !service_path.is_file() {
            return Ok(());
        }
        let state: ServiceState = atomic_write::read_json(&service_path)?;
        if state.format != SNAPSHOT_FORMAT || !(1..=SNAPSHOT_VERSION).contains(&state.version) {
            return Err(Error::Config(format!(
                "{}: a {} v{} file, expected {SNAPSHOT_FORMAT} v1 to v{SNAPSHOT_VERSION}",
                service_path.display(),
                state.format,
                state.version
            )));
        }
        self.bandit = LinearBandit::load(
            &dir.join(ROUTER_FILE),
            self.bandit.n_arms(),
            self.bandit.dim(),
        )?;
        self.normalizer = state.normalizer;
        self.next_route = state.next_route;
        self.updates = state.updates;
        self.events = state.events;
        Ok(())
    }

    /// Keeps the pending routes in step with an event the snapshot already includes: its
    /// routes become pending, its feedback closes them (as when it was first applied).
    fn track_pending(&mut self, event: &Event) {
        match event {
            Event::Route { items, .. } => {
                for item in items {
                    self.remember(item.clone());
                }
            }
            Event::Feedback { items, .. } => {
                for item in items {
                    self.pending.remove(&item.route_id);
                }
            }
        }
    }

    /// Redoes one journaled event.
    fn replay(&mut self, event: &Event) -> Result<()> {
        match event {
            Event::Route {
                available, items, ..
            } => {
                let contexts: Vec<f64> = items.iter().flat_map(|i| i.context.clone()).collect();
                let mask = ArmMask::from_flags(available.clone());
                let choices = self.bandit.select_batch(&contexts, &mask)?;
                for (item, choice) in items.iter().zip(&choices) {
                    if choice.arm != item.arm {
                        return Err(Error::Config(format!(
                            "journal event {}: replaying route {} chose arm {}, the journal \
                             says {}; the state folder does not belong to this router",
                            event.seq(),
                            item.id,
                            choice.arm,
                            item.arm
                        )));
                    }
                    self.remember(item.clone());
                }
            }
            Event::Feedback {
                seq,
                items,
                rewards,
                ..
            } => {
                let applied = self.apply_feedback(items)?;
                // Journals written before rewards were recorded carry none.
                if !rewards.is_empty() && applied.rewards != *rewards {
                    return Err(Error::Config(format!(
                        "journal event {seq}: replaying the feedback gave rewards {:?}, the \
                         journal says {rewards:?}; the state folder belongs to another \
                         normaliser or router",
                        applied.rewards
                    )));
                }
            }
        }
        Ok(())
    }

    /// Number of arms.
    pub fn n_arms(&self) -> usize {
        self.bandit.n_arms()
    }

    /// Context width d.
    pub fn dim(&self) -> usize {
        self.bandit.dim()
    }

    /// Routes awaiting feedback.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Bandit updates so far.
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// The bandit (for its posterior).
    pub fn bandit(&self) -> &LinearBandit {
        &self.bandit
    }

    fn check_healthy(&self) -> Result<()> {
        match &self.poisoned {
            Some(reason) => Err(Error::Config(format!(
                "the service stopped accepting requests: {reason}; restart it to replay the \
                 journal"
            ))),
            None => Ok(()),
        }
    }

    /// Routes N contexts (`[N, d]`, row-major) among the `available` arms, journals the
    /// routes and returns one per context, in order.
    pub fn route(&mut self, contexts: &[f64], available: Vec<bool>) -> Result<Vec<Routed>> {
        self.check_healthy()?;
        let mask = ArmMask::from_flags(available.clone());
        let choices = match self.bandit.select_batch(contexts, &mask) {
            Ok(choices) => choices,
            Err(bandit::Error::NoArmAvailable { reason }) => return Err(Error::Upstream(reason)),
            Err(err) => return Err(err.into()),
        };
        let dim = self.dim();
        let items: Vec<RoutedItem> = choices
            .iter()
            .enumerate()
            .map(|(j, choice)| RoutedItem {
                id: self.next_route + j as u64,
                arm: choice.arm,
                propensity: choice.propensity,
                propensities: choice
                    .distribution
                    .as_ref()
                    .map(|d| d.probabilities.clone()),
                propensity_draws: choice.distribution.as_ref().and_then(|d| d.draws),
                context: contexts[j * dim..(j + 1) * dim].to_vec(),
            })
            .collect();
        let event = Event::Route {
            seq: self.events + 1,
            available,
            items,
        };
        self.commit(&event)?;
        let Event::Route { items, .. } = event else {
            unreachable!("built above")
        };
        let routed = items
            .iter()
            .zip(choices)
            .map(|(item, choice)| Routed {
                id: item.id,
                choice,
            })
            .collect();
        for item in items {
            self.remember(item);
        }
        Ok(routed)
    }

    /// Journals an event that has been applied to memory (or, for routes, is about to be:
    /// routing changes nothing a failed write could leave half done but the rng, which a
    /// restart restores from the journal).
    fn commit(&mut self, event: &Event) -> Result<()> {
        if let Err(err) = self.journal.append(event) {
            self.poisoned = Some(format!("writing the journal failed: {err}"));
            return Err(err);
        }
        self.events = event.seq();
        Ok(())
    }

    /// Keeps a route for its feedback, dropping the oldest beyond the limit.
    fn remember(&mut self, item: RoutedItem) {
        self.next_route = self.next_route.max(item.id + 1);
        self.pending.insert(item.id, item);
        while self.pending.len() > self.max_pending {
            self.pending.pop_first();
        }
    }

    /// Applies a feedback call: every id must be pending and named once, each item must
    /// carry exactly one finite `loss` or `reward`; otherwise nothing changes. Losses are
    /// normalised as one batch. The call is journaled before it is acknowledged, then its
    /// rows are appended to routing.jsonl; every `snapshot_every` calls the state is
    /// snapshotted.
    pub fn feedback(
        &mut self,
        items: &[FeedbackItem],
        source: FeedbackSource,
        snapshot_every: u64,
    ) -> Result<Applied> {
        self.check_healthy()?;
        let routes: BTreeMap<u64, RoutedItem> = items
            .iter()
            .filter_map(|item| {
                let route = self.pending.get(&item.route_id)?;
                Some((item.route_id, route.clone()))
            })
            .collect();
        let applied = self.apply_feedback(items)?;
        let event = Event::Feedback {
            seq: self.events + 1,
            source,
            items: items.to_vec(),
            rewards: applied.rewards.clone(),
        };
        self.commit(&event)?;
        let rows = rows_of(
            event.seq(),
            source,
            items,
            &applied.rewards,
            |id| routes.get(&id),
            self.bandit.prior().names(),
        );
        if let Err(err) = self.routing_log.append(&rows) {
            // The journal holds the event; the next start rebuilds the log from it.
            tracing::warn!(%err, "appending to routing.jsonl failed; a restart rebuilds it");
        }
        self.feedback_since_snapshot += 1;
        if self.feedback_since_snapshot >= snapshot_every {
            self.snapshot()?;
        }
        Ok(applied)
    }

    /// Validates and applies feedback to the normaliser and the bandit, all or nothing.
    fn apply_feedback(&mut self, items: &[FeedbackItem]) -> Result<Applied> {
        let mut seen = HashSet::new();
        for item in items {
            if !seen.insert(item.route_id) {
                return Err(Error::Unprocessable(format!(
                    "route_id {} appears twice in one feedback call",
                    item.route_id
                )));
            }
            if !self.pending.contains_key(&item.route_id) {
                let reason = if item.route_id < self.next_route {
                    "already received its feedback (or was dropped as the oldest pending)"
                } else {
                    "was never issued"
                };
                return Err(Error::Unprocessable(format!(
                    "route_id {} {reason}",
                    item.route_id
                )));
            }
            match (item.loss, item.reward) {
                (Some(value), None) | (None, Some(value)) if value.is_finite() => {}
                (Some(_), Some(_)) | (None, None) => {
                    return Err(Error::Unprocessable(format!(
                        "route_id {}: give exactly one of `loss` and `reward`",
                        item.route_id
                    )));
                }
                (Some(value), None) | (None, Some(value)) => {
                    return Err(Error::Unprocessable(format!(
                        "route_id {}: the value {value} is not finite",
                        item.route_id
                    )));
                }
            }
        }
        // Losses → rewards through a trial copy of the normaliser, adopted only if the
        // bandit accepts the update.
        let losses: Vec<(usize, RoutedLoss)> = items
            .iter()
            .enumerate()
            .filter_map(|(j, item)| {
                item.loss.map(|loss| {
                    let arm = self.pending[&item.route_id].arm;
                    (j, RoutedLoss { arm, loss })
                })
            })
            .collect();
        let mut trial = self.normalizer.clone();
        let mut rewards: Vec<Option<f64>> = items.iter().map(|item| item.reward).collect();
        if !losses.is_empty() {
            let normalizer = trial.as_mut().ok_or_else(|| {
                Error::Unprocessable(
                    "this service has no loss normaliser: send `reward`, not `loss`".into(),
                )
            })?;
            let batch: Vec<RoutedLoss> = losses.iter().map(|(_, l)| *l).collect();
            let groups: Vec<usize> = (0..batch.len()).collect();
            let normalised = normalizer.rewards(&batch, &groups)?;
            for ((j, _), reward) in losses.iter().zip(normalised) {
                rewards[*j] = reward;
            }
        }
        let feedback: Vec<Feedback<'_>> = items
            .iter()
            .zip(&rewards)
            .filter_map(|(item, reward)| {
                let route = &self.pending[&item.route_id];
                reward.map(|reward| Feedback {
                    arm: route.arm,
                    context: &route.context,
                    reward,
                })
            })
            .collect();
        let applied = feedback.len();
        self.bandit.update_batch(&feedback)?;
        self.normalizer = trial;
        for item in items {
            self.pending.remove(&item.route_id);
        }
        self.updates += applied as u64;
        Ok(Applied {
            applied,
            consumed: items.len(),
            rewards,
        })
    }

    /// Writes snapshot/ whole (the router, the normaliser, how many journal events it
    /// includes) after syncing the journal.
    pub fn snapshot(&mut self) -> Result<()> {
        self.journal.sync()?;
        let state = ServiceState {
            format: SNAPSHOT_FORMAT.into(),
            version: SNAPSHOT_VERSION,
            events: self.events,
            next_route: self.next_route,
            updates: self.updates,
            normalizer: self.normalizer.clone(),
        };
        let bandit = &self.bandit;
        atomic_write::replace_folder(&self.state_dir.join(SNAPSHOT_DIR), |staging| {
            bandit.save(&staging.join(ROUTER_FILE))?;
            atomic_write::write_json_compact(&staging.join(SERVICE_FILE), &state)?;
            Ok::<(), Error>(())
        })?;
        self.feedback_since_snapshot = 0;
        Ok(())
    }
}
