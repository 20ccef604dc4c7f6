//! The routed pool: reward models learned here. Each is the SFT policy's decoder with a
//! fresh scalar head (`SequenceClassifier::from_causal_lm`), trained with a Bradley–Terry
//! loss, −log σ(r(chosen) − r(rejected)), on pairs from its own subset of domains, and
//! saved as a Hugging Face `LlamaForSequenceClassification` folder that rm-pool's
//! `classifier` backend loads. What an RM is good at comes from what it was trained on; its
//! per-domain accuracy is measured on held-out pairs, never assumed.
//!
//! A pair is (the gold answer, a wrong answer): the policy's own wrong sample when it made
//! one, else one of the suite's near misses. A `length`-biased RM is trained on the same
//! pairs labelled by length instead (longer preferred; equal lengths dropped): a learned
//! generic bias, as real RMs have.

use std::collections::BTreeMap;
use std::path::Path;

use answer_check::synthetic::{self, Domain};
use burn::prelude::*;
use burn::tensor::activation::softplus;
use lm::{
    CausalLm, ChatMessage, DecoderConfig, PaddingSide, SequenceClassifier, TokenBatch, Tokenizer,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rm_pool::{RmPool, ScoreItem};
use serde::{Deserialize, Serialize};
use synthetic_tasks::{Task, near_miss};

use crate::config::{RewardModelsConfig, RmBias, RmConfig};
use crate::error::{Error, Result};
use crate::policy::{Epochs, first_and_last_tenth};
use crate::results::RmAccuracy;

/// The pool file written beside the RM folders.
pub const POOL_FILE: &str = "pool.toml";

/// A (right, wrong) pair of one task.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskPair {
    /// The task.
    pub task: Task,
    /// A correct response.
    pub right: String,
    /// A wrong response.
    pub wrong: String,
}

/// One (right, wrong) pair per task: `samples[i]` are the policy's responses to task i.
pub fn task_pairs(tasks: &[Task], samples: &[Vec<String>], seed: u64) -> Vec<TaskPair> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    tasks
        .iter()
        .zip(samples)
        .map(|(task, responses)| {
            let wrong = responses
                .iter()
                .find(|r| !r.is_empty() && !synthetic::is_correct(task.domain, r, &task.answer))
                .cloned()
                .unwrap_or_else(|| near_miss(task, &mut rng));
            TaskPair {
                task: task.clone(),
                right: task.answer.clone(),
                wrong,
            }
        })
        .collect()
}

/// An RM's training pairs as (chosen, rejected) texts with their prompts.
fn labelled(rm: &RmConfig, pairs: &[TaskPair]) -> Vec<(String, String, String)> {
    pairs
        .iter()
        .filter(|p| rm.domains.contains(&p.task.domain))
        .filter_map(|p| match rm.bias {
            RmBias::None => Some((p.task.prompt.clone(), p.right.clone(), p.wrong.clone())),
            RmBias::Length => {
                let (a, b) = (p.right.chars().count(), p.wrong.chars().count());
                match a.cmp(&b) {
                    std::cmp::Ordering::Greater => {
                        Some((p.task.prompt.clone(), p.right.clone(), p.wrong.clone()))
                    }
                    std::cmp::Ordering::Less => {
                        Some((p.task.prompt.clone(), p.wrong.clone(), p.right.clone()))
                    }
                    std::cmp::Ordering::Equal => None,
                }
            }
        })
        .collect()
}

/// The tokens an RM scores: the conversation with `response` as the assistant turn, as
/// rm-pool's classifier backend renders it.
fn rm_tokens(tokenizer: &Tokenizer, prompt: &str, response: &str) -> Result<Vec<u32>> {
    let text = tokenizer.apply_chat_template(
        &[ChatMessage::user(prompt), ChatMessage::assistant(response)],
        false,
    )?;
    Ok(tokenizer.encode(&text, false)?)
}

/// What training one RM reports.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RmTraining {
    /// The RM.
    pub name: String,
    /// Its training pairs.
    pub pairs: usize,
    /// Mean BT loss over the first and last 10% of updates, nats.
    pub loss_first: f64,
    /// See `loss_first`.
    pub loss_last: f64,
}

/// Trains RM `rm` from `policy` on its share of `pairs` and saves it in `dir`.
#[allow(clippy::too_many_arguments)]
pub fn train_reward_model(
    rm: &RmConfig,
    policy: &CausalLm,
    decoder: &DecoderConfig,
    tokenizer: &Tokenizer,
    pairs: &[TaskPair],
    config: &RewardModelsConfig,
    seed: u64,
    dir: &Path,
    device: &Device,
    progress: &mut dyn FnMut(usize),
) -> Result<RmTraining> {
    let data = labelled(rm, pairs)
        .into_iter()
        .map(|(prompt, chosen, rejected)| {
            Ok((
                rm_tokens(tokenizer, &prompt, &chosen)?,
                rm_tokens(tokenizer, &prompt, &rejected)?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    if data.is_empty() {
        return Err(Error::Stage {
            stage: "reward-models",
            reason: format!("RM `{}` has no training pair in its domains", rm.name),
        });
    }
    let pad = tokenizer.pad_id().unwrap_or(0);
    let mut model = SequenceClassifier::from_causal_lm(policy.clone(), 1, seed, device);
    let mut optimizer = lm::Optimizer::new(lm::OptimizerConfig::default())?;
    let mut epochs = Epochs::new(data.len(), seed);
    let mut losses = Vec::with_capacity(config.steps);
    for step in 0..config.steps {
        let (chosen, rejected): (Vec<Vec<u32>>, Vec<Vec<u32>>) = epochs
            .next_batch(config.batch_size)
            .into_iter()
            .map(|i| data[i].clone())
            .unzip();
        let n = chosen.len();
        let sequences: Vec<Vec<u32>> = chosen.into_iter().chain(rejected).collect();
        let batch = TokenBatch::new(&sequences, pad, PaddingSide::Right, device)?;
        // [2n, 1] → chosen rows first, then rejected.
        let scores = model.forward(&batch).reshape([2 * n]);
        let margin = scores.clone().narrow(0, 0, n) - scores.narrow(0, n, n);
        let loss = softplus(-margin, 1.0).mean();
        losses.push(loss.clone().into_scalar::<f64>());
        let lr = config.lr * (1.0 - step as f64 / config.steps as f64);
        model = optimizer.backward_step(model, loss, lr).0;
        progress(step + 1);
    }
    let mut config_out = decoder.clone();
    config_out.num_labels = 1;
    lm::save_classifier_pretrained(dir, &model, &config_out, Some(tokenizer))?;
    let (loss_first, loss_last) = first_and_last_tenth(&losses);
    Ok(RmTraining {
        name: rm.name.clone(),
        pairs: data.len(),
        loss_first,
        loss_last,
    })
}

/// The pool file over the RM folders beside it (arm order = `rms`).
pub fn pool_toml(rms: &[RmConfig], max_tokens: usize) -> String {
    let mut text =
        String::from("# The experiment's routed pool: RMs trained by `cargo xtask experiment`.\n");
    for rm in rms {
        text.push_str(&format!(
            "\n[[rm]]\nname = \"{name}\"\nkind = \"classifier\"\npath = \"{name}\"\nmax_tokens = {max_tokens}\nbatch_size = 64\n",
            name = rm.name
        ));
    }
    text
}

/// Pairwise accuracy of the pool's RM `k` on `pairs` (truth: the verifier), per domain and
/// overall (mean over domains); a tie counts as wrong.
pub fn rm_accuracy(
    pool: &mut RmPool,
    k: usize,
    pairs: &[TaskPair],
    domains: &[Domain],
) -> Result<RmAccuracy> {
    let items: Vec<ScoreItem> = pairs
        .iter()
        .flat_map(|p| {
            [&p.right, &p.wrong].map(|response| {
                ScoreItem::single_turn(p.task.prompt.clone(), response.clone())
                    .with_category(p.task.domain.name())
            })
        })
        .collect();
    let scores = pool.score(k, &items)?;
    let mut per: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (pair, s) in pairs.iter().zip(scores.chunks(2)) {
        let entry = per.entry(pair.task.domain.name().to_string()).or_default();
        entry.0 += 1;
        entry.1 += usize::from(s[0] > s[1]);
    }
    let per_domain: BTreeMap<String, f64> = domains
        .iter()
        .filter_map(|d| {
            per.get(d.name())
                .map(|(n, right)| (d.name().to_string(), *right as f64 / *n as f64))
        })
        .collect();
    let overall = per_domain.values().sum::<f64>() / per_domain.len().max(1) as f64;
    Ok(RmAccuracy {
        rm: pool.names()[k].clone(),
        per_domain,
        overall,
        pairs: pairs.len(),
    })
}
