//! Python's `random.Random(seed)` for string seeds, as far as the official tools use it:
//! alpaca_eval decides whether to swap the two outputs shown to its judge with
//! `random.Random("is_switched_outputs" + instruction + "0").choices([False, True])[0]`, so
//! reproducing its annotations needs the same Mersenne Twister stream.
//!
//! CPython seeds a string `s` (seed version 2) with the integer whose big-endian bytes are
//! `s.encode() + sha512(s.encode()).digest()`, fed to MT19937's `init_by_array` as 32-bit
//! words, least significant first; `random()` is `(a >> 5, b >> 6)` of two draws as a 53-bit
//! fraction, and `choices` without weights picks index `floor(random() * n)`.

use rand_mt::Mt;
use sha2::{Digest, Sha512};

/// A Mersenne Twister seeded as CPython seeds it with a `str`.
pub struct PythonRandom {
    mt: Mt,
}

impl PythonRandom {
    /// `random.Random(seed)` for a string `seed`.
    pub fn from_str_seed(seed: &str) -> Self {
        let mut bytes = seed.as_bytes().to_vec();
        bytes.extend_from_slice(&Sha512::digest(seed.as_bytes()));
        // The integer's bytes, least significant first, without leading (most significant)
        // zero bytes: CPython uses as many 32-bit words as the integer's bit length needs.
        bytes.reverse();
        while bytes.len() > 1 && bytes.last() == Some(&0) {
            bytes.pop();
        }
        let key: Vec<u32> = bytes
            .chunks(4)
            .map(|chunk| {
                let mut word = [0_u8; 4];
                word[..chunk.len()].copy_from_slice(chunk);
                u32::from_le_bytes(word)
            })
            .collect();
        Self {
            mt: Mt::new_with_key(key),
        }
    }

    /// `random()`: a float in [0, 1) with 53 random bits.
    pub fn random(&mut self) -> f64 {
        let a = self.mt.next_u32() >> 5;
        let b = self.mt.next_u32() >> 6;
        (f64::from(a) * 67_108_864.0 + f64::from(b)) / 9_007_199_254_740_992.0
    }

    /// The index `choices(population)` (no weights, k = 1) picks among `n` items.
    pub fn choice_index(&mut self, n: usize) -> usize {
        (self.random() * n as f64).floor() as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_fractions_and_repeat_for_a_seed() {
        let mut a = PythonRandom::from_str_seed("x");
        let mut b = PythonRandom::from_str_seed("x");
        for _ in 0..100 {
            let (x, y) = (a.random(), b.random());
            assert_eq!(x.to_bits(), y.to_bits());
            assert!((0.0..1.0).contains(&x));
        }
        let mut c = PythonRandom::from_str_seed("y");
        assert_ne!(
            PythonRandom::from_str_seed("x").random(),
            c.random(),
            "another seed, another stream"
        );
    }
}
