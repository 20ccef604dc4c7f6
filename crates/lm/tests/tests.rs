//! Integration tests of the lm crate: one binary, one module per topic.

mod decoder_parity;
mod generation;
mod gguf_fixture;
mod gguf_hostile;
mod lora;
mod optimizer;
mod real_models;
mod safetensors_hostile;
mod save;
mod tokenizer_parity;

use std::path::PathBuf;

use burn::prelude::Device;
use lm::DeviceSpec;

/// A committed fixture (made by tools/make_fixtures.sh), from `$LM_FIXTURES` when set (a test
/// binary run on another machine) or else this crate's tests/fixtures.
pub fn fixture(name: &str) -> PathBuf {
    std::env::var_os("LM_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"))
        .join(name)
}

pub use test_support::asset;

/// The device the model tests run on: `$LM_TEST_DEVICE` (`cpu`, `libtorch`, `cuda[:N]`; the
/// last two need `--features tch`), default `cpu`.
pub fn test_device() -> Device {
    let spec: DeviceSpec = std::env::var("LM_TEST_DEVICE")
        .unwrap_or_else(|_| "cpu".into())
        .parse()
        .expect("LM_TEST_DEVICE");
    spec.device()
        .expect("LM_TEST_DEVICE names a backend this build has")
}
