//! One module per subcommand: the group enums and their dispatch, then one file each.

pub mod assets;
pub mod bandit;
mod bandit_ope;
mod bandit_ope_check;
mod bandit_replay;
pub mod bench;
mod bench_bandit;
mod bench_service;
pub mod data;
mod data_gsm8k_split;
pub mod eval;
mod eval_common;
mod eval_judge;
mod eval_run;
mod eval_score;
pub mod experiment;
pub mod lm;
mod lm_bench;
mod lm_generate;
pub mod offline_router;
mod offline_router_build;
mod offline_router_eval;
mod offline_router_train;
pub mod rm;
mod rm_score;
pub mod serve;
pub mod train;
