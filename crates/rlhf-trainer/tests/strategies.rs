//! Every strategy through the loop: lazy scoring (RM calls equal what the visited pairs
//! needed), LASeR's one arm per batch, offline-only's argmax, online-only's zero prior, the
//! oracle lines, and masking a failed RM.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use rlhf_trainer::{Overrides, RoutingRecord, SAMPLES_FILE, StrategyConfig};

use crate::common::{fn_rms, read_jsonl, trainer, write_config};

/// The response texts of iteration 0 by (prompt id, index).
fn response_texts(run: &std::path::Path) -> std::collections::BTreeMap<(usize, usize), String> {
    let mut texts = std::collections::BTreeMap::new();
    for s in read_jsonl(&run.join(SAMPLES_FILE)) {
        if s["iteration"] != 0 {
            continue;
        }
        let id = s["prompt_id"].as_u64().unwrap() as usize;
        for (i, r) in s["responses"].as_array().unwrap().iter().enumerate() {
            texts.insert((id, i), r.as_str().unwrap().to_string());
        }
    }
    texts
}

const ORACLE: &str =
    "[oracle]\nname = \"yes\"\nkind = \"verifier\"\ntask = \"regex\"\npattern = \"(Yes)\"\n";

/// For every strategy, the RMs scored exactly the distinct (RM, response) items that the
/// visited pairs needed: one RM per routed pair, all K per item for ensemble and majority,
/// none of the pool for the oracle.
#[test]
fn every_strategy_scores_only_what_its_pairs_need() {
    for name in [
        "bayesian-v5",
        "bayesian-v4",
        "online-only",
        "offline-only",
        "laser",
        "laser-per-prompt",
        "epsilon-greedy",
        "random",
        "single:vowels",
        "ensemble",
        "majority",
        "oracle",
        "oracle-coin",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(dir.path(), "kind = \"random\"", ORACLE);
        let overrides = Overrides {
            strategy: Some(name.parse::<StrategyConfig>().unwrap()),
            ..Overrides::default()
        };
        let rms = fn_rms();
        let mut trainer = trainer(&path, &overrides, &rms, false);
        let report = trainer.step().unwrap();
        assert!(report.skipped.is_none(), "{name}: {:?}", report.skipped);
        let texts = response_texts(&dir.path().join("run"));
        let visited: Vec<&RoutingRecord> = report.routing.iter().filter(|r| r.visited).collect();
        assert!(!visited.is_empty(), "{name}");
        let mut needed: Vec<HashSet<(usize, String)>> = vec![HashSet::new(); 3];
        for r in &visited {
            let items = r
                .pair
                .map(|i| (r.prompt_id, texts[&(r.prompt_id, i)].clone()));
            match name {
                "ensemble" | "majority" => {
                    for set in &mut needed {
                        set.extend(items.iter().cloned());
                    }
                }
                "oracle" | "oracle-coin" => assert_eq!(r.judge, "oracle"),
                _ => needed[r.arm.unwrap()].extend(items.iter().cloned()),
            }
        }
        for (k, rm) in rms.iter().enumerate() {
            assert_eq!(
                rm.items.load(Ordering::SeqCst),
                needed[k].len(),
                "{name}: RM {} scored {} items, the visited pairs needed {}",
                rm.name,
                rm.items.load(Ordering::SeqCst),
                needed[k].len()
            );
            assert_eq!(trainer.pool().stats(k).items, needed[k].len());
        }
        // No pair twice, and no prompt over its quota.
        let mut seen = HashSet::new();
        for r in report.routing.iter().filter(|r| r.kept) {
            assert!(seen.insert((r.prompt_id, r.pair)), "{name}: duplicate pair");
        }
        for prompt in report.routing.iter().map(|r| r.prompt_id) {
            let kept = report
                .routing
                .iter()
                .filter(|r| r.kept && r.prompt_id == prompt)
                .count();
            assert!(kept <= 2, "{name}: prompt {prompt} kept {kept}");
        }
        let items = report.metrics["rm/items_scored"].as_u64().unwrap() as usize;
        assert_eq!(
            items,
            needed.iter().map(HashSet::len).sum::<usize>(),
            "{name}"
        );
    }
}

/// One iteration of `strategy` judged by a verifier that calls a response right when it
/// contains an `e` (common enough in a tiny policy's samples that both verdicts occur), with
/// the RM tie margin `tie_eps`: the iteration's routing records.
fn has_e_iteration(strategy: &str, tie_eps: &str) -> Vec<RoutingRecord> {
    let dir = tempfile::tempdir().unwrap();
    let oracle = "[oracle]\nname = \"has-e\"\nkind = \"verifier\"\ntask = \"regex\"\n\
                  pattern = \"(e)\"\n";
    let path = write_config(dir.path(), "kind = \"random\"", oracle);
    let config = std::fs::read_to_string(&path).unwrap();
    assert!(config.contains("tie_eps = 0.5"), "{config}");
    let widened = config.replace("tie_eps = 0.5", &format!("tie_eps = {tie_eps}"));
    std::fs::write(&path, widened).unwrap();
    let prompts = dir.path().join("prompts.jsonl");
    let lines = std::fs::read_to_string(&prompts).unwrap();
    std::fs::write(
        &prompts,
        lines.replace(r#""reference":"Yes""#, r#""reference":"e""#),
    )
    .unwrap();
    let overrides = Overrides {
        strategy: Some(strategy.parse::<StrategyConfig>().unwrap()),
        ..Overrides::default()
    };
    let mut trainer = trainer(&path, &overrides, &fn_rms(), false);
    trainer.step().unwrap().routing
}

/// The kept pairs of `routing`, (prompt id, pair).
fn kept(routing: &[RoutingRecord]) -> Vec<(usize, [usize; 2])> {
    routing
        .iter()
        .filter(|r| r.kept)
        .map(|r| (r.prompt_id, r.pair))
        .collect()
}

/// The oracle's verdicts are 1 (right) or 0 (wrong): a pair is a tie only when both
/// responses are equally right, so a `tie_eps` set wide for RM scores changes nothing.
#[test]
fn the_oracle_ignores_the_rm_tie_margin() {
    let narrow = kept(&has_e_iteration("oracle", "0.5"));
    assert!(!narrow.is_empty(), "no decided pair to keep");
    assert_eq!(kept(&has_e_iteration("oracle", "1.5")), narrow);
}

/// `oracle-coin` keeps every pair it visits, as an RM labeller does: the verifier's choice
/// where it decides, a coin where it ties. `oracle` visits the same pairs in the same order
/// but drops its ties and goes on until each prompt has decided pairs.
#[test]
fn the_coin_oracle_keeps_the_pairs_an_rm_labeller_keeps() {
    let coin = has_e_iteration("oracle-coin", "0.5");
    let visited: Vec<&RoutingRecord> = coin.iter().filter(|r| r.visited).collect();
    assert!(!visited.is_empty());
    let mut per_prompt = std::collections::BTreeMap::<usize, usize>::new();
    let mut undecided = 0;
    for r in &visited {
        assert!(r.kept && !r.tie, "{r:?}");
        assert_eq!(r.judge, "oracle");
        *per_prompt.entry(r.prompt_id).or_default() += 1;
        match r.truth {
            Some(truth) => assert_eq!(r.chosen, Some(truth), "{r:?}"),
            None => undecided += 1,
        }
    }
    // Nothing ties, so each prompt stops at its quota of 2 pairs.
    assert!(per_prompt.values().all(|&n| n == 2), "{per_prompt:?}");
    assert!(undecided > 0, "no tie for the coin to decide");

    let plain = has_e_iteration("oracle", "0.5");
    let plain_visited: HashSet<(usize, [usize; 2])> = plain
        .iter()
        .filter(|r| r.visited)
        .map(|r| (r.prompt_id, r.pair))
        .collect();
    for r in &visited {
        assert!(plain_visited.contains(&(r.prompt_id, r.pair)), "{r:?}");
    }
    assert!(plain_visited.len() > visited.len());
    assert!(plain.iter().filter(|r| r.kept).all(|r| r.truth.is_some()));
}

/// LASeR routes a whole batch to one RM and learns once per batch over the policy's
/// embedding width; offline-only routes by argmax μ0ᵀe and never learns; online-only starts
/// from μ0 = 0.
#[test]
fn laser_offline_only_and_online_only_behave_as_specified() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "kind = \"laser\"", "");
    let rms = fn_rms();
    let mut laser = trainer(&path, &Overrides::default(), &rms, false);
    let mut kept_batches = 0;
    for _ in 0..2 {
        let report = laser.step().unwrap();
        let arms: HashSet<Option<usize>> = report.routing.iter().map(|r| r.arm).collect();
        assert_eq!(arms.len(), 1, "LASeR used {arms:?} in one batch");
        kept_batches += usize::from(report.routing.iter().any(|r| r.reward.is_some()));
    }
    let router = laser.bandit().unwrap();
    assert_eq!(router.dim(), 64);
    let updates: u64 = (0..3).map(|k| router.updates(k).unwrap()).sum();
    assert_eq!(updates, kept_batches as u64);

    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "kind = \"offline-only\"", "log_contexts = true");
    let mut offline = trainer(&path, &Overrides::default(), &rms, false);
    for _ in 0..2 {
        let report = offline.step().unwrap();
        let router = offline.bandit().unwrap();
        assert!(!router.policy().learns());
        for r in &report.routing {
            let e = r.context.as_ref().unwrap();
            let score = |k: usize| -> f64 {
                router
                    .prior()
                    .mean(k)
                    .iter()
                    .zip(e)
                    .map(|(m, x)| m * x)
                    .sum()
            };
            let best = (0..3).max_by(|&a, &b| score(a).total_cmp(&score(b)).then(b.cmp(&a)));
            assert_eq!(r.arm, best, "offline-only must take argmax μ0ᵀe");
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "kind = \"online-only\"", "");
    let online = trainer(&path, &Overrides::default(), &rms, false);
    let router = online.bandit().unwrap();
    for k in 0..3 {
        assert!(router.prior().mean(k).iter().all(|&m| m == 0.0));
    }
}

/// An RM that fails mid-run is masked for that iteration and its pairs are re-routed; the
/// run goes on; when it comes back it is routed to again.
#[test]
fn a_failing_rm_is_masked_and_rerouted() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "kind = \"random\"", "");
    let rms = fn_rms();
    let mut trainer = trainer(&path, &Overrides::default(), &rms, false);
    trainer.step().unwrap();
    rms[1].down.store(true, Ordering::SeqCst);
    let report = trainer.step().unwrap();
    assert!(report.skipped.is_none());
    assert!(
        report.routing.iter().any(|r| r.rerouted),
        "nothing re-routed"
    );
    assert!(
        report
            .routing
            .iter()
            .all(|r| !r.visited || r.arm != Some(1)),
        "a pair was judged by the dead RM"
    );
    assert!(report.metrics["pairs/rerouted"].as_u64().unwrap() > 0);
    // Every RM down: the iteration is skipped and the router is as it was.
    for rm in &rms {
        rm.down.store(true, Ordering::SeqCst);
    }
    let state = |trainer: &rlhf_trainer::Trainer, name: &str| {
        let path = dir.path().join(name);
        trainer.bandit().unwrap().save(&path).unwrap();
        std::fs::read(path).unwrap()
    };
    let router_before = state(&trainer, "before.json");
    let skipped = trainer.step().unwrap();
    assert!(skipped.skipped.is_some());
    assert!(
        state(&trainer, "after.json") == router_before,
        "a skipped iteration changed the router (its random stream included)"
    );
    for rm in &rms {
        rm.down.store(false, Ordering::SeqCst);
    }
    let back = trainer.step().unwrap();
    assert!(back.routing.iter().any(|r| r.visited && r.arm == Some(1)));
    assert_eq!(back.metrics["iterations/skipped"], 1);
}

/// The LinUCB arm sequence of a LASeR strategy over 24 batches of a programmatic world in
/// which arm 0's batches have a high DPO loss (0.9 nats) and arms 1 and 2 a low one (0.3),
/// with the trainer's normaliser and bandit for that strategy, one fixed batch context.
fn laser_arms(strategy: &str) -> Vec<usize> {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "kind = \"laser\"", "");
    let mut config = rlhf_trainer::TrainerConfig::read(&path, &Overrides::default()).unwrap();
    config.strategy = strategy.parse().unwrap();
    let names: Vec<String> = ["bad", "good", "also-good"].map(String::from).to_vec();
    let mut strategy = rlhf_trainer::Strategy::new(&config, &names, None, 64).unwrap();
    let mut normalizer = rlhf_trainer::Normalizer::new(config.normalizer_kind(), 3).unwrap();
    let bandit = strategy.bandit.as_mut().unwrap();
    let context = vec![0.125; 64];
    let all = bandit::ArmMask::all(3);
    (0..24)
        .map(|t| {
            let arm = bandit.select(&context, &all).unwrap().arm;
            let loss = if arm == 0 { 0.9 } else { 0.3 } + 0.01 * ((t * 7) % 5) as f64;
            let batch = [reward_norm::RoutedLoss { arm, loss }];
            let reward = normalizer.rewards(&batch, &[0]).unwrap()[0].unwrap();
            bandit.update(arm, &context, reward).unwrap();
            arm
        })
        .collect()
}

/// LASeR as its code runs leaves a bad first arm at once; as the paper describes it (0.5
/// rewards for the quantile clamp's 20-batch warm-up, ties to the first arm) it cannot.
#[test]
fn laser_as_coded_leaves_a_bad_first_arm() {
    let coded = laser_arms("laser-code");
    let on_bad = coded.iter().filter(|&&a| a == 0).count();
    assert!(
        on_bad <= 8,
        "laser-code sent {on_bad} of 24 batches to the bad arm: {coded:?}"
    );
    assert!(
        coded.windows(2).all(|w| w != [0, 0]),
        "laser-code stayed on the bad arm: {coded:?}"
    );
    let described = laser_arms("laser");
    assert!(
        described[..19].iter().all(|&a| a == 0),
        "the described LASeR is stuck on arm 0 during the warm-up: {described:?}"
    );
}
