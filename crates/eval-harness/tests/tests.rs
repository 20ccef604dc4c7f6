//! eval-harness integration tests: one binary, one module per topic.

mod benchmark_runs;
mod mmlu_drivers;
mod mt_bench_grading;
mod openai_judge;
mod real_data;
mod reference;
mod reward_model_judge;
mod rm_accuracy;

pub use test_support::asset;
