//! routing.jsonl in the state folder: one row per route whose feedback was applied, with the
//! trainer's routing.jsonl field names (`judge`, `arm`, `propensity`, `propensities`,
//! `propensity_draws`, `context`, `loss`, `reward`), so that `cargo xtask router replay`
//! rebuilds the service's posterior from it and the rows can be analysed like a training
//! run's. It is a view of the journal: rebuilt from the journal at every start (so a crash
//! between the two writes loses nothing) and appended after each feedback event.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::api::{FeedbackItem, FeedbackSource};
use crate::error::Result;
use crate::journal::{Event, RoutedItem};

/// The routing log's file name in the state folder.
pub const ROUTING_LOG_FILE: &str = "routing.jsonl";

/// One row: a route and the feedback it received.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoutingRow {
    /// The journal event that applied the feedback.
    pub seq: u64,
    /// The route id.
    pub route_id: u64,
    /// The routed RM's name.
    pub judge: String,
    /// Its index in the pool.
    pub arm: usize,
    /// P(arm) under the router when it routed.
    pub propensity: Option<f64>,
    /// The router's whole distribution over the pool, `[K]`.
    pub propensities: Option<Vec<f64>>,
    /// Monte-Carlo draws behind `propensities` (`None`: exact).
    pub propensity_draws: Option<usize>,
    /// The context the route was chosen on, `[d]`.
    pub context: Vec<f64>,
    /// The DPO loss the client sent, nats (`None` when it sent a reward).
    pub loss: Option<f64>,
    /// The reward the bandit was updated with (`None`: the normaliser was warming up).
    pub reward: Option<f64>,
    /// Who gave the feedback.
    pub source: FeedbackSource,
}

/// The rows of one feedback event, from the routes it refers to (`route` looks one up by
/// id). `rewards` are the rewards applied per item; a journal written before they were
/// recorded has none, and then a reward the client gave directly is the applied one.
pub fn rows_of<'a>(
    seq: u64,
    source: FeedbackSource,
    items: &[FeedbackItem],
    rewards: &[Option<f64>],
    route: impl Fn(u64) -> Option<&'a RoutedItem>,
    names: &[String],
) -> Vec<RoutingRow> {
    items
        .iter()
        .enumerate()
        .filter_map(|(j, item)| {
            let route = route(item.route_id)?;
            Some(RoutingRow {
                seq,
                route_id: item.route_id,
                judge: names.get(route.arm).cloned().unwrap_or_default(),
                arm: route.arm,
                propensity: route.propensity,
                propensities: route.propensities.clone(),
                propensity_draws: route.propensity_draws,
                context: route.context.clone(),
                loss: item.loss,
                reward: if rewards.is_empty() {
                    item.reward
                } else {
                    rewards.get(j).copied().flatten()
                },
                source,
            })
        })
        .collect()
}

/// The routing log, open for appending.
pub struct RoutingLog {
    path: PathBuf,
    file: File,
}

impl RoutingLog {
    /// Rewrites `state_dir`/routing.jsonl (atomically) from the journal's `events` and opens
    /// it for appending.
    pub fn rebuild(state_dir: &Path, events: &[Event], names: &[String]) -> Result<Self> {
        let path = state_dir.join(ROUTING_LOG_FILE);
        let mut routes: BTreeMap<u64, &RoutedItem> = BTreeMap::new();
        let mut rows = Vec::new();
        for event in events {
            match event {
                Event::Route { items, .. } => {
                    for item in items {
                        routes.insert(item.id, item);
                    }
                }
                Event::Feedback {
                    seq,
                    source,
                    items,
                    rewards,
                } => {
                    let route = |id| routes.get(&id).copied();
                    rows.extend(rows_of(*seq, *source, items, rewards, route, names));
                    for item in items {
                        routes.remove(&item.route_id);
                    }
                }
            }
        }
        atomic_write::write_jsonl(&path, &rows)?;
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(atomic_write::io_error(&path))?;
        Ok(Self { path, file })
    }

    /// Appends `rows` in one write (not synced: the journal is the durable record, and the
    /// next start rebuilds this file from it).
    pub fn append(&mut self, rows: &[RoutingRow]) -> Result<()> {
        let mut bytes = Vec::new();
        for row in rows {
            serde_json::to_writer(&mut bytes, row).map_err(atomic_write::json_error(&self.path))?;
            bytes.push(b'\n');
        }
        self.file
            .write_all(&bytes)
            .map_err(atomic_write::io_error(&self.path))?;
        Ok(())
    }
}
