//! `cargo xtask bandit …` (old name `router`, kept as an alias for one release): tools for
//! the online bandit and its logs.

use clap::Subcommand;

use super::bandit_ope::{self, OpeArgs};
use super::bandit_ope_check::{self, OpeCheckArgs};
use super::bandit_replay::{self, ReplayArgs};

/// Bandit tools.
#[derive(Debug, Subcommand)]
pub enum BanditCommand {
    /// Replay logged rewards into a Thompson bandit and write its posterior as JSON.
    Replay(ReplayArgs),
    /// Estimate how other routers would have done on a run's routing log (off-policy
    /// evaluation: IPS, SNIPS, direct method, doubly robust, switch-DR, replay).
    Ope(OpeArgs),
    /// Check the off-policy estimators against the truth on a finished embedded-world
    /// experiment (its random and bayesian-v5 runs as logs).
    OpeCheck(OpeCheckArgs),
}

/// Runs a bandit subcommand.
pub fn run(command: BanditCommand) -> anyhow::Result<()> {
    match command {
        BanditCommand::Replay(args) => bandit_replay::run(&args),
        BanditCommand::Ope(args) => bandit_ope::run(args),
        BanditCommand::OpeCheck(args) => bandit_ope_check::run(args),
    }
}
