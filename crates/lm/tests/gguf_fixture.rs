//! The GGUF fixture written by the `gguf` Python package: metadata of every value type, and
//! one tensor per supported ggml type whose dequantisation must equal the package's own
//! (`<name>.expected`) bit for bit.

use lm::{GgmlType, Gguf, MetadataValue};

use crate::fixture;

#[test]
fn dequantisation_equals_the_reference_bit_for_bit() {
    let mut gguf = Gguf::open(&fixture("quants.gguf")).unwrap();
    let cases = [
        ("f32", GgmlType::F32),
        ("f16", GgmlType::F16),
        ("bf16", GgmlType::BF16),
        ("q8_0", GgmlType::Q8_0),
        ("q4_0", GgmlType::Q4_0),
        ("q4_1", GgmlType::Q4_1),
        ("q5_0", GgmlType::Q5_0),
        ("q5_1", GgmlType::Q5_1),
        ("q4_k", GgmlType::Q4_K),
        ("q5_k", GgmlType::Q5_K),
        ("q6_k", GgmlType::Q6_K),
    ];
    for (name, ty) in cases {
        assert_eq!(gguf.tensor_info(name).unwrap().ggml_type, ty, "{name}");
        let (shape, values) = gguf.tensor_f32(name).unwrap();
        assert_eq!(shape, vec![3, 512], "{name}");
        let expected_name = if name == "f32" {
            "f32"
        } else {
            &format!("{name}.expected")
        };
        let (expected_shape, expected) = gguf.tensor_f32(expected_name).unwrap();
        assert_eq!(shape, expected_shape, "{name}");
        let mismatches = values
            .iter()
            .zip(&expected)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        assert_eq!(
            mismatches,
            0,
            "{name}: {mismatches} of {} values differ",
            values.len()
        );
        assert!(values.iter().all(|v| v.is_finite()), "{name}");
    }
}

#[test]
fn metadata_of_every_type() {
    let gguf = Gguf::open(&fixture("quants.gguf")).unwrap();
    assert_eq!(gguf.version(), 3);
    let get = |key: &str| gguf.get(key).unwrap().clone();
    assert_eq!(get("test.u8"), MetadataValue::U8(200));
    assert_eq!(get("test.i8"), MetadataValue::I8(-100));
    assert_eq!(get("test.u16"), MetadataValue::U16(60000));
    assert_eq!(get("test.i16"), MetadataValue::I16(-30000));
    assert_eq!(get("test.u32"), MetadataValue::U32(4_000_000_000));
    assert_eq!(get("test.i32"), MetadataValue::I32(-2_000_000_000));
    assert_eq!(get("test.f32"), MetadataValue::F32(0.15625));
    assert_eq!(get("test.bool"), MetadataValue::Bool(true));
    assert_eq!(gguf.require_str("test.string").unwrap(), "héllo, wörld ✓");
    assert_eq!(get("test.u64"), MetadataValue::U64((1 << 63) + 5));
    assert_eq!(get("test.i64"), MetadataValue::I64(-(1 << 62)));
    assert_eq!(get("test.f64"), MetadataValue::F64(-2.5e-300));
    assert_eq!(
        get("test.array_i32"),
        MetadataValue::Array(vec![
            MetadataValue::I32(1),
            MetadataValue::I32(-2),
            MetadataValue::I32(3)
        ])
    );
    assert_eq!(
        get("test.array_str"),
        MetadataValue::Array(
            ["a", "", "ç"]
                .map(|s| MetadataValue::String(s.into()))
                .to_vec()
        )
    );
    assert_eq!(gguf.require_u64("general.alignment").unwrap(), 64);
    assert_eq!(gguf.require_str("general.architecture").unwrap(), "fixture");
}

#[test]
fn lookups_name_what_is_missing_or_mistyped() {
    let mut gguf = Gguf::open(&fixture("quants.gguf")).unwrap();
    let err = gguf.require("llama.block_count").unwrap_err().to_string();
    assert!(err.contains("`llama.block_count` is missing"), "{err}");
    let err = gguf.require_u64("test.string").unwrap_err().to_string();
    assert!(
        err.contains("test.string") && err.contains("found string"),
        "{err}"
    );
    let err = gguf
        .tensor_f32("token_embd.weight")
        .unwrap_err()
        .to_string();
    assert!(err.contains("`token_embd.weight` is missing"), "{err}");
}
