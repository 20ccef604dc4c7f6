//! Spreading independent per-arm work over the machine's cores.
//!
//! Arms are independent, so their triangular solves and factor updates can run on separate
//! threads with no change to the arithmetic: every arm is processed by exactly one thread
//! with sequential faer kernels, so results are bit-identical whatever the core count. (faer's
//! own parallel kernels would split one arm's work and could change the rounding.)

use std::num::NonZeroUsize;
use std::sync::OnceLock;
use std::thread;

/// Below this many floating-point operations a task batch runs on the calling thread: a
/// thread spawn costs tens of microseconds.
pub(crate) const PARALLEL_MIN_FLOPS: usize = 1 << 21;

/// Applies `task` to every item, in parallel when `flops` (the estimated total work) is
/// worth it; returns the results in item order.
pub(crate) fn map<T: Send, R: Send>(
    items: Vec<T>,
    flops: usize,
    task: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let threads = if flops < PARALLEL_MIN_FLOPS {
        1
    } else {
        cores().min(items.len())
    };
    if threads <= 1 {
        return items.into_iter().map(task).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let task = &task;
    thread::scope(|scope| {
        let mut rest = items;
        let mut handles = Vec::with_capacity(threads);
        while !rest.is_empty() {
            let tail = rest.split_off(chunk.min(rest.len()));
            let head = std::mem::replace(&mut rest, tail);
            handles.push(scope.spawn(move || head.into_iter().map(task).collect::<Vec<R>>()));
        }
        handles
            .into_iter()
            .flat_map(|handle| match handle.join() {
                Ok(results) => results,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// The number of cores this process may use, asked once: the query reads cgroup files on
/// Linux and costs tens of microseconds, as much as a whole small update.
fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| thread::available_parallelism().map_or(1, NonZeroUsize::get))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_item_order_in_both_modes() {
        let items: Vec<usize> = (0..37).collect();
        let serial = map(items.clone(), 0, |x| x * x);
        let parallel = map(items, usize::MAX, |x| x * x);
        assert_eq!(serial, parallel);
        assert_eq!(serial[36], 36 * 36);
    }
}
