//! Benchmarks of the routing hot paths and the reference implementations they are measured
//! against, so that every speed figure is a ratio taken on one machine in one run.
//!
//! The criterion benches live in `benches/`; `cargo xtask bench router` uses
//! [`ReferenceThompson`] and [`Workload`] to print the side-by-side table.

mod reference;
mod workload;

pub use crate::{
    reference::ReferenceThompson,
    workload::{Workload, unit_vectors},
};
