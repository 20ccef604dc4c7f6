//! Records files, the split, and verifier-grounded data without a policy.

use eval_harness::gsm8k::Gsm8kDoc;
use eval_harness::mmlu::MmluDoc;
use offline_router::build::{BuildOptions, gsm8k_pairs, gsm8k_reference_answer, mmlu_pairs};
use offline_router::{
    JudgedPair, Judgment, SplitFractions, read_records, routing_records, split_by_prompt,
    write_records,
};

#[test]
fn records_round_trip_with_judgments() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.jsonl");
    std::fs::write(
        &path,
        concat!(
            r#"{"prompt":"q1","chosen":"a","rejected":"b","category":"x","judgments":{"rm1":{"correct":true,"margin":0.5}}}"#,
            "\n\n",
            r#"{"prompt":[{"role":"user","content":"q2"}],"chosen":"c","rejected":"d"}"#,
            "\n"
        ),
    )
    .unwrap();
    let records = read_records(&path).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(
        records[0].judgments["rm1"],
        Judgment {
            correct: true,
            margin: 0.5
        }
    );
    assert!(records[1].judgments.is_empty());
    let copy = dir.path().join("copy.jsonl");
    write_records(&copy, &records).unwrap();
    assert_eq!(read_records(&copy).unwrap(), records);
}

#[test]
fn bad_records_name_the_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.jsonl");
    let cases = [
        (r#"{"prompt":"q","chosen":"a"}"#, "rejected"),
        (
            r#"{"prompt":"q","chosen":"a","rejected":"b","judgments":{"rm":{"correct":true}}}"#,
            "judgments",
        ),
        (
            r#"{"prompt":"q","chosen":"a","rejected":"b","judgments":{"rm":{"correct":true,"margin":-1}}}"#,
            "rm",
        ),
    ];
    for (line, field) in cases {
        std::fs::write(
            &path,
            format!("{{\"prompt\":\"ok\",\"chosen\":\"a\",\"rejected\":\"b\"}}\n{line}\n"),
        )
        .unwrap();
        let err = read_records(&path).unwrap_err().to_string();
        assert!(err.contains("r.jsonl:2") && err.contains(field), "{err}");
    }
}

#[test]
fn a_missing_judgment_names_the_record_and_rm() {
    let pair = rm_pool::PreferencePair {
        prompt: vec![lm::ChatMessage::user("q")],
        chosen: "a".into(),
        rejected: "b".into(),
        reference: None,
        category: None,
    };
    let mut record = JudgedPair::new(pair);
    record
        .judgments
        .insert("one".into(), Judgment::from_scores(1.0, 0.0));
    let err = routing_records(&[record], &["one".into(), "two".into()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("record 0") && err.contains("`two`"), "{err}");
}

/// The split is by prompt (all pairs of a prompt on one side), deterministic, and close to
/// the asked fraction.
#[test]
fn split_keeps_prompts_together() {
    let judged: Vec<JudgedPair> = (0..400)
        .map(|i| {
            let mut record = JudgedPair::new(rm_pool::PreferencePair {
                prompt: vec![lm::ChatMessage::user(format!("prompt {}", i / 2))],
                chosen: format!("a{i}"),
                rejected: format!("b{i}"),
                reference: None,
                category: None,
            });
            record
                .judgments
                .insert("rm".into(), Judgment::from_scores(1.0, 0.0));
            record
        })
        .collect();
    let records = routing_records(&judged, &["rm".into()]).unwrap();
    let fractions = SplitFractions {
        validation: 0.25,
        test: 0.2,
    };
    let split = split_by_prompt(&records, fractions, 9);
    assert_eq!(
        split.train.len() + split.validation.len() + split.test.len(),
        400
    );
    for (part, expected) in [(&split.validation, 0.25), (&split.test, 0.2)] {
        let fraction = part.len() as f64 / 400.0;
        assert!(
            (expected - 0.1..expected + 0.1).contains(&fraction),
            "{fraction}"
        );
        for &i in part {
            let sibling = i ^ 1;
            assert!(part.contains(&sibling), "prompt of record {i} split");
        }
    }
    assert_eq!(split_by_prompt(&records, fractions, 9), split);
    // Without a test part the validation part is the old two-way split's.
    let two_way = split_by_prompt(
        &records,
        SplitFractions {
            validation: 0.25,
            test: 0.0,
        },
        9,
    );
    assert!(two_way.test.is_empty());
}

#[test]
fn gsm8k_reference_answers_read_as_prose() {
    let solution = "She sold 48/2 = <<48/2=24>>24 clips.\nIn all 48+24 = <<48+24=72>>72.\n#### 72";
    assert_eq!(
        gsm8k_reference_answer(solution),
        "She sold 48/2 = 24 clips.\nIn all 48+24 = 72.\nThe answer is 72."
    );
    let doc = Gsm8kDoc {
        question: "How many?".into(),
        answer: solution.into(),
    };
    // Without a policy there is no incorrect candidate: no pair, counted.
    let (pairs, stats) =
        gsm8k_pairs(&[doc], None, &BuildOptions::default(), &mut |_, _| {}).unwrap();
    assert!(pairs.is_empty());
    assert_eq!(stats.prompts_without_pairs, 1);
}

#[test]
fn mmlu_references_beat_distractors() {
    let doc = MmluDoc {
        subject: "astronomy".into(),
        question: "Which is a planet?".into(),
        choices: ["Sun".into(), "Mars".into(), "Moon".into(), "Io".into()],
        answer: 1,
    };
    let options = BuildOptions {
        max_pairs_per_prompt: 3,
        ..BuildOptions::default()
    };
    let (pairs, stats) = mmlu_pairs(&[doc], None, &options, &mut |_, _| {}).unwrap();
    assert_eq!(stats.pairs, 3);
    for pair in &pairs {
        assert_eq!(pair.chosen, "The answer is (B) Mars.");
        assert!(pair.rejected.starts_with("The answer is (") && !pair.rejected.contains("Mars"));
        assert_eq!(pair.category.as_deref(), Some("mmlu"));
        assert!(pair.prompt[0].content.contains("B. Mars"));
    }
}
