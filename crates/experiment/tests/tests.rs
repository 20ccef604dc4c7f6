//! The experiment end to end at `--smoke` size (one binary): every stage runs, the report
//! and its plots exist and parse, every strategy appears with the RM calls its definition
//! implies, a rerun reuses every stage, and the results do not depend on running the
//! online runs in parallel or one by one. A given world built from the smoke run's files
//! (its policy, pool, prompts and routers) reproduces the smoke run's results.

use std::path::Path;
use std::sync::Mutex;

use experiment::{
    Event, ExperimentConfig, GivenWorldConfig, Options, Results, run_experiment, run_given_world,
};
use synthetic_tasks::Split;

/// Runs the smoke experiment into `out` with `jobs` workers; returns the results and the
/// stages that reported themselves cached.
fn smoke(out: &Path, jobs: usize) -> (Results, Vec<String>) {
    let config = ExperimentConfig::embedded().smoke();
    let cached = Mutex::new(Vec::new());
    let observe = |event: &Event| {
        if let Event::Finished {
            stage,
            cached: true,
            ..
        } = event
        {
            cached.lock().unwrap().push(stage.clone());
        }
    };
    let options = Options {
        out: out.to_path_buf(),
        fresh: false,
        jobs,
    };
    let outcome = run_experiment(&config, &options, &observe).unwrap();
    (outcome.results, cached.into_inner().unwrap())
}

#[test]
fn smoke_runs_every_stage_and_strategy_deterministically() {
    let config = ExperimentConfig::embedded().smoke();
    let parallel = tempfile::tempdir().unwrap();
    let (results, cached) = smoke(parallel.path(), 2);
    assert!(cached.is_empty(), "a fresh folder reused {cached:?}");
    let dir = parallel.path().join(&config.name);

    // The files: results.json round-trips, report.md names every strategy, SVGs parse.
    assert_eq!(
        Results::read_json(&dir.join("results.json")).unwrap(),
        results
    );
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let mut svgs: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".svg"))
        .collect();
    svgs.sort();
    // Exactly the planned plots: both conditions' accuracy plots, the arm shares of the
    // routed strategies named for them, the RM calls.
    let plots = experiment::report::plan(&results);
    let mut planned: Vec<String> = plots.iter().map(|plot| plot.file_name()).collect();
    planned.sort();
    assert_eq!(svgs, planned);
    let conditions = results.conditions();
    assert_eq!(conditions.len(), 2, "{conditions:?}");
    for condition in conditions {
        let name = experiment::report::file_safe(condition);
        assert!(
            svgs.contains(&format!("policy_accuracy_{name}.svg")),
            "{svgs:?}"
        );
        assert!(
            svgs.contains(&format!("label_accuracy_{name}.svg")),
            "{svgs:?}"
        );
    }
    for plot in &plots {
        // Well-formed XML whose root is <svg>, captioned with the plot's title, linked
        // from the report.
        let text = std::fs::read_to_string(dir.join(plot.file_name())).unwrap();
        let mut root = None;
        let mut texts = String::new();
        for event in xml::EventReader::from_str(&text) {
            match event.unwrap_or_else(|e| panic!("{}: {e}", plot.file_name())) {
                xml::reader::XmlEvent::StartElement { name, .. } if root.is_none() => {
                    root = Some(name.local_name);
                }
                xml::reader::XmlEvent::Characters(chars) => texts.push_str(&chars),
                _ => {}
            }
        }
        assert_eq!(root.as_deref(), Some("svg"), "{}", plot.file_name());
        assert!(
            texts.contains(&plot.title()),
            "{}: no caption",
            plot.file_name()
        );
        assert!(report.contains(&format!("]({})", plot.file_name())));
    }

    // Every strategy in both conditions, with the RM calls its definition implies.
    let k = config.reward_models.rm.len() as u64;
    let prompts = (config.online.iterations * config.online.prompts_per_batch) as u64;
    let responses = prompts * config.online.samples_per_prompt as u64;
    for strategy in config.expanded_strategies().unwrap() {
        let name = strategy.name();
        assert!(report.contains(&name), "report.md lacks {name}");
        for condition in ["in-distribution", "shifted"] {
            let runs: Vec<_> = results
                .runs
                .iter()
                .filter(|r| r.strategy == name && r.condition == condition)
                .collect();
            assert_eq!(runs.len(), config.seeds, "{name} / {condition}");
            for run in runs {
                match name.as_str() {
                    // Every RM scores every distinct response (the pool's cache scores a
                    // repeated text once).
                    "ensemble" | "majority" => assert!(
                        run.rm_calls.is_multiple_of(k)
                            && run.rm_calls <= k * responses
                            && run.rm_calls >= k * prompts,
                        "{name}: {} calls for {responses} responses",
                        run.rm_calls
                    ),
                    "oracle" => assert_eq!(run.rm_calls, 0),
                    // One RM per judged pair: at most its two responses each.
                    _ => assert!(
                        run.rm_calls >= 1 && run.rm_calls <= 2 * run.pairs_judged,
                        "{name}: {} calls for {} pairs",
                        run.rm_calls,
                        run.pairs_judged
                    ),
                }
            }
        }
    }
    assert_eq!(results.rm_accuracy.len(), config.reward_models.rm.len());
    assert_eq!(results.offline_router.len(), 2);

    // A rerun reuses every stage and every online run.
    let (again, cached) = smoke(parallel.path(), 2);
    assert_eq!(again, results);
    for stage in ["tokenizer", "sft", "reward-models", "offline-router"] {
        assert!(
            cached.iter().any(|s| s == stage),
            "{stage} not reused: {cached:?}"
        );
    }

    // One by one, from scratch: the same results.json, byte for byte.
    let sequential = tempfile::tempdir().unwrap();
    smoke(sequential.path(), 1);
    let text = |root: &Path| {
        std::fs::read_to_string(root.join(&config.name).join("results.json")).unwrap()
    };
    assert!(
        text(sequential.path()) == text(parallel.path()),
        "results.json differs between --jobs 1 and --jobs 2"
    );

    given_world_reproduces_the_suite_runs(&config, parallel.path(), &results);
}

/// Builds a given world from the smoke run in `root` (a run's train.toml as the template,
/// the smoke's routers, its evaluation tasks as a prompts file with references) and checks
/// that its runs equal the smoke run's, and that a missing file is named before any run.
fn given_world_reproduces_the_suite_runs(config: &ExperimentConfig, root: &Path, suite: &Results) {
    let online = root.join(&config.name).join("online");
    let run_dir = std::fs::read_dir(&online)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            name.starts_with("bayesian-v5-in-distribution-s0-")
        })
        .expect("the smoke's bayesian-v5 run");
    let template = std::fs::read_to_string(run_dir.join("train.toml")).unwrap();
    let router_of = |text: &str| -> String {
        let table: toml::Table = toml::from_str(text).unwrap();
        table["data"]["router"].as_str().unwrap().to_string()
    };
    let in_distribution = router_of(&template);
    let shifted = in_distribution.replace("in-distribution", "shifted");
    assert!(Path::new(&shifted).exists(), "{shifted}");
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("train.toml"), &template).unwrap();
    let eval = synthetic_tasks::sample(
        &config.suite,
        Split::Eval,
        config.eval.prompts_per_domain,
        config.seed,
    )
    .unwrap();
    experiment::online::write_prompts(&work.path().join("eval.jsonl"), &eval).unwrap();
    let text = format!(
        r#"
name = "given"
seeds = 1
strategies = ["bayesian-v5", "random", "single:*"]
[world]
trainer = "train.toml"
routers = {{ in-distribution = "{in_distribution}", shifted = "{shifted}" }}
[eval]
prompts = "eval.jsonl"
task = "synthetic"
max_new_tokens = {}
"#,
        config.online.max_new_tokens
    );
    let file = work.path().join("given.toml");
    std::fs::write(&file, &text).unwrap();
    let given = GivenWorldConfig::read(&file).unwrap();
    let options = Options {
        out: work.path().join("out"),
        fresh: false,
        jobs: 2,
    };
    let outcome = run_given_world(&given, &options, &|_| {}).unwrap();
    let results = outcome.results;
    assert_eq!(results.sft_accuracy, suite.sft_accuracy);
    assert!(results.rm_accuracy.is_empty() && results.offline_router.is_empty());
    assert_eq!(results.rm_names, suite.rm_names);
    let expected = 2 * (2 + 1 + config.reward_models.rm.len());
    assert_eq!(results.runs.len(), expected, "{:?}", results.runs);
    for run in &results.runs {
        let twin = suite
            .runs
            .iter()
            .find(|r| {
                r.strategy == run.strategy && r.condition == run.condition && r.seed == run.seed
            })
            .unwrap_or_else(|| panic!("no smoke run {} / {}", run.strategy, run.condition));
        assert_eq!(run, twin, "{} / {}", run.strategy, run.condition);
    }
    let report = std::fs::read_to_string(outcome.report).unwrap();
    assert!(report.contains("Not measured here"), "{report}");

    // A missing router is named before anything runs.
    let missing = text.replace(&shifted, "/nowhere/best");
    std::fs::write(&file, missing).unwrap();
    let given = GivenWorldConfig::read(&file).unwrap();
    let err = run_given_world(&given, &options, &|_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("world.routers.shifted") && err.contains("/nowhere/best"),
        "{err}"
    );
}
