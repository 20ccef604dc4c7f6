//! Training the router: data preparation (judging, split, edges, margin scales), the
//! AdamW loop with warm-up and decay, validation routing accuracy with keep-best, atomic
//! checkpoints every N updates and at the end, resume, and metrics as JSONL.
//!
//! Run folder layout (`output` of the config):
//! - `scores/<rm>.jsonl` (unless `data.scores` names another folder): every pool RM's
//!   scores, appended as they are computed (an interrupted run resumes its judging from
//!   them);
//! - `judged.jsonl`: the records with every pool RM's judgment (reused by `eval`);
//! - `metrics.jsonl`: one line per update and per validation;
//! - `checkpoints/step-NNNNNN/`: `model.bpk` (trainable weights, burnpack),
//!   `optimizer.safetensors` (AdamW moments) and `state.json`;
//! - `best/` and `final/`: exports ([`crate::write_export`]), each with the split's record
//!   (`split.json`, [`crate::split`]).

mod checkpoint;
mod data;
mod metrics;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use burn::prelude::*;
use burn::store::{BurnpackStore, ModuleSnapshot};
use eval_harness::routing::{RoutedRecord, RoutingAccuracy, routing_accuracy};
use lm::{DeviceSpec, Optimizer, OptimizerConfig, StepOutcome};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::config::TrainConfig;
use crate::dataset::{RoutingRecord, margin_scales};
use crate::edges::{Edges, balance, record_edges};
use router_export::encoder::{Backbone, TextEncoder, Training, load_backbone};
use router_export::{
    EXPORT_FORMAT, EXPORT_VERSION, EncoderSpec, ExportMeta, RouterHead, TEXT_FORMAT,
};

use crate::error::{Error, Result};
use crate::export::write_export;
use crate::layout::RunLayout;
use crate::loss::{LossTargets, losses};
use crate::model::{Embeddings, RouterModel, TextTable};
use atomic_write::read_json;

pub use checkpoint::{CHECKPOINT_FORMAT, CHECKPOINT_VERSION, latest_checkpoint};
pub use data::{PreparedData, prepare_data};
pub use metrics::{StepMetrics, ValidationMetrics};

use checkpoint::{CheckpointState, check_resumable, prune_checkpoints, write_checkpoint};
use metrics::MetricsFile;

/// What training reports as it goes.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainEvent {
    /// Pool judgments: records scored so far, of all.
    Judging {
        /// Done.
        done: usize,
        /// Total.
        total: usize,
    },
    /// Frozen-backbone embeddings: texts embedded so far, of all.
    Embedding {
        /// Done.
        done: usize,
        /// Total.
        total: usize,
    },
    /// The loop starts (at `start_step` when resuming).
    Started {
        /// Updates in the whole run.
        total_steps: usize,
        /// First update of this call.
        start_step: usize,
        /// Training records.
        train_records: usize,
        /// Training records with BT edges.
        informative: usize,
        /// Validation records.
        validation_records: usize,
        /// Test records (never read by training).
        test_records: usize,
    },
    /// An update was taken (or skipped).
    Step(StepMetrics),
    /// Validation ran.
    Validation(ValidationMetrics),
    /// A checkpoint was written.
    Checkpoint(PathBuf),
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSummary {
    /// Updates taken in all.
    pub steps: usize,
    /// The update the `best/` export holds.
    pub best_step: usize,
    /// Its validation routing accuracy (`None` without validation records).
    pub best_accuracy: Option<f64>,
    /// The run folder.
    pub output: PathBuf,
    /// Records trained on (the prompt-grouped split's training part).
    pub train_records: usize,
    /// Records held out for keep-best validation.
    pub validation_records: usize,
    /// Records held out for the test report.
    pub test_records: usize,
    /// Training stopped early (`checkpoint.patience` validations without a new best).
    pub stopped_early: bool,
}

/// Everything the loop reads.
struct Session<'a> {
    config: &'a TrainConfig,
    data: &'a PreparedData,
    text: TextEncoder,
    table: TextTable,
    /// Frozen backbone: every text's embedding, `[texts, d]`, on the training device.
    cache: Option<Tensor<2>>,
    /// Kept edges per record (balanced on the training records when asked).
    edges: Vec<Edges>,
    /// Per-RM margin scales (training records).
    scales: Vec<f64>,
    device: Device,
}

impl Session<'_> {
    fn embeddings(&self) -> Embeddings<'_> {
        match &self.cache {
            Some(cache) => Embeddings::Cached(cache),
            None => Embeddings::Live {
                text: &self.text,
                table: &self.table,
            },
        }
    }

    fn targets(&self, batch: &[usize]) -> LossTargets {
        let k = self.data.rm_names.len();
        let n = batch.len();
        let mut edges = vec![0f32; n * k * k];
        let mut correct = vec![0f32; n * k];
        let mut margin = vec![0f32; n * k];
        for (row, &r) in batch.iter().enumerate() {
            for &(w, l) in &self.edges[r] {
                edges[row * k * k + w * k + l] = 1.0;
            }
            let record = &self.data.records[r];
            for rm in 0..k {
                correct[row * k + rm] = f32::from(u8::from(record.correct[rm]));
                margin[row * k + rm] = (record.margin[rm] / self.scales[rm]) as f32;
            }
        }
        LossTargets {
            edges: Tensor::from_data(TensorData::new(edges, [n, k, k]), &self.device),
            correct: Tensor::from_data(TensorData::new(correct, [n, k]), &self.device),
            margin: Tensor::from_data(TensorData::new(margin, [n, k]), &self.device),
        }
    }

    /// Routing accuracy and mean loss of `model` on `indices`.
    fn evaluate(&self, model: &RouterModel, indices: &[usize]) -> Result<(RoutingAccuracy, f64)> {
        let model = model.clone().no_grad();
        let mut routed = Vec::with_capacity(indices.len());
        let mut loss_sum = 0.0;
        for chunk in indices.chunks(self.config.optim.batch_size) {
            let output =
                model.forward(chunk, &self.table.pairs, &self.embeddings(), &self.device)?;
            let loss = losses(&output, &self.targets(chunk), &self.config.loss);
            loss_sum += loss.total.into_scalar::<f64>() * chunk.len() as f64;
            let chosen: Vec<i64> = output
                .bt
                .argmax(1)
                .into_data()
                .try_into_vec_as::<i64>()
                .expect("numeric tensors convert");
            for (&r, &arm) in chunk.iter().zip(&chosen) {
                let record = &self.data.records[r];
                routed.push(RoutedRecord {
                    category: record.pair.category.clone(),
                    correct: record.correct.clone(),
                    chosen: arm as usize,
                });
            }
        }
        let table = routing_accuracy(&routed, self.data.rm_names.len())?;
        Ok((table, loss_sum / indices.len().max(1) as f64))
    }

    fn export_meta(&self, step: usize) -> ExportMeta {
        ExportMeta {
            format: EXPORT_FORMAT.into(),
            version: EXPORT_VERSION,
            rm_names: self.data.rm_names.clone(),
            dim: self.text.dim(),
            encoder: EncoderSpec {
                kind: self.text.kind(),
                path: std::path::absolute(&self.config.encoder.path)
                    .unwrap_or_else(|_| self.config.encoder.path.clone()),
                max_tokens: self.text.max_tokens(),
                text_format: TEXT_FORMAT,
            },
            step,
            selected_on_validation: false,
        }
    }

    /// Writes export `dir` of `model` after `step` updates; `selected` when validation
    /// chose it (keep-best, or the stopping point of early stopping).
    fn export(&self, dir: &Path, model: &RouterModel, step: usize, selected: bool) -> Result<()> {
        let trained = model.encoder.as_ref().map(|m| (m, &self.text));
        let meta = ExportMeta {
            selected_on_validation: selected,
            ..self.export_meta(step)
        };
        write_export(
            dir,
            &meta,
            &model.head,
            trained,
            Some(&self.data.split_record),
        )
    }
}

/// Trains as `config` says, from scratch or (`resume`) from the run folder's latest
/// checkpoint; `events` hears progress.
pub fn train(
    config: &TrainConfig,
    resume: bool,
    events: &mut dyn FnMut(&TrainEvent),
) -> Result<TrainSummary> {
    let _span =
        tracing::info_span!("offline_router_train", output = %config.output.display()).entered();
    let data = prepare_data(config, events)?;
    let base = DeviceSpec::from_str(&config.device)?.device()?;
    let device = base.clone().autodiff();
    let k = data.rm_names.len();

    // The backbone: frozen ones embed every text once, on the plain device.
    let (text, encoder) = match config.encoder.training {
        Training::Frozen => {
            let (text, backbone) =
                load_backbone(&config.encoder.path, config.encoder.max_tokens, &base)?;
            (text, FrozenOrTrainable::Frozen(backbone))
        }
        Training::Lora | Training::Full => {
            let (text, backbone) =
                load_backbone(&config.encoder.path, config.encoder.max_tokens, &device)?;
            let Backbone::Decoder(model) = backbone else {
                return Err(Error::Config {
                    path: config.encoder.path.clone(),
                    reason: "only decoder backbones can be trained (LoRA or full); use training = \"frozen\" for BERT".into(),
                });
            };
            let model = match (&config.encoder.training, &config.encoder.lora) {
                (Training::Lora, Some(lora)) => model.with_lora(lora)?,
                _ => model,
            };
            (text, FrozenOrTrainable::Trainable(model))
        }
    };
    let table = TextTable::new(&data.records, &text)?;
    let (cache, encoder) = match encoder {
        FrozenOrTrainable::Frozen(backbone) => {
            let total = table.sequences.len();
            let cache = text.embed_all(
                &backbone,
                &table.sequences,
                config.encoder.batch_size,
                &base,
                &mut |done| events(&TrainEvent::Embedding { done, total }),
            )?;
            (Some(Tensor::from_data(cache.into_data(), &device)), None)
        }
        FrozenOrTrainable::Trainable(model) => (None, Some(model)),
    };

    let mut edges: Vec<Edges> = data
        .records
        .iter()
        .map(|r| record_edges(&r.correct))
        .collect();
    let (train_part, validation_part) = (&data.split.train, &data.split.validation);
    if config.data.balance {
        let train_edges: Vec<Edges> = train_part.iter().map(|&r| edges[r].clone()).collect();
        for (&r, kept) in train_part.iter().zip(balance(train_edges, k, config.seed)) {
            edges[r] = kept;
        }
    }
    let train_records: Vec<&RoutingRecord> = train_part.iter().map(|&r| &data.records[r]).collect();
    let session = Session {
        config,
        data: &data,
        scales: margin_scales(&train_records, k),
        text,
        table,
        cache,
        edges,
        device: device.clone(),
    };

    let steps_per_epoch = train_part.len().div_ceil(config.optim.batch_size);
    let total_steps = steps_per_epoch * config.optim.epochs;
    let mut model = RouterModel {
        encoder,
        head: RouterHead::init(session.text.dim(), k, config.seed, &device),
    };
    let mut optimizer = Optimizer::new(OptimizerConfig {
        weight_decay: config.optim.weight_decay,
        max_grad_norm: (config.optim.max_grad_norm > 0.0).then_some(config.optim.max_grad_norm),
        ..OptimizerConfig::default()
    })?;
    let layout = RunLayout::new(&config.output);
    let checkpoints = layout.checkpoints();
    let metrics_path = layout.metrics();
    let (mut step, mut best_step, mut best_accuracy) = (0, 0, None);
    let mut since_best = 0;
    if resume && let Some(dir) = latest_checkpoint(&checkpoints)? {
        let state: CheckpointState = read_json(&dir.join("state.json"))?;
        check_resumable(&dir, &state, config, &data.rm_names, session.text.dim())?;
        let mut store = BurnpackStore::from_file(dir.join("model.bpk"));
        model
            .load_from(&mut store)
            .map_err(|err| Error::artifact(dir.join("model.bpk"), err.to_string()))?;
        optimizer.load_state(&dir.join("optimizer.safetensors"), state.step)?;
        (step, best_step, best_accuracy) = (state.step, state.best_step, state.best_accuracy);
        since_best = state.validations_since_best;
    }
    std::fs::create_dir_all(&config.output).map_err(atomic_write::io_error(&config.output))?;
    let mut metrics = MetricsFile::open(&metrics_path, step)?;
    events(&TrainEvent::Started {
        total_steps,
        start_step: step,
        train_records: train_part.len(),
        informative: train_part
            .iter()
            .filter(|&&r| !session.edges[r].is_empty())
            .count(),
        validation_records: validation_part.len(),
        test_records: data.split.test.len(),
    });

    let patience = config.checkpoint.patience;
    let mut stopped_early = patience > 0 && since_best >= patience;
    while step < total_steps && !stopped_early {
        let epoch = step / steps_per_epoch;
        let order = epoch_order(train_part, config.seed, epoch);
        let position = step % steps_per_epoch;
        let batch = &order[position * config.optim.batch_size
            ..((position + 1) * config.optim.batch_size).min(order.len())];
        let output = model.forward(batch, &session.table.pairs, &session.embeddings(), &device)?;
        let loss = losses(&output, &session.targets(batch), &config.loss);
        let lr = config.optim.lr_at(step, total_steps);
        let values =
            [&loss.total, &loss.bt, &loss.cls, &loss.reg].map(|t| t.clone().into_scalar::<f64>());
        let (updated, outcome) = optimizer.backward_step(model, loss.total, lr);
        model = updated;
        step += 1;
        let grad_norm = match outcome {
            StepOutcome::Updated(report) => Some(report.grad_norm),
            _ => None,
        };
        let line = StepMetrics {
            step,
            epoch,
            lr,
            loss: values[0],
            bt: values[1],
            cls: values[2],
            reg: values[3],
            grad_norm,
        };
        metrics.write(&line)?;
        events(&TrainEvent::Step(line));

        let at_checkpoint = config.checkpoint.every > 0 && step % config.checkpoint.every == 0;
        if at_checkpoint || step == total_steps {
            if !validation_part.is_empty() {
                let (table, loss) = session.evaluate(&model, validation_part)?;
                let accuracy = table.overall.router;
                let best = best_accuracy.is_none_or(|b| accuracy > b);
                if best {
                    session.export(&layout.best(), &model, step, true)?;
                    (best_step, best_accuracy, since_best) = (step, Some(accuracy), 0);
                } else {
                    since_best += 1;
                    stopped_early = patience > 0 && since_best >= patience;
                }
                // Debug: TrainEvent::Validation carries the same to the caller.
                tracing::debug!(step, routing_accuracy = accuracy, loss, best, "validation");
                let line = ValidationMetrics {
                    step,
                    routing_accuracy: accuracy,
                    loss,
                    best,
                };
                metrics.write(&line)?;
                events(&TrainEvent::Validation(line));
            }
            let state = CheckpointState {
                format: CHECKPOINT_FORMAT.into(),
                version: CHECKPOINT_VERSION,
                step,
                total_steps,
                rm_names: data.rm_names.clone(),
                dim: session.text.dim(),
                best_step,
                best_accuracy,
                validations_since_best: since_best,
                config: config.clone(),
            };
            let dir = checkpoints.join(format!("step-{step:06}"));
            write_checkpoint(&dir, &model, &optimizer, &state)?;
            prune_checkpoints(&checkpoints, config.checkpoint.keep.max(1))?;
            events(&TrainEvent::Checkpoint(dir));
        }
    }
    if stopped_early {
        tracing::info!(step, best_step, patience, "early stopping");
    }
    session.export(&layout.final_export(), &model, step, stopped_early)?;
    if validation_part.is_empty() {
        session.export(&layout.best(), &model, step, false)?;
        best_step = step;
    }
    Ok(TrainSummary {
        steps: step,
        best_step,
        best_accuracy,
        output: config.output.clone(),
        train_records: train_part.len(),
        validation_records: validation_part.len(),
        test_records: data.split.test.len(),
        stopped_early,
    })
}

enum FrozenOrTrainable {
    Frozen(Backbone),
    Trainable(lm::CausalLm),
}

/// The training records in epoch `epoch`'s order: a shuffle seeded by (seed, epoch), so a
/// resumed run visits the same batches.
fn epoch_order(train: &[usize], seed: u64, epoch: usize) -> Vec<usize> {
    let mut order = train.to_vec();
    let stream = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(epoch as u64 + 1);
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(stream));
    order
}
