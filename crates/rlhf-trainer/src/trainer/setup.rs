//! Building a run: the run folder checked and its config saved, the policy, reference and
//! tokenizer loaded, the prompts tokenised, the oracle and the offline router's export
//! (prior and context function) loaded, the strategy, normaliser and optimiser made, and a
//! checkpoint restored when resuming.

use std::path::Path;

use bandit::Prior;
use burn::prelude::*;
use lm::{
    CausalLm, DecoderConfig, Optimizer, OptimizerConfig, Tokenizer, WeightDType, load_causal_lm,
    load_tokenizer,
};
use rm_pool::RmPool;
use router_export::{ContextFunction, RouterExport};

use crate::checkpoint;
use crate::config::{TrainerConfig, first_difference};
use crate::error::{Error, Result};
use crate::logs::{LogLengths, RunLogs};
use crate::normalizer::Normalizer;
use crate::prompts::{PromptSchedule, read_prompts};
use crate::strategy::Strategy;

use super::state::Trainer;

/// File (in the run folder) holding the effective config a resumption is checked against.
pub const RUN_CONFIG_FILE: &str = "config.toml";

/// The models a run starts from.
struct Models {
    decoder: DecoderConfig,
    /// The trained policy, LoRA adapters attached when configured (training device).
    policy: CausalLm,
    /// The frozen reference (inference device).
    reference: CausalLm,
    tokenizer: Tokenizer,
}

impl Trainer {
    /// Builds a run from `config` (checked first, and saved in the run folder): loads the
    /// policy, the pool from `data.pool`, the oracle and the offline router. `resume`
    /// continues from the run folder's latest checkpoint.
    pub fn from_config(config: TrainerConfig, resume: bool) -> Result<Self> {
        config.validate()?;
        let pool = RmPool::from_config_file(&config.data.pool)?;
        Self::with_pool(config, pool, resume)
    }

    /// [`Trainer::from_config`] with the routed pool given (e.g. RMs built in code).
    pub fn with_pool(config: TrainerConfig, pool: RmPool, resume: bool) -> Result<Self> {
        config.validate()?;
        let dir = config.output.clone();
        prepare_run_folder(&dir, &config.to_table()?, resume)?;
        let device = config.device.device()?;
        let train_device = device.clone().autodiff();
        let models = load_models(&config, &device, &train_device)?;
        let prompts = read_prompts(&config.data.prompts)?;
        let prompt_tokens = prompts
            .iter()
            .map(|p| p.tokens(&models.tokenizer))
            .collect::<Result<Vec<_>>>()?;
        let oracle = match &config.oracle {
            // Its paths are absolute: the base folder is never joined.
            Some(spec) => Some(RmPool::new(vec![spec.build(Path::new(""))?])?),
            None => None,
        };
        if pool.is_empty() {
            return Err(Error::Mismatch("the routed pool has no RM".into()));
        }
        let names = pool.names();
        let (prior, context_fn) = load_export(&config, &names, &device)?;
        let strategy = Strategy::new(&config, &names, prior.as_ref(), models.decoder.d_model)?;
        let normalizer = Normalizer::new(config.normalizer_kind(), names.len())?;
        let optimizer = Optimizer::new(OptimizerConfig {
            weight_decay: config.dpo.weight_decay,
            max_grad_norm: config.dpo.max_grad_norm,
            ..OptimizerConfig::default()
        })?;
        let restored = if resume {
            Some(checkpoint::latest(&dir)?.ok_or_else(|| Error::Resume {
                dir: dir.clone(),
                reason: "it has no checkpoint yet".into(),
            })?)
        } else {
            None
        };
        let lengths = restored
            .as_ref()
            .map_or(LogLengths::default(), |(_, s)| s.logs);
        let tokenizer = &models.tokenizer;
        let pad_id = tokenizer.pad_id().or(tokenizer.eos_id()).unwrap_or(0);
        let stop_ids: Vec<u32> = tokenizer.eos_id().into_iter().collect();
        let schedule = PromptSchedule::new(prompts.len(), config.seed);
        let mut trainer = Self {
            logs: RunLogs::open(&dir, lengths)?,
            config,
            dir,
            device,
            train_device,
            decoder: models.decoder,
            policy: models.policy,
            reference: models.reference,
            tokenizer: models.tokenizer,
            pad_id,
            stop_ids,
            prompts,
            prompt_tokens,
            pool,
            oracle,
            context_fn,
            strategy,
            normalizer,
            optimizer,
            schedule,
            iteration: 0,
            skipped: 0,
        };
        if let Some((checkpoint_dir, state)) = restored {
            trainer.restore(&checkpoint_dir, state)?;
        }
        Ok(trainer)
    }
}

/// The policy (with its LoRA adapters) on the training device, the frozen reference on
/// `device`, and the tokenizer.
fn load_models(config: &TrainerConfig, device: &Device, train_device: &Device) -> Result<Models> {
    let policy_path = &config.policy.path;
    let (decoder, reference) = load_causal_lm(policy_path, device, WeightDType::F32)?;
    let tokenizer = load_tokenizer(policy_path)?;
    let policy_base = load_causal_lm(policy_path, train_device, WeightDType::F32)?.1;
    let policy = match &config.policy.lora {
        Some(lora) => policy_base.with_lora(lora)?,
        None => policy_base,
    };
    Ok(Models {
        decoder,
        policy,
        reference,
        tokenizer,
    })
}

/// The offline router's prior and context function, for strategies that route on pair
/// contexts and a config that names an export; checked against the pool's RM `names`.
fn load_export(
    config: &TrainerConfig,
    names: &[String],
    device: &Device,
) -> Result<(Option<Prior>, Option<ContextFunction>)> {
    let Some(path) = config.data.router.as_ref() else {
        return Ok((None, None));
    };
    if !config.strategy.needs_pair_contexts() {
        return Ok((None, None));
    }
    let export = RouterExport::load(path, device)?;
    export.check_pool(names, export.meta.dim)?;
    let prior = export.prior()?;
    let context = export.into_context_function(device, config.data.context_batch_size)?;
    Ok((Some(prior), Some(context)))
}

/// Checks the run folder before a run: a new run needs a folder without checkpoints, a
/// resumed one the same effective config (bar `iterations`). Saves the config.
fn prepare_run_folder(dir: &Path, table: &toml::Table, resume: bool) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(atomic_write::io_error(dir))?;
    let saved_path = dir.join(RUN_CONFIG_FILE);
    if resume {
        check_resumable(dir, &saved_path, table)?;
    } else if checkpoint::latest(dir)?.is_some() {
        return Err(Error::Resume {
            dir: dir.to_path_buf(),
            reason:
                "it already holds a run: pass --resume to continue it, or choose another output"
                    .into(),
        });
    }
    let text = toml::to_string(table).map_err(|e| Error::Config {
        path: saved_path.clone(),
        reason: e.to_string(),
    })?;
    Ok(atomic_write::replace_file(&saved_path, text.as_bytes())?)
}

/// A resumed run's config must equal the one saved in its folder (bar `iterations`).
fn check_resumable(dir: &Path, saved_path: &Path, table: &toml::Table) -> Result<()> {
    let text = std::fs::read_to_string(saved_path).map_err(|_| Error::Resume {
        dir: dir.to_path_buf(),
        reason: format!("no {RUN_CONFIG_FILE}: it is not a run folder"),
    })?;
    let saved: toml::Table = toml::from_str(&text).map_err(|e| Error::Config {
        path: saved_path.to_path_buf(),
        reason: e.to_string(),
    })?;
    match first_difference(&saved, table) {
        Some(key) => Err(Error::Resume {
            dir: dir.to_path_buf(),
            reason: format!(
                "the config differs from the run's at `{key}` (saved in {})",
                saved_path.display()
            ),
        }),
        None => Ok(()),
    }
}
