//! The run configuration: one TOML file (docs/FORMATS.md, "Trainer config"), read into
//! [`TrainerConfig`] with every path made absolute against the file's folder, checked, and
//! saved (its serialisation) beside the run so that `--resume` can refuse a different one by
//! the key that differs. Code that builds runs (the experiment) makes the typed value
//! directly; no TOML passes between crates.
//!
//! ```toml
//! seed = 0
//! iterations = 20
//! output = "../runs/train/smollm2-gsm8k"
//!
//! [policy]
//! path = "../assets/models/SmolLM2-135M-Instruct.Q4_1.gguf"
//! lora = { rank = 16, alpha = 32.0, target_modules = ["q_proj", "v_proj"] }
//!
//! [data]
//! prompts = "prompts.jsonl"
//! pool = "../rm-pool.toml"
//! router = "../../runs/offline-router/smollm2/best"
//!
//! [strategy]
//! kind = "bayesian"
//! preset = "v5"
//! ```

use std::path::{Path, PathBuf};
use std::str::FromStr;

use lm::{DeviceSpec, LoraConfig};
use rm_pool::RmSpec;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::normalizer::NormalizerKind;

/// Keys that may differ between a run and its resumption.
const RESUMABLE_CHANGES: [&str; 1] = ["iterations"];

/// A run. In a TOML file relative paths are relative to the file; in this value every path is
/// absolute ([`TrainerConfig::read`] resolves them once).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainerConfig {
    /// Seed of every random stream of the run (prompt order, sampling, pair order, the bandit).
    pub seed: u64,
    /// Training iterations (one DPO update each).
    pub iterations: usize,
    /// The run folder.
    pub output: PathBuf,
    /// Where the policy, the reference and the context encoder run.
    #[serde(default, with = "device_name")]
    pub device: DeviceSpec,
    /// Write a checkpoint every this many iterations (0: only at the end).
    #[serde(default)]
    pub checkpoint_every: usize,
    /// The policy to train.
    pub policy: PolicyConfig,
    /// Prompts, reward models and the offline router.
    pub data: DataConfig,
    /// How each candidate pair gets its label.
    pub strategy: StrategyConfig,
    /// Loss → reward normaliser (default: the strategy's own, see [`StrategyConfig`]).
    #[serde(default)]
    pub normalizer: Option<NormalizerKind>,
    /// What the router learns from: the method's normalised DPO losses (the default), or
    /// the `[oracle]` verifier (an ablation: see [`RewardSource`]).
    #[serde(default, skip_serializing_if = "RewardSource::is_dpo_loss")]
    pub reward: RewardSource,
    /// Response sampling.
    #[serde(default)]
    pub sampling: SamplingConfig,
    /// Pair selection.
    #[serde(default)]
    pub pairs: PairsConfig,
    /// The DPO objective and optimiser.
    #[serde(default)]
    pub dpo: DpoConfig,
    /// A verifier outside the routed pool (an rm-pool `[[rm]]` table, e.g. `kind =
    /// "verifier"`): the `oracle` strategy's judge, and otherwise the truth every kept pair's
    /// routed label is compared with (`labels/agreement`). Never routed to.
    #[serde(default)]
    pub oracle: Option<RmSpec>,
    /// Write each routed pair's context vector into routing.jsonl (large: d numbers per pair);
    /// otherwise the log refers to the pair's responses in samples.jsonl.
    #[serde(default)]
    pub log_contexts: bool,
}

/// A [`DeviceSpec`] as configs write it: `cpu`, `libtorch`, `cuda[:N]`.
mod device_name {
    use lm::DeviceSpec;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(device: &DeviceSpec, out: S) -> Result<S::Ok, S::Error> {
        out.collect_str(device)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<DeviceSpec, D::Error> {
        let name = String::deserialize(input)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// What the router's bandit learns from, per kept pair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RewardSource {
    /// The method (METHOD.md §4): the pair's DPO loss before the step, through the
    /// normaliser; a lower loss is a higher reward.
    #[default]
    DpoLoss,
    /// The `[oracle]` verifier: 1 when the routed judge chose the response the verifier
    /// prefers, 0 when it chose the other, and no update where the verifier ties (both right
    /// or both wrong). The normaliser is not consulted. An ablation that asks what the online
    /// stage learns when its reward is right; the reward service's `--verifier` mode learns
    /// the same way.
    Verifier,
}

impl RewardSource {
    /// Whether this is the method's reward (configs leave the default out).
    pub fn is_dpo_loss(&self) -> bool {
        *self == Self::DpoLoss
    }
}

/// The policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// A Hugging Face folder or a .gguf file; also the frozen DPO reference.
    pub path: PathBuf,
    /// LoRA adapters to train (PEFT's fields); without it every parameter trains.
    #[serde(default)]
    pub lora: Option<LoraConfig>,
}

/// Prompts, reward models and the offline router.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// The training prompts (JSONL: `prompt` or `messages`, optional `category`,
    /// `reference`).
    pub prompts: PathBuf,
    /// The routed RM pool (rm-pool TOML); its RMs are the arms, in file order.
    pub pool: PathBuf,
    /// The offline router's export (folder or router.safetensors): the prior and the context
    /// function. Needed by `bayesian`, `online-only`, `offline-only` and `epsilon-greedy`.
    #[serde(default)]
    pub router: Option<PathBuf>,
    /// Texts per forward pass of the context encoder.
    #[serde(default = "default_context_batch")]
    pub context_batch_size: usize,
}

fn default_context_batch() -> usize {
    16
}

/// The Thompson bandit's reference settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BayesianPreset {
    /// λ0 = 1 with the per-arm EMA z-score normaliser.
    V4,
    /// λ0 = 50 with the batch-baseline quantile normaliser.
    #[default]
    V5,
}

/// How pairs are labelled: a routing strategy, a K× baseline, or the oracle line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum StrategyConfig {
    /// BayesianRouter: Thompson sampling with the offline prior.
    Bayesian {
        /// v4 or v5.
        #[serde(default)]
        preset: BayesianPreset,
        /// A bandit spec file (configs/bandit/*.toml) replacing the preset's parameters
        /// (`router` is read as an old name of this key).
        #[serde(default, alias = "router")]
        bandit: Option<PathBuf>,
        /// Replaces the observation-noise variance σ² of the preset (or spec): e.g. the
        /// variance of the normaliser's rewards (≈ 0.15 for v5's [0, 1] rewards) instead of
        /// the reference's 1.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sigma2: Option<f64>,
    },
    /// Thompson sampling from a zero prior (μ0 = 0) over the same contexts.
    OnlineOnly {
        /// v4 or v5 (λ0 and the normaliser).
        #[serde(default)]
        preset: BayesianPreset,
    },
    /// The offline router alone: argmax μ0ᵀe, never updated.
    OfflineOnly,
    /// LASeR: LinUCB over the mean prompt-token embedding, one RM per batch.
    Laser {
        /// LinUCB's exploration weight.
        #[serde(default = "default_alpha")]
        alpha: f64,
        /// One RM per prompt (LASeR's code offers it) instead of per batch.
        #[serde(default)]
        per_prompt: bool,
        /// As LASeR's code runs (`laser-code`): the raw −loss as reward while the history
        /// has fewer than 2 values, and random tie-breaks. Off: the paper's description
        /// (0.5 for the first 20 batches, ties to the first arm).
        #[serde(default)]
        as_coded: bool,
    },
    /// Greedy on the posterior mean (offline prior), uniform with probability ε.
    EpsilonGreedy {
        /// Exploration probability.
        #[serde(default = "default_epsilon")]
        epsilon: f64,
    },
    /// A uniformly random RM per pair.
    Random,
    /// One named RM for every pair.
    Single {
        /// The RM's name in the pool.
        rm: String,
    },
    /// Every RM scores; per-RM standardised scores are averaged (K× calls).
    Ensemble,
    /// Every RM votes on every pair; the majority decides, ties dropped (K× calls).
    Majority,
    /// The `[oracle]` verifier labels every pair: a reference line, not a router.
    Oracle,
    /// The `[oracle]` verifier, with a seeded coin deciding the pairs it ties (both
    /// responses right, or both wrong). It keeps every pair it visits, as an RM labeller
    /// does, where `oracle` drops its ties and visits more pairs until it has decided ones:
    /// perfect labels without the oracle's pair selection (a reference line).
    OracleCoin,
}

fn default_alpha() -> f64 {
    0.1
}
fn default_epsilon() -> f64 {
    0.1
}

impl StrategyConfig {
    /// A short stable name for logs and reports (`bayesian-v5`, `single:<rm>`, …).
    pub fn name(&self) -> String {
        match self {
            Self::Bayesian { preset, .. } => format!("bayesian-{}", preset_name(*preset)),
            Self::OnlineOnly { preset } => format!("online-only-{}", preset_name(*preset)),
            Self::OfflineOnly => "offline-only".into(),
            Self::Laser {
                per_prompt,
                as_coded,
                ..
            } => {
                let base = if *as_coded { "laser-code" } else { "laser" };
                if *per_prompt {
                    format!("{base}-per-prompt")
                } else {
                    base.into()
                }
            }
            Self::EpsilonGreedy { .. } => "epsilon-greedy".into(),
            Self::Random => "random".into(),
            Self::Single { rm } => format!("single:{rm}"),
            Self::Ensemble => "ensemble".into(),
            Self::Majority => "majority".into(),
            Self::Oracle => "oracle".into(),
            Self::OracleCoin => "oracle-coin".into(),
        }
    }

    /// The normaliser a strategy uses unless the config names one: v4 presets the EMA
    /// z-score, LASeR its own, everything else the v5 batch baseline.
    pub fn default_normalizer(&self) -> NormalizerKind {
        match self {
            Self::Bayesian {
                preset: BayesianPreset::V4,
                ..
            }
            | Self::OnlineOnly {
                preset: BayesianPreset::V4,
            } => NormalizerKind::EmaZscore,
            Self::Laser { as_coded: true, .. } => NormalizerKind::LaserAsCoded,
            Self::Laser { .. } => NormalizerKind::Laser,
            _ => NormalizerKind::BatchBaseline,
        }
    }

    /// Whether the strategy routes with the offline router's contexts (and needs its export).
    pub fn needs_pair_contexts(&self) -> bool {
        matches!(
            self,
            Self::Bayesian { .. }
                | Self::OnlineOnly { .. }
                | Self::OfflineOnly
                | Self::EpsilonGreedy { .. }
        )
    }
}

fn preset_name(preset: BayesianPreset) -> &'static str {
    match preset {
        BayesianPreset::V4 => "v4",
        BayesianPreset::V5 => "v5",
    }
}

impl FromStr for StrategyConfig {
    type Err = String;

    /// The command line's names: `bayesian-v5`, `bayesian-v4` (or `bayesian`), `online-only`,
    /// `offline-only`, `laser`, `laser-per-prompt`, `laser-code`, `laser-code-per-prompt`,
    /// `epsilon-greedy`, `random`,
    /// `single:<rm>`, `ensemble`, `majority`, `oracle`, `oracle-coin`.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s {
            "bayesian" | "bayesian-v5" => Self::Bayesian {
                preset: BayesianPreset::V5,
                bandit: None,
                sigma2: None,
            },
            "bayesian-v4" => Self::Bayesian {
                preset: BayesianPreset::V4,
                bandit: None,
                sigma2: None,
            },
            "online-only" | "online-only-v5" => Self::OnlineOnly {
                preset: BayesianPreset::V5,
            },
            "online-only-v4" => Self::OnlineOnly {
                preset: BayesianPreset::V4,
            },
            "offline-only" => Self::OfflineOnly,
            "laser" | "laser-per-prompt" | "laser-code" | "laser-code-per-prompt" => Self::Laser {
                alpha: default_alpha(),
                per_prompt: s.ends_with("-per-prompt"),
                as_coded: s.starts_with("laser-code"),
            },
            "epsilon-greedy" => Self::EpsilonGreedy {
                epsilon: default_epsilon(),
            },
            "random" => Self::Random,
            "ensemble" => Self::Ensemble,
            "majority" => Self::Majority,
            "oracle" => Self::Oracle,
            "oracle-coin" => Self::OracleCoin,
            other => match other.strip_prefix("single:") {
                Some(rm) if !rm.is_empty() => Self::Single { rm: rm.into() },
                _ => {
                    return Err(format!(
                        "unknown strategy {other:?}: use bayesian-v5, bayesian-v4, online-only, \
                         offline-only, laser, laser-per-prompt, laser-code, \
                         laser-code-per-prompt, epsilon-greedy, random, \
                         single:<rm>, ensemble, majority, oracle or oracle-coin"
                    ));
                }
            },
        })
    }
}

/// Response sampling (METHOD.md §5: n = 6, temperature 0.8, up to 256 new tokens).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplingConfig {
    /// Prompts per iteration, B.
    pub prompts_per_batch: usize,
    /// Responses per prompt, n ≥ 2.
    pub samples_per_prompt: usize,
    /// Softmax temperature (0 = greedy, which makes every sample the same).
    pub temperature: f32,
    /// Nucleus threshold.
    pub top_p: f32,
    /// Keep the k most likely tokens (0 = all).
    pub top_k: usize,
    /// Most new tokens per response.
    pub max_new_tokens: usize,
    /// Which model samples the candidates: the policy being trained (online DPO, the
    /// default) or the DPO reference (with `[dpo] reference_sync_every`, semi-online DPO).
    #[serde(skip_serializing_if = "Generator::is_policy")]
    pub generator: Generator,
}

/// The model that samples each iteration's candidate responses.
///
/// Sampling from the policy (online DPO) biases the DPO loss the router learns from: a
/// response is sampled more often the more its log-ratio log π − log π_ref has grown, so on
/// the policy's own samples the log-ratios carry what the policy was pushed toward, wrong
/// labels included (docs/RESULTS.md, "The selection reading, checked"). Samples of the
/// reference carry no such tilt: under them a pair's loss measures only what the policy
/// learned since the reference was taken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Generator {
    /// The current policy (online DPO; METHOD.md §5).
    #[default]
    Policy,
    /// The DPO reference: the initial policy, or its latest copy when `[dpo]
    /// reference_sync_every` is set (semi-online DPO, the generator synced every s
    /// iterations).
    Reference,
}

impl Generator {
    /// Whether this is the default (configs leave it out).
    pub fn is_policy(&self) -> bool {
        *self == Self::Policy
    }
}

impl Default for SamplingConfig {
    fn default() -> Self {
        Self {
            prompts_per_batch: 32,
            samples_per_prompt: 6,
            temperature: 0.8,
            top_p: 1.0,
            top_k: 0,
            max_new_tokens: 256,
            generator: Generator::Policy,
        }
    }
}

/// Pair selection (METHOD.md §5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PairsConfig {
    /// Most kept pairs per prompt, drawn without replacement among non-ties.
    pub pairs_per_prompt: usize,
    /// A pair is a tie when its two scores differ by at most this.
    pub tie_eps: f32,
}

impl Default for PairsConfig {
    fn default() -> Self {
        Self {
            pairs_per_prompt: 4,
            tie_eps: 0.1,
        }
    }
}

/// The DPO objective and its optimiser (METHOD.md §5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DpoConfig {
    /// β of the DPO loss.
    pub beta: f64,
    /// AdamW learning rate.
    pub lr: f64,
    /// Global gradient-norm clip (`None`: off).
    pub max_grad_norm: Option<f64>,
    /// Most micro-batches an iteration's pairs are split into (gradients accumulated).
    pub accumulation: usize,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f32,
    /// Weight α of the chosen response's per-token NLL added to the DPO loss (iterative
    /// RPO; TRL's `rpo_alpha`); 0 is plain DPO.
    pub rpo_alpha: f64,
    /// Copy the policy into the DPO reference before every this many iterations (a hard
    /// reference update, as in TR-DPO; with `[sampling] generator = "reference"` this is
    /// semi-online DPO); 0 keeps the initial policy as the reference throughout.
    #[serde(skip_serializing_if = "is_zero")]
    pub reference_sync_every: usize,
}

fn is_zero(value: &usize) -> bool {
    *value == 0
}

impl Default for DpoConfig {
    fn default() -> Self {
        Self {
            beta: 0.1,
            lr: 5e-6,
            max_grad_norm: Some(1.0),
            accumulation: 1,
            weight_decay: 0.0,
            rpo_alpha: 0.0,
            reference_sync_every: 0,
        }
    }
}

/// Command-line changes to a config file.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// Replaces `[strategy]`.
    pub strategy: Option<StrategyConfig>,
    /// Replaces `seed`.
    pub seed: Option<u64>,
    /// Replaces `iterations`.
    pub iterations: Option<usize>,
    /// Replaces `output`.
    pub output: Option<PathBuf>,
}

impl Overrides {
    /// Replaces the values of `config` these overrides name (paths as the file's: relative
    /// to its folder).
    fn apply(&self, config: &mut TrainerConfig) {
        if let Some(strategy) = &self.strategy {
            config.strategy = strategy.clone();
        }
        if let Some(seed) = self.seed {
            config.seed = seed;
        }
        if let Some(iterations) = self.iterations {
            config.iterations = iterations;
        }
        if let Some(output) = &self.output {
            config.output = output.clone();
        }
    }
}

impl TrainerConfig {
    /// Reads `path`, applies `overrides`, makes every path absolute against the file's
    /// folder and checks every value.
    pub fn read(path: &Path, overrides: &Overrides) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(atomic_write::io_error(path))?;
        Self::from_toml(&text, path, overrides)
    }

    /// [`TrainerConfig::read`] of TOML text; `origin` is the file it came from (errors name
    /// it; relative paths start from its folder).
    pub fn from_toml(text: &str, origin: &Path, overrides: &Overrides) -> Result<Self> {
        let bad = |reason: String| Error::Config {
            path: origin.to_path_buf(),
            reason,
        };
        let mut config: Self = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        overrides.apply(&mut config);
        let base = origin.parent().unwrap_or(Path::new(""));
        config = config
            .with_absolute_paths(base)
            .map_err(atomic_write::io_error(base))?;
        config.check().map_err(bad)?;
        Ok(config)
    }

    /// This config with every file path (the policy, prompts, pool, offline router, bandit spec,
    /// the oracle's model and `output`) made absolute against `base`.
    pub fn with_absolute_paths(mut self, base: &Path) -> std::io::Result<Self> {
        let absolute = |path: &mut PathBuf| -> std::io::Result<()> {
            *path = std::path::absolute(base.join(&*path))?;
            Ok(())
        };
        absolute(&mut self.output)?;
        absolute(&mut self.policy.path)?;
        absolute(&mut self.data.prompts)?;
        absolute(&mut self.data.pool)?;
        if let Some(router) = &mut self.data.router {
            absolute(router)?;
        }
        if let StrategyConfig::Bayesian {
            bandit: Some(spec), ..
        } = &mut self.strategy
        {
            absolute(spec)?;
        }
        self.oracle = self
            .oracle
            .map(|oracle| oracle.with_absolute_paths(base))
            .transpose()?;
        Ok(self)
    }

    /// The config as a TOML table: what the run folder keeps to check a resumption against.
    pub fn to_table(&self) -> Result<toml::Table> {
        toml::Table::try_from(self).map_err(|e| Error::Config {
            path: self.output.clone(),
            reason: format!("the config does not serialise: {e}"),
        })
    }

    /// The config as TOML text (a file [`TrainerConfig::read`] reads back to this value).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(&self.to_table()?).map_err(|e| Error::Config {
            path: self.output.clone(),
            reason: format!("the config does not serialise: {e}"),
        })
    }

    /// Checks every value; the message names the key. [`TrainerConfig::read`] calls it, and
    /// so does the trainer for configs built in code.
    pub fn validate(&self) -> Result<()> {
        self.check().map_err(|reason| Error::Config {
            path: self.output.clone(),
            reason,
        })
    }

    /// Where the candidates come from and what the reference is, in words for reports:
    /// online DPO (the policy samples) or sampling from the reference, frozen or copied
    /// from the policy every `reference_sync_every` iterations.
    pub fn sampling_regime(&self) -> String {
        let every = self.dpo.reference_sync_every;
        match (self.sampling.generator, every) {
            (Generator::Policy, 0) => "the policy (online DPO), frozen reference".into(),
            (Generator::Policy, s) => {
                format!("the policy (online DPO), reference copied from it every {s} iterations")
            }
            (Generator::Reference, 0) => "the frozen reference (the starting policy)".into(),
            (Generator::Reference, s) => format!(
                "the reference, copied from the policy every {s} iterations (semi-online DPO)"
            ),
        }
    }

    /// The normaliser this run uses.
    pub fn normalizer_kind(&self) -> NormalizerKind {
        self.normalizer
            .unwrap_or_else(|| self.strategy.default_normalizer())
    }

    fn check(&self) -> std::result::Result<(), String> {
        let s = &self.sampling;
        let checks: [(bool, &str); 11] = [
            (
                i64::try_from(self.seed).is_ok(),
                "`seed` must fit a TOML integer (at most 2^63 - 1)",
            ),
            (self.iterations >= 1, "`iterations` must be at least 1"),
            (
                s.prompts_per_batch >= 1,
                "`sampling.prompts_per_batch` must be at least 1",
            ),
            (
                s.samples_per_prompt >= 2,
                "`sampling.samples_per_prompt` must be at least 2 (pairs need two responses)",
            ),
            (
                s.max_new_tokens >= 1,
                "`sampling.max_new_tokens` must be at least 1",
            ),
            (
                self.pairs.pairs_per_prompt >= 1,
                "`pairs.pairs_per_prompt` must be at least 1",
            ),
            (
                self.pairs.tie_eps.is_finite() && self.pairs.tie_eps >= 0.0,
                "`pairs.tie_eps` must be finite and ≥ 0",
            ),
            (
                self.dpo.beta.is_finite() && self.dpo.beta > 0.0,
                "`dpo.beta` must be finite and > 0",
            ),
            (
                self.dpo.rpo_alpha.is_finite() && self.dpo.rpo_alpha >= 0.0,
                "`dpo.rpo_alpha` must be finite and ≥ 0",
            ),
            (
                self.dpo.lr.is_finite() && self.dpo.lr >= 0.0,
                "`dpo.lr` must be finite and ≥ 0",
            ),
            (
                self.dpo.accumulation >= 1,
                "`dpo.accumulation` must be at least 1",
            ),
        ];
        if let Some((_, reason)) = checks.iter().find(|(ok, _)| !ok) {
            return Err((*reason).into());
        }
        if self.strategy.needs_pair_contexts() && self.data.router.is_none() {
            return Err(format!(
                "strategy `{}` routes with the offline router: set `data.router` to its export",
                self.strategy.name()
            ));
        }
        if matches!(
            self.strategy,
            StrategyConfig::Oracle | StrategyConfig::OracleCoin
        ) && self.oracle.is_none()
        {
            return Err(format!(
                "strategy `{}` needs an `[oracle]` verifier",
                self.strategy.name()
            ));
        }
        if self.reward == RewardSource::Verifier && self.oracle.is_none() {
            return Err("`reward = \"verifier\"` needs an `[oracle]` verifier".into());
        }
        Ok(())
    }
}

/// The first key (dotted path) whose value differs between a run's saved config and a new
/// one, ignoring keys a resumption may change (`iterations`).
pub fn first_difference(saved: &toml::Table, new: &toml::Table) -> Option<String> {
    fn walk(prefix: &str, a: &toml::Table, b: &toml::Table) -> Option<String> {
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            if RESUMABLE_CHANGES.contains(&path.as_str()) {
                continue;
            }
            match (a.get(key), b.get(key)) {
                (Some(toml::Value::Table(x)), Some(toml::Value::Table(y))) => {
                    if let Some(found) = walk(&path, x, y) {
                        return Some(found);
                    }
                }
                (x, y) if x != y => return Some(path),
                _ => {}
            }
        }
        None
    }
    walk("", saved, new)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
seed = 1
iterations = 3
output = "run"
[policy]
path = "policy"
[data]
prompts = "p.jsonl"
pool = "pool.toml"
[strategy]
kind = "random"
"#;

    #[test]
    fn unknown_keys_name_key_and_file() {
        let text = format!("{MINIMAL}\n[dpo]\nbeta = 0.1\nbetta = 2\n");
        let err =
            TrainerConfig::from_toml(&text, Path::new("cfg/train.toml"), &Overrides::default())
                .unwrap_err()
                .to_string();
        assert!(err.contains("betta") && err.contains("train.toml"), "{err}");
    }

    #[test]
    fn overrides_and_resume_differences() {
        let origin = Path::new("/srv/cfg/train.toml");
        let config = TrainerConfig::from_toml(MINIMAL, origin, &Overrides::default()).unwrap();
        assert_eq!(config.output, Path::new("/srv/cfg/run"));
        assert_eq!(config.device, DeviceSpec::Cpu);
        assert_eq!(config.normalizer_kind(), NormalizerKind::BatchBaseline);
        let table = config.to_table().unwrap();
        let overrides = Overrides {
            strategy: Some("single:judge".parse().unwrap()),
            iterations: Some(9),
            output: Some("elsewhere".into()),
            ..Overrides::default()
        };
        let changed = TrainerConfig::from_toml(MINIMAL, origin, &overrides).unwrap();
        assert_eq!(
            changed.strategy,
            StrategyConfig::Single { rm: "judge".into() }
        );
        assert_eq!(changed.iterations, 9);
        assert_eq!(changed.output, Path::new("/srv/cfg/elsewhere"));
        assert_eq!(
            first_difference(&table, &changed.to_table().unwrap()).as_deref(),
            Some("output")
        );
        let only_longer = Overrides {
            iterations: Some(9),
            ..Overrides::default()
        };
        let longer = TrainerConfig::from_toml(MINIMAL, origin, &only_longer).unwrap();
        assert_eq!(first_difference(&table, &longer.to_table().unwrap()), None);
        let other_seed = Overrides {
            seed: Some(2),
            ..Overrides::default()
        };
        let reseeded = TrainerConfig::from_toml(MINIMAL, origin, &other_seed).unwrap();
        assert_eq!(
            first_difference(&table, &reseeded.to_table().unwrap()).as_deref(),
            Some("seed")
        );
    }

    #[test]
    fn paths_resolve_once_and_the_serialisation_reads_back_anywhere() {
        let text =
            format!("{MINIMAL}[oracle]\nname = \"judge\"\nkind = \"embedding\"\npath = \"enc\"\n")
                .replace("seed = 1\n", "seed = 1\ndevice = \"cuda:1\"\n")
                .replace(
                    "kind = \"random\"",
                    "kind = \"bayesian\"\nrouter = \"v5.toml\"",
                )
                .replace(
                    "pool = \"pool.toml\"",
                    "pool = \"pool.toml\"\nrouter = \"../export\"",
                );
        let config = TrainerConfig::from_toml(
            &text,
            Path::new("/srv/cfg/train.toml"),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(config.policy.path, Path::new("/srv/cfg/policy"));
        assert_eq!(config.data.prompts, Path::new("/srv/cfg/p.jsonl"));
        assert_eq!(config.data.pool, Path::new("/srv/cfg/pool.toml"));
        assert_eq!(
            config.data.router.as_deref(),
            Some(Path::new("/srv/cfg/../export"))
        );
        assert_eq!(config.output, Path::new("/srv/cfg/run"));
        assert_eq!(config.device, DeviceSpec::Cuda(1));
        let StrategyConfig::Bayesian { bandit, .. } = &config.strategy else {
            panic!("{:?}", config.strategy);
        };
        assert_eq!(bandit.as_deref(), Some(Path::new("/srv/cfg/v5.toml")));
        let Some(RmSpec::Embedding { path, .. }) = &config.oracle else {
            panic!("{:?}", config.oracle);
        };
        assert_eq!(path, Path::new("/srv/cfg/enc"));
        // The serialisation, read from another folder, is the same run.
        let moved = config.to_toml().unwrap();
        assert!(moved.contains("device = \"cuda:1\""), "{moved}");
        let again = TrainerConfig::from_toml(
            &moved,
            Path::new("/tmp/x/train.toml"),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(again, config);
    }

    #[test]
    fn bad_values_name_the_key() {
        let huge = Overrides {
            seed: Some(u64::MAX),
            ..Overrides::default()
        };
        let err = TrainerConfig::from_toml(MINIMAL, Path::new("t.toml"), &huge)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`seed`") && err.contains("t.toml"), "{err}");
        let text = MINIMAL.replace("seed = 1\n", "seed = 1\ndevice = \"gpu\"\n");
        let err = TrainerConfig::from_toml(&text, Path::new("t.toml"), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("gpu") && err.contains("t.toml"), "{err}");
    }

    #[test]
    fn the_verifier_reward_needs_a_verifier() {
        let config =
            TrainerConfig::from_toml(MINIMAL, Path::new("t.toml"), &Overrides::default()).unwrap();
        assert_eq!(config.reward, RewardSource::DpoLoss);
        // The default is left out of written configs, so older run folders still resume.
        assert!(!config.to_toml().unwrap().contains("reward"));
        let text = MINIMAL.replace("seed = 1\n", "seed = 1\nreward = \"verifier\"\n");
        let err = TrainerConfig::from_toml(&text, Path::new("t.toml"), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("reward") && err.contains("[oracle]"), "{err}");
        let text =
            format!("{text}[oracle]\nname = \"judge\"\nkind = \"verifier\"\ntask = \"exact\"\n");
        let config =
            TrainerConfig::from_toml(&text, Path::new("t.toml"), &Overrides::default()).unwrap();
        assert_eq!(config.reward, RewardSource::Verifier);
        assert!(config.to_toml().unwrap().contains("reward = \"verifier\""));
        let text = MINIMAL.replace("seed = 1\n", "seed = 1\nreward = \"loss\"\n");
        let err = TrainerConfig::from_toml(&text, Path::new("t.toml"), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("loss") && err.contains("t.toml"), "{err}");
    }

    /// The sampler and the reference's copies: defaults left out of written configs (older
    /// run folders still resume), set values written, read and described.
    #[test]
    fn the_generator_and_reference_sync_round_trip() {
        let origin = Path::new("t.toml");
        let config = TrainerConfig::from_toml(MINIMAL, origin, &Overrides::default()).unwrap();
        assert_eq!(config.sampling.generator, Generator::Policy);
        assert_eq!(config.dpo.reference_sync_every, 0);
        let written = config.to_toml().unwrap();
        assert!(!written.contains("generator") && !written.contains("reference_sync_every"));
        assert_eq!(
            config.sampling_regime(),
            "the policy (online DPO), frozen reference"
        );
        let text = format!(
            "{MINIMAL}[sampling]\ngenerator = \"reference\"\n[dpo]\nreference_sync_every = 24\n"
        );
        let semi = TrainerConfig::from_toml(&text, origin, &Overrides::default()).unwrap();
        assert_eq!(semi.sampling.generator, Generator::Reference);
        assert_eq!(semi.dpo.reference_sync_every, 24);
        let again =
            TrainerConfig::from_toml(&semi.to_toml().unwrap(), origin, &Overrides::default())
                .unwrap();
        assert_eq!(again, semi);
        assert_eq!(
            semi.sampling_regime(),
            "the reference, copied from the policy every 24 iterations (semi-online DPO)"
        );
        let text = format!("{MINIMAL}[sampling]\ngenerator = \"sft\"\n");
        let err = TrainerConfig::from_toml(&text, origin, &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("sft") && err.contains("t.toml"), "{err}");
    }

    /// Every shipped trainer config parses and checks.
    #[test]
    fn shipped_configs_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/train");
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("pool"))
            {
                continue;
            }
            let config = TrainerConfig::read(&path, &Overrides::default())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(config.oracle.is_some(), "{}", path.display());
            count += 1;
        }
        assert!(
            count >= 2,
            "expected the shipped configs in {}",
            dir.display()
        );
    }

    #[test]
    fn contextual_strategies_need_the_export() {
        let text = MINIMAL.replace("kind = \"random\"", "kind = \"bayesian\"");
        let err = TrainerConfig::from_toml(&text, Path::new("t.toml"), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("data.router"), "{err}");
        for name in ["bayesian-v5", "laser", "single:x", "majority"] {
            let strategy: StrategyConfig = name.parse().unwrap();
            assert_eq!(strategy.name(), name);
        }
        assert!("nope".parse::<StrategyConfig>().is_err());
    }
}
