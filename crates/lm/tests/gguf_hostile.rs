//! Hostile and truncated GGUF bytes: errors, never panics or huge allocations.

use std::io::Cursor;

use lm::Gguf;
use proptest::prelude::*;

use crate::fixture;

fn parse(bytes: &[u8]) -> Result<(), String> {
    Gguf::read(Cursor::new(bytes))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A header with `n_tensors` tensors and `n_kv` metadata pairs, followed by `rest`.
fn header(version: u32, n_tensors: u64, n_kv: u64, rest: &[u8]) -> Vec<u8> {
    let mut bytes = b"GGUF".to_vec();
    bytes.extend(version.to_le_bytes());
    bytes.extend(n_tensors.to_le_bytes());
    bytes.extend(n_kv.to_le_bytes());
    bytes.extend(rest);
    bytes
}

fn gguf_string(s: &str) -> Vec<u8> {
    let mut bytes = (s.len() as u64).to_le_bytes().to_vec();
    bytes.extend(s.as_bytes());
    bytes
}

#[test]
fn rejects_bad_magic_and_version() {
    assert!(parse(b"GGML\x03\0\0\0").unwrap_err().contains("bad magic"));
    assert!(
        parse(&header(1, 0, 0, &[]))
            .unwrap_err()
            .contains("unsupported version 1")
    );
    assert!(parse(&[]).unwrap_err().contains("truncated"));
    assert!(parse(&header(3, 0, 0, &[])).is_ok());
}

#[test]
fn rejects_oversized_counts_and_lengths() {
    let err = parse(&header(3, u64::MAX, 0, &[])).unwrap_err();
    assert!(
        err.contains("tensor count") && err.contains("limit"),
        "{err}"
    );

    // A metadata key claiming 2^40 bytes.
    let mut rest = (1_u64 << 40).to_le_bytes().to_vec();
    rest.extend(b"abc");
    let err = parse(&header(3, 0, 1, &rest)).unwrap_err();
    assert!(err.contains("string length"), "{err}");

    // A string within the cap but longer than the file.
    let mut rest = 1000_u64.to_le_bytes().to_vec();
    rest.extend(b"abc");
    let err = parse(&header(3, 0, 1, &rest)).unwrap_err();
    assert!(err.contains("truncated"), "{err}");

    // An array claiming 2^30 u8 elements.
    let mut rest = gguf_string("k");
    rest.extend(9_u32.to_le_bytes());
    rest.extend(0_u32.to_le_bytes());
    rest.extend((1_u64 << 30).to_le_bytes());
    let err = parse(&header(3, 0, 1, &rest)).unwrap_err();
    assert!(err.contains("array length"), "{err}");
}

#[test]
fn rejects_bad_tensor_infos() {
    let tensor = |dims: &[u64], type_id: u32, offset: u64| {
        let mut rest = gguf_string("w");
        rest.extend((dims.len() as u32).to_le_bytes());
        for d in dims {
            rest.extend(d.to_le_bytes());
        }
        rest.extend(type_id.to_le_bytes());
        rest.extend(offset.to_le_bytes());
        header(3, 1, 0, &rest)
    };
    let err = parse(&tensor(&[4, 4], 0, 0)).unwrap_err();
    assert!(err.contains("runs past the end"), "{err}");
    let err = parse(&tensor(&[1, 1, 1, 1, 1], 0, 0)).unwrap_err();
    assert!(err.contains("5 dimensions"), "{err}");
    let err = parse(&tensor(&[33], 2, 0)).unwrap_err();
    assert!(err.contains("not whole Q4_0 blocks"), "{err}");
    let err = parse(&tensor(&[32], 99, 0)).unwrap_err();
    assert!(
        err.contains("ggml type id 99") && err.contains("`w`"),
        "{err}"
    );
    let err = parse(&tensor(&[u64::MAX, 4], 0, 0)).unwrap_err();
    assert!(err.contains("overflows"), "{err}");
    let err = parse(&tensor(&[4], 0, 3)).unwrap_err();
    assert!(err.contains("not a multiple of 32"), "{err}");
}

#[test]
fn every_truncation_of_the_fixture_is_an_error() {
    let bytes = std::fs::read(fixture("quants.gguf")).unwrap();
    assert!(parse(&bytes).is_ok());
    // Cut inside the header, inside the tensor infos, and inside the data.
    for len in (0..bytes.len()).step_by(97) {
        assert!(
            parse(&bytes[..len]).is_err(),
            "a file cut at {len} bytes parsed"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// No byte string makes the parser panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&bytes);
        let _ = parse(&header(3, 2, 2, &bytes));
    }

    /// Flipping bytes of a valid file never panics (it may still parse).
    #[test]
    fn corrupted_fixture_never_panics(flips in prop::collection::vec((0usize..4096, any::<u8>()), 1..8)) {
        let mut bytes = std::fs::read(fixture("quants.gguf")).unwrap();
        for (at, value) in flips {
            let at = at % bytes.len().min(4096);
            bytes[at] = value;
        }
        if let Ok(mut gguf) = Gguf::read(Cursor::new(bytes)) {
            let names: Vec<String> = gguf.tensors().iter().map(|t| t.name.clone()).collect();
            for name in names {
                let _ = gguf.tensor_f32(&name);
            }
        }
    }
}
