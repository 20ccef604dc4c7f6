//! Integration tests of rm-pool: one binary, one module per topic.

mod http;
mod in_process;
mod pool;
mod real_judges;

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A committed fixture (tools/make_rm_fixtures.py).
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub use test_support::asset;

/// transformers' references (tools/make_rm_fixtures.py).
#[derive(Deserialize)]
pub struct Expected {
    /// The scored items.
    pub items: Vec<rm_pool::ScoreItem>,
    /// The verdict judge's prompt template.
    pub judge_template: String,
    /// The rating judge's prompt template.
    pub rating_template: String,
    /// The tiny classifier's scores.
    pub rm_scores: Vec<f32>,
    /// log p(Yes) − log p(No) of the tiny judge.
    pub judge_margins: Vec<f32>,
    /// Expected 1–5 rating of the tiny judge.
    pub judge_ratings: Vec<f32>,
}

/// Reads tests/fixtures/expected.json.
pub fn expected() -> Expected {
    let text = std::fs::read_to_string(fixture("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// |a − b| ≤ tol · max(1, |b|) for every entry.
pub fn assert_close(ours: &[f32], reference: &[f32], tol: f32, what: &str) {
    assert_eq!(ours.len(), reference.len(), "{what}");
    for (i, (a, b)) in ours.iter().zip(reference).enumerate() {
        assert!(
            (a - b).abs() <= tol * b.abs().max(1.0),
            "{what}, item {i}: ours {a} vs reference {b}"
        );
    }
}
