//! Integration tests of the lm crate: one binary, one module per topic.

mod decoder_parity;
mod gguf_fixture;
mod gguf_hostile;
mod real_models;

use std::path::PathBuf;

/// A committed fixture (made by tools/make_fixtures.sh).
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}
