//! Micro-batched scoring: each reward model of the pool runs on a thread of its own, which
//! scores every request that queued for it while it was busy as one backend call. Under
//! load, concurrent requests share forward passes (or upstream calls); at rest a request
//! pays no waiting window. Different RMs score at the same time.
//!
//! ```text
//! request A ─┐                       ┌─▶ A's scores
//! request B ─┼─▶ RM k's queue ─▶ one score(A ∪ B ∪ C) ─┼─▶ B's scores
//! request C ─┘   (drained up to      └─▶ C's scores
//!                 max_batch_items)
//! ```
//!
//! A combined call that fails on an item (the RM refused it, or scored it NaN) is retried one
//! request at a time, so that a bad item fails only the request that sent it; any other
//! failure (the RM is down) goes to every request of the call at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use prometheus::{Histogram, IntCounter};
use rm_pool::Error as PoolError;
use rm_pool::{RmPool, ScoreItem};

use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// How often an idle worker re-reads its RM's availability (a remote RM's circuit breaker
/// reopens for a trial call after its cooldown).
const AVAILABILITY_REFRESH: Duration = Duration::from_millis(250);

/// A worker's answer to one job: the scores in order, or why the RM failed.
type Answer = std::result::Result<Vec<f32>, String>;

/// Scores asked of one RM by one request, and where the answer goes.
struct Job {
    items: Vec<ScoreItem>,
    reply: Sender<Answer>,
}

/// One RM behind its worker thread.
struct RmWorker {
    name: String,
    jobs: Option<Sender<Job>>,
    available: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// The pool's RMs, each behind a micro-batching worker thread, in arm order.
pub struct Scorer {
    workers: Vec<RmWorker>,
}

/// A request's scores in flight: one answer per RM it was sent to.
pub struct PendingScores {
    /// Per RM asked: the arm, the request's item indices it scores, its answer.
    parts: Vec<(usize, Vec<usize>, Receiver<Answer>)>,
    len: usize,
}

/// Per-RM counters of the workers' backend calls.
#[derive(Clone)]
struct WorkerMetrics {
    calls: IntCounter,
    items: IntCounter,
    batch_items: Histogram,
}

impl Scorer {
    /// Starts one worker per RM of `pool`; a worker combines queued requests up to
    /// `max_batch_items` items per backend call (a single larger request is still scored
    /// whole).
    pub fn start(pool: RmPool, max_batch_items: usize, metrics: &Metrics) -> Result<Self> {
        let names = pool.names();
        let workers = pool
            .split()
            .into_iter()
            .zip(names)
            .map(|(pool, name)| {
                let available = Arc::new(AtomicBool::new(pool.availability()[0]));
                let (jobs, queue) = mpsc::channel();
                let counters = WorkerMetrics {
                    calls: metrics.rm_calls.with_label_values(&[name.as_str()]),
                    items: metrics.rm_items.with_label_values(&[name.as_str()]),
                    batch_items: metrics.rm_batch_items.with_label_values(&[name.as_str()]),
                };
                let flag = available.clone();
                let thread = std::thread::Builder::new()
                    .name(format!("rm-{name}"))
                    .spawn(move || work(pool, &queue, &flag, max_batch_items, &counters))?;
                Ok(RmWorker {
                    name,
                    jobs: Some(jobs),
                    available,
                    thread: Some(thread),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { workers })
    }

    /// Which RMs can be called now, `[K]` (as of each worker's last look).
    pub fn availability(&self) -> Vec<bool> {
        self.workers
            .iter()
            .map(|w| w.available.load(Ordering::Relaxed))
            .collect()
    }

    /// Queues `items[i]` for RM `arms[i]`, each RM's share as one job; every RM works on its
    /// share at once. Wait for the scores with [`PendingScores::wait`].
    pub fn submit(&self, items: &[ScoreItem], arms: &[usize]) -> Result<PendingScores> {
        let mut by_arm: Vec<Vec<usize>> = vec![Vec::new(); self.workers.len()];
        for (i, &arm) in arms.iter().enumerate() {
            by_arm[arm].push(i);
        }
        let mut parts = Vec::new();
        for (arm, members) in by_arm.into_iter().enumerate() {
            if members.is_empty() {
                continue;
            }
            let (reply, answer) = mpsc::channel();
            let job = Job {
                items: members.iter().map(|&i| items[i].clone()).collect(),
                reply,
            };
            let worker = &self.workers[arm];
            worker
                .jobs
                .as_ref()
                .and_then(|jobs| jobs.send(job).ok())
                .ok_or_else(|| {
                    Error::Upstream(format!("reward model {}'s worker has stopped", worker.name))
                })?;
            parts.push((arm, members, answer));
        }
        Ok(PendingScores {
            parts,
            len: items.len(),
        })
    }

    /// [`Scorer::submit`] and wait.
    pub fn score(&self, items: &[ScoreItem], arms: &[usize]) -> Result<Vec<f64>> {
        let pending = self.submit(items, arms)?;
        pending.wait(self)
    }
}

impl PendingScores {
    /// Blocks until every RM has answered; the scores in the submitted order. An RM's
    /// failure is a 502 naming it.
    pub fn wait(self, scorer: &Scorer) -> Result<Vec<f64>> {
        let mut scores = vec![0.0; self.len];
        for (arm, members, answer) in self.parts {
            let name = &scorer.workers[arm].name;
            let values = answer
                .recv()
                .map_err(|_| Error::Upstream(format!("reward model {name}'s worker has stopped")))?
                .map_err(|reason| {
                    Error::Upstream(format!(
                        "reward model {name} failed on the items routed to it (numbered among \
                         those): {reason}"
                    ))
                })?;
            for (&i, value) in members.iter().zip(values) {
                scores[i] = f64::from(value);
            }
        }
        Ok(scores)
    }
}

impl Drop for Scorer {
    fn drop(&mut self) {
        for worker in &mut self.workers {
            // Closing the queue ends the worker's loop once it has answered what it holds.
            worker.jobs.take();
            if let Some(thread) = worker.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

/// Marks its RM unavailable when dropped: a worker that stops (its queue closed, or a
/// panic in a backend) must not leave the router sending requests to it.
struct MarkUnavailableOnExit<'a>(&'a AtomicBool);

impl Drop for MarkUnavailableOnExit<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// A worker's loop: wait for a job, take every job queued behind it (until the batch holds
/// `max_batch` items or more: a soft limit, the last job is never split), score them in
/// one call, answer each; re-read availability after each call and whenever idle for
/// [`AVAILABILITY_REFRESH`].
fn work(
    mut pool: RmPool,
    queue: &Receiver<Job>,
    available: &AtomicBool,
    max_batch: usize,
    metrics: &WorkerMetrics,
) {
    let _exit = MarkUnavailableOnExit(available);
    loop {
        let first = match queue.recv_timeout(AVAILABILITY_REFRESH) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => {
                available.store(pool.availability()[0], Ordering::Relaxed);
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut size = first.items.len();
        let mut jobs = vec![first];
        while size < max_batch {
            match queue.try_recv() {
                Ok(job) => {
                    size += job.items.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        score_jobs(&mut pool, jobs, metrics);
        available.store(pool.availability()[0], Ordering::Relaxed);
    }
}

/// Scores `jobs` as one backend call and answers each; if that call fails on an item and
/// there were several jobs, each is retried alone so that the failure reaches only its own
/// request.
fn score_jobs(pool: &mut RmPool, jobs: Vec<Job>, metrics: &WorkerMetrics) {
    let combined: Vec<ScoreItem> = jobs.iter().flat_map(|j| j.items.iter().cloned()).collect();
    match score_counted(pool, &combined, metrics) {
        Ok(scores) => {
            let mut rest = scores.as_slice();
            for job in jobs {
                let (mine, others) = rest.split_at(job.items.len());
                rest = others;
                // A request that gave up (its client went away) no longer listens.
                let _ = job.reply.send(Ok(mine.to_vec()));
            }
        }
        Err(PoolError::Input { .. } | PoolError::NonFinite { .. }) if jobs.len() > 1 => {
            for job in jobs {
                let answer = score_counted(pool, &job.items, metrics).map_err(|e| e.to_string());
                let _ = job.reply.send(answer);
            }
        }
        Err(err) => {
            let reason = err.to_string();
            for job in jobs {
                let _ = job.reply.send(Err(reason.clone()));
            }
        }
    }
}

/// RM 0 of `pool` scores `items`; its backend calls and items are counted.
fn score_counted(
    pool: &mut RmPool,
    items: &[ScoreItem],
    metrics: &WorkerMetrics,
) -> std::result::Result<Vec<f32>, PoolError> {
    let before = pool.stats(0);
    let result = pool.score(0, items);
    let after = pool.stats(0);
    let calls = after.calls - before.calls;
    if calls > 0 {
        let scored = after.items - before.items;
        metrics.calls.inc_by(calls as u64);
        metrics.items.inc_by(scored as u64);
        metrics.batch_items.observe(scored as f64);
    }
    result
}
