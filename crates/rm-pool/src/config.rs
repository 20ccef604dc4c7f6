//! Pool configuration files (TOML): one `[[rm]]` table per reward model, its backend named by
//! `kind`. Relative paths are relative to the configuration file. Example: configs/rm-pool.toml.
//!
//! ```toml
//! [[rm]]
//! name = "smollm2-judge"
//! kind = "llm-judge"
//! model = "../assets/models/SmolLM2-135M-Instruct.Q4_1.gguf"
//! template = "Question: {{ prompt }}\nAnswer: {{ response }}\nIs the answer correct? Reply Yes or No."
//! scoring = { verdict = { positive = "Yes", negative = "No" } }
//! ```

use std::path::{Path, PathBuf};

use lm::DeviceSpec;
use serde::{Deserialize, Serialize};

use crate::backends::classifier::ClassifierRm;
use crate::backends::embedding::{EmbeddingRm, EmbeddingTarget};
use crate::backends::http::{HttpRm, HttpRmConfig};
use crate::backends::llm_judge::{JudgeScoring, LlmJudgeRm};
use crate::backends::programmatic::{NoisyVerifierConfig, NoisyVerifierRm};
use crate::backends::verifier::{VerifierRm, VerifierTask};
use crate::error::{Error, Result};
use crate::pool::RmPool;
use crate::reward_model::RewardModel;

/// A pool file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// The RMs, in arm order.
    #[serde(rename = "rm")]
    pub rms: Vec<RmSpec>,
}

/// One RM of a pool file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum RmSpec {
    /// A sequence-classification RM folder (see `backends/classifier.rs`).
    Classifier {
        /// Name in the pool.
        name: String,
        /// The Hugging Face folder.
        path: PathBuf,
        /// `cpu`, `libtorch`, `cuda[:N]`.
        #[serde(default = "cpu")]
        device: String,
        /// Context cap in tokens (items are truncated to it; `truncate.rs`).
        #[serde(default = "default_max_tokens")]
        max_tokens: usize,
        /// Items per forward pass.
        #[serde(default = "default_batch")]
        batch_size: usize,
    },
    /// An instruct LM as a judge (see `backends/llm_judge.rs`).
    LlmJudge {
        /// Name in the pool.
        name: String,
        /// A Hugging Face folder or a .gguf file.
        model: PathBuf,
        /// The judging prompt (Jinja over `prompt`, `response`, `reference`, `messages`).
        template: String,
        /// Verdict-token margin or expected rating.
        scoring: JudgeScoring,
        /// `cpu`, `libtorch`, `cuda[:N]`.
        #[serde(default = "cpu")]
        device: String,
        /// Context cap in tokens.
        #[serde(default = "default_max_tokens")]
        max_tokens: usize,
        /// Items per forward pass.
        #[serde(default = "default_batch")]
        batch_size: usize,
    },
    /// Cosine similarity to the reference answer or to the question (see
    /// `backends/embedding.rs`).
    Embedding {
        /// Name in the pool.
        name: String,
        /// The sentence-encoder folder (all-MiniLM-L6-v2).
        path: PathBuf,
        /// What the response is compared with: `reference` (default) or `question`.
        #[serde(default)]
        compare_with: EmbeddingTarget,
        /// `cpu`, `libtorch`, `cuda[:N]`.
        #[serde(default = "cpu")]
        device: String,
        /// Items per forward pass.
        #[serde(default = "default_batch")]
        batch_size: usize,
    },
    /// An answer check against the reference (see `backends/verifier.rs`).
    Verifier {
        /// Name in the pool.
        name: String,
        /// `gsm8k`, `mmlu`, `exact` or `regex`.
        task: VerifierTask,
        /// The pattern of `regex`.
        #[serde(default)]
        pattern: Option<String>,
    },
    /// A seeded noisy verifier for synthetic benchmarks (see `backends/programmatic.rs`).
    NoisyVerifier {
        /// Name in the pool.
        name: String,
        /// Truth, per-category accuracy, seed.
        noisy: NoisyVerifierConfig,
    },
    /// A remote RM (see `backends/http.rs`).
    Http {
        /// Name in the pool.
        name: String,
        /// Endpoint, protocol, timeouts, retries, breaker.
        http: HttpRmConfig,
    },
}

fn cpu() -> String {
    "cpu".into()
}
fn default_max_tokens() -> usize {
    2048
}
fn default_batch() -> usize {
    8
}

impl RmSpec {
    /// The RM's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Classifier { name, .. }
            | Self::LlmJudge { name, .. }
            | Self::Embedding { name, .. }
            | Self::Verifier { name, .. }
            | Self::NoisyVerifier { name, .. }
            | Self::Http { name, .. } => name,
        }
    }

    /// Builds (loads) the RM; relative paths are taken from `base`.
    pub fn build(&self, base: &Path) -> Result<Box<dyn RewardModel>> {
        let device = |name: &str, spec: &str| -> Result<DeviceSpec> {
            spec.parse().map_err(|source| Error::model(name, source))
        };
        let resolve = |path: &Path| base.join(path);
        Ok(match self {
            Self::Classifier {
                name,
                path,
                device: spec,
                max_tokens,
                batch_size,
            } => Box::new(ClassifierRm::load(
                name,
                &resolve(path),
                &device(name, spec)?,
                *max_tokens,
                *batch_size,
            )?),
            Self::LlmJudge {
                name,
                model,
                template,
                scoring,
                device: spec,
                max_tokens,
                batch_size,
            } => Box::new(LlmJudgeRm::load(
                name,
                &resolve(model),
                &device(name, spec)?,
                template,
                scoring.clone(),
                *max_tokens,
                *batch_size,
            )?),
            Self::Embedding {
                name,
                path,
                compare_with,
                device: spec,
                batch_size,
            } => Box::new(
                EmbeddingRm::load(name, &resolve(path), &device(name, spec)?, *batch_size)?
                    .comparing_with(*compare_with),
            ),
            Self::Verifier {
                name,
                task,
                pattern,
            } => Box::new(VerifierRm::new(name, task.clone(), pattern.as_deref())?),
            Self::NoisyVerifier { name, noisy } => {
                Box::new(NoisyVerifierRm::new(name, noisy.clone())?)
            }
            Self::Http { name, http } => Box::new(HttpRm::new(name, http.clone())?),
        })
    }
}

impl RmSpec {
    /// This spec with its file paths (`path`, `model`) made absolute against `base` (the
    /// folder its file is in), so that it can be written into a file anywhere.
    pub fn with_absolute_paths(mut self, base: &Path) -> std::io::Result<Self> {
        let absolute = |path: &mut PathBuf| -> std::io::Result<()> {
            *path = std::path::absolute(base.join(&*path))?;
            Ok(())
        };
        match &mut self {
            Self::Classifier { path, .. } | Self::Embedding { path, .. } => absolute(path)?,
            Self::LlmJudge { model, .. } => absolute(model)?,
            Self::Verifier { .. } | Self::NoisyVerifier { .. } | Self::Http { .. } => {}
        }
        Ok(self)
    }
}

impl PoolConfig {
    /// Reads a pool file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(atomic_write::io_error(path))?;
        let config: Self = toml::from_str(&text).map_err(|err| Error::Config {
            path: path.into(),
            reason: err.to_string(),
        })?;
        if config.rms.is_empty() {
            return Err(Error::Config {
                path: path.into(),
                reason: "no [[rm]] tables".into(),
            });
        }
        Ok(config)
    }
}

impl RmPool {
    /// Reads the pool file at `path` and loads every RM in it.
    pub fn from_config_file(path: &Path) -> Result<Self> {
        let config = PoolConfig::read(path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let rms = config
            .rms
            .iter()
            .map(|spec| spec.build(base))
            .collect::<Result<Vec<_>>>()?;
        RmPool::new(rms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_paths_become_absolute_and_other_fields_stay() {
        let spec: RmSpec = toml::from_str(
            r#"
            name = "judge"
            kind = "llm-judge"
            model = "../models/judge.gguf"
            template = "{{ prompt }}"
            scoring = "likelihood"
            "#,
        )
        .unwrap();
        let absolute = spec
            .clone()
            .with_absolute_paths(Path::new("/srv/configs"))
            .unwrap();
        let RmSpec::LlmJudge {
            model, template, ..
        } = &absolute
        else {
            panic!("{absolute:?}");
        };
        assert_eq!(model, Path::new("/srv/configs/../models/judge.gguf"));
        assert_eq!(template, "{{ prompt }}");
        // An absolute path stays; a spec without files is unchanged.
        let again = absolute
            .clone()
            .with_absolute_paths(Path::new("/elsewhere"))
            .unwrap();
        assert_eq!(again, absolute);
        let verifier: RmSpec =
            toml::from_str("name = \"v\"\nkind = \"verifier\"\ntask = \"gsm8k\"").unwrap();
        assert_eq!(
            verifier
                .clone()
                .with_absolute_paths(Path::new("/x"))
                .unwrap(),
            verifier
        );
        // It serialises back to the same spec.
        let text = toml::to_string(&again).unwrap();
        assert_eq!(toml::from_str::<RmSpec>(&text).unwrap(), again);
    }
}
