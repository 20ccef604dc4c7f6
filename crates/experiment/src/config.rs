//! The experiment configuration: one TOML file (docs/FORMATS.md, "Experiment config";
//! the embedded default is configs/experiment/default.toml), read into [`ExperimentConfig`]
//! and checked once. Each stage hashes only the sections it reads (see `cache.rs`), so
//! changing the online budget reuses the trained models.

use std::path::Path;

use answer_check::synthetic::Domain;
use rlhf_trainer::{Generator, StrategyConfig};
use serde::{Deserialize, Serialize};
use synthetic_tasks::SuiteParams;

use crate::error::{Error, Result};
use crate::given::GivenWorldConfig;
use crate::online::SeedCounts;
use crate::panel::PanelConfig;

/// The embedded default (configs/experiment/default.toml).
pub const DEFAULT_CONFIG: &str = include_str!("../../../configs/experiment/default.toml");

/// An experiment config file of either kind: a world trained here (the embedded kind,
/// [`ExperimentConfig`]) or a given one (a file with a `[world]` table,
/// [`GivenWorldConfig`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Experiment {
    /// Tasks, tokenizer, policy, RMs and routers all trained here.
    Suite(Box<ExperimentConfig>),
    /// Models and data a user already has.
    Given(GivenWorldConfig),
}

impl Experiment {
    /// Reads and checks a config file of either kind.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(atomic_write::io_error(path))?;
        let table: toml::Table = toml::from_str(&text).map_err(|err| Error::Config {
            path: path.to_path_buf(),
            reason: err.to_string(),
        })?;
        Ok(if table.contains_key("world") {
            Self::Given(GivenWorldConfig::from_toml(&text, path)?)
        } else {
            Self::Suite(Box::new(ExperimentConfig::from_toml(&text, path)?))
        })
    }

    /// This experiment with `overrides` applied, checked again (the message names the
    /// overrides). `smoke` is refused for a given world, whose sizes come from its trainer
    /// config.
    pub fn with_overrides(self, overrides: &ExperimentOverrides) -> Result<Self> {
        let origin = Path::new("--strategies/--seeds");
        match self {
            Self::Suite(config) => {
                let mut config = *config;
                if overrides.smoke {
                    config = config.smoke();
                }
                if let Some(strategies) = &overrides.strategies {
                    config.strategies = strategies.clone();
                }
                if let Some(seeds) = overrides.seeds {
                    config.seeds = seeds;
                    config.premise_seeds = None;
                }
                config.check().map_err(|reason| Error::Config {
                    path: origin.into(),
                    reason,
                })?;
                Ok(Self::Suite(Box::new(config)))
            }
            Self::Given(mut config) => {
                if overrides.smoke {
                    return Err(Error::Config {
                        path: "--smoke".into(),
                        reason: "--smoke shrinks the embedded world; a given world (`[world]`) \
                                 takes its sizes from its trainer config (restrict it with \
                                 --strategies and --seeds)"
                            .into(),
                    });
                }
                if let Some(strategies) = &overrides.strategies {
                    config.strategies = strategies.clone();
                }
                if let Some(seeds) = overrides.seeds {
                    config.seeds = seeds;
                }
                config.check().map_err(|err| match err {
                    Error::Config { reason, .. } => Error::Config {
                        path: origin.into(),
                        reason,
                    },
                    other => other,
                })?;
                Ok(Self::Given(config))
            }
        }
    }

    /// The run folder's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Suite(config) => &config.name,
            Self::Given(config) => &config.name,
        }
    }
}

/// What the command line changes in an experiment config.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExperimentOverrides {
    /// Shrink the embedded world to toy sizes (`--smoke`).
    pub smoke: bool,
    /// Only these strategies (trainer names; `single:*` for every RM).
    pub strategies: Option<Vec<String>>,
    /// Online seeds per strategy, the premise checks' lines included.
    pub seeds: Option<usize>,
}

/// A whole experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// Name of the run folder under the output root (`runs/experiment/<name>`).
    pub name: String,
    /// Seed of the world (suite, tokenizer data, SFT, RMs, offline data and router).
    pub seed: u64,
    /// Online seeds per strategy (0, 1, …): each seed draws its own prompt order, samples
    /// and router randomness from the same starting policy.
    pub seeds: usize,
    /// Online seeds of the lines the premise checks read ([`crate::premise::LINES`]: random,
    /// oracle, oracle-coin), when more than `seeds`: the checks keep their power while the
    /// other strategies run fewer seeds. `None`: `seeds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub premise_seeds: Option<usize>,
    /// Strategies (`rlhf-trainer` names; `single:*` expands to one run per RM).
    pub strategies: Vec<String>,
    /// The task suite's difficulty.
    #[serde(default)]
    pub suite: SuiteParams,
    /// The tokenizer.
    pub tokenizer: TokenizerConfig,
    /// The policy's architecture.
    pub policy: PolicyConfig,
    /// Supervised warm start.
    pub sft: SftConfig,
    /// The reward models.
    pub reward_models: RewardModelsConfig,
    /// Offline routing data and the offline router.
    pub offline: OfflineConfig,
    /// Online DPO (shared by every strategy).
    pub online: OnlineConfig,
    /// Held-out evaluation.
    pub eval: EvalConfig,
    /// The routing panel every router is scored on during training.
    #[serde(default)]
    pub panel: PanelConfig,
    /// Extra runs for ablations.
    #[serde(default)]
    pub ablations: AblationsConfig,
}

/// `[ablations]`: runs beyond the strategies, for the paper's ablations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AblationsConfig {
    /// Run bayesian-v5 once more with raw batch advantages as rewards (no 20/80 quantile
    /// rescaling), as `bayesian-v5-no-quantile`.
    pub quantile_rescaling: bool,
    /// Run bayesian-v5 once more with this observation-noise variance σ² instead of the
    /// reference's 1, as `bayesian-v5-sigma2-matched`: v5's rewards lie in [0, 1] with
    /// variance ≈ 0.15 (20% of them at each clamp), so σ² = 1 weighs each reward ~7× less
    /// than a model of those rewards would.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigma2_matched: Option<f64>,
    /// Run bayesian-v5 and online-only-v5 (those of them the strategies name) once more
    /// learning from the verifier's verdict on each routed label instead of the DPO losses
    /// (`rlhf_trainer::RewardSource::Verifier`), as `…-verifier-reward`: what the online
    /// stage learns when its reward is right, beside premise check (b).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub verifier_reward: bool,
}

impl Default for AblationsConfig {
    fn default() -> Self {
        Self {
            quantile_rescaling: true,
            sigma2_matched: None,
            verifier_reward: false,
        }
    }
}

/// `[tokenizer]`: a byte-level BPE trained on the suite's text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizerConfig {
    /// Vocabulary size, special tokens included.
    pub vocab_size: usize,
}

/// `[policy]`: a Llama decoder (transformers' `LlamaConfig` names).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// d_model.
    pub hidden_size: usize,
    /// d_ff of the SwiGLU MLP.
    pub intermediate_size: usize,
    /// Decoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads (also the key/value heads).
    pub num_attention_heads: usize,
    /// Longest sequence in tokens.
    pub max_position_embeddings: usize,
}

/// `[sft]`: next-token cross-entropy on the answers of the SFT split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SftConfig {
    /// Training examples per domain.
    pub examples_per_domain: usize,
    /// AdamW updates.
    pub steps: usize,
    /// Examples per update.
    pub batch_size: usize,
    /// Peak learning rate (linear decay to 0).
    pub lr: f64,
}

/// `[reward_models]`: classifiers trained with a Bradley–Terry loss.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardModelsConfig {
    /// Training pairs per domain (from the reward-model split).
    pub pairs_per_domain: usize,
    /// Held-out pairs per domain for the accuracy table.
    pub eval_pairs_per_domain: usize,
    /// AdamW updates per RM.
    pub steps: usize,
    /// Pairs per update.
    pub batch_size: usize,
    /// Peak learning rate (linear decay to 0).
    pub lr: f64,
    /// The RMs, in arm order.
    pub rm: Vec<RmConfig>,
}

/// One learned reward model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RmConfig {
    /// Its name in the pool.
    pub name: String,
    /// The domains its training pairs come from.
    pub domains: Vec<Domain>,
    /// What its labels reward (default: the verifier's truth).
    #[serde(default)]
    pub bias: RmBias,
}

/// What an RM's training labels prefer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RmBias {
    /// The correct answer over a wrong one.
    #[default]
    None,
    /// The longer response (a generic bias of real RMs), whatever its correctness.
    Length,
}

/// `[offline]`: routing data from the SFT policy's samples and the offline router.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfflineConfig {
    /// Prompts per domain (offline split).
    pub prompts_per_domain: usize,
    /// Responses sampled per prompt (temperature 1).
    pub samples_per_prompt: usize,
    /// Verifier-decided pairs (one right, one wrong response) kept per prompt.
    pub pairs_per_prompt: usize,
    /// Fraction of prompts held out as the test split (touched once, for the report).
    pub test_fraction: f64,
    /// Fraction of the remaining prompts used for keep-best validation.
    pub validation_fraction: f64,
    /// The domain the shifted condition's offline data lacks.
    pub shifted_without: Domain,
    /// The router head's peak learning rate.
    pub lr: f64,
    /// Passes over the training records.
    pub epochs: usize,
    /// Records per update.
    pub batch_size: usize,
    /// Train one router per online seed, each on its own seeded draw of the test and
    /// validation splits and its own initialisation (seed s reads router s), so that the
    /// seeds' spread covers the offline stage too; off: one router per condition.
    #[serde(default)]
    pub redraw_per_seed: bool,
}

/// `[online]`: the online DPO run every strategy shares.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnlineConfig {
    /// Online prompts per domain.
    pub prompts_per_domain: usize,
    /// DPO updates.
    pub iterations: usize,
    /// Prompts per iteration.
    pub prompts_per_batch: usize,
    /// Responses per prompt.
    pub samples_per_prompt: usize,
    /// Candidate pairs kept per prompt.
    pub pairs_per_prompt: usize,
    /// Sampling temperature.
    pub temperature: f32,
    /// Response cap in tokens.
    pub max_new_tokens: usize,
    /// DPO β.
    pub beta: f64,
    /// AdamW learning rate (full fine-tuning).
    pub lr: f64,
    /// Weight of the chosen response's per-token NLL in the DPO objective (iterative RPO;
    /// 0: plain DPO).
    #[serde(default)]
    pub rpo_alpha: f64,
    /// Score differences below this are ties (dropped).
    pub tie_eps: f32,
    /// Which model samples the candidates: `policy` (online DPO, the default) or
    /// `reference` (with `reference_sync_every`, semi-online DPO); the trainer's `[sampling]
    /// generator`.
    #[serde(default, skip_serializing_if = "Generator::is_policy")]
    pub generator: Generator,
    /// Copy the policy into the DPO reference before every this many iterations (0: the SFT
    /// policy stays the reference); the trainer's `[dpo] reference_sync_every`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reference_sync_every: usize,
}

fn is_zero(value: &usize) -> bool {
    *value == 0
}

/// `[eval]`: held-out greedy accuracy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    /// Evaluation prompts per domain.
    pub prompts_per_domain: usize,
}

impl ExperimentConfig {
    /// The embedded default.
    pub fn embedded() -> Self {
        Self::from_toml(DEFAULT_CONFIG, Path::new("configs/experiment/default.toml"))
            .expect("the embedded default is valid (tested)")
    }

    /// Reads and checks a config file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(atomic_write::io_error(path))?;
        Self::from_toml(&text, path)
    }

    /// Parses and checks `text` (read from `origin`, named in errors).
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self> {
        let config: Self = toml::from_str(text).map_err(|err| Error::Config {
            path: origin.to_path_buf(),
            reason: err.to_string(),
        })?;
        config.check().map_err(|reason| Error::Config {
            path: origin.to_path_buf(),
            reason,
        })?;
        Ok(config)
    }

    /// Shrinks every size for `--smoke` (the whole pipeline in well under a minute): the
    /// same stages and strategies, one seed, two iterations.
    pub fn smoke(mut self) -> Self {
        self.name = format!("{}-smoke", self.name);
        self.seeds = 1;
        self.premise_seeds = None;
        self.tokenizer.vocab_size = self.tokenizer.vocab_size.min(80);
        self.policy.hidden_size = 32;
        self.policy.intermediate_size = 64;
        self.policy.num_hidden_layers = 1;
        self.policy.num_attention_heads = 2;
        self.sft.examples_per_domain = 24;
        self.sft.steps = 8;
        self.sft.batch_size = 8;
        self.reward_models.pairs_per_domain = 8;
        self.reward_models.eval_pairs_per_domain = 4;
        self.reward_models.steps = 3;
        self.reward_models.batch_size = 4;
        self.offline.prompts_per_domain = 6;
        self.offline.epochs = 2;
        self.online.prompts_per_domain = 4;
        self.online.iterations = 2;
        self.online.prompts_per_batch = 4;
        self.online.max_new_tokens = 6;
        self.eval.prompts_per_domain = 3;
        self.panel.prompts_per_domain = 4;
        self.panel.samples_per_prompt = 4;
        self
    }

    /// How many online seeds each strategy runs.
    pub fn seed_counts(&self) -> SeedCounts {
        SeedCounts {
            every: self.seeds,
            premise_lines: self.premise_seeds.unwrap_or(self.seeds),
        }
    }

    /// The strategies to run, `single:*` expanded over the pool, in the config's order.
    pub fn expanded_strategies(&self) -> Result<Vec<StrategyConfig>> {
        let rms: Vec<String> = self
            .reward_models
            .rm
            .iter()
            .map(|r| r.name.clone())
            .collect();
        expand_strategies(&self.strategies, &rms)
    }

    fn check(&self) -> std::result::Result<(), String> {
        self.suite.check().map_err(|e| format!("[suite]: {e}"))?;
        let rms = &self.reward_models.rm;
        let positive: [(usize, &str); 18] = [
            (self.seeds, "seeds"),
            (self.tokenizer.vocab_size, "tokenizer.vocab_size"),
            (self.policy.hidden_size, "policy.hidden_size"),
            (self.policy.num_hidden_layers, "policy.num_hidden_layers"),
            (self.sft.steps, "sft.steps"),
            (self.sft.batch_size, "sft.batch_size"),
            (self.reward_models.steps, "reward_models.steps"),
            (
                self.reward_models.pairs_per_domain,
                "reward_models.pairs_per_domain",
            ),
            (
                self.reward_models.eval_pairs_per_domain,
                "reward_models.eval_pairs_per_domain",
            ),
            (
                self.offline.prompts_per_domain,
                "offline.prompts_per_domain",
            ),
            (self.online.iterations, "online.iterations"),
            (self.online.prompts_per_batch, "online.prompts_per_batch"),
            (self.online.prompts_per_domain, "online.prompts_per_domain"),
            (self.eval.prompts_per_domain, "eval.prompts_per_domain"),
            (self.panel.prompts_per_domain, "panel.prompts_per_domain"),
            (self.panel.samples_per_prompt, "panel.samples_per_prompt"),
            (self.panel.pairs_per_prompt, "panel.pairs_per_prompt"),
            (self.panel.quarters, "panel.quarters"),
        ];
        if let Some((_, name)) = positive.iter().find(|(v, _)| *v == 0) {
            return Err(format!("`{name}` must be at least 1"));
        }
        if let Some(premise_seeds) = self.premise_seeds
            && premise_seeds < self.seeds
        {
            return Err(format!(
                "`premise_seeds` {premise_seeds} is below `seeds` {}: the premise checks' lines \
                 run at least as many seeds as every strategy",
                self.seeds
            ));
        }
        if !self
            .policy
            .hidden_size
            .is_multiple_of(self.policy.num_attention_heads.max(1))
        {
            return Err(format!(
                "`policy.hidden_size` {} is not a multiple of `policy.num_attention_heads` {}",
                self.policy.hidden_size, self.policy.num_attention_heads
            ));
        }
        if rms.len() < 2 {
            return Err(format!(
                "`[[reward_models.rm]]`: a routed pool needs at least 2 RMs, found {}",
                rms.len()
            ));
        }
        for (i, rm) in rms.iter().enumerate() {
            if rm.domains.is_empty() {
                return Err(format!(
                    "reward_models.rm[{i}] `{}` has no domains",
                    rm.name
                ));
            }
            if rms[..i].iter().any(|other| other.name == rm.name) {
                return Err(format!("reward_models.rm: `{}` appears twice", rm.name));
            }
        }
        if self.online.samples_per_prompt < 2 || self.offline.samples_per_prompt < 2 {
            return Err(
                "`samples_per_prompt` must be at least 2 (pairs need two responses)".into(),
            );
        }
        for (value, name) in [
            (self.offline.test_fraction, "offline.test_fraction"),
            (
                self.offline.validation_fraction,
                "offline.validation_fraction",
            ),
        ] {
            if !(value > 0.0 && value < 1.0) {
                return Err(format!("`{name}` must be in (0, 1), got {value}"));
            }
        }
        if !self.suite.domains.contains(&self.offline.shifted_without) {
            return Err(format!(
                "`offline.shifted_without` {} is not one of the suite's domains",
                self.offline.shifted_without
            ));
        }
        self.expanded_strategies().map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// `names` as trainer strategies, in order, `single:*` expanded to one per RM of `rms`;
/// a `single:` naming no RM of `rms` is an error.
pub fn expand_strategies(names: &[String], rms: &[String]) -> Result<Vec<StrategyConfig>> {
    let mut out = Vec::new();
    for name in names {
        if name == "single:*" {
            out.extend(
                rms.iter()
                    .map(|rm| StrategyConfig::Single { rm: rm.clone() }),
            );
            continue;
        }
        let strategy: StrategyConfig = name.parse().map_err(|reason| Error::Config {
            path: "strategies".into(),
            reason,
        })?;
        if let StrategyConfig::Single { rm } = &strategy
            && !rms.contains(rm)
        {
            return Err(Error::Config {
                path: "strategies".into(),
                reason: format!("single:{rm} names no RM of the pool ({})", rms.join(", ")),
            });
        }
        out.push(strategy);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config of configs/experiment/ by its file stem.
    fn preset(name: &str) -> ExperimentConfig {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../../configs/experiment/{name}.toml"));
        match Experiment::read(&path).unwrap() {
            Experiment::Suite(config) => *config,
            _ => panic!("{name}.toml is an embedded-kind world"),
        }
    }

    #[test]
    fn the_embedded_default_is_valid_and_its_smoke_run_has_one_seed() {
        let config = ExperimentConfig::embedded();
        let names: Vec<String> = config
            .expanded_strategies()
            .unwrap()
            .iter()
            .map(StrategyConfig::name)
            .collect();
        assert!(names.contains(&"bayesian-v5".to_string()), "{names:?}");
        // The premise checks' lines run at full power beside fewer seeds of the rest.
        for line in [crate::premise::UNBIASED_ROUTING, crate::premise::ORACLE] {
            assert!(names.iter().any(|n| n == line), "{line}");
        }
        let seeds = config.seed_counts();
        assert!(seeds.premise_lines >= 10 && seeds.premise_lines > seeds.every);
        let smoke = config.smoke();
        assert_eq!(smoke.seed_counts(), SeedCounts::uniform(1));
        assert!(smoke.check().is_ok());
    }

    /// `--seeds` sets every strategy's seeds, the premise lines' included.
    #[test]
    fn the_seeds_override_applies_to_the_premise_lines_too() {
        let overrides = ExperimentOverrides {
            seeds: Some(2),
            ..ExperimentOverrides::default()
        };
        let Experiment::Suite(config) = Experiment::Suite(Box::new(ExperimentConfig::embedded()))
            .with_overrides(&overrides)
            .unwrap()
        else {
            unreachable!()
        };
        assert_eq!(config.seed_counts(), SeedCounts::uniform(2));
    }

    /// `preset` is the default's world with other runs: `expected` is the default with the
    /// preset's name, seeds, strategies and ablations, and nothing else may differ.
    fn runs_the_default_world(preset: &ExperimentConfig) {
        let mut expected = ExperimentConfig::embedded();
        expected.name = preset.name.clone();
        expected.seeds = preset.seeds;
        expected.premise_seeds = preset.premise_seeds;
        expected.strategies = preset.strategies.clone();
        expected.ablations = preset.ablations.clone();
        assert_eq!(*preset, expected);
    }

    /// The full-power preset is the default's world: only the name, the seeds, the
    /// strategies and the ablations differ.
    #[test]
    fn full_preset_is_the_default_world() {
        let full = preset("full");
        let default = ExperimentConfig::embedded();
        assert!(full.seeds >= 10 && full.strategies.len() > default.strategies.len());
        assert_eq!(full.seed_counts(), SeedCounts::uniform(full.seeds));
        runs_the_default_world(&full);
    }

    /// The verifier-reward preset is the default's world with the ablation on: only the name,
    /// the seeds, the strategies and the ablations differ.
    #[test]
    fn verifier_reward_preset_is_the_default_world() {
        let verifier = preset("verifier-reward");
        assert!(verifier.ablations.verifier_reward && verifier.seeds >= 10);
        runs_the_default_world(&verifier);
    }

    /// The many-answers world is the first world's plus `shuffle`: only the name, the
    /// suite's domains and the specialists' pairing differ.
    #[test]
    fn with_shuffle_is_the_first_world_plus_one_domain() {
        let shuffled = preset("with-shuffle");
        assert_eq!(shuffled.suite.domains.last(), Some(&Domain::Shuffle));
        assert!(
            shuffled
                .reward_models
                .rm
                .iter()
                .filter(|rm| rm.domains.contains(&Domain::Shuffle))
                .count()
                >= 2
        );
        let mut first = preset("add-count");
        first.name = shuffled.name.clone();
        first.suite.domains = shuffled.suite.domains.clone();
        first.reward_models.rm = shuffled.reward_models.rm.clone();
        assert_eq!(shuffled, first);
    }

    /// The semi-online world is the first world's with its candidates sampled from a
    /// reference synced every 24 iterations: only the name and those two keys differ.
    #[test]
    fn semi_online_is_the_first_world_sampled_from_the_reference() {
        let semi = preset("semi-online");
        assert_eq!(semi.online.generator, Generator::Reference);
        assert_eq!(semi.online.reference_sync_every, 24);
        let mut first = preset("add-count");
        first.name = semi.name.clone();
        first.online.generator = Generator::Reference;
        first.online.reference_sync_every = 24;
        assert_eq!(semi, first);
    }

    /// The default world is the first one (add-count.toml) with `rotate` and `next` in place
    /// of `add` and `count`, the specialists paired around them and trained on twice the
    /// pairs and steps, the shifted condition leaving out `next`, semi-online sampling and
    /// the paper's β = 1, with its own seeds and strategies; nothing else differs.
    #[test]
    fn the_default_is_the_first_world_with_checkable_domains() {
        let default = ExperimentConfig::embedded();
        let domains = [Domain::Reverse, Domain::Sort, Domain::Rotate, Domain::Next];
        assert_eq!(default.suite.domains, domains);
        for domain in domains {
            let specialists = default
                .reward_models
                .rm
                .iter()
                .filter(|rm| rm.bias == RmBias::None && rm.domains.contains(&domain))
                .count();
            assert_eq!(specialists, 2, "{domain}");
        }
        let mut first = preset("add-count");
        // The biased RM is the first world's, over every domain of its world.
        let length = |config: &ExperimentConfig| {
            let rm = config
                .reward_models
                .rm
                .iter()
                .find(|rm| rm.bias == RmBias::Length);
            rm.map(|rm| (rm.name.clone(), rm.domains == config.suite.domains))
        };
        assert_eq!(length(&default), length(&first));
        assert_eq!(
            default.reward_models.pairs_per_domain,
            2 * first.reward_models.pairs_per_domain
        );
        assert_eq!(default.reward_models.steps, 2 * first.reward_models.steps);
        first.name = default.name.clone();
        first.seeds = default.seeds;
        first.premise_seeds = default.premise_seeds;
        first.strategies = default.strategies.clone();
        first.suite.domains = domains.to_vec();
        first.reward_models.rm = default.reward_models.rm.clone();
        first.reward_models.pairs_per_domain = default.reward_models.pairs_per_domain;
        first.reward_models.steps = default.reward_models.steps;
        first.offline.shifted_without = Domain::Next;
        first.online.generator = Generator::Reference;
        first.online.reference_sync_every = 24;
        assert_eq!(default.online.beta, 1.0);
        first.online.beta = default.online.beta;
        assert_eq!(default, first);
    }

    /// The specialists world is the default one with one specialist per domain, named
    /// `rm-<domain>` and trained on that domain alone, beside the same rm-length, with its
    /// own seeds and strategies; nothing else differs.
    #[test]
    fn specialists_is_the_default_world_with_one_domain_specialists() {
        let (default, specialists) = (ExperimentConfig::embedded(), preset("specialists"));
        let unbiased = |config: &ExperimentConfig| -> Vec<(String, Vec<Domain>)> {
            config
                .reward_models
                .rm
                .iter()
                .filter(|rm| rm.bias == RmBias::None)
                .map(|rm| (rm.name.clone(), rm.domains.clone()))
                .collect()
        };
        let want: Vec<(String, Vec<Domain>)> = specialists
            .suite
            .domains
            .iter()
            .map(|&domain| (format!("rm-{domain}"), vec![domain]))
            .collect();
        assert_eq!(unbiased(&specialists), want);
        let length = |config: &ExperimentConfig| {
            config
                .reward_models
                .rm
                .iter()
                .find(|rm| rm.bias == RmBias::Length)
                .cloned()
        };
        assert_eq!(length(&specialists), length(&default));
        for strategy in ["random", "oracle", "oracle-coin", "single:*"] {
            assert!(
                specialists.strategies.iter().any(|s| s == strategy),
                "{strategy}"
            );
        }
        let mut expected = default.clone();
        expected.name = specialists.name.clone();
        expected.seeds = specialists.seeds;
        expected.premise_seeds = specialists.premise_seeds;
        expected.strategies = specialists.strategies.clone();
        expected.reward_models.rm = specialists.reward_models.rm.clone();
        assert_eq!(specialists, expected);
    }

    #[test]
    fn bad_values_are_named() {
        let text = DEFAULT_CONFIG.replace("seeds = 3", "seeds = 0");
        let err = ExperimentConfig::from_toml(&text, Path::new("x.toml")).unwrap_err();
        assert!(err.to_string().contains("`seeds`"), "{err}");
        let text = DEFAULT_CONFIG.replace("\"laser-code\",", "\"single:nobody\",");
        let err = ExperimentConfig::from_toml(&text, Path::new("x.toml")).unwrap_err();
        assert!(err.to_string().contains("nobody"), "{err}");
        let text = DEFAULT_CONFIG.replace("premise_seeds = 10", "premise_seeds = 2");
        let err = ExperimentConfig::from_toml(&text, Path::new("x.toml")).unwrap_err();
        assert!(err.to_string().contains("`premise_seeds` 2"), "{err}");
    }
}
