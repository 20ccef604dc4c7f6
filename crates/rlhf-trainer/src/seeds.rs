//! Seeds derived from the run's seed and an iteration's coordinates, so that every random
//! draw of an iteration (sampling, pair order) is a pure function of where it happens and a
//! resumed run needs no random state beyond the router's.

/// A 64-bit seed mixed from `parts` (SplitMix64's finaliser over a running combination).
pub fn mix(parts: &[u64]) -> u64 {
    let mut state: u64 = 0x243F_6A88_85A3_08D3;
    for &part in parts {
        state = splitmix(state ^ part);
    }
    state
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::{mix, splitmix};

    #[test]
    fn splitmix_is_the_published_finaliser() {
        // SplitMix64 seeded with 0: its first output is splitmix(0).
        assert_eq!(splitmix(0), 0xE220_A839_7B1D_CDAF);
        assert_eq!(mix(&[]), 0x243F_6A88_85A3_08D3);
    }

    #[test]
    fn order_and_values_matter() {
        assert_ne!(mix(&[1, 2]), mix(&[2, 1]));
        assert_ne!(mix(&[0, 0, 1]), mix(&[0, 1, 0]));
        assert_ne!(mix(&[0]), mix(&[0, 0]));
    }

    #[test]
    fn an_iterations_coordinates_get_distinct_balanced_seeds() {
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
