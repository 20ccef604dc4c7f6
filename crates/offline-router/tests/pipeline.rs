//! The whole offline stage on the synthetic task: judging through a real pool, training,
//! keep-best, the routing table, export → bandit prior, and resume.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use offline_router::{
    EvalSplit, ExportEvaluation, PairRef, RouterExport, TrainConfig, evaluate_exports,
    read_records, train,
};

fn evaluate(
    exports: &[PathBuf],
    records: &Path,
    split: EvalSplit,
    allow_seen: bool,
) -> offline_router::Result<ExportEvaluation> {
    evaluate_exports(
        exports,
        records,
        None,
        split,
        allow_seen,
        &Device::flex(),
        16,
        &mut |_, _| {},
    )
}

/// The best RM is a known function of the text (its topic word): the router learns it, so
/// on the untouched test split its routing accuracy is within 95% of the oracle's while
/// every single RM stays far below. Records the checkpoint was selected or trained on are
/// refused unless allowed, and then marked.
#[test]
fn router_learns_which_rm_to_trust() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = crate::synthetic_config(dir.path(), "frozen", 30, 0);
    let config = TrainConfig::read(&config_path).unwrap();
    let summary = train(&config, false, &mut |_| {}).unwrap();
    assert!(summary.best_accuracy.is_some());

    let judged = config.output.join("judged.jsonl");
    assert_eq!(
        summary.train_records + summary.validation_records + summary.test_records,
        read_records(&judged).unwrap().len()
    );
    let (best, last) = (config.output.join("best"), config.output.join("final"));
    let both = [best.clone(), last.clone()];
    // Both exports read the same frozen backbone: the test texts are embedded once.
    let mut passes = 0;
    let evaluation = evaluate_exports(
        &both,
        &judged,
        None,
        EvalSplit::Test,
        false,
        &Device::flex(),
        16,
        &mut |done, total| passes += usize::from(done == total),
    )
    .unwrap();
    assert_eq!(passes, 1, "one embedding pass for best/ and final/");
    assert_eq!(evaluation.records, summary.test_records);
    assert_eq!(evaluation.seen, None);
    assert_eq!(evaluation.exports.len(), 2);
    assert!(evaluation.exports[0].selected_on_validation);
    assert!(!evaluation.exports[1].selected_on_validation);
    for export in &evaluation.exports {
        let row = &export.routing_accuracy.overall;
        eprintln!("{}: {row:?}", export.checkpoint.display());
        assert!(row.n >= 25, "test split too small: {}", row.n);
        assert!(
            row.router >= 0.95 * row.oracle,
            "router {} vs oracle {}",
            row.router,
            row.oracle
        );
        for (k, single) in row.single.iter().enumerate() {
            assert!(*single <= 0.7, "RM {k} alone reaches {single}");
        }
        assert!(row.router > row.majority_vote + 0.1, "{row:?}");
        let ci = &export.intervals;
        assert!(ci.router.low <= row.router && row.router <= ci.router.high);
        assert!(ci.router_minus_majority_vote.excludes_zero(), "{ci:?}");
    }

    // `best/` was selected on the validation part: refused, unless allowed and marked.
    let err = evaluate(
        std::slice::from_ref(&best),
        &judged,
        EvalSplit::Validation,
        false,
    )
    .unwrap_err();
    assert!(err.to_string().contains("selected on"), "{err}");
    let marked = evaluate(
        std::slice::from_ref(&best),
        &judged,
        EvalSplit::Validation,
        true,
    )
    .unwrap();
    assert!(marked.seen.as_deref().unwrap().contains("selected on"));
    assert_eq!(marked.records, summary.validation_records);
    // The train-time validation accuracy is the eval command's.
    let row = &marked.exports[0].routing_accuracy.overall;
    assert!((summary.best_accuracy.unwrap() - row.router).abs() < 1e-9);
    // `final/` was not selected on it; training records are refused for both.
    assert_eq!(
        evaluate(
            std::slice::from_ref(&last),
            &judged,
            EvalSplit::Validation,
            false
        )
        .unwrap()
        .seen,
        None
    );
    let err = evaluate(
        std::slice::from_ref(&last),
        &judged,
        EvalSplit::Train,
        false,
    )
    .unwrap_err();
    assert!(err.to_string().contains("training part"), "{err}");

    // An export from before split.json: its test records are unknown.
    let old = dir.path().join("old-export");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::copy(
        best.join("router.safetensors"),
        old.join("router.safetensors"),
    )
    .unwrap();
    let err = evaluate(std::slice::from_ref(&old), &judged, EvalSplit::Test, false).unwrap_err();
    assert!(err.to_string().contains("no split.json"), "{err}");
    let all = evaluate(&[old], &judged, EvalSplit::All, true).unwrap();
    assert!(all.seen.is_some());

    exported_prior_reproduces_the_router(&best, &judged);
}

/// Export → load → the bandit's prior score μ0ᵀe equals the trained router's BT score, and
/// a pool with other RMs (or another order) is refused by name.
fn exported_prior_reproduces_the_router(export_dir: &Path, records: &Path) {
    let device = Device::flex();
    let export = RouterExport::load(export_dir, &device).unwrap();
    let prior = export.prior().unwrap();
    let names = export.meta.rm_names.clone();
    assert_eq!(prior.names(), names.as_slice());
    let mut reversed = names.clone();
    reversed.reverse();
    let err = export.check_pool(&reversed, 64).unwrap_err().to_string();
    assert!(
        err.contains("arm order") && err.contains(&names[0]),
        "{err}"
    );
    assert!(export.check_pool(&names, 32).is_err());
    export.check_pool(&names, 64).unwrap();

    let context = export.into_context_function(&device, 8).unwrap();
    let records = read_records(records).unwrap();
    let pairs: Vec<PairRef<'_>> = records
        .iter()
        .take(12)
        .map(|r| {
            (
                r.pair.prompt.as_slice(),
                r.pair.chosen.as_str(),
                r.pair.rejected.as_str(),
            )
        })
        .collect();
    let contexts = context.contexts_f64(&pairs).unwrap();
    let scores: Vec<f32> = context
        .bt_scores(&pairs)
        .unwrap()
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap();
    let k = names.len();
    for (i, e) in contexts.iter().enumerate() {
        for arm in 0..k {
            let prior_score: f64 = prior.mean(arm).iter().zip(e).map(|(m, x)| m * x).sum();
            let router_score = f64::from(scores[i * k + arm]);
            assert!(
                (prior_score - router_score).abs() < 1e-5,
                "pair {i}, arm {arm}: prior {prior_score} vs router {router_score}"
            );
        }
    }
    // Candidate pairs sharing responses (each response embedded once) get the same contexts
    // as the pairs encoded one by one.
    let prompt = records[0].pair.prompt.as_slice();
    let responses = [
        records[0].pair.chosen.clone(),
        records[0].pair.rejected.clone(),
        records[1].pair.chosen.clone(),
    ];
    let candidate_pairs = [(0, 1), (0, 2), (1, 2)];
    let shared = context
        .candidate_contexts(&[offline_router::CandidateGroup {
            prompt,
            responses: &responses,
            pairs: &candidate_pairs,
        }])
        .unwrap();
    let shared: Vec<f32> = shared.into_data().try_into_vec_as::<f32>().unwrap();
    let one_by_one: Vec<PairRef<'_>> = candidate_pairs
        .iter()
        .map(|&(a, b)| (prompt, responses[a].as_str(), responses[b].as_str()))
        .collect();
    let one_by_one = context.contexts_f64(&one_by_one).unwrap();
    for (x, y) in shared.iter().zip(one_by_one.iter().flatten()) {
        assert!((f64::from(*x) - y).abs() < 1e-5, "{x} vs {y}");
    }
    // Swapping the responses changes nothing (the context is symmetric).
    let swapped: Vec<PairRef<'_>> = pairs.iter().map(|&(p, a, b)| (p, b, a)).collect();
    let back = context.contexts_f64(&swapped).unwrap();
    for (x, y) in contexts.iter().flatten().zip(back.iter().flatten()) {
        assert!((x - y).abs() < 1e-6);
    }
}

/// Stopping after a mid-training checkpoint and resuming gives the uninterrupted run's final
/// weights bit for bit (full fine-tuning of the tiny decoder, CPU, fixed seed).
#[test]
fn resume_reproduces_the_uninterrupted_run() {
    let whole = tempfile::tempdir().unwrap();
    let config = TrainConfig::read(&crate::synthetic_config(whole.path(), "full", 2, 3)).unwrap();
    let summary = train(&config, false, &mut |_| {}).unwrap();
    assert!(summary.steps >= 6, "{summary:?}");

    let interrupted = tempfile::tempdir().unwrap();
    let config_b =
        TrainConfig::read(&crate::synthetic_config(interrupted.path(), "full", 2, 3)).unwrap();
    train(&config_b, false, &mut |_| {}).unwrap();
    // Forget everything after the first checkpoint, as if the run had died there.
    let checkpoints = config_b.output.join("checkpoints");
    let mut steps: Vec<_> = std::fs::read_dir(&checkpoints)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    steps.sort();
    for later in &steps[1..] {
        std::fs::remove_dir_all(later).unwrap();
    }
    for export in ["final", "best"] {
        std::fs::remove_dir_all(config_b.output.join(export)).unwrap();
    }
    let resumed = train(&config_b, true, &mut |_| {}).unwrap();
    assert_eq!(resumed.steps, summary.steps);

    for file in ["router.safetensors", "encoder/model.safetensors"] {
        let a = std::fs::read(config.output.join("final").join(file)).unwrap();
        let b = std::fs::read(config_b.output.join("final").join(file)).unwrap();
        assert!(a == b, "final {file} differs after resume");
    }
    // Full fine-tuning moved the decoder's weights.
    let trained = std::fs::read(config.output.join("final/encoder/model.safetensors")).unwrap();
    let base = std::fs::read(crate::tiny_backbone().join("model.safetensors")).unwrap();
    let tensor = |bytes: &[u8]| {
        let file = safetensors::SafeTensors::deserialize(bytes).unwrap();
        file.tensor("model.layers.0.self_attn.q_proj.weight")
            .unwrap()
            .data()
            .to_vec()
    };
    assert_ne!(tensor(&trained), tensor(&base), "the decoder did not train");
}

/// LoRA on the decoder: adapters train, the export holds the merged decoder, and the context
/// function rebuilt from it gives the router's scores.
#[test]
fn lora_backbone_exports_a_merged_encoder() {
    let dir = tempfile::tempdir().unwrap();
    let lora = "[encoder.lora]\nrank = 4\nalpha = 8.0\nseed = 1\n";
    let path =
        crate::synthetic_config_with(dir.path(), &crate::tiny_backbone(), "lora", lora, 1, 0);
    let config = TrainConfig::read(&path).unwrap();
    train(&config, false, &mut |_| {}).unwrap();
    let export_dir = config.output.join("final");
    // The export's decoder is the base with the trained adapters merged: the adapted
    // projections (q, v) moved, the others (k, the MLP) are the base's bit for bit.
    let merged = std::fs::read(export_dir.join("encoder/model.safetensors")).unwrap();
    let base = std::fs::read(crate::tiny_backbone().join("model.safetensors")).unwrap();
    let tensor = |bytes: &[u8], name: &str| {
        let file = safetensors::SafeTensors::deserialize(bytes).unwrap();
        file.tensor(name).unwrap().data().to_vec()
    };
    for adapted in ["q_proj", "v_proj"] {
        let name = format!("model.layers.0.self_attn.{adapted}.weight");
        assert_ne!(
            tensor(&merged, &name),
            tensor(&base, &name),
            "{name} did not train"
        );
    }
    for frozen in [
        "model.layers.0.self_attn.k_proj.weight",
        "model.layers.0.mlp.up_proj.weight",
    ] {
        assert_eq!(
            tensor(&merged, frozen),
            tensor(&base, frozen),
            "{frozen} moved"
        );
    }
    let export = RouterExport::load(&export_dir, &Device::flex()).unwrap();
    assert_eq!(export.meta.encoder.path, Path::new("encoder"));
    let context = export.into_context_function(&Device::flex(), 4).unwrap();
    let prompt = [lm::ChatMessage::user("alpha: 1+2?")];
    let scores = context
        .bt_scores(&[(&prompt, "3 alpha", "4 alpha")])
        .unwrap();
    assert_eq!(scores.dims(), [1, 3]);
}

/// A BERT backbone (the real all-MiniLM-L6-v2, mean pooling), frozen: the router still
/// learns the synthetic task.
#[test]
fn bert_backbone_learns_the_synthetic_task() {
    let minilm = crate::asset("models/all-MiniLM-L6-v2");
    let dir = tempfile::tempdir().unwrap();
    let path = crate::synthetic_config_with(dir.path(), &minilm, "frozen", "", 30, 0);
    let config = TrainConfig::read(&path).unwrap();
    let summary = train(&config, false, &mut |_| {}).unwrap();
    let accuracy = summary.best_accuracy.unwrap();
    assert!(
        accuracy >= 0.9,
        "MiniLM router validation accuracy {accuracy}"
    );
    let export = RouterExport::load(&config.output.join("best"), &Device::flex()).unwrap();
    assert_eq!(
        export.meta.encoder.kind,
        offline_router::encoder::BackboneKind::Bert
    );
    assert_eq!(export.meta.dim, 384);
}
