//! A run's routing log as off-policy evaluation data: which rows a value is observed on,
//! the logging router's propensities, each row's routing context (from the log, or rebuilt
//! with an export's context function from samples.jsonl), and the target routers evaluated
//! on them (the `off-policy` crate has the estimators).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use bandit::{ArmMask, BanditSpec, LinearBandit, Policy, Prior};
use off_policy::{
    BootstrapConfig, Estimator, Evaluation, LoggedRow, LoggingDistribution, OpeData,
    RewardModelKind, TargetProbabilities, evaluate, fit_q_hat,
};
use rm_pool::PoolConfig;
use router_export::{CandidateGroup, ContextFunction, RouterExport};
use serde::Serialize;

use crate::config::{Overrides, TrainerConfig};
use crate::error::{Error, Result};
use crate::logs::{RoutingRecord, SAMPLES_FILE, SampleRecord};
use crate::prompts::{Prompt, read_prompts};
use crate::trainer::RUN_CONFIG_FILE;

/// Tolerance on a logged distribution's sum and on its agreement with the logged propensity.
const DISTRIBUTION_TOLERANCE: f64 = 1e-6;

/// Candidate groups (one prompt of one iteration) per context-function call.
const GROUPS_PER_CALL: usize = 64;

/// Which value of a routed pair the evaluation estimates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoggedValue {
    /// 1 when the routed RM's label agrees with the verifier's, 0 when it disagrees or ties;
    /// observed on every visited pair the verifier decides (needs a run with an oracle).
    Correct,
    /// The normalised reward the bandit learned from; observed on the kept pairs with a
    /// finite DPO loss.
    Reward,
}

impl FromStr for LoggedValue {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text {
            "correct" => Ok(Self::Correct),
            "reward" => Ok(Self::Reward),
            other => Err(format!(
                "unknown value `{other}`: expected correct or reward"
            )),
        }
    }
}

/// The rows of a routing log on which the value is observed.
#[derive(Clone, Debug)]
pub struct LoggedPairs {
    /// The log.
    pub path: PathBuf,
    /// The used lines' records, in file order.
    pub records: Vec<RoutingRecord>,
    /// Their 1-based line numbers.
    pub lines: Vec<usize>,
    /// One OPE row per record (cluster: the prompt id).
    pub rows: Vec<LoggedRow>,
    /// The logging router's whole distribution per row, when every row logged it.
    pub logging: Option<LoggingDistribution>,
    /// RMs of the pool.
    n_arms: usize,
}

impl LoggedPairs {
    /// RMs of the pool (arms).
    pub fn n_arms(&self) -> usize {
        self.n_arms
    }
}

/// Reads a routing log (routing.jsonl), keeping its lines as (1-based line number, record);
/// blank lines are skipped, a malformed line is an error naming it.
pub fn read_routing_log(path: &Path) -> Result<Vec<(usize, RoutingRecord)>> {
    let text = atomic_write::read_text(path)?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str(line)
                .map(|record| (index + 1, record))
                .map_err(|err| Error::Line {
                    path: path.to_path_buf(),
                    line: index + 1,
                    reason: err.to_string(),
                })
        })
        .collect()
}

/// The rows of the log at `path` that observe `value`, checked against a pool of `n_arms`
/// RMs: every such row needs a routed arm below `n_arms` and a propensity in (0, 1]; a
/// logged distribution must have `n_arms` entries summing to 1 and agree with the
/// propensity. Errors name the file and line.
pub fn logged_pairs(path: &Path, value: LoggedValue, n_arms: usize) -> Result<LoggedPairs> {
    let mut pairs = LoggedPairs {
        path: path.to_path_buf(),
        records: Vec::new(),
        lines: Vec::new(),
        rows: Vec::new(),
        logging: None,
        n_arms,
    };
    let mut distributions = Vec::new();
    let mut draws = None;
    let mut every_row_has_distribution = true;
    for (line, record) in read_routing_log(path)? {
        let at = |reason: String| Error::Line {
            path: path.to_path_buf(),
            line,
            reason,
        };
        let observed = match value {
            LoggedValue::Correct => record
                .visited
                .then_some(record.truth)
                .flatten()
                .map(|truth| f64::from(u8::from(record.chosen == Some(truth)))),
            LoggedValue::Reward => record.reward,
        };
        let Some(observed) = observed else {
            continue;
        };
        if !observed.is_finite() {
            return Err(at(format!("field `reward` is {observed}")));
        }
        let arm = record.arm.ok_or_else(|| {
            at(format!(
                "field `arm` is missing: the judge `{}` is not one routed RM, so the log \
                 cannot be evaluated off-policy",
                record.judge
            ))
        })?;
        if arm >= n_arms {
            return Err(at(format!(
                "field `arm` is {arm}, but the pool has {n_arms} RMs"
            )));
        }
        let propensity = record.propensity.ok_or_else(|| {
            at("field `propensity` is missing (a router run without propensity draws)".into())
        })?;
        if !(propensity > 0.0 && propensity <= 1.0) {
            return Err(at(format!(
                "field `propensity` is {propensity} for the logged arm: it must be in (0, 1] \
                 for the row to be weighted"
            )));
        }
        match &record.propensities {
            Some(distribution) => {
                check_distribution(distribution, arm, propensity, n_arms).map_err(at)?;
                distributions.extend_from_slice(distribution);
                draws = draws.max(record.propensity_draws);
            }
            None => every_row_has_distribution = false,
        }
        pairs.rows.push(LoggedRow {
            arm,
            propensity,
            value: observed,
            cluster: record.prompt_id as u64,
        });
        pairs.records.push(record);
        pairs.lines.push(line);
    }
    if pairs.rows.is_empty() {
        let what = match value {
            LoggedValue::Correct => "a verifier-decided visited pair (a run with an oracle)",
            LoggedValue::Reward => "a reward",
        };
        return Err(Error::Line {
            path: path.to_path_buf(),
            line: 0,
            reason: format!("no line has {what}"),
        });
    }
    if every_row_has_distribution {
        pairs.logging = Some(LoggingDistribution {
            values: distributions,
            draws,
        });
    }
    Ok(pairs)
}

/// Checks one logged arm distribution, `[n_arms]`.
fn check_distribution(
    distribution: &[f64],
    arm: usize,
    propensity: f64,
    n_arms: usize,
) -> std::result::Result<(), String> {
    if distribution.len() != n_arms {
        return Err(format!(
            "field `propensities` has {} entries, the pool has {n_arms} RMs",
            distribution.len()
        ));
    }
    if let Some(bad) = distribution
        .iter()
        .find(|p| !(p.is_finite() && (0.0..=1.0).contains(*p)))
    {
        return Err(format!(
            "field `propensities` holds {bad}, not a probability"
        ));
    }
    let sum: f64 = distribution.iter().sum();
    if (sum - 1.0).abs() > DISTRIBUTION_TOLERANCE {
        return Err(format!("field `propensities` sums to {sum}, not 1"));
    }
    if (distribution[arm] - propensity).abs() > DISTRIBUTION_TOLERANCE {
        return Err(format!(
            "field `propensities` gives the logged arm {arm} probability {}, field \
             `propensity` says {propensity}",
            distribution[arm]
        ));
    }
    Ok(())
}

/// The logged contexts of `records`, `[N, d]`, when every record carries one (a run with
/// `log_contexts`); `None` otherwise. Errors if their lengths differ.
pub fn logged_contexts(records: &[RoutingRecord], path: &Path) -> Result<Option<Vec<f64>>> {
    let Some(dim) = records
        .first()
        .and_then(|r| r.context.as_ref())
        .map(Vec::len)
    else {
        return Ok(None);
    };
    let mut values = Vec::with_capacity(records.len() * dim);
    for record in records {
        match &record.context {
            Some(context) if context.len() == dim => values.extend_from_slice(context),
            Some(context) => {
                return Err(Error::Mismatch(format!(
                    "{}: a context of length {} among contexts of length {dim}",
                    path.display(),
                    context.len()
                )));
            }
            None => return Ok(None),
        }
    }
    Ok(Some(values))
}

/// Every record's e(x, a, b) under `context_fn`, `[N, d]` row-major, rebuilt from the run's
/// sampled responses (`samples`, samples.jsonl) and its prompts: what the trainer would have
/// routed on had it used this export. Each distinct response is embedded once per call.
pub fn rebuild_contexts(
    records: &[RoutingRecord],
    samples: &[SampleRecord],
    prompts: &[Prompt],
    context_fn: &ContextFunction,
) -> Result<Vec<f64>> {
    let responses: HashMap<(usize, usize), &SampleRecord> = samples
        .iter()
        .map(|s| ((s.iteration, s.prompt_id), s))
        .collect();
    let messages: HashMap<usize, &Prompt> = prompts.iter().map(|p| (p.id, p)).collect();
    // Records grouped by (iteration, prompt) in order of first appearance.
    let mut groups: Vec<((usize, usize), Vec<usize>)> = Vec::new();
    let mut group_of: HashMap<(usize, usize), usize> = HashMap::new();
    for (index, record) in records.iter().enumerate() {
        let key = (record.iteration, record.prompt_id);
        let group = *group_of.entry(key).or_insert_with(|| {
            groups.push((key, Vec::new()));
            groups.len() - 1
        });
        groups[group].1.push(index);
    }
    let dim = context_fn.meta().dim;
    let mut values = vec![0.0; records.len() * dim];
    for chunk in groups.chunks(GROUPS_PER_CALL) {
        let mut pair_lists = Vec::with_capacity(chunk.len());
        let mut inputs = Vec::with_capacity(chunk.len());
        for ((iteration, prompt_id), members) in chunk {
            let sample = responses.get(&(*iteration, *prompt_id)).ok_or_else(|| {
                Error::Mismatch(format!(
                    "samples.jsonl has no responses for prompt {prompt_id} of iteration \
                     {iteration}, which routing.jsonl routes"
                ))
            })?;
            let prompt = messages.get(prompt_id).ok_or_else(|| {
                Error::Mismatch(format!(
                    "the prompts file has no prompt with id {prompt_id}"
                ))
            })?;
            let pairs: Vec<(usize, usize)> = members
                .iter()
                .map(|&i| (records[i].pair[0], records[i].pair[1]))
                .collect();
            pair_lists.push(pairs);
            inputs.push((prompt, sample));
        }
        let groups: Vec<CandidateGroup<'_>> = inputs
            .iter()
            .zip(&pair_lists)
            .map(|((prompt, sample), pairs)| CandidateGroup {
                prompt: &prompt.messages,
                responses: &sample.responses,
                pairs,
            })
            .collect();
        let contexts: Vec<f64> = context_fn
            .candidate_contexts(&groups)?
            .try_into_vec_as::<f64>()
            .expect("a float tensor converts to f64");
        let members = chunk.iter().flat_map(|(_, members)| members);
        for (row, &index) in contexts.chunks_exact(dim).zip(members) {
            values[index * dim..(index + 1) * dim].copy_from_slice(row);
        }
    }
    Ok(values)
}

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
    let constant_prior = || Prior::zeros(names.len(), 1).map(|p| named(p, names));
    let router = match target {
        Target::Uniform => LinearBandit::new(
            Policy::Uniform,
            constant_prior()??,
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
                constant_prior()??,
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

/// What replaying a learning router over a log gives: the logged values of the rows where
/// its choice matched the logged arm.
#[derive(Clone, Debug)]
pub struct ReplayOutcome {
    /// Indices of the accepted rows.
    pub accepted: Vec<usize>,
    /// Rows offered.
    pub offered: usize,
    /// Whether every logged propensity was 1/K (replay is unbiased only under uniform
    /// logging).
    pub uniform_logging: bool,
}

/// Replays `spec` from `prior` over `pairs` in log order (Li et al.'s replay): per
/// iteration, the router chooses for every row; rows where it chose the logged arm are
/// accepted, and after the iteration it learns from the accepted rows' logged rewards (rows
/// without a reward teach nothing), as the trainer's delayed feedback does.
pub fn replay_target(
    spec: BanditSpec,
    prior: Prior,
    pairs: &LoggedPairs,
    contexts: &[f64],
) -> Result<ReplayOutcome> {
    let n_arms = prior.n_arms();
    let dim = prior.dim();
    let mut router = LinearBandit::new(spec.policy, prior, spec.params, spec.seed)?;
    let mask = ArmMask::all(n_arms);
    let mut accepted = Vec::new();
    let mut start = 0;
    while start < pairs.rows.len() {
        let iteration = pairs.records[start].iteration;
        let end = (start..pairs.rows.len())
            .find(|&i| pairs.records[i].iteration != iteration)
            .unwrap_or(pairs.rows.len());
        let batch = &contexts[start * dim..end * dim];
        let choices = router.select_batch(batch, &mask)?;
        let mut feedback = Vec::new();
        for (offset, choice) in choices.iter().enumerate() {
            let i = start + offset;
            if choice.arm == pairs.rows[i].arm {
                accepted.push(i);
                if let Some(reward) = pairs.records[i].reward {
                    feedback.push(bandit::Feedback {
                        arm: choice.arm,
                        context: &contexts[i * dim..(i + 1) * dim],
                        reward,
                    });
                }
            }
        }
        router.update_batch(&feedback)?;
        start = end;
    }
    let uniform = 1.0 / n_arms as f64;
    Ok(ReplayOutcome {
        accepted,
        offered: pairs.rows.len(),
        uniform_logging: pairs
            .rows
            .iter()
            .all(|row| (row.propensity - uniform).abs() < DISTRIBUTION_TOLERANCE),
    })
}

/// What to evaluate: a run's routing log, the target routers, the value and the
/// estimators (`cargo xtask bandit ope`).
#[derive(Clone, Debug)]
pub struct OpeRequest {
    /// The routing log (routing.jsonl); its folder is the run folder (config.toml,
    /// samples.jsonl).
    pub log: PathBuf,
    /// The routers to evaluate.
    pub targets: Vec<Target>,
    /// Which value of a pair to estimate.
    pub value: LoggedValue,
    /// The estimators.
    pub estimators: Vec<Estimator>,
    /// The direct method's model of each arm's value (`None`: ridge on the contexts where
    /// there are contexts, else per-arm means).
    pub reward_model: Option<RewardModelKind>,
    /// Cross-fitting folds of the reward model (by prompt).
    pub folds: usize,
    /// The export whose context function gives every row its context and whose prior state
    /// and replay targets start from (`None`: the log's own contexts, else the run's export).
    pub export: Option<PathBuf>,
    /// Thompson sampling's λ0, σ², propensity draws and seed for `export-thompson` and
    /// `replay` targets' hyperparameters when the replay spec is not a file.
    pub spec: BanditSpec,
    /// The bootstrap.
    pub bootstrap: BootstrapConfig,
}

/// The evaluation of one log.
#[derive(Clone, Debug, Serialize)]
pub struct OpeReport {
    /// The log.
    pub log: PathBuf,
    /// `correct` or `reward`.
    pub value: String,
    /// Rows on which the value is observed.
    pub rows: usize,
    /// Distinct prompts among them (the bootstrap's clusters).
    pub clusters: usize,
    /// The pool's RMs, in arm order.
    pub arms: Vec<String>,
    /// Where the contexts came from: `none`, `logged`, or the export they were rebuilt with.
    pub contexts: String,
    /// The direct method's model.
    pub reward_model: String,
    /// One evaluation per target, in request order.
    pub targets: Vec<TargetReport>,
}

/// One target's estimates.
#[derive(Clone, Debug, Serialize)]
pub struct TargetReport {
    /// The target as given.
    pub target: String,
    /// The estimates, diagnostics and warnings (non-learning targets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<Evaluation>,
    /// The replay estimate (learning targets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplayReport>,
}

/// A replay estimate: the mean logged value over the accepted rows.
#[derive(Clone, Debug, Serialize)]
pub struct ReplayReport {
    /// Accepted rows (the target chose the logged arm).
    pub accepted: usize,
    /// Rows offered.
    pub offered: usize,
    /// Mean value over the accepted rows.
    pub value: f64,
    /// Cluster-bootstrap interval of that mean.
    pub low: f64,
    /// Upper end.
    pub high: f64,
    /// Whether the logging was uniform (otherwise replay is biased toward the logging
    /// router's favourite arms).
    pub uniform_logging: bool,
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

/// Loads an export's prior and context function (on the CPU).
fn load_export(path: &Path, names: &[String], batch: usize) -> Result<(Prior, ContextFunction)> {
    let device = lm::DeviceSpec::Cpu.device()?;
    let export = RouterExport::load(path, &device)?;
    let prior = export.prior()?;
    check_names(prior.names(), names, &path.display().to_string())?;
    Ok((prior, export.into_context_function(&device, batch)?))
}

/// Evaluates every target of `request` on its log: reads the run folder, finds or rebuilds
/// the contexts, fits the direct method's model once, and runs the estimators (or the
/// replay) per target.
pub fn evaluate_log(request: &OpeRequest) -> Result<OpeReport> {
    let run_dir = request.log.parent().unwrap_or(Path::new("."));
    let config = TrainerConfig::read(&run_dir.join(RUN_CONFIG_FILE), &Overrides::default())?;
    let names: Vec<String> = PoolConfig::read(&config.data.pool)?
        .rms
        .iter()
        .map(|rm| rm.name().to_string())
        .collect();
    let pairs = logged_pairs(&request.log, request.value, names.len())?;
    let n = pairs.rows.len();
    let batch = config.data.context_batch_size;
    // The run's inputs, read once if any context is rebuilt.
    let mut inputs: Option<(Vec<SampleRecord>, Vec<Prompt>)> = None;
    let mut rebuilt = |path: &Path| -> Result<(Prior, Vec<f64>)> {
        let (prior, context_fn) = load_export(path, &names, batch)?;
        if inputs.is_none() {
            inputs = Some((
                atomic_write::read_jsonl(&run_dir.join(SAMPLES_FILE))?,
                read_prompts(&config.data.prompts)?,
            ));
        }
        let (samples, prompts) = inputs.as_ref().expect("read above");
        let contexts = rebuild_contexts(&pairs.records, samples, prompts, &context_fn)?;
        Ok((prior, contexts))
    };
    // The base contexts: the requested export's, the log's, or the run's export's.
    let (base_prior, base_contexts, source) = match (&request.export, &config.data.router) {
        (Some(path), _) => {
            let (prior, contexts) = rebuilt(path)?;
            (Some(prior), Some(contexts), path.display().to_string())
        }
        (None, router) => match logged_contexts(&pairs.records, &request.log)? {
            Some(contexts) => {
                let prior = match router {
                    Some(path) => {
                        Some(RouterExport::load(path, &lm::DeviceSpec::Cpu.device()?)?.prior()?)
                    }
                    None => None,
                };
                (prior, Some(contexts), "logged".to_string())
            }
            None => match router {
                Some(path) => {
                    let (prior, contexts) = rebuilt(path)?;
                    (Some(prior), Some(contexts), path.display().to_string())
                }
                None => (None, None, "none".to_string()),
            },
        },
    };
    let dim = base_prior.as_ref().map_or(0, Prior::dim);
    let reward_model = request.reward_model.unwrap_or(if base_contexts.is_some() {
        RewardModelKind::Ridge { lambda: 1.0 }
    } else {
        RewardModelKind::ArmMean
    });
    let q_hat = fit_q_hat(
        reward_model,
        &pairs.rows,
        base_contexts.as_deref(),
        dim,
        names.len(),
        request.folds,
    )?;
    let mut targets = Vec::with_capacity(request.targets.len());
    for target in &request.targets {
        let missing = || {
            Error::Mismatch(format!(
                "target {target} needs routing contexts: the log has none and the run names \
                 no export; pass one"
            ))
        };
        let report = match target {
            Target::Replay(spec_path) => {
                let spec = BanditSpec::load(spec_path)?;
                let prior = base_prior.clone().ok_or_else(missing)?;
                let contexts = base_contexts.as_deref().ok_or_else(missing)?;
                let outcome = replay_target(spec, prior, &pairs, contexts)?;
                TargetReport {
                    target: target.to_string(),
                    evaluation: None,
                    replay: Some(replay_report(&pairs, &outcome, &request.bootstrap)?),
                }
            }
            _ => {
                let (mut router, contexts) = match target {
                    Target::Export { path, .. } => {
                        let (prior, contexts) = rebuilt(path)?;
                        let router = target_router(target, &names, Some(prior), &request.spec)?;
                        (router, Some(contexts))
                    }
                    Target::State(_) => {
                        let router = target_router(target, &names, None, &request.spec)?;
                        let contexts = base_contexts.clone().ok_or_else(missing)?;
                        if contexts.len() != n * router.dim() {
                            return Err(Error::Mismatch(format!(
                                "target {target} routes on {}-dimensional contexts, the \
                                 contexts ({source}) have {}",
                                router.dim(),
                                contexts.len() / n
                            )));
                        }
                        (router, Some(contexts))
                    }
                    _ => (target_router(target, &names, None, &request.spec)?, None),
                };
                let probabilities = target_probabilities(&mut router, contexts.as_deref(), n)?;
                let data = OpeData::new(pairs.rows.clone(), probabilities, q_hat.clone())?;
                TargetReport {
                    target: target.to_string(),
                    evaluation: Some(evaluate(
                        &data,
                        &request.estimators,
                        &request.bootstrap,
                        pairs.logging.as_ref(),
                    )?),
                    replay: None,
                }
            }
        };
        targets.push(report);
    }
    let clusters = pairs
        .rows
        .iter()
        .map(|row| row.cluster)
        .collect::<std::collections::HashSet<_>>()
        .len();
    Ok(OpeReport {
        log: request.log.clone(),
        value: match request.value {
            LoggedValue::Correct => "correct".into(),
            LoggedValue::Reward => "reward".into(),
        },
        rows: n,
        clusters,
        arms: names,
        contexts: source,
        reward_model: format!("{reward_model:?}"),
        targets,
    })
}

/// The replay's mean over accepted rows with a cluster-bootstrap interval (IPS of a target
/// that always agrees with the log, on the accepted rows only).
fn replay_report(
    pairs: &LoggedPairs,
    outcome: &ReplayOutcome,
    bootstrap: &BootstrapConfig,
) -> Result<ReplayReport> {
    if outcome.accepted.is_empty() {
        return Err(Error::Mismatch(
            "replay accepted no row: the target never chose a logged arm".into(),
        ));
    }
    let rows: Vec<LoggedRow> = outcome
        .accepted
        .iter()
        .map(|&i| LoggedRow {
            propensity: 1.0,
            ..pairs.rows[i]
        })
        .collect();
    let values = rows.iter().flat_map(|row| {
        let mut one_hot = vec![0.0; pairs.n_arms()];
        one_hot[row.arm] = 1.0;
        one_hot
    });
    let n_arms = pairs.n_arms();
    let target = TargetProbabilities {
        n_arms,
        values: values.collect(),
        draws: None,
    };
    let q_hat = vec![0.0; rows.len() * n_arms];
    let data = OpeData::new(rows, target, q_hat)?;
    let evaluation = evaluate(&data, &[Estimator::Ips { clip: None }], bootstrap, None)?;
    let estimate = &evaluation.estimates[0];
    Ok(ReplayReport {
        accepted: outcome.accepted.len(),
        offered: outcome.offered,
        value: estimate.value,
        low: estimate.low,
        high: estimate.high,
        uniform_logging: outcome.uniform_logging,
    })
}
