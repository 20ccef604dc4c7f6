//! Benchmarks of the hot paths and the reference implementations they are measured against,
//! so that every speed figure is a ratio taken on one machine in one run.
//!
//! The criterion benches live in `benches/`; [`compare_routers`] times this project's router
//! against [`ReferenceThompson`] on one [`Workload`] (`cargo xtask bench router` prints it);
//! [`lm_bench`] times the policy's prefill, decoding and DPO step beside transformers
//! (`cargo xtask lm bench`); [`service_bench`] loads the reward service beside a bare
//! scoring server (`cargo xtask bench service`).

mod comparison;
pub mod lm_bench;
mod reference;
pub mod service_bench;
mod workload;

pub use crate::{
    comparison::{ComparisonSizes, RouterComparison, compare_routers},
    reference::ReferenceThompson,
    workload::{Workload, unit_vectors},
};
