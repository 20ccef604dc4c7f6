//! The routers a log is evaluated for, and their probabilities of choosing each arm.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use bandit::{ArmMask, BanditSpec, LinearBandit, Policy, Prior};
use off_policy::TargetProbabilities;

use crate::error::{Error, Result};

/// A router to evaluate on a log.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// Uniform over the pool's RMs.
    Uniform,
    /// Always one RM, by name or index.
    Fixed(String),
    /// An offline-router export: the argmax of its prior scores (offline-only), or
    /// Thompson sampling at its prior (`thompson`, with a bandit spec's λ0).
    Export {
        /// The export folder.
        path: PathBuf,
        /// Thompson sampling at the prior instead of the argmax.
        thompson: bool,
    },
    /// A saved bandit state (e.g. a run's `final/router.json`), frozen.
    State(PathBuf),
    /// A bandit config re-run over the log, learning from the logged rewards where its
    /// choice matches the logged arm (replay).
    Replay(PathBuf),
}

impl FromStr for Target {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let (kind, argument) = text.split_once(':').unwrap_or((text, ""));
        let needs = |what: &str| -> std::result::Result<&str, String> {
            if argument.is_empty() {
                Err(format!("target `{kind}` needs {what}: `{kind}:{what}`"))
            } else {
                Ok(argument)
            }
        };
        match kind {
            "uniform" | "random" => Ok(Self::Uniform),
            "fixed" => Ok(Self::Fixed(needs("RM")?.into())),
            "export" => Ok(Self::Export {
                path: needs("PATH")?.into(),
                thompson: false,
            }),
            "export-thompson" => Ok(Self::Export {
                path: needs("PATH")?.into(),
                thompson: true,
            }),
            "state" => Ok(Self::State(needs("PATH")?.into())),
            "replay" => Ok(Self::Replay(needs("SPEC")?.into())),
            other => Err(format!(
                "unknown target `{other}`: expected uniform, fixed:RM, export:PATH, \
                 export-thompson:PATH, state:PATH or replay:SPEC"
            )),
        }
    }
}

impl Target {
    /// Whether evaluating the target needs each row's routing context.
    pub fn needs_contexts(&self) -> bool {
        !matches!(self, Self::Uniform | Self::Fixed(_))
    }
}

/// A non-learning target as a router whose propensities are evaluated per row: uniform,
/// fixed, an export's argmax or Thompson sampling at its prior, or a frozen state. `names`
/// are the pool's RMs in arm order; `prior` is the export's (for export targets); `spec`
/// gives Thompson's λ0 and draws.
pub fn target_router(
    target: &Target,
    names: &[String],
    prior: Option<Prior>,
    spec: &BanditSpec,
) -> Result<LinearBandit> {
    let constant_prior = || -> Result<Prior> { named(Prior::zeros(names.len(), 1)?, names) };
    let router = match target {
        Target::Uniform => LinearBandit::new(
            Policy::Uniform,
            constant_prior()?,
            spec.params.clone(),
            spec.seed,
        )?,
        Target::Fixed(rm) => {
            let arm = names
                .iter()
                .position(|name| name == rm)
                .or_else(|| rm.parse::<usize>().ok().filter(|&k| k < names.len()))
                .ok_or_else(|| {
                    Error::Mismatch(format!(
                        "target fixed:{rm}: no RM of that name or index in the pool ({})",
                        names.join(", ")
                    ))
                })?;
            LinearBandit::new(
                Policy::Fixed { arm },
                constant_prior()?,
                spec.params.clone(),
                spec.seed,
            )?
        }
        Target::Export { path, thompson } => {
            let prior = prior.ok_or_else(|| {
                Error::Mismatch(format!("target export:{}: no prior given", path.display()))
            })?;
            check_names(prior.names(), names, &path.display().to_string())?;
            let policy = if *thompson {
                Policy::Thompson
            } else {
                Policy::OfflineArgmax
            };
            LinearBandit::new(policy, prior, spec.params.clone(), spec.seed)?
        }
        Target::State(path) => {
            let router = bandit_state(path)?;
            check_names(router.prior().names(), names, &path.display().to_string())?;
            router
        }
        Target::Replay(path) => {
            return Err(Error::Mismatch(format!(
                "replay:{} learns over the log; evaluate it with replay_target",
                path.display()
            )));
        }
    };
    Ok(router)
}

/// Loads a saved bandit state whatever its shape (the file says its arms and dimension).
fn bandit_state(path: &Path) -> Result<LinearBandit> {
    #[derive(serde::Deserialize)]
    struct Shape {
        prior: PriorShape,
    }
    #[derive(serde::Deserialize)]
    struct PriorShape {
        arms: Vec<ArmShape>,
    }
    #[derive(serde::Deserialize)]
    struct ArmShape {
        mean: Vec<f64>,
    }
    let shape: Shape = atomic_write::read_json(path)?;
    let n_arms = shape.prior.arms.len();
    let dim = shape.prior.arms.first().map_or(0, |arm| arm.mean.len());
    Ok(LinearBandit::load(path, n_arms, dim)?)
}

/// A zero prior with the pool's names.
fn named(prior: Prior, names: &[String]) -> Result<Prior> {
    let arms = names
        .iter()
        .enumerate()
        .map(|(k, name)| (name.clone(), prior.mean(k).to_vec()))
        .collect();
    Ok(Prior::new(arms)?)
}

/// The target's arms must be the pool's, in the same order.
fn check_names(found: &[String], names: &[String], origin: &str) -> Result<()> {
    if found == names {
        Ok(())
    } else {
        Err(Error::Mismatch(format!(
            "{origin} routes over [{}], the log's pool is [{}]",
            found.join(", "),
            names.join(", ")
        )))
    }
}

/// The probabilities of `router` choosing each arm for every row's context, `[N, K]`
/// (`contexts`: `[N, d]`, or `None` for routers without contexts, which see a constant 1).
/// Thompson sampling's are Monte-Carlo estimates with the spec's draws (reported); the others
/// exact.
pub fn target_probabilities(
    router: &mut LinearBandit,
    contexts: Option<&[f64]>,
    n_rows: usize,
) -> Result<TargetProbabilities> {
    let n_arms = router.n_arms();
    let mask = ArmMask::all(n_arms);
    let dim = router.dim();
    if let Some(contexts) = contexts
        && contexts.len() != n_rows * dim
    {
        return Err(Error::Mismatch(format!(
            "the target routes on {dim}-dimensional contexts: {n_rows} rows need {} values, \
             the contexts have {}",
            n_rows * dim,
            contexts.len()
        )));
    }
    let constant = vec![1.0; dim];
    let mut values = Vec::with_capacity(n_rows * n_arms);
    for row in 0..n_rows {
        let context = match contexts {
            Some(contexts) => &contexts[row * dim..(row + 1) * dim],
            None => &constant,
        };
        values.extend(router.propensities(context, &mask)?);
    }
    let draws =
        matches!(router.policy(), Policy::Thompson).then_some(router.params().propensity_draws);
    Ok(TargetProbabilities {
        n_arms,
        values,
        draws,
    })
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Uniform => write!(f, "uniform"),
            Self::Fixed(rm) => write!(f, "fixed:{rm}"),
            Self::Export { path, thompson } => {
                let kind = if *thompson {
                    "export-thompson"
                } else {
                    "export"
                };
                write!(f, "{kind}:{}", path.display())
            }
            Self::State(path) => write!(f, "state:{}", path.display()),
            Self::Replay(path) => write!(f, "replay:{}", path.display()),
        }
    }
}
