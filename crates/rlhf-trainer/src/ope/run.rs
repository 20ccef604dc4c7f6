//! A run folder opened for off-policy evaluation: its config, its pool's RM names, the rows
//! of its routing log, and (read on first use) its samples and prompts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bandit::Prior;
use off_policy::RewardModelKind;
use rm_pool::PoolConfig;
use router_export::RouterExport;

use crate::config::{Overrides, StrategyConfig, TrainerConfig};
use crate::error::{Error, Result};
use crate::logs::{SAMPLES_FILE, SampleRecord};
use crate::prompts::{Prompt, read_prompts};
use crate::trainer::RUN_CONFIG_FILE;

use super::contexts::{logged_contexts, rebuild_contexts};
use super::log::{LoggedPairs, LoggedValue, logged_pairs};
use super::target::{Target, target_probabilities, target_router};

/// The contexts the targets that do not bring their own export route on, with the prior
/// that goes with them (for state and replay targets).
#[derive(Clone, Debug)]
pub struct BaseContexts {
    /// The export's prior, when an export gave the contexts or the run names one.
    pub prior: Option<Prior>,
    /// `[N, d]`, when there are contexts.
    pub contexts: Option<Vec<f64>>,
    /// Context dimension d (0 without contexts).
    pub dim: usize,
    /// `none`, `logged`, or the export they were rebuilt with.
    pub source: String,
}

impl BaseContexts {
    /// No contexts.
    fn none() -> Self {
        Self {
            prior: None,
            contexts: None,
            dim: 0,
            source: "none".into(),
        }
    }

    /// The prior and contexts `target` needs, or an error saying they are missing.
    pub fn required(&self, target: &Target) -> Result<(&Prior, &[f64])> {
        match (&self.prior, &self.contexts) {
            (Some(prior), Some(contexts)) => Ok((prior, contexts)),
            _ => Err(Error::Mismatch(format!(
                "target {target} needs routing contexts and a prior: the log has no contexts \
                 and the run names no export; pass --export"
            ))),
        }
    }
}

/// A run's routing log with what it takes to evaluate routers on it.
pub struct RunLog {
    /// The run folder (the log's folder).
    pub dir: PathBuf,
    /// The run's config (config.toml beside the log).
    pub config: TrainerConfig,
    /// The pool's RMs, in arm order.
    pub names: Vec<String>,
    /// The rows observing the value.
    pub pairs: LoggedPairs,
    /// samples.jsonl and the prompts file, read when a context is first rebuilt.
    inputs: Option<(Vec<SampleRecord>, Vec<Prompt>)>,
    /// Each export's prior and the rows' contexts under it, computed once.
    rebuilt: HashMap<PathBuf, (Prior, Vec<f64>)>,
}

impl RunLog {
    /// Opens the routing log at `log` (a run folder's routing.jsonl) for `value`.
    pub fn open(log: &Path, value: LoggedValue) -> Result<Self> {
        let dir = log.parent().unwrap_or(Path::new(".")).to_path_buf();
        let config = TrainerConfig::read(&dir.join(RUN_CONFIG_FILE), &Overrides::default())?;
        let names: Vec<String> = PoolConfig::read(&config.data.pool)?
            .rms
            .iter()
            .map(|rm| rm.name().to_string())
            .collect();
        if let StrategyConfig::Laser { .. } = config.strategy {
            return Err(Error::Mismatch(format!(
                "{}: LASeR routes one arm per batch or per prompt, so its pairs are not \
                 independent routing decisions (a shared arm also decides which pairs the \
                 lazy draw visits); off-policy evaluation needs per-pair routing",
                log.display()
            )));
        }
        let pairs = logged_pairs(log, value, names.len())?;
        Ok(Self {
            dir,
            config,
            names,
            pairs,
            inputs: None,
            rebuilt: HashMap::new(),
        })
    }

    /// Rows observing the value.
    pub fn len(&self) -> usize {
        self.pairs.rows.len()
    }

    /// Whether no row observes the value (never true of an opened log).
    pub fn is_empty(&self) -> bool {
        self.pairs.rows.is_empty()
    }

    /// The run's samples (samples.jsonl) and prompts, read once.
    pub fn inputs(&mut self) -> Result<(&[SampleRecord], &[Prompt])> {
        self.read_inputs()?;
        let (samples, prompts) = self.inputs.as_ref().expect("read above");
        Ok((samples, prompts))
    }

    fn read_inputs(&mut self) -> Result<()> {
        if self.inputs.is_none() {
            self.inputs = Some((
                atomic_write::read_jsonl(&self.dir.join(SAMPLES_FILE))?,
                read_prompts(&self.config.data.prompts)?,
            ));
        }
        Ok(())
    }

    /// The base contexts: rebuilt with `export` when given; else the log's own (the run's
    /// export giving the prior); else rebuilt with the run's export; else none.
    pub fn base_contexts(&mut self, export: Option<&Path>) -> Result<BaseContexts> {
        let rebuilt = |run: &mut Self, path: &Path| -> Result<BaseContexts> {
            let (prior, contexts) = run.contexts_under(path)?;
            Ok(BaseContexts {
                dim: prior.dim(),
                prior: Some(prior),
                contexts: Some(contexts),
                source: path.display().to_string(),
            })
        };
        let router = self.config.data.router.clone();
        if let Some(path) = export {
            return rebuilt(self, path);
        }
        let Some(path) = router else {
            return Ok(BaseContexts::none());
        };
        // The logged contexts are the export's e(x, a, b) only for strategies that route on
        // pair contexts, and only if their width is the export's.
        let prior = RouterExport::load(&path, &lm::DeviceSpec::Cpu.device()?)?.prior()?;
        if self.config.strategy.needs_pair_contexts()
            && let Some(contexts) = logged_contexts(&self.pairs.records, &self.pairs.path)?
            && contexts.len() == self.len() * prior.dim()
        {
            return Ok(BaseContexts {
                dim: prior.dim(),
                prior: Some(prior),
                contexts: Some(contexts),
                source: "logged".into(),
            });
        }
        rebuilt(self, &path)
    }

    /// The direct method's q̂ of every arm on every row, `[N, K]`, cross-fitted over
    /// `folds` folds of prompts: `kind`, or by default ridge (λ = 1) on `base`'s contexts
    /// where there are contexts and per-arm means otherwise. Returns the model used too.
    pub fn fit_q_hat(
        &self,
        base: &BaseContexts,
        kind: Option<RewardModelKind>,
        folds: usize,
    ) -> Result<(RewardModelKind, Vec<f64>)> {
        let kind = kind.unwrap_or(if base.contexts.is_some() {
            RewardModelKind::Ridge { lambda: 1.0 }
        } else {
            RewardModelKind::ArmMean
        });
        let q_hat = off_policy::fit_q_hat(
            kind,
            &self.pairs.rows,
            base.contexts.as_deref(),
            base.dim,
            self.names.len(),
            folds,
        )?;
        Ok((kind, q_hat))
    }

    /// The probabilities of a non-learning `target` choosing each arm on every row,
    /// `[N, K]`: export targets route on their own export's contexts, state targets on
    /// `base`'s, uniform and fixed ones on none. `spec` gives Thompson's λ0 and draws.
    pub fn target_probabilities(
        &mut self,
        target: &Target,
        base: &BaseContexts,
        spec: &bandit::BanditSpec,
    ) -> Result<off_policy::TargetProbabilities> {
        let n = self.len();
        let (mut router, contexts) = match target {
            Target::Export { path, .. } => {
                let (prior, contexts) = self.contexts_under(path)?;
                let router = target_router(target, &self.names, Some(prior), spec)?;
                (router, Some(contexts))
            }
            Target::State(_) => {
                let router = target_router(target, &self.names, None, spec)?;
                let (_, contexts) = base.required(target)?;
                if contexts.len() != n * router.dim() {
                    return Err(Error::Mismatch(format!(
                        "target {target} routes on {}-dimensional contexts, the contexts ({}) \
                         have {}",
                        router.dim(),
                        base.source,
                        contexts.len() / n
                    )));
                }
                (router, Some(contexts.to_vec()))
            }
            _ => (target_router(target, &self.names, None, spec)?, None),
        };
        target_probabilities(&mut router, contexts.as_deref(), n)
    }

    /// The export at `path`'s prior (checked against the pool) and every row's context
    /// under its context function, `[N, d]`, computed on the CPU once per export.
    pub fn contexts_under(&mut self, path: &Path) -> Result<(Prior, Vec<f64>)> {
        if let Some(cached) = self.rebuilt.get(path) {
            return Ok(cached.clone());
        }
        let device = lm::DeviceSpec::Cpu.device()?;
        let export = RouterExport::load(path, &device)?;
        let prior = export.prior()?;
        if prior.names() != self.names.as_slice() {
            return Err(Error::Mismatch(format!(
                "{} routes over [{}], the log's pool is [{}]",
                path.display(),
                prior.names().join(", "),
                self.names.join(", ")
            )));
        }
        let context_fn =
            export.into_context_function(&device, self.config.data.context_batch_size)?;
        self.read_inputs()?;
        let (samples, prompts) = self.inputs.as_ref().expect("read above");
        let contexts = rebuild_contexts(&self.pairs, samples, prompts, &context_fn)?;
        self.rebuilt
            .insert(path.to_path_buf(), (prior.clone(), contexts.clone()));
        Ok((prior, contexts))
    }
}
