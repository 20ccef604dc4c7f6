//! How far a long step (generation, judging) has got, reported to the caller, which may draw
//! a progress bar; the library itself draws nothing.

/// One progress report: `done` of `total` units of the named stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress<'a> {
    /// What is running, e.g. `"mt-bench turn 1"` or `"arena-hard judging"`.
    pub stage: &'a str,
    /// Units finished (questions, games, annotations).
    pub done: usize,
    /// Units in the stage.
    pub total: usize,
}

/// A callback told of progress; stages arrive one after another, each from `done = 0`.
pub type OnProgress<'a> = dyn FnMut(Progress<'_>) + 'a;

/// Calls `f` with a per-unit counter for `stage`, reporting `0 / total` first.
pub(crate) fn stage<T>(
    on_progress: &mut OnProgress<'_>,
    stage: &str,
    total: usize,
    f: impl FnOnce(&mut dyn FnMut(usize)) -> T,
) -> T {
    on_progress(Progress {
        stage,
        done: 0,
        total,
    });
    f(&mut |done| {
        on_progress(Progress { stage, done, total });
    })
}
