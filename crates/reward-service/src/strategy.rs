//! Which router the service runs, by the names the trainer uses, and the parts it needs
//! (`cargo xtask serve --strategy …`).

use std::path::Path;
use std::str::FromStr;

use bandit::{BanditSpec, LinearBandit, Policy, Prior};
use rlhf_trainer::{Normalizer, NormalizerKind};
use rm_pool::RmPool;
use router_export::RouterExport;

use crate::error::{Error, Result};
use crate::server::ServiceParts;

/// A routing strategy of the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceStrategy {
    /// BayesianRouter v5: Thompson sampling from the export's prior (λ0 = 50) with the
    /// batch-baseline normaliser.
    BayesianV5,
    /// BayesianRouter v4: λ0 = 1 with the EMA z-score normaliser.
    BayesianV4,
    /// The export's argmax, never updated.
    OfflineOnly,
    /// Uniform over the pool.
    Random,
    /// Always one RM, by name.
    Single(String),
}

impl FromStr for ServiceStrategy {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text {
            "bayesian-v5" | "bayesian" => Ok(Self::BayesianV5),
            "bayesian-v4" => Ok(Self::BayesianV4),
            "offline-only" => Ok(Self::OfflineOnly),
            "random" => Ok(Self::Random),
            other => match other.strip_prefix("single:") {
                Some(name) if !name.is_empty() => Ok(Self::Single(name.to_string())),
                _ => Err(format!(
                    "unknown strategy `{other}`: expected bayesian-v5, bayesian-v4, \
                     offline-only, random or single:RM"
                )),
            },
        }
    }
}

impl ServiceStrategy {
    /// Whether the strategy routes on the offline router's contexts (and needs an export).
    pub fn needs_export(&self) -> bool {
        matches!(
            self,
            Self::BayesianV5 | Self::BayesianV4 | Self::OfflineOnly
        )
    }
}

/// Settings of the service's bandit and normaliser beyond its strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouterOptions {
    /// The bandit's seed.
    pub seed: u64,
    /// Monte-Carlo draws behind each Thompson choice's propensities (the strategy's preset
    /// when `None`: 1,000, the bulk of a route's cost; 0 logs no propensities).
    pub propensity_draws: Option<usize>,
    /// Newest values v5's quantile history keeps (the trainer keeps a run's whole history;
    /// a service runs indefinitely).
    pub normalizer_window: usize,
}

impl Default for RouterOptions {
    fn default() -> Self {
        Self {
            seed: 0,
            propensity_draws: None,
            normalizer_window: 100_000,
        }
    }
}

/// The service's parts: the pool from `pool_file`, and for `strategy` the bandit, its
/// normaliser and — for strategies over pair contexts — the export at `router`'s prior and
/// context function on the CPU.
pub fn build_parts(
    pool_file: &Path,
    router: Option<&Path>,
    strategy: &ServiceStrategy,
    options: RouterOptions,
) -> Result<ServiceParts> {
    let pool = RmPool::from_config_file(pool_file)?;
    build_parts_with_pool(pool, router, strategy, options)
}

/// [`build_parts`] for a pool already built (e.g. programmatic RMs in tests).
pub fn build_parts_with_pool(
    pool: RmPool,
    router: Option<&Path>,
    strategy: &ServiceStrategy,
    options: RouterOptions,
) -> Result<ServiceParts> {
    let names = pool.names();
    let (prior, context_fn) = match (strategy.needs_export(), router) {
        (true, Some(path)) => {
            let device = lm::DeviceSpec::Cpu
                .device()
                .map_err(|err| Error::Config(err.to_string()))?;
            let export = RouterExport::load(path, &device)?;
            export.check_pool(&names, export.meta.dim)?;
            let prior = export.prior()?;
            (prior, Some(export.into_context_function(&device, 64)?))
        }
        (true, None) => {
            return Err(Error::Config(format!(
                "strategy {strategy:?} routes on the offline router's contexts: give its \
                 export (--router DIR)"
            )));
        }
        (false, _) => {
            let arms = names.iter().map(|name| (name.clone(), vec![0.0])).collect();
            (Prior::new(arms)?, None)
        }
    };
    let (policy, spec, normalizer) = match strategy {
        ServiceStrategy::BayesianV5 => (
            Policy::Thompson,
            BanditSpec::bayesian_v5(),
            NormalizerKind::BatchBaseline,
        ),
        ServiceStrategy::BayesianV4 => (
            Policy::Thompson,
            BanditSpec::bayesian_v4(),
            NormalizerKind::EmaZscore,
        ),
        ServiceStrategy::OfflineOnly => (
            Policy::OfflineArgmax,
            BanditSpec::bayesian_v5(),
            NormalizerKind::BatchBaseline,
        ),
        ServiceStrategy::Random => (
            Policy::Uniform,
            BanditSpec::bayesian_v5(),
            NormalizerKind::BatchBaseline,
        ),
        ServiceStrategy::Single(name) => {
            let arm = names.iter().position(|n| n == name).ok_or_else(|| {
                Error::Config(format!(
                    "single:{name}: no RM of that name in the pool ({})",
                    names.join(", ")
                ))
            })?;
            (
                Policy::Fixed { arm },
                BanditSpec::bayesian_v5(),
                NormalizerKind::BatchBaseline,
            )
        }
    };
    let mut params = spec.params;
    if let Some(draws) = options.propensity_draws {
        params.propensity_draws = draws;
    }
    let bandit = LinearBandit::new(policy, prior, params, options.seed)?;
    Ok(ServiceParts {
        normalizer: Some(Normalizer::with_history_window(
            normalizer,
            names.len(),
            options.normalizer_window,
        )?),
        pool,
        bandit,
        context_fn,
    })
}
