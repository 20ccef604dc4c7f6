//! Hostile and truncated safetensors files: loading a checkpoint from them gives an error,
//! never a panic or a huge allocation, whatever the bytes.

use std::path::Path;

use lm::{WeightDType, load_causal_lm};
use proptest::prelude::*;

use crate::fixture;

/// The llama fixture's config.json beside `weights` as model.safetensors, loaded.
fn load_with_weights(weights: &[u8]) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("llama/config.json"), dir.path().join("config.json")).unwrap();
    std::fs::write(dir.path().join("model.safetensors"), weights).unwrap();
    load(dir.path())
}

fn load(dir: &Path) -> Result<(), String> {
    load_causal_lm(dir, &crate::test_device(), WeightDType::F32)
        .map(|_| ())
        .map_err(|err| err.to_string())
}

fn real_weights() -> Vec<u8> {
    std::fs::read(fixture("llama/model.safetensors")).unwrap()
}

/// A safetensors file: 8-byte little-endian header length, the JSON header, the data.
fn with_header(header: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header.as_bytes());
    bytes.extend(data);
    bytes
}

#[test]
fn the_untouched_fixture_loads() {
    load_with_weights(&real_weights()).unwrap();
}

#[test]
fn rejects_malformed_headers_with_a_reason() {
    // (what is wrong, the bytes, what the error says)
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty file", Vec::new(), "header too small"),
        (
            "header length past the end",
            u64::MAX.to_le_bytes().to_vec(),
            "header too large",
        ),
        (
            "header not JSON",
            with_header("{not json", &[]),
            "invalid JSON",
        ),
        (
            "offsets past the data",
            with_header(
                r#"{"model.embed_tokens.weight":{"dtype":"F32","shape":[128,64],"data_offsets":[0,32768]}}"#,
                &[0; 16],
            ),
            "not fully covered",
        ),
        (
            "shape disagrees with the byte count",
            with_header(
                r#"{"model.embed_tokens.weight":{"dtype":"F32","shape":[128,64],"data_offsets":[0,16]}}"#,
                &[0; 16],
            ),
            "invalid shape",
        ),
        (
            "unknown dtype",
            with_header(
                r#"{"model.embed_tokens.weight":{"dtype":"F7","shape":[2],"data_offsets":[0,8]}}"#,
                &[0; 8],
            ),
            "`F7`",
        ),
    ];
    for (what, bytes, reason) in cases {
        let err = load_with_weights(&bytes).expect_err(what);
        assert!(
            err.contains("model.safetensors") && err.contains(reason),
            "{what}: {err}"
        );
    }
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = real_weights();
    let header_end = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    // Inside the length, inside the header, at its end, inside the data.
    for cut in [
        0,
        3,
        8,
        9,
        header_end / 2,
        header_end,
        header_end + 1,
        bytes.len() - 1,
    ] {
        assert!(load_with_weights(&bytes[..cut]).is_err(), "cut at {cut}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Arbitrary bytes: an error (they are never a checkpoint of the right tensors).
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        prop_assert!(load_with_weights(&bytes).is_err());
    }

    /// The real file with bytes overwritten anywhere in its length prefix or header: loads
    /// or errors, never panics.
    #[test]
    fn corrupted_headers_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = real_weights();
        let header_end = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        for (at, value) in edits {
            bytes[at.index(header_end)] = value;
        }
        let _ = load_with_weights(&bytes);
    }
}
