//! Test helpers shared by the workspace's test suites (a dev-dependency only): where the real
//! assets and the committed fixtures are.
//!
//! Tests that need fetched assets are not ignored: CI fetches them first (`cargo xtask
//! assets`), and a missing asset fails naming that command.

use std::path::{Path, PathBuf};

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A real asset fetched by `cargo xtask assets` into `./assets` (or `$RM_ROUTING_ASSETS`),
/// e.g. `asset("models/all-MiniLM-L6-v2")`.
///
/// # Panics
/// When it is missing, naming the command that fetches it.
pub fn asset(relative: &str) -> PathBuf {
    let root = std::env::var_os("RM_ROUTING_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("assets"));
    let path = root.join(relative);
    assert!(
        path.exists(),
        "missing asset {}: run `cargo xtask assets` first",
        path.display()
    );
    path
}

/// The tiny Llama decoder of rm-pool's fixtures (2 layers, d = 64, a 128-token BPE
/// vocabulary, a ChatML template; made by tools/make_rm_fixtures.py), as an HF folder.
pub fn tiny_decoder() -> PathBuf {
    workspace_root().join("crates/rm-pool/tests/fixtures/tiny-judge")
}
