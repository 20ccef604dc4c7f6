//! Means and 95% confidence intervals over seeds (Student's t), plain and paired by seed.

use std::collections::BTreeMap;

use crate::results::Summary;

/// Two-sided 95% Student's t quantiles (the 0.975 quantile) for 1..=30 degrees of freedom.
const T975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, // df 1..=10
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, // df 11..=20
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042, // df 21..=30
];

/// The normal 0.975 quantile, used beyond the table.
const Z975: f64 = 1.96;

/// The 0.975 quantile of Student's t with `df` degrees of freedom: tabulated (three decimals)
/// for `df` in `1..=30`, and the normal value 1.96 beyond.
///
/// # Panics
/// If `df == 0` (the t distribution needs at least one degree of freedom).
pub fn t975(df: usize) -> f64 {
    assert!(df > 0, "Student's t needs at least one degree of freedom");
    T975.get(df - 1).copied().unwrap_or(Z975)
}

/// Mean of `values` and the half-width of its 95% confidence interval,
/// `t975(n − 1) · s / √n` with `s` the sample standard deviation.
///
/// `ci95` is `None` when `n < 2`; an empty slice gives a NaN mean. The variance is taken around
/// the mean in a second pass (not as `E[x²] − E[x]²`), so large common offsets do not cancel
/// away its digits.
pub fn mean_ci95(values: &[f64]) -> Summary {
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n as f64;
    let ci95 = (n >= 2).then(|| {
        let sum_sq: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
        let sd = (sum_sq / (n - 1) as f64).sqrt();
        t975(n - 1) * sd / (n as f64).sqrt()
    });
    Summary { mean, ci95, n }
}

/// Mean and 95% CI of `a − b` over the seeds both series share.
///
/// Each element is `(seed, value)`. Values are paired by seed and differenced in ascending seed
/// order; seeds present in only one series are ignored, and if a seed repeats within a series its
/// last value counts. Returns `None` when the series share no seed.
pub fn paired_difference(a: &[(u64, f64)], b: &[(u64, f64)]) -> Option<Summary> {
    let b: BTreeMap<u64, f64> = b.iter().copied().collect();
    let a: BTreeMap<u64, f64> = a.iter().copied().collect();
    let diffs: Vec<f64> = a
        .iter()
        .filter_map(|(seed, x)| b.get(seed).map(|y| x - y))
        .collect();
    (!diffs.is_empty()).then(|| mean_ci95(&diffs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
    }

    #[test]
    fn t_quantiles_match_the_table() {
        assert_eq!(t975(1), 12.706);
        assert_eq!(t975(2), 4.303);
        assert_eq!(t975(3), 3.182);
        assert_eq!(t975(10), 2.228);
        assert_eq!(t975(30), 2.042);
        assert_eq!(t975(31), 1.96);
        assert_eq!(t975(1000), 1.96);
        // Monotone decreasing towards the normal quantile.
        for df in 1..40 {
            assert!(t975(df) >= t975(df + 1), "df {df}");
        }
    }

    #[test]
    #[should_panic(expected = "degree of freedom")]
    fn zero_degrees_of_freedom_is_a_bug() {
        t975(0);
    }

    #[test]
    fn known_summary() {
        // mean 2, sample sd 1, n 3 → half-width 4.303 / √3.
        let s = mean_ci95(&[1.0, 2.0, 3.0]);
        assert_eq!(s.n, 3);
        assert!(close(s.mean, 2.0, 1e-15));
        assert!(close(s.ci95.unwrap(), 4.303 / 3f64.sqrt(), 1e-12));
    }

    #[test]
    fn fewer_than_two_values_have_no_interval() {
        let one = mean_ci95(&[0.7]);
        assert_eq!((one.mean, one.ci95, one.n), (0.7, None, 1));
        let none = mean_ci95(&[]);
        assert!(none.mean.is_nan());
        assert_eq!((none.ci95, none.n), (None, 0));
    }

    #[test]
    fn paired_difference_uses_common_seeds_only() {
        let a = [(0, 0.6), (1, 0.7), (2, 0.8), (9, 5.0)];
        let b = [(2, 0.5), (0, 0.5), (1, 0.5), (7, -5.0)];
        let d = paired_difference(&a, &b).unwrap();
        assert_eq!(d.n, 3);
        assert!(close(d.mean, 0.2, 1e-12));
        assert!(close(d.ci95.unwrap(), 4.303 * 0.1 / 3f64.sqrt(), 1e-12));
        assert_eq!(paired_difference(&a, &[(5, 1.0)]), None);
        assert_eq!(paired_difference(&[], &b), None);
    }

    proptest! {
        #[test]
        fn half_width_is_shift_invariant_and_scales(
            values in prop::collection::vec(-1.0e3..1.0e3f64, 2..40),
            shift in -1.0e3..1.0e3f64,
            scale in -10.0..10.0f64,
        ) {
            let base = mean_ci95(&values);
            let shifted: Vec<f64> = values.iter().map(|v| v + shift).collect();
            let scaled: Vec<f64> = values.iter().map(|v| v * scale).collect();
            let (hw, hw_shift, hw_scale) = (
                base.ci95.unwrap(),
                mean_ci95(&shifted).ci95.unwrap(),
                mean_ci95(&scaled).ci95.unwrap(),
            );
            prop_assert!(hw >= 0.0);
            prop_assert!((hw - hw_shift).abs() <= 1e-9 * (1.0 + shift.abs() + hw));
            prop_assert!((hw * scale.abs() - hw_scale).abs() <= 1e-9 * (1.0 + hw_scale));
            prop_assert!(close(mean_ci95(&shifted).mean, base.mean + shift, 1e-9));
        }

        #[test]
        fn mean_lies_within_the_values(values in prop::collection::vec(-1.0e6..1.0e6f64, 1..40)) {
            let s = mean_ci95(&values);
            let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            prop_assert!(s.mean >= lo - 1e-6 && s.mean <= hi + 1e-6);
            prop_assert_eq!(s.n, values.len());
        }

        #[test]
        fn repeating_the_values_narrows_the_interval(
            values in prop::collection::vec(-1.0..1.0f64, 2..20),
        ) {
            // Same spread, twice the values: √n and t both shrink the half-width.
            let once = mean_ci95(&values).ci95.unwrap();
            let twice = mean_ci95(&[values.clone(), values].concat()).ci95.unwrap();
            prop_assert!(twice <= once + 1e-12);
        }

        #[test]
        fn paired_difference_of_a_series_with_itself_is_zero(
            values in prop::collection::vec(-1.0e3..1.0e3f64, 1..20),
        ) {
            let series: Vec<(u64, f64)> =
                values.iter().enumerate().map(|(i, v)| (i as u64, *v)).collect();
            let d = paired_difference(&series, &series).unwrap();
            prop_assert_eq!(d.mean, 0.0);
            prop_assert_eq!(d.n, values.len());
            if values.len() >= 2 {
                prop_assert_eq!(d.ci95, Some(0.0));
            }
        }

        #[test]
        fn paired_difference_is_antisymmetric(
            pairs in prop::collection::vec((-1.0e3..1.0e3f64, -1.0e3..1.0e3f64), 1..20),
        ) {
            let a: Vec<(u64, f64)> = pairs.iter().enumerate().map(|(i, p)| (i as u64, p.0)).collect();
            let b: Vec<(u64, f64)> = pairs.iter().enumerate().map(|(i, p)| (i as u64, p.1)).collect();
            let ab = paired_difference(&a, &b).unwrap();
            let ba = paired_difference(&b, &a).unwrap();
            prop_assert!(close(ab.mean, -ba.mean, 1e-12));
            prop_assert_eq!(ab.ci95, ba.ci95);
        }
    }
}
