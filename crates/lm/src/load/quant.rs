//! ggml tensor types and their dequantisation to f32.
//!
//! Layouts follow ggml (llama.cpp `ggml-common.h`): a quantised tensor is a sequence of
//! fixed-size blocks, each holding a few f16 scales and packed integer codes for `block_size`
//! consecutive elements of a row. The arithmetic below is done in f32 in the same order as the
//! `gguf` Python package's reference dequantisation, so the results are bit-identical to it.

use half::{bf16, f16};

use crate::error::{Error, Result};

/// Elements in one super-block of the K-quants.
const QK_K: usize = 256;

// Block sizes in bytes, pinned against their field layouts.
const Q4_0_BYTES: usize = 18;
const Q4_1_BYTES: usize = 20;
const Q5_0_BYTES: usize = 22;
const Q5_1_BYTES: usize = 24;
const Q8_0_BYTES: usize = 34;
const Q4_K_BYTES: usize = 144;
const Q5_K_BYTES: usize = 176;
const Q6_K_BYTES: usize = 210;
const _: () = assert!(Q4_0_BYTES == 2 + 32 / 2); // d, 32 nibbles
const _: () = assert!(Q4_1_BYTES == 2 + 2 + 32 / 2); // d, m, 32 nibbles
const _: () = assert!(Q5_0_BYTES == 2 + 4 + 32 / 2); // d, high bits, 32 nibbles
const _: () = assert!(Q5_1_BYTES == 2 + 2 + 4 + 32 / 2); // d, m, high bits, 32 nibbles
const _: () = assert!(Q8_0_BYTES == 2 + 32); // d, 32 bytes
const _: () = assert!(Q4_K_BYTES == 2 + 2 + 12 + QK_K / 2); // d, dmin, scales, nibbles
const _: () = assert!(Q5_K_BYTES == 2 + 2 + 12 + QK_K / 8 + QK_K / 2); // + high bits
const _: () = assert!(Q6_K_BYTES == QK_K / 2 + QK_K / 4 + QK_K / 16 + 2); // ql, qh, scales, d

/// A ggml element type, by its id in GGUF tensor infos.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types, missing_docs)]
#[non_exhaustive]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K,
    I8,
    I16,
    I32,
    I64,
    F64,
    BF16,
}

impl GgmlType {
    /// The type with ggml id `id`, if it is one whose block layout this crate knows.
    pub fn from_id(id: u32) -> Option<Self> {
        Some(match id {
            0 => Self::F32,
            1 => Self::F16,
            2 => Self::Q4_0,
            3 => Self::Q4_1,
            6 => Self::Q5_0,
            7 => Self::Q5_1,
            8 => Self::Q8_0,
            9 => Self::Q8_1,
            10 => Self::Q2_K,
            11 => Self::Q3_K,
            12 => Self::Q4_K,
            13 => Self::Q5_K,
            14 => Self::Q6_K,
            15 => Self::Q8_K,
            24 => Self::I8,
            25 => Self::I16,
            26 => Self::I32,
            27 => Self::I64,
            28 => Self::F64,
            30 => Self::BF16,
            _ => return None,
        })
    }

    /// The ggml name, e.g. `"Q4_K"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::Q4_0 => "Q4_0",
            Self::Q4_1 => "Q4_1",
            Self::Q5_0 => "Q5_0",
            Self::Q5_1 => "Q5_1",
            Self::Q8_0 => "Q8_0",
            Self::Q8_1 => "Q8_1",
            Self::Q2_K => "Q2_K",
            Self::Q3_K => "Q3_K",
            Self::Q4_K => "Q4_K",
            Self::Q5_K => "Q5_K",
            Self::Q6_K => "Q6_K",
            Self::Q8_K => "Q8_K",
            Self::I8 => "I8",
            Self::I16 => "I16",
            Self::I32 => "I32",
            Self::I64 => "I64",
            Self::F64 => "F64",
            Self::BF16 => "BF16",
        }
    }

    /// (elements per block, bytes per block).
    pub fn block_layout(self) -> (usize, usize) {
        match self {
            Self::F32 | Self::I32 => (1, 4),
            Self::F16 | Self::BF16 | Self::I16 => (1, 2),
            Self::I8 => (1, 1),
            Self::I64 | Self::F64 => (1, 8),
            Self::Q4_0 => (32, Q4_0_BYTES),
            Self::Q4_1 => (32, Q4_1_BYTES),
            Self::Q5_0 => (32, Q5_0_BYTES),
            Self::Q5_1 => (32, Q5_1_BYTES),
            Self::Q8_0 => (32, Q8_0_BYTES),
            Self::Q8_1 => (32, 36),
            Self::Q2_K => (QK_K, 84),
            Self::Q3_K => (QK_K, 110),
            Self::Q4_K => (QK_K, Q4_K_BYTES),
            Self::Q5_K => (QK_K, Q5_K_BYTES),
            Self::Q6_K => (QK_K, Q6_K_BYTES),
            Self::Q8_K => (QK_K, 292),
        }
    }

    /// Bytes taken by `n_elements` elements, or `None` if they are not a whole number of
    /// blocks (or the size overflows).
    pub fn bytes_for(self, n_elements: u64) -> Option<u64> {
        let (block, bytes) = self.block_layout();
        let block = block as u64;
        n_elements
            .is_multiple_of(block)
            .then(|| (n_elements / block).checked_mul(bytes as u64))
            .flatten()
    }

    /// Whether [`dequantize`] handles this type.
    pub fn is_dequantizable(self) -> bool {
        matches!(
            self,
            Self::F32
                | Self::F16
                | Self::BF16
                | Self::Q4_0
                | Self::Q4_1
                | Self::Q5_0
                | Self::Q5_1
                | Self::Q8_0
                | Self::Q4_K
                | Self::Q5_K
                | Self::Q6_K
        )
    }
}

/// Dequantises `bytes` holding whole blocks of `ty` into f32 values, appended to `out`.
///
/// `tensor` names the tensor in errors. The caller guarantees `bytes.len()` is a whole number
/// of blocks (the GGUF reader checks tensor extents).
pub fn dequantize(ty: GgmlType, tensor: &str, bytes: &[u8], out: &mut Vec<f32>) -> Result<()> {
    let (block, block_bytes) = ty.block_layout();
    out.reserve(bytes.len() / block_bytes * block);
    let blocks = bytes.chunks_exact(block_bytes);
    match ty {
        GgmlType::F32 => out.extend(blocks.map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
        GgmlType::F16 => out.extend(blocks.map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())),
        GgmlType::BF16 => out.extend(blocks.map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())),
        GgmlType::Q4_0 => blocks.for_each(|b| q4_0(b, out)),
        GgmlType::Q4_1 => blocks.for_each(|b| q4_1(b, out)),
        GgmlType::Q5_0 => blocks.for_each(|b| q5(b, false, out)),
        GgmlType::Q5_1 => blocks.for_each(|b| q5(b, true, out)),
        GgmlType::Q8_0 => blocks.for_each(|b| q8_0(b, out)),
        GgmlType::Q4_K => blocks.for_each(|b| q4_k(b, out)),
        GgmlType::Q5_K => blocks.for_each(|b| q5_k(b, out)),
        GgmlType::Q6_K => blocks.for_each(|b| q6_k(b, out)),
        _ => {
            return Err(Error::UnsupportedQuantization {
                tensor: tensor.to_string(),
                type_name: ty.name().to_string(),
            });
        }
    }
    Ok(())
}

/// Reads a little-endian f16 at `at` as f32.
fn half_at(block: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([block[at], block[at + 1]]).to_f32()
}

/// Q4_0: x = d·(q − 8); element i < 16 is the low nibble of byte i, element i + 16 the high.
fn q4_0(block: &[u8], out: &mut Vec<f32>) {
    let d = half_at(block, 0);
    let codes = &block[2..18];
    out.extend(codes.iter().map(|q| d * ((q & 0x0F) as f32 - 8.0)));
    out.extend(codes.iter().map(|q| d * ((q >> 4) as f32 - 8.0)));
}

/// Q4_1: x = d·q + m, nibbles as in Q4_0.
fn q4_1(block: &[u8], out: &mut Vec<f32>) {
    let (d, m) = (half_at(block, 0), half_at(block, 2));
    let codes = &block[4..20];
    out.extend(codes.iter().map(|q| d * (q & 0x0F) as f32 + m));
    out.extend(codes.iter().map(|q| d * (q >> 4) as f32 + m));
}

/// Q5_0 (x = d·(q − 16)) and Q5_1 (x = d·q + m): 4 low bits as in Q4_0, the fifth bit of
/// element i in bit i of a little-endian u32.
fn q5(block: &[u8], with_min: bool, out: &mut Vec<f32>) {
    let d = half_at(block, 0);
    let (m, rest) = if with_min {
        (half_at(block, 2), &block[4..])
    } else {
        (0.0, &block[2..])
    };
    let high = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
    let codes = &rest[4..20];
    // Two formulas, not one with m = 0: d·(q − 16) + 0 would turn ggml's −0.0 into +0.0.
    let value = |q: u8| {
        if with_min {
            d * q as f32 + m
        } else {
            d * (q as f32 - 16.0)
        }
    };
    for (half, shift) in [(0, 0), (16, 4)] {
        out.extend(codes.iter().enumerate().map(|(i, byte)| {
            value(((byte >> shift) & 0x0F) | ((((high >> (i + half)) & 1) as u8) << 4))
        }));
    }
}

/// Q8_0: x = d·q with q a signed byte.
fn q8_0(block: &[u8], out: &mut Vec<f32>) {
    let d = half_at(block, 0);
    out.extend(block[2..34].iter().map(|&q| d * (q as i8) as f32));
}

/// The 6-bit scale and min of sub-block `j` (0..8) of a Q4_K/Q5_K super-block, packed in 12
/// bytes: sub-blocks 0–3 in the low 6 bits of bytes 0–3 (scales) and 4–7 (mins); sub-blocks
/// 4–7 as a nibble of bytes 8–11 plus the top two bits of bytes 0–7.
fn k_scale_min(scales: &[u8], j: usize) -> (f32, f32) {
    let (scale, min) = if j < 4 {
        (scales[j] & 63, scales[j + 4] & 63)
    } else {
        (
            (scales[j + 4] & 0x0F) | ((scales[j - 4] >> 6) << 4),
            (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4),
        )
    };
    (scale as f32, min as f32)
}

/// Q4_K: 8 sub-blocks of 32; x = (d·scale_j)·q − (dmin·min_j). Bytes 32c..32c+32 of the codes
/// hold sub-block 2c in their low nibbles and 2c + 1 in their high nibbles.
fn q4_k(block: &[u8], out: &mut Vec<f32>) {
    k_quant(&block[..4], &block[4..16], None, &block[16..144], out);
}

/// Q5_K: Q4_K plus a fifth bit: bit j of high-bit byte l belongs to element l of sub-block j.
fn q5_k(block: &[u8], out: &mut Vec<f32>) {
    k_quant(
        &block[..4],
        &block[4..16],
        Some(&block[16..48]),
        &block[48..176],
        out,
    );
}

/// The shared Q4_K/Q5_K loop: `header` holds d and dmin (f16), `scales` the packed 6-bit
/// scales and mins, `high` the optional fifth bits, `codes` the nibbles.
fn k_quant(header: &[u8], scales: &[u8], high: Option<&[u8]>, codes: &[u8], out: &mut Vec<f32>) {
    let (d, dmin) = (half_at(header, 0), half_at(header, 2));
    for j in 0..8 {
        let (scale, min) = k_scale_min(scales, j);
        let (dl, ml) = (d * scale, dmin * min);
        let shift = 4 * (j % 2);
        let chunk = &codes[32 * (j / 2)..32 * (j / 2) + 32];
        out.extend(chunk.iter().enumerate().map(|(l, q)| {
            let fifth = high.map_or(0, |h| ((h[l] >> j) & 1) << 4);
            dl * (((q >> shift) & 0x0F) | fifth) as f32 - ml
        }));
    }
}

/// Q6_K: 16 sub-blocks of 16 with signed 8-bit scales; q = 4 low bits | 2 high bits << 4,
/// minus 32; x = (d·scale)·q. Each half of 128 elements uses 64 low-bit bytes and 32 high-bit
/// bytes: group g (0..4) of 32 takes the low (g < 2) or high nibble of low-bit bytes
/// 32·(g mod 2)..+32, and bits 2g..2g+2 of the high-bit bytes.
fn q6_k(block: &[u8], out: &mut Vec<f32>) {
    let low = &block[0..128];
    let high = &block[128..192];
    let scales = &block[192..208];
    let d = half_at(block, 208);
    for half in 0..2 {
        for group in 0..4 {
            let low_bytes = &low[64 * half + 32 * (group % 2)..][..32];
            let high_bytes = &high[32 * half..][..32];
            let low_shift = 4 * (group / 2);
            for l in 0..32 {
                let q = ((low_bytes[l] >> low_shift) & 0x0F)
                    | (((high_bytes[l] >> (2 * group)) & 0x03) << 4);
                let index = 128 * half + 32 * group + l;
                let scale = (scales[index / 16] as i8) as f32;
                out.push((d * scale) * (q as i8 - 32) as f32);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_dequantizable_names_exactly_the_types_dequantize_reads() {
        for ty in (0..64).filter_map(GgmlType::from_id) {
            let read = dequantize(ty, "t", &[], &mut Vec::new()).is_ok();
            assert_eq!(ty.is_dequantizable(), read, "{}", ty.name());
        }
    }

    /// Q8_0 by hand: d = 0.5 (f16 0x3800), codes 0, 1, −1, 127, −128, then zeros.
    #[test]
    fn q8_0_by_hand() {
        let mut block = vec![0x00, 0x38, 0, 1, 0xFF, 127, 0x80];
        block.resize(Q8_0_BYTES, 0);
        let mut out = Vec::new();
        dequantize(GgmlType::Q8_0, "t", &block, &mut out).unwrap();
        assert_eq!(&out[..5], &[0.0, 0.5, -0.5, 63.5, -64.0]);
        assert_eq!(out.len(), 32);
    }

    /// Q4_0 by hand: d = 2 (f16 0x4000), byte 0 = 0x9F → element 0 = 2·(15 − 8) = 14,
    /// element 16 = 2·(9 − 8) = 2.
    #[test]
    fn q4_0_by_hand() {
        let mut block = vec![0x00, 0x40, 0x9F];
        block.resize(Q4_0_BYTES, 0x88);
        let mut out = Vec::new();
        dequantize(GgmlType::Q4_0, "t", &block, &mut out).unwrap();
        assert_eq!((out[0], out[16], out[1]), (14.0, 2.0, 0.0));
    }

    #[test]
    fn unsupported_types_are_named() {
        let err = dequantize(
            GgmlType::Q2_K,
            "blk.0.ffn_up.weight",
            &[0; 84],
            &mut Vec::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("Q2_K") && err.contains("blk.0.ffn_up.weight"),
            "{err}"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(GgmlType::Q4_K.bytes_for(512), Some(288));
        assert_eq!(GgmlType::Q4_K.bytes_for(100), None);
        assert_eq!(GgmlType::F32.bytes_for(u64::MAX), None);
        assert_eq!(GgmlType::from_id(30), Some(GgmlType::BF16));
        assert_eq!(GgmlType::from_id(4), None);
    }
}
