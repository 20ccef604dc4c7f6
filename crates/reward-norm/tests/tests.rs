//! Property tests of the reward normalisers.

use proptest::prelude::*;
use reward_norm::{
    BatchBaseline, EmaZScore, EmaZScoreParams, LaserReward, QuantileClampParams, RewardNormalizer,
    RoutedLoss, Welford,
};

fn losses() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(0.0..5.0_f64, 1..16)
}

proptest! {
    /// z-scores stay within ±clip, and each arm's first `min_count` observations give None.
    #[test]
    fn ema_z_is_bounded_and_warms_up(
        pairs in prop::collection::vec((0..3usize, -10.0..10.0_f64), 0..200),
        clip in 0.5..4.0_f64,
        min_count in 0..8u64,
    ) {
        let params = EmaZScoreParams { clip, min_count, ..EmaZScoreParams::default() };
        let mut norm = EmaZScore::new(3, params).unwrap();
        let mut seen = [0u64; 3];
        for (arm, loss) in pairs {
            let reward = norm.observe(arm, loss).unwrap();
            let warm = seen[arm] >= min_count.max(1);
            prop_assert_eq!(reward.is_some(), warm);
            if let Some(z) = reward {
                prop_assert!(z.abs() <= clip);
            }
            seen[arm] += 1;
        }
    }

    /// Batch-baseline rewards lie in [0, 1] and do not change when every loss is scaled by a
    /// power of two (exact in floating point), since advantages and quantiles scale alike.
    #[test]
    fn batch_baseline_is_bounded_and_scale_invariant(
        batches in prop::collection::vec(losses(), 1..12),
        exponent in -4i32..5,
    ) {
        let scale = 2.0_f64.powi(exponent);
        let mut plain = BatchBaseline::new(QuantileClampParams::default()).unwrap();
        let mut scaled = BatchBaseline::new(QuantileClampParams::default()).unwrap();
        for batch in batches {
            let a = plain.batch_rewards(&batch).unwrap();
            let b = scaled
                .batch_rewards(&batch.iter().map(|l| l * scale).collect::<Vec<_>>())
                .unwrap();
            prop_assert!(a.iter().all(|r| (0.0..=1.0).contains(r)));
            prop_assert_eq!(a, b);
        }
    }

    /// Within one batch, a lower loss never gets a lower reward.
    #[test]
    fn batch_baseline_is_monotone(history in prop::collection::vec(losses(), 2..6), batch in losses()) {
        let mut norm = BatchBaseline::new(QuantileClampParams::default()).unwrap();
        for b in history {
            norm.batch_rewards(&b).unwrap();
        }
        let rewards = norm.batch_rewards(&batch).unwrap();
        for i in 0..batch.len() {
            for j in 0..batch.len() {
                if batch[i] < batch[j] {
                    prop_assert!(rewards[i] >= rewards[j]);
                }
            }
        }
    }

    /// LASeR rewards lie in [0, 1].
    #[test]
    fn laser_is_bounded(batch_losses in prop::collection::vec(-5.0..5.0_f64, 1..60)) {
        let mut norm = LaserReward::new(QuantileClampParams::default()).unwrap();
        for loss in batch_losses {
            let r = norm.batch_reward(loss).unwrap();
            prop_assert!((0.0..=1.0).contains(&r));
        }
    }

    /// Welford agrees with the two-pass formulas.
    #[test]
    fn welford_matches_two_pass(values in prop::collection::vec(-1e3..1e3_f64, 2..100)) {
        let mut w = Welford::new();
        for &v in &values {
            w.push(v).unwrap();
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        prop_assert!((w.mean() - mean).abs() <= 1e-9 * (1.0 + mean.abs()));
        prop_assert!((w.sample_variance() - var).abs() <= 1e-9 * (1.0 + var));
    }

    /// A serialised and restored normaliser continues exactly as the original.
    #[test]
    fn states_round_trip(first in prop::collection::vec(losses(), 1..8), then in losses()) {
        let mut ema = EmaZScore::new(2, EmaZScoreParams::default()).unwrap();
        let mut baseline = BatchBaseline::new(QuantileClampParams::default()).unwrap();
        for batch in &first {
            let routed: Vec<RoutedLoss> = batch
                .iter()
                .enumerate()
                .map(|(i, &loss)| RoutedLoss { arm: i % 2, loss })
                .collect();
            ema.rewards(&routed).unwrap();
            baseline.rewards(&routed).unwrap();
        }
        let mut ema_copy: EmaZScore =
            serde_json::from_str(&serde_json::to_string(&ema).unwrap()).unwrap();
        let mut baseline_copy: BatchBaseline =
            serde_json::from_str(&serde_json::to_string(&baseline).unwrap()).unwrap();
        let routed: Vec<RoutedLoss> = then.iter().map(|&loss| RoutedLoss { arm: 1, loss }).collect();
        prop_assert_eq!(ema.rewards(&routed).unwrap(), ema_copy.rewards(&routed).unwrap());
        prop_assert_eq!(baseline.rewards(&routed).unwrap(), baseline_copy.rewards(&routed).unwrap());
    }
}
