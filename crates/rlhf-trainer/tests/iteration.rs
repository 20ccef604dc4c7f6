//! One iteration checked by hand: labels, ties, the draw, the DPO losses, the rewards and the
//! bandit's feedback.

use std::collections::{BTreeMap, HashSet};

use burn::prelude::*;
use lm::{WeightDType, load_causal_lm, load_tokenizer, sequence_logprobs};
use rlhf_trainer::{Overrides, RoutingRecord, SAMPLES_FILE, candidate_pairs};

use crate::common::{fn_rms, length, read_jsonl, tiny_policy, trainer, write_config};

/// Tolerance for log-probability sums recomputed outside the step (same weights, same
/// kernels, possibly another batch layout), in nats.
const LOGP_TOLERANCE: f64 = 1e-3;

/// Responses and token ids of an iteration's samples, by prompt id.
fn samples(
    run: &std::path::Path,
    iteration: usize,
) -> BTreeMap<usize, (Vec<String>, Vec<Vec<u32>>)> {
    read_jsonl(&run.join(SAMPLES_FILE))
        .into_iter()
        .filter(|s| s["iteration"] == iteration)
        .map(|s| {
            let id = s["prompt_id"].as_u64().unwrap() as usize;
            let responses = serde_json::from_value(s["responses"].clone()).unwrap();
            let tokens = serde_json::from_value(s["token_ids"].clone()).unwrap();
            (id, (responses, tokens))
        })
        .collect()
}

/// `single:length`: every visited pair is judged by length; ties (|Δlength| ≤ 0.5) are
/// dropped; at most 2 distinct non-tied pairs per prompt are kept; the losses are
/// −log σ(βΔ) with Δ recomputed here from the policy before the step and the reference.
#[test]
fn one_iteration_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "kind = \"single\"\nrm = \"length\"", "");
    let rms = fn_rms();
    let mut trainer = trainer(&path, &Overrides::default(), &rms, false);
    let run = dir.path().join("run");

    // Iteration 0: LoRA's B starts at zero, so the policy is the reference: Δ = 0, ℓ = ln 2.
    let first = trainer.step().unwrap();
    let kept: Vec<&RoutingRecord> = first.routing.iter().filter(|r| r.kept).collect();
    assert!(!kept.is_empty(), "no pair kept: {:?}", first.metrics);
    for r in &kept {
        assert!(
            (r.loss.unwrap() - std::f64::consts::LN_2).abs() < 1e-6,
            "{r:?}"
        );
    }

    let before = trainer.policy().valid();
    let second = trainer.step().unwrap();
    let responses = samples(&run, 1);
    let n = 4;
    assert_eq!(second.routing.len(), 3 * candidate_pairs(n).len());
    let mut kept_per_prompt: BTreeMap<usize, HashSet<[usize; 2]>> = BTreeMap::new();
    for r in &second.routing {
        let texts = &responses[&r.prompt_id].0;
        assert_eq!(r.judge, "length");
        assert_eq!(r.arm, Some(0));
        assert_eq!(r.propensity, Some(1.0));
        if !r.visited {
            assert!(r.scores.is_none() && !r.kept);
            continue;
        }
        let (a, b) = (length(&texts[r.pair[0]]), length(&texts[r.pair[1]]));
        assert_eq!(r.scores, Some([f64::from(a), f64::from(b)]));
        let tie = (a - b).abs() <= 0.5;
        assert_eq!(r.tie, tie, "{r:?}");
        assert_eq!(r.kept, !tie);
        if !tie {
            assert_eq!(r.chosen, Some(usize::from(b > a)));
            assert!(
                kept_per_prompt
                    .entry(r.prompt_id)
                    .or_default()
                    .insert(r.pair)
            );
        }
    }
    assert!(kept_per_prompt.values().all(|pairs| pairs.len() <= 2));

    // The losses by hand.
    let device = Device::flex();
    let (_, reference) = load_causal_lm(&tiny_policy(), &device, WeightDType::F32).unwrap();
    let tokenizer = load_tokenizer(&tiny_policy()).unwrap();
    let prompts = crate::common::read_jsonl(&dir.path().join("prompts.jsonl"));
    let beta = 0.5;
    let mut checked = 0;
    for r in second.routing.iter().filter(|r| r.kept) {
        let question = prompts[r.prompt_id]["prompt"].as_str().unwrap();
        let text = tokenizer
            .apply_chat_template(&[lm::ChatMessage::user(question)], true)
            .unwrap();
        let prompt = tokenizer.encode(&text, false).unwrap();
        let tokens = &responses[&r.prompt_id].1;
        let chosen = r.pair[r.chosen.unwrap()];
        let rejected = r.pair[1 - r.chosen.unwrap()];
        let pairs = vec![
            (prompt.clone(), tokens[chosen].clone()),
            (prompt, tokens[rejected].clone()),
        ];
        let logps = |model: &lm::CausalLm| -> Vec<f64> {
            sequence_logprobs(model, &pairs, 0, &device)
                .unwrap()
                .sum
                .try_into_vec_as::<f64>()
                .unwrap()
        };
        let (policy, reference) = (logps(&before), logps(&reference));
        let delta = (policy[0] - reference[0]) - (policy[1] - reference[1]);
        // −log σ(x) = log(1 + e^(−x)).
        let expected = (1.0 + (-beta * delta).exp()).ln();
        let loss = r.loss.unwrap();
        assert!(
            (loss - expected).abs() < beta * LOGP_TOLERANCE,
            "pair {:?} of prompt {}: loss {loss} vs {expected} by hand",
            r.pair,
            r.prompt_id
        );
        checked += 1;
    }
    assert!(checked > 0);
    // The DPO implicit reward Δ = log π − log π_ref of the policy now (a diagnostic the
    // experiment reads), against the same by hand.
    let now = trainer.policy().valid();
    let r = second.routing.iter().find(|r| r.kept).unwrap();
    let question = prompts[r.prompt_id]["prompt"].as_str().unwrap();
    let text = tokenizer
        .apply_chat_template(&[lm::ChatMessage::user(question)], true)
        .unwrap();
    let prompt = tokenizer.encode(&text, false).unwrap();
    let pairs: Vec<(Vec<u32>, Vec<u32>)> = responses[&r.prompt_id]
        .1
        .iter()
        .map(|tokens| (prompt.clone(), tokens.clone()))
        .collect();
    let logps = |model: &lm::CausalLm| -> Vec<f64> {
        sequence_logprobs(model, &pairs, 0, &device)
            .unwrap()
            .sum
            .try_into_vec_as::<f64>()
            .unwrap()
    };
    let (policy, reference) = (logps(&now), logps(&reference));
    let ours = trainer.implicit_rewards(&pairs).unwrap();
    assert_eq!(ours.len(), pairs.len());
    for ((ours, p), r) in ours.iter().zip(&policy).zip(&reference) {
        assert!(
            (ours - (p - r)).abs() < LOGP_TOLERANCE,
            "{ours} vs {}",
            p - r
        );
    }
    assert!(
        ours.iter().any(|d| d.abs() > 1e-6),
        "two steps moved the policy"
    );
    // The logged metrics are the reported ones, timing included.
    let logged = read_jsonl(&run.join(rlhf_trainer::METRICS_FILE));
    assert_eq!(logged.len(), 2);
    assert_eq!(logged[1], serde_json::Value::Object(second.metrics.clone()));
    assert!(
        logged
            .iter()
            .all(|m| m["time/iteration"].as_f64().unwrap() > 0.0)
    );
    // Only the length RM was ever called.
    assert_eq!(rms[1].items.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(rms[2].items.load(std::sync::atomic::Ordering::SeqCst), 0);
}

/// `bayesian` (v5): each pair's reward is the batch baseline's for that pair's own logged
/// loss (recomputed here from the log, past the warm-up, so rewards differ between pairs),
/// and the router's posterior equals a fresh router fed exactly the logged feedback.
#[test]
fn bayesian_feedback_is_what_the_log_says() {
    const ITERATIONS: usize = 6;
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        "kind = \"bayesian\"\npreset = \"v5\"",
        "log_contexts = true",
    );
    let rms = fn_rms();
    let mut trainer = trainer(&path, &Overrides::default(), &rms, false);
    let mut records = Vec::new();
    for _ in 0..ITERATIONS {
        records.extend(trainer.step().unwrap().routing);
    }
    let rewarded: Vec<&RoutingRecord> = records.iter().filter(|r| r.reward.is_some()).collect();
    assert!(rewarded.iter().all(|r| r.kept && r.loss.is_some()));
    // The v5 normaliser, fed each iteration's logged losses in log order, gives the logged
    // rewards pair by pair.
    let mut normaliser =
        reward_norm::BatchBaseline::new(reward_norm::QuantileClampParams::default()).unwrap();
    let mut distinct = std::collections::BTreeSet::new();
    for iteration in 0..ITERATIONS {
        let batch: Vec<&RoutingRecord> = rewarded
            .iter()
            .copied()
            .filter(|r| r.iteration == iteration)
            .collect();
        let losses: Vec<reward_norm::RoutedLoss> = batch
            .iter()
            .map(|r| reward_norm::RoutedLoss {
                arm: r.arm.unwrap(),
                loss: r.loss.unwrap(),
            })
            .collect();
        if losses.is_empty() {
            continue;
        }
        let expected = reward_norm::RewardNormalizer::rewards(&mut normaliser, &losses).unwrap();
        for (r, expected) in batch.iter().zip(expected) {
            assert_eq!(
                r.reward, expected,
                "iteration {iteration}, prompt {}",
                r.prompt_id
            );
            distinct.insert(r.reward.unwrap().to_bits());
        }
    }
    assert!(
        distinct.len() > 2,
        "the run never left the warm-up: {} rewarded pairs",
        rewarded.len()
    );
    let router = trainer.bandit().unwrap();
    let mut replay = bandit::LinearBandit::new(
        bandit::Policy::Thompson,
        router.prior().clone(),
        bandit::BanditParams::bayesian_v5(),
        0,
    )
    .unwrap();
    for iteration in 0..ITERATIONS {
        let feedback: Vec<bandit::Feedback<'_>> = rewarded
            .iter()
            .filter(|r| r.iteration == iteration)
            .map(|r| bandit::Feedback {
                arm: r.arm.unwrap(),
                context: r.context.as_deref().unwrap(),
                reward: r.reward.unwrap(),
            })
            .collect();
        replay.update_batch(&feedback).unwrap();
    }
    for k in 0..3 {
        let updates = rewarded.iter().filter(|r| r.arm == Some(k)).count() as u64;
        assert_eq!(router.updates(k).unwrap(), updates);
        for (x, y) in router.mean(k).unwrap().iter().zip(replay.mean(k).unwrap()) {
            assert!((x - y).abs() < 1e-9, "arm {k}: {x} vs {y}");
        }
    }
}

/// `reward = "verifier"`: each kept pair's reward is the verifier's verdict on its routed
/// label (1 right, 0 wrong, none where the verifier ties), the losses are still logged, and
/// the bandit is updated once per rewarded pair.
#[test]
fn verifier_rewards_are_the_verdicts_on_routed_labels() {
    const ITERATIONS: usize = 4;
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        "kind = \"bayesian\"\npreset = \"v5\"",
        "reward = \"verifier\"\n[oracle]\nname = \"yes\"\nkind = \"verifier\"\n\
         task = \"regex\"\npattern = \"(Yes)\"\n",
    );
    let rms = fn_rms();
    let mut trainer = trainer(&path, &Overrides::default(), &rms, false);
    let mut records = Vec::new();
    for _ in 0..ITERATIONS {
        records.extend(trainer.step().unwrap().routing);
    }
    let kept: Vec<&RoutingRecord> = records.iter().filter(|r| r.kept).collect();
    assert!(!kept.is_empty());
    for r in &kept {
        let expected = r.truth.map(|t| if r.chosen == Some(t) { 1.0 } else { 0.0 });
        assert_eq!(r.reward, expected, "{r:?}");
        assert!(r.loss.is_some(), "{r:?}");
    }
    let rewarded: Vec<&&RoutingRecord> = kept.iter().filter(|r| r.reward.is_some()).collect();
    assert!(
        rewarded.iter().any(|r| r.reward == Some(1.0))
            && rewarded.iter().any(|r| r.reward == Some(0.0)),
        "the test needs right and wrong labels: {} rewarded pairs",
        rewarded.len()
    );
    let router = trainer.bandit().unwrap();
    for k in 0..3 {
        let updates = rewarded.iter().filter(|r| r.arm == Some(k)).count() as u64;
        assert_eq!(router.updates(k).unwrap(), updates, "arm {k}");
    }
}
