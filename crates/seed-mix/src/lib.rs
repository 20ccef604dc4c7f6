//! Stable seeded hashes, the workspace's one set: every random stream that must not depend
//! on the order things run in (an iteration's sampling, a prompt's pair order, a split's
//! stream) derives its seed from where it is with [`mix`], built on SplitMix64's mixer
//! ([`splitmix64`]); bytes that must land in a fixed bucket whatever the seed hash with
//! [`fnv1a64`]. All three are fixed by their definitions, on every machine and Rust version.

/// SplitMix64's output function (Steele, Lea & Flood 2014): a bijective 64-bit mixer.
/// `splitmix64(0)` is the first output of SplitMix64 seeded with 0.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A 64-bit seed mixed from `parts` in order: starting from π's first 64 fraction bits
/// (0x243F6A8885A308D3), each part is XORed in and the state mixed by [`splitmix64`].
pub fn mix(parts: &[u64]) -> u64 {
    parts.iter().fold(0x243F_6A88_85A3_08D3, |state, &part| {
        splitmix64(state ^ part)
    })
}

/// FNV-1a 64-bit offset basis.
const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime, 2⁴⁰ + 2⁸ + 0xb3.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The 64-bit FNV-1a hash of `bytes`: from the offset basis 0xcbf29ce484222325, for each byte
/// XOR it in, then multiply by the prime 0x100000001b3 (wrapping).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn the_published_values() {
        // SplitMix64 seeded with 0: its first two outputs.
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
        assert_eq!(splitmix64(0x9E37_79B9_7F4A_7C15), 0x6E78_9E6A_A1B9_65F4);
        // From the FNV reference test suite (draft-eastlake-fnv).
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(mix(&[]), 0x243F_6A88_85A3_08D3);
    }

    #[test]
    fn order_and_values_matter() {
        assert_ne!(mix(&[1, 2]), mix(&[2, 1]));
        assert_ne!(mix(&[0, 0, 1]), mix(&[0, 1, 0]));
        assert_ne!(mix(&[0]), mix(&[0, 0]));
    }

    #[test]
    fn a_runs_coordinates_get_distinct_balanced_seeds() {
        // Every (seed, iteration, prompt, sample) of a small run: no two draws share a seed,
        // and every output bit is set about half the time.
        let mut seen = HashSet::new();
        let mut ones = [0_u32; 64];
        for seed in 0..4 {
            for iteration in 0..40 {
                for prompt in 0..40 {
                    for sample in 0..8 {
                        let value = mix(&[seed, iteration, prompt, sample, 0]);
                        assert!(
                            seen.insert(value),
                            "collision at {seed}/{iteration}/{prompt}"
                        );
                        for (bit, count) in ones.iter_mut().enumerate() {
                            *count += u32::from(value >> bit & 1 == 1);
                        }
                    }
                }
            }
        }
        let n = seen.len() as f64;
        for (bit, &count) in ones.iter().enumerate() {
            let share = f64::from(count) / n;
            assert!(
                (share - 0.5).abs() < 0.02,
                "bit {bit} set in {share:.3} of seeds"
            );
        }
    }
}
