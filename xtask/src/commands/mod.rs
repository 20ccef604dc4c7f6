//! One module per subcommand: the group enums and their dispatch, then one file each.

pub mod assets;
pub mod bench;
mod bench_router;
pub mod eval;
mod eval_run;
mod eval_score;
pub mod lm;
mod lm_bench;
mod lm_generate;
pub mod rm;
mod rm_score;
pub mod router;
mod router_replay;
