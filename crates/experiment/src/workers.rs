//! Independent jobs on worker threads: each worker makes its own CPU device and takes the
//! next job index until none is left; results come back in job order, so what a job
//! computes never depends on how many workers ran it. After a failure the workers finish
//! their current job and take no new one.

use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::prelude::*;
use lm::DeviceSpec;

use crate::error::Result;

/// `workers` (0: one per core) threads for `jobs` jobs.
pub fn count(workers: usize, jobs: usize) -> usize {
    let workers = match workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    workers.min(jobs).max(1)
}

/// Runs `job(i, device)` for i in 0..jobs on `workers` threads. Entry i is `None` when job i
/// never started because an earlier one failed.
pub fn run<T: Send>(
    workers: usize,
    jobs: usize,
    job: impl Fn(usize, &Device) -> Result<T> + Sync,
) -> Vec<Option<Result<T>>> {
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<Result<T>>>> = Mutex::new((0..jobs).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..count(workers, jobs) {
            scope.spawn(|| {
                let device = DeviceSpec::from_str("cpu").and_then(DeviceSpec::device);
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= jobs {
                        break;
                    }
                    let result = match &device {
                        Ok(device) => job(i, device),
                        Err(err) => Err(lm::Error::Config {
                            reason: err.to_string(),
                        }
                        .into()),
                    };
                    let failed = result.is_err();
                    slots.lock().expect("no panics while held")[i] = Some(result);
                    if failed {
                        next.store(jobs, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    slots.into_inner().expect("no panics while held")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn results_come_back_in_job_order_and_a_failure_stops_new_jobs() {
        for workers in [1, 2, 4] {
            let out = run(workers, 6, |i, _| Ok(i * 10));
            let values: Vec<usize> = out.into_iter().map(|r| r.unwrap().unwrap()).collect();
            assert_eq!(values, [0, 10, 20, 30, 40, 50]);
        }
        let out = run(1, 4, |i, _| {
            if i == 1 {
                Err(Error::Stage {
                    stage: "test",
                    reason: "boom".into(),
                })
            } else {
                Ok(i)
            }
        });
        assert!(matches!(out[0], Some(Ok(0))));
        assert!(matches!(out[1], Some(Err(_))));
        assert!(out[2].is_none() && out[3].is_none());
    }
}
