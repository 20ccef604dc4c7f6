//! `cargo xtask offline-router train --config FILE [--resume]`: trains the offline router
//! (configs/offline-router/), with a progress bar showing the loss and the ETA.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::ProgressStyle;
use offline_router::{RunLayout, TrainConfig, TrainEvent, train};
use serde_json::json;

/// Arguments of `offline-router train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The training configuration (TOML).
    #[arg(long)]
    config: PathBuf,
    /// Continue from the run folder's latest checkpoint (same configuration).
    #[arg(long)]
    resume: bool,
}

/// Trains; prints one JSON line with the run's summary last.
pub fn run(args: &TrainArgs) -> Result<()> {
    let config = TrainConfig::read(&args.config)?;
    let start = std::time::Instant::now();
    let bar = crate::logging::bar(0);
    let style = |template: &str| {
        ProgressStyle::with_template(template)
            .expect("valid template")
            .progress_chars("=> ")
    };
    let mut phase = "";
    let mut on_event = |event: &TrainEvent| match event {
        TrainEvent::Judging { done, total } | TrainEvent::Embedding { done, total } => {
            let name = if matches!(event, TrainEvent::Judging { .. }) {
                "judging"
            } else {
                "embedding"
            };
            if phase != name {
                phase = name;
                bar.set_style(style(&format!(
                    "{name} [{{bar:30}}] {{pos}}/{{len}} ({{elapsed}}, ETA {{eta}})"
                )));
            }
            bar.set_length(*total as u64);
            bar.set_position(*done as u64);
        }
        TrainEvent::Started {
            total_steps,
            start_step,
            train_records,
            informative,
            validation_records,
            test_records,
        } => {
            bar.suspend(|| {
                eprintln!(
                    "training on {train_records} records ({informative} with BT edges), \
                     validating on {validation_records}, {test_records} held out for test; \
                     updates {start_step}..{total_steps}"
                )
            });
            phase = "training";
            bar.set_style(style(
                "training [{bar:30}] {pos}/{len} loss {msg} ({elapsed}, ETA {eta})",
            ));
            bar.set_length(*total_steps as u64);
            bar.set_position(*start_step as u64);
        }
        TrainEvent::Step(step) => {
            bar.set_position(step.step as u64);
            bar.set_message(format!("{:.4}", step.loss));
        }
        TrainEvent::Validation(v) => bar.suspend(|| {
            eprintln!(
                "step {}: validation routing accuracy {:.4}, loss {:.4}{}",
                v.step,
                v.routing_accuracy,
                v.loss,
                if v.best { " (best)" } else { "" }
            )
        }),
        TrainEvent::Checkpoint(dir) => bar.suspend(|| eprintln!("checkpoint {}", dir.display())),
    };
    let summary = train(&config, args.resume, &mut on_event)
        .with_context(|| format!("training with {}", args.config.display()))?;
    bar.finish_and_clear();
    eprintln!(
        "done: {} updates in {:.0} s{}; best export (step {}) in {}; the test split: \
         cargo xtask offline-router eval --run {}",
        summary.steps,
        start.elapsed().as_secs_f64(),
        if summary.stopped_early {
            " (stopped early)"
        } else {
            ""
        },
        summary.best_step,
        RunLayout::new(&summary.output).best().display(),
        summary.output.display()
    );
    println!(
        "{}",
        json!({
            "steps": summary.steps,
            "best_step": summary.best_step,
            "best_validation_routing_accuracy": summary.best_accuracy,
            "train_records": summary.train_records,
            "validation_records": summary.validation_records,
            "test_records": summary.test_records,
            "stopped_early": summary.stopped_early,
            "seconds": start.elapsed().as_secs_f64(),
            "output": summary.output,
        })
    );
    Ok(())
}
