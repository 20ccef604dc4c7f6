//! The pool: named reward models behind one call, with a per-RM score cache (each
//! (conversation, response, reference) is scored at most once per RM), call accounting,
//! per-RM score statistics, and the K× baselines built from every member (ensemble mean of
//! normalised scores, majority vote).

use std::collections::HashMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::item::ScoreItem;
use crate::reward_model::{RewardModel, RmInfo};

/// Calls and costs of one RM so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RmStats {
    /// Backend calls made (a call scores a batch of uncached items).
    pub calls: usize,
    /// Items the backend scored.
    pub items: usize,
    /// Items served from the cache instead.
    pub cache_hits: usize,
    /// Seconds spent in backend calls.
    pub seconds: f64,
    /// Calls that failed (including refusals while unavailable).
    pub failures: usize,
    /// Items cut to fit the RM's context.
    pub truncations: usize,
}

impl RmStats {
    /// Backend throughput, items per second (0 before any call).
    pub fn items_per_s(&self) -> f64 {
        if self.seconds > 0.0 {
            self.items as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// Running mean and standard deviation of an RM's distinct scores (Welford), for
/// normalising RMs with different scales before they are averaged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScoreMoments {
    /// Scores seen.
    pub n: usize,
    /// Their mean.
    pub mean: f64,
    m2: f64,
}

impl ScoreMoments {
    fn push(&mut self, x: f64) {
        self.n += 1;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
    }

    /// Sample standard deviation (0 with fewer than two scores).
    pub fn std(&self) -> f64 {
        if self.n < 2 {
            0.0
        } else {
            (self.m2 / (self.n - 1) as f64).sqrt()
        }
    }

    /// `(x − mean) / std`, or `x − mean` while the spread is still zero.
    pub fn standardise(&self, x: f64) -> f64 {
        let std = self.std();
        if std > 0.0 {
            (x - self.mean) / std
        } else {
            x - self.mean
        }
    }
}

/// Which response of a pair an RM prefers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// The first.
    First,
    /// The second.
    Second,
    /// Neither: the scores differ by at most the tie threshold.
    Tie,
}

impl Verdict {
    /// The verdict of scores `a` and `b` with ties at `|a − b| ≤ tie_eps`.
    pub fn from_scores(a: f32, b: f32, tie_eps: f32) -> Self {
        if (a - b).abs() <= tie_eps {
            Self::Tie
        } else if a > b {
            Self::First
        } else {
            Self::Second
        }
    }
}

struct Member {
    rm: Box<dyn RewardModel>,
    cache: HashMap<[u8; 16], f32>,
    stats: RmStats,
    moments: ScoreMoments,
    /// Where new scores are appended as they are computed ([`RmPool::keep_scores_in`]).
    store: Option<std::path::PathBuf>,
}

/// Reward models by index (the router's arms, in order).
pub struct RmPool {
    members: Vec<Member>,
    /// Cached scores kept per RM at most (`None`: every score is kept).
    cache_capacity: Option<usize>,
}

impl RmPool {
    /// A pool of `rms`, whose names must be unique.
    pub fn new(rms: Vec<Box<dyn RewardModel>>) -> Result<Self> {
        let mut seen = std::collections::BTreeSet::new();
        for rm in &rms {
            if !seen.insert(rm.name().to_string()) {
                return Err(Error::backend(
                    rm.name(),
                    "two RMs of the pool share this name",
                ));
            }
        }
        Ok(Self {
            members: rms
                .into_iter()
                .map(|rm| Member {
                    rm,
                    cache: HashMap::new(),
                    stats: RmStats::default(),
                    moments: ScoreMoments::default(),
                    store: None,
                })
                .collect(),
            cache_capacity: None,
        })
    }

    /// Bounds each RM's score cache near `capacity` items: when a call would grow it beyond,
    /// the cache is emptied first (a long-running service sees few repeated items, so memory
    /// matters more than old entries; one call larger than `capacity` still caches all its
    /// items). Items scored again after a clear count again in the score statistics and are
    /// appended again to a score file. `None` keeps every score (the trainer's default, which
    /// the score files rely on).
    pub fn with_cache_capacity(mut self, capacity: Option<usize>) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// One pool per RM, in arm order, each keeping its RM's cache, statistics and score
    /// file (so that each RM can be driven by a thread of its own).
    pub fn split(self) -> Vec<RmPool> {
        let cache_capacity = self.cache_capacity;
        self.members
            .into_iter()
            .map(|member| RmPool {
                members: vec![member],
                cache_capacity,
            })
            .collect()
    }

    /// Number of RMs.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// RM names in arm order.
    pub fn names(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| m.rm.name().to_string())
            .collect()
    }

    /// The index of the RM called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.members.iter().position(|m| m.rm.name() == name)
    }

    /// What RM `rm` is.
    pub fn info(&self, rm: usize) -> RmInfo {
        self.members[rm].rm.info()
    }

    /// Which RMs can be called now (the router's arm mask).
    pub fn availability(&self) -> Vec<bool> {
        self.members.iter().map(|m| m.rm.is_available()).collect()
    }

    /// Call accounting of RM `rm`.
    pub fn stats(&self, rm: usize) -> RmStats {
        let member = &self.members[rm];
        RmStats {
            truncations: member.rm.truncations(),
            ..member.stats.clone()
        }
    }

    /// Score statistics of RM `rm` over the distinct items it has scored.
    pub fn moments(&self, rm: usize) -> ScoreMoments {
        self.members[rm].moments
    }

    /// Restores every RM's score statistics (from [`RmPool::moments`] of a saved run), so that
    /// a resumed run standardises ensemble scores as the uninterrupted one would. Errors
    /// unless there is one entry per RM.
    pub fn restore_moments(&mut self, moments: &[ScoreMoments]) -> Result<()> {
        if moments.len() != self.members.len() {
            return Err(Error::backend(
                "pool",
                format!(
                    "{} saved score statistics for {} RMs",
                    moments.len(),
                    self.members.len()
                ),
            ));
        }
        for (member, saved) in self.members.iter_mut().zip(moments) {
            member.moments = *saved;
        }
        Ok(())
    }

    /// Sets (or clears) the file RM `rm`'s new scores are appended to.
    pub(crate) fn set_score_store(&mut self, rm: usize, path: Option<std::path::PathBuf>) {
        self.members[rm].store = path;
    }

    /// RM `rm`'s cached scores by item digest, in digest order.
    pub(crate) fn cached_scores(&self, rm: usize) -> Vec<([u8; 16], f32)> {
        let mut scores: Vec<([u8; 16], f32)> = self.members[rm]
            .cache
            .iter()
            .map(|(digest, score)| (*digest, *score))
            .collect();
        scores.sort_by_key(|(digest, _)| *digest);
        scores
    }

    /// Puts saved scores into RM `rm`'s cache (and its score statistics), as if it had
    /// scored those items; items already cached keep their score.
    pub(crate) fn restore_cached_scores(&mut self, rm: usize, scores: Vec<([u8; 16], f32)>) {
        let member = &mut self.members[rm];
        for (digest, score) in scores {
            if let std::collections::hash_map::Entry::Vacant(slot) = member.cache.entry(digest) {
                slot.insert(score);
                member.moments.push(f64::from(score));
            }
        }
    }

    /// Checks that every RM can score every item of `items` ([`RewardModel::check`]) without
    /// scoring anything; the error names the first RM and item that cannot.
    pub fn check_items(&self, items: &[ScoreItem]) -> Result<()> {
        for member in &self.members {
            for (item, score_item) in items.iter().enumerate() {
                member.rm.check(score_item).map_err(|reason| Error::Input {
                    rm: member.rm.name().into(),
                    item,
                    reason,
                })?;
            }
        }
        Ok(())
    }

    /// RM `rm`'s scores of `items`: cached ones from the cache, the rest (deduplicated) in
    /// one backend call. A failure leaves the cache and statistics as they were, apart from
    /// the failure count.
    pub fn score(&mut self, rm: usize, items: &[ScoreItem]) -> Result<Vec<f32>> {
        let member = &mut self.members[rm];
        let keys: Vec<[u8; 16]> = items.iter().map(ScoreItem::digest).collect();
        // Cached scores now (a bounded cache may be emptied below); the others are filled
        // in from the backend's answer.
        let mut out: Vec<f32> = keys
            .iter()
            .map(|k| member.cache.get(k).copied().unwrap_or(f32::NAN))
            .collect();
        // First index of each uncached key, in order.
        let mut missing: Vec<usize> = Vec::new();
        let mut pending: HashMap<[u8; 16], usize> = HashMap::new();
        for (i, key) in keys.iter().enumerate() {
            if !member.cache.contains_key(key) && !pending.contains_key(key) {
                pending.insert(*key, missing.len());
                missing.push(i);
            }
        }
        if !missing.is_empty() {
            if !member.rm.is_available() {
                member.stats.failures += 1;
                return Err(Error::Unavailable {
                    rm: member.rm.name().into(),
                    reason: "marked unavailable (circuit breaker open)".into(),
                });
            }
            let batch: Vec<ScoreItem> = missing.iter().map(|&i| items[i].clone()).collect();
            let start = Instant::now();
            let result = member.rm.score(&batch);
            let seconds = start.elapsed().as_secs_f64();
            let scores = match result {
                Ok(scores) => scores,
                Err(err) => {
                    member.stats.failures += 1;
                    return Err(reindex(err, &missing));
                }
            };
            if scores.len() != batch.len() {
                member.stats.failures += 1;
                return Err(Error::backend(
                    member.rm.name(),
                    format!("{} scores for {} items", scores.len(), batch.len()),
                ));
            }
            if let Some((j, score)) = scores.iter().enumerate().find(|(_, s)| !s.is_finite()) {
                member.stats.failures += 1;
                return Err(Error::NonFinite {
                    rm: member.rm.name().into(),
                    item: missing[j],
                    score: *score,
                });
            }
            member.stats.calls += 1;
            member.stats.items += batch.len();
            member.stats.seconds += seconds;
            if let Some(capacity) = self.cache_capacity
                && member.cache.len() + missing.len() > capacity
            {
                member.cache.clear();
            }
            for (&i, &score) in missing.iter().zip(&scores) {
                member.cache.insert(keys[i], score);
                member.moments.push(f64::from(score));
            }
            for (slot, key) in out.iter_mut().zip(&keys) {
                if let Some(&j) = pending.get(key) {
                    *slot = scores[j];
                }
            }
            if let Some(store) = &member.store {
                let new: Vec<([u8; 16], f32)> =
                    missing.iter().map(|&i| keys[i]).zip(scores).collect();
                crate::score_file::append_scores(store, &new)?;
            }
        }
        member.stats.cache_hits += items.len() - missing.len();
        Ok(out)
    }

    /// The K× ensemble baseline: every available RM scores `items`; each RM's scores are
    /// standardised by its running statistics, then averaged. Returns the scores and how
    /// many RMs took part.
    pub fn ensemble_mean(&mut self, items: &[ScoreItem]) -> Result<(Vec<f32>, usize)> {
        let mut sum = vec![0.0_f64; items.len()];
        let mut members = 0;
        for rm in 0..self.len() {
            if !self.members[rm].rm.is_available() {
                continue;
            }
            let scores = match self.score(rm, items) {
                Ok(scores) => scores,
                Err(Error::Unavailable { .. }) => continue,
                Err(err) => return Err(err),
            };
            let moments = self.members[rm].moments;
            for (total, score) in sum.iter_mut().zip(scores) {
                *total += moments.standardise(f64::from(score));
            }
            members += 1;
        }
        if members == 0 {
            return Err(Error::Unavailable {
                rm: "ensemble".into(),
                reason: "no RM of the pool is available".into(),
            });
        }
        Ok((
            sum.iter().map(|s| (s / members as f64) as f32).collect(),
            members,
        ))
    }

    /// The K× majority-vote baseline: each available RM votes for the response of each
    /// pair it scores higher (ties abstain); the verdict is the majority, `Tie` when even.
    pub fn majority_vote(
        &mut self,
        pairs: &[(ScoreItem, ScoreItem)],
        tie_eps: f32,
    ) -> Result<Vec<Verdict>> {
        let mut votes = vec![(0_usize, 0_usize); pairs.len()];
        let (firsts, seconds): (Vec<ScoreItem>, Vec<ScoreItem>) = pairs.iter().cloned().unzip();
        let mut voters = 0;
        for rm in 0..self.len() {
            if !self.members[rm].rm.is_available() {
                continue;
            }
            let (a, b) = match (self.score(rm, &firsts), self.score(rm, &seconds)) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(Error::Unavailable { .. }), _) | (_, Err(Error::Unavailable { .. })) => {
                    continue;
                }
                (Err(err), _) | (_, Err(err)) => return Err(err),
            };
            voters += 1;
            for (count, (a, b)) in votes.iter_mut().zip(a.into_iter().zip(b)) {
                match Verdict::from_scores(a, b, tie_eps) {
                    Verdict::First => count.0 += 1,
                    Verdict::Second => count.1 += 1,
                    Verdict::Tie => {}
                }
            }
        }
        if voters == 0 {
            return Err(Error::Unavailable {
                rm: "majority vote".into(),
                reason: "no RM of the pool is available".into(),
            });
        }
        Ok(votes
            .into_iter()
            .map(|(first, second)| match first.cmp(&second) {
                std::cmp::Ordering::Greater => Verdict::First,
                std::cmp::Ordering::Less => Verdict::Second,
                std::cmp::Ordering::Equal => Verdict::Tie,
            })
            .collect())
    }
}

/// Maps an item index of the deduplicated batch back to the caller's index.
fn reindex(err: Error, missing: &[usize]) -> Error {
    match err {
        Error::Input { rm, item, reason } => Error::Input {
            rm,
            item: missing.get(item).copied().unwrap_or(item),
            reason,
        },
        Error::NonFinite { rm, item, score } => Error::NonFinite {
            rm,
            item: missing.get(item).copied().unwrap_or(item),
            score,
        },
        other => other,
    }
}
