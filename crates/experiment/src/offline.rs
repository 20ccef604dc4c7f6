//! The offline stage in miniature (METHOD.md §2): verifier-labelled pairs from the SFT
//! policy's own samples on the offline prompts, judged by every RM of the pool, split three
//! ways by prompt — test (touched once, for the report's table), and train / validation
//! (keep-best) inside offline-router's training — and one offline router per condition:
//! in-distribution (every domain) and shifted (`offline.shifted_without` absent from its
//! training data, so the online posterior has something to learn).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use answer_check::synthetic;
use burn::prelude::*;
use offline_router::encoder::{EncoderConfig, Training};
use offline_router::{
    CheckpointConfig, DataConfig, EvalSplit, JudgedPair, LossWeights, OptimConfig, RunLayout,
    Schedule, TrainConfig, evaluate_exports, score_missing, write_records,
};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rm_pool::{PreferencePair, RmPool};
use serde::{Deserialize, Serialize};
use synthetic_tasks::Task;

use crate::config::OfflineConfig;
use crate::error::Result;
use crate::results::{OfflineRouterTable, RoutingRow};

/// The two conditions, in report order.
pub const CONDITIONS: [Condition; 2] = [Condition::InDistribution, Condition::Shifted];

/// Which offline data the router saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Condition {
    /// Offline data from every online domain.
    InDistribution,
    /// One domain absent from the offline data.
    Shifted,
}

impl Condition {
    /// Its name in reports and folder names.
    pub fn name(self) -> &'static str {
        match self {
            Self::InDistribution => "in-distribution",
            Self::Shifted => "shifted",
        }
    }
}

/// Verifier-decided pairs from `samples[i]` (the policy's responses to `tasks[i]`): up to
/// `per_prompt` (right, wrong) pairs of distinct texts per prompt, as routing records with
/// the domain as category and the answer as reference. Where the policy was never right,
/// the gold answer is the right response (as preference data sets pair a reference answer
/// with a model's); prompts without a wrong sample give no pair.
pub fn verifier_pairs(
    tasks: &[Task],
    samples: &[Vec<String>],
    per_prompt: usize,
) -> Vec<JudgedPair> {
    let mut records = Vec::new();
    for (task, responses) in tasks.iter().zip(samples) {
        let distinct: BTreeSet<&String> = responses.iter().filter(|r| !r.is_empty()).collect();
        let (mut right, wrong): (Vec<&String>, Vec<&String>) = distinct
            .into_iter()
            .partition(|r| synthetic::is_correct(task.domain, r, &task.answer));
        if right.is_empty() {
            right.push(&task.answer);
        }
        let pairs = right
            .iter()
            .flat_map(|r| wrong.iter().map(move |w| (*r, *w)))
            .take(per_prompt);
        for (r, w) in pairs {
            records.push(JudgedPair::new(PreferencePair {
                prompt: vec![lm::ChatMessage::user(task.prompt.clone())],
                chosen: r.clone(),
                rejected: w.clone(),
                reference: Some(task.answer.clone()),
                category: Some(task.domain.name().to_string()),
            }));
        }
    }
    records
}

/// Judges every record with every RM of the pool file.
pub fn judge(
    pool_file: &Path,
    records: &mut [JudgedPair],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<()> {
    let mut pool = RmPool::from_config_file(pool_file)?;
    score_missing(&mut pool, records, 64, progress)?;
    Ok(())
}

/// Splits records by prompt: a seeded `test_fraction` of the prompts is the test split.
/// Returns (train + validation, test).
pub fn split_test(
    records: Vec<JudgedPair>,
    test_fraction: f64,
    seed: u64,
) -> (Vec<JudgedPair>, Vec<JudgedPair>) {
    let prompt = |r: &JudgedPair| r.pair.prompt[0].content.clone();
    let mut prompts: Vec<String> = records
        .iter()
        .map(prompt)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    prompts.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x7e57));
    let n_test = ((prompts.len() as f64 * test_fraction).round() as usize)
        .clamp(1, prompts.len().saturating_sub(1).max(1));
    let test: BTreeSet<String> = prompts.into_iter().take(n_test).collect();
    records
        .into_iter()
        .partition(|r| !test.contains(&prompt(r)))
}

/// One condition's offline router: trained in `dir` on `records` (train + validation),
/// evaluated once on the test records.
#[allow(clippy::too_many_arguments)]
pub fn train_router(
    condition: Condition,
    records: &[JudgedPair],
    test_file: &Path,
    test_records: usize,
    rm_names: &[String],
    encoder: &Path,
    config: &OfflineConfig,
    seed: u64,
    dir: &Path,
    device: &Device,
) -> Result<OfflineRouterTable> {
    let kept: Vec<JudgedPair> = records
        .iter()
        .filter(|r| {
            condition == Condition::InDistribution
                || r.pair.category.as_deref() != Some(config.shifted_without.name())
        })
        .cloned()
        .collect();
    std::fs::create_dir_all(dir).map_err(atomic_write::io_error(dir))?;
    let records_file = dir.join("records.jsonl");
    write_records(&records_file, &kept)?;
    let train_config = TrainConfig {
        seed,
        output: dir.join("run"),
        device: "cpu".into(),
        data: DataConfig {
            records: records_file,
            pool: None,
            scores: None,
            rms: Some(rm_names.to_vec()),
            validation_fraction: config.validation_fraction,
            // The test records are their own file (`test_file`).
            test_fraction: 0.0,
            balance: false,
            judge_batch_size: 64,
        },
        encoder: EncoderConfig {
            path: encoder.to_path_buf(),
            training: Training::Frozen,
            lora: None,
            max_tokens: 64,
            batch_size: 64,
        },
        loss: LossWeights::default(),
        optim: OptimConfig {
            lr: config.lr,
            epochs: config.epochs,
            batch_size: config.batch_size,
            warmup_fraction: 0.05,
            schedule: Schedule::Linear,
            weight_decay: 0.0,
            max_grad_norm: 1.0,
        },
        checkpoint: CheckpointConfig {
            every: 25,
            keep: 1,
            patience: 0,
        },
    };
    let summary = offline_router::train(&train_config, false, &mut |_| {})?;
    let export = RunLayout::new(&summary.output).best();
    let evaluation = evaluate_exports(
        &[export],
        test_file,
        None,
        EvalSplit::Test,
        false,
        device,
        64,
        &mut |_, _| {},
    )?;
    let table = &evaluation.exports[0].routing_accuracy;
    let row = |name: &str, pick: &dyn Fn(&eval_harness::routing::RoutingRow) -> f64| RoutingRow {
        name: name.to_string(),
        overall: pick(&table.overall),
        per_domain: table
            .categories
            .iter()
            .map(|(domain, r)| (domain.clone(), pick(r)))
            .collect(),
    };
    let mut rows = vec![row("router", &|r| r.router)];
    for (i, name) in rm_names.iter().enumerate() {
        rows.push(row(name, &|r| r.single[i]));
    }
    rows.push(row("random", &|r| r.random));
    rows.push(row("majority", &|r| r.majority_vote));
    rows.push(row("oracle", &|r| r.oracle));
    Ok(OfflineRouterTable {
        condition: condition.name().to_string(),
        seed: 0,
        train_records: summary.train_records,
        validation_records: summary.validation_records,
        test_records,
        rows,
    })
}

/// The folder of the offline stage (`stage`) where the router of `condition` for online
/// seed `router_seed` is trained.
pub fn router_dir(stage: &Path, condition: Condition, router_seed: u64) -> PathBuf {
    stage.join(condition.name()).join(format!("s{router_seed}"))
}

/// The export folder of a router trained by [`train_router`] in `dir`.
pub fn export_dir(dir: &Path) -> PathBuf {
    RunLayout::new(dir.join("run")).best()
}
