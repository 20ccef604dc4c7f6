//! Selection probabilities (propensities) of Thompson sampling, for off-policy evaluation.
//!
//! Given a context, Thompson sampling scores arm k with s_k ~ N(m_k, v_k) independently
//! across arms (m_k = μ_kᵀe, v_k = ‖L_k⁻¹e‖²), so P(choose k) = P(s_k is the largest).
//! That has no closed form for K > 2; we estimate it by drawing the K scores `draws` times
//! and counting winners. The estimates of all arms sum to exactly 1.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::mask::ArmMask;

/// Monte-Carlo estimate of P(arm k has the largest score) for every arm: the share of
/// `draws` independent draws of the K scores that arm k wins.
///
/// Draws come from `rng`, a stream separate from the one that makes choices, so that
/// estimating propensities never changes which arms are chosen.
///
/// # Shapes
/// `means`, `stds`: `[K]` (entries of masked arms are ignored); returns `[K]` probabilities
/// summing to 1, 0 for masked arms.
pub(crate) fn thompson_propensities(
    means: &[f64],
    stds: &[f64],
    mask: &ArmMask,
    draws: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<f64> {
    thompson_wins(means, stds, mask, draws, rng)
        .into_iter()
        .map(|count| count as f64 / draws as f64)
        .collect()
}

/// The propensities of a Thompson choice of `chosen`: `draws` fresh draws as in
/// [`thompson_propensities`] plus the choice's own draw, which came from the same
/// distribution. Counting it makes the chosen arm's estimate (wins + 1)/(draws + 1), never 0,
/// and its inverse nearly unbiased for the inverse propensity an importance weight needs:
/// with W ~ Binomial(D, p), E[(D + 1)/(W + 1)] = (1 − (1 − p)^(D+1))/p.
pub(crate) fn thompson_choice_propensities(
    means: &[f64],
    stds: &[f64],
    mask: &ArmMask,
    draws: usize,
    chosen: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<f64> {
    let mut wins = thompson_wins(means, stds, mask, draws, rng);
    wins[chosen] += 1;
    wins.into_iter()
        .map(|count| count as f64 / (draws + 1) as f64)
        .collect()
}

/// How many of `draws` independent draws of the K scores each arm wins, `[K]`.
fn thompson_wins(
    means: &[f64],
    stds: &[f64],
    mask: &ArmMask,
    draws: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<usize> {
    let arms: Vec<usize> = mask.available_arms().collect();
    let mut wins = vec![0_usize; means.len()];
    for _ in 0..draws {
        let mut best_arm = arms[0];
        let mut best_score = f64::NEG_INFINITY;
        for &arm in &arms {
            let xi: f64 = rng.sample(StandardNormal);
            let score = means[arm] + stds[arm] * xi;
            if score > best_score {
                best_arm = arm;
                best_score = score;
            }
        }
        wins[best_arm] += 1;
    }
    wins
}

/// Exact propensities of ε-greedy: ε/K_avail for every available arm, plus 1 − ε for the
/// greedy one.
pub(crate) fn epsilon_greedy_propensities(greedy: usize, epsilon: f64, mask: &ArmMask) -> Vec<f64> {
    let share = epsilon / mask.count_available() as f64;
    (0..mask.len())
        .map(|arm| match (mask.is_available(arm), arm == greedy) {
            (false, _) => 0.0,
            (true, false) => share,
            (true, true) => share + (1.0 - epsilon),
        })
        .collect()
}

/// Exact propensities of a uniform choice among the available arms.
pub(crate) fn uniform_propensities(mask: &ArmMask) -> Vec<f64> {
    let share = 1.0 / mask.count_available() as f64;
    (0..mask.len())
        .map(|arm| if mask.is_available(arm) { share } else { 0.0 })
        .collect()
}

/// Propensities of a deterministic choice: 1 for the chosen arm, 0 elsewhere.
pub(crate) fn one_hot(chosen: usize, n_arms: usize) -> Vec<f64> {
    (0..n_arms)
        .map(|arm| if arm == chosen { 1.0 } else { 0.0 })
        .collect()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn two_arms_match_the_normal_cdf() {
        // s0 - s1 ~ N(0.5, 1² + 1²): P(s0 > s1) = Φ(0.5/√2) = 0.638163...
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let p = thompson_propensities(
            &[0.5, 0.0],
            &[1.0, 1.0],
            &ArmMask::all(2),
            200_000,
            &mut rng,
        );
        assert!((p[0] - 0.638_163).abs() < 0.005, "{p:?}");
        assert_eq!(p[0] + p[1], 1.0);
    }

    #[test]
    fn masked_arms_get_zero() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mask = ArmMask::without(3, &[1]).unwrap();
        let p = thompson_propensities(&[0.0, 9.0, 0.0], &[1.0, 1.0, 1.0], &mask, 1000, &mut rng);
        assert_eq!(p[1], 0.0);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(uniform_propensities(&mask), vec![0.5, 0.0, 0.5]);
        assert_eq!(
            epsilon_greedy_propensities(2, 0.2, &mask),
            vec![0.1, 0.0, 0.9]
        );
    }
}
