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
    use super::mix;

    #[test]
    fn order_and_values_matter() {
        assert_ne!(mix(&[1, 2]), mix(&[2, 1]));
        assert_ne!(mix(&[0, 0, 1]), mix(&[0, 1, 0]));
        assert_eq!(mix(&[7, 8, 9]), mix(&[7, 8, 9]));
    }
}
