//! The reward model q̂(x, a) of the direct method and DR, fitted on the log itself with
//! cross-fitting (explained in [`fit_q_hat`]).

use faer::linalg::solvers::Solve;
use faer::{Mat, MatMut, Side};

use crate::data::{LoggedRow, dot};
use crate::error::{Error, Result, ensure_finite_rows, ensure_len};

/// Which model of the value of each arm to fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RewardModelKind {
    /// q̂ = 0: DR reduces to IPS and DM to 0. The baseline for "no model".
    Zero,
    /// q̂(x, a) = the mean value of arm a among the training rows that chose it (the
    /// training rows' overall mean for an arm they never chose). Ignores the context.
    ArmMean,
    /// Per arm, ridge regression of the value on [x, 1]: β = argmin Σ (y − βᵀ[x, 1])² +
    /// λ‖β_x‖², solved by a Cholesky factorisation of the (d+1)×(d+1) normal equations.
    /// The intercept is not penalised, so the fit is invariant to shifting the values and a
    /// large λ flattens the prediction to the arm's mean rather than to 0. An arm the
    /// training rows never chose gets their overall mean.
    Ridge {
        /// λ > 0, added to the slopes' diagonal of Σ_i x_i x_iᵀ (so in squared context
        /// units, on the scale of a sum over rows).
        lambda: f64,
    },
}

impl std::fmt::Display for RewardModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Zero => f.write_str("zero"),
            Self::ArmMean => f.write_str("arm-mean"),
            Self::Ridge { lambda } => write!(f, "ridge:lambda={lambda}"),
        }
    }
}

impl std::str::FromStr for RewardModelKind {
    type Err = Error;

    /// `zero`, `arm-mean`, `ridge` (λ = 1) or `ridge:lambda=L` (L > 0).
    fn from_str(text: &str) -> Result<Self> {
        let invalid = |reason: &'static str| Error::InvalidParameter {
            name: "reward model",
            value: text.to_string(),
            reason,
        };
        match text.split_once(':') {
            None => match text {
                "zero" => Ok(Self::Zero),
                "arm-mean" => Ok(Self::ArmMean),
                "ridge" => Ok(Self::Ridge { lambda: 1.0 }),
                _ => Err(invalid("expected zero, arm-mean, ridge or ridge:lambda=L")),
            },
            Some(("ridge", parameter)) => {
                let lambda = parameter
                    .strip_prefix("lambda=")
                    .and_then(|value| value.parse::<f64>().ok())
                    .filter(|lambda| lambda.is_finite() && *lambda > 0.0)
                    .ok_or_else(|| invalid("ridge takes lambda=L with L > 0"))?;
                Ok(Self::Ridge { lambda })
            }
            Some(_) => Err(invalid("only ridge takes a parameter (ridge:lambda=L)")),
        }
    }
}

/// The cross-fitting fold of a cluster: splitmix64(cluster) mod `folds`, in `0..folds`.
///
/// # Panics
/// If `folds` is 0.
pub fn cross_fit_fold(cluster: u64, folds: usize) -> usize {
    assert!(folds > 0, "cross_fit_fold needs at least one fold");
    (splitmix64(cluster) % folds as u64) as usize
}

/// Fits q̂ on the log with `folds`-fold cross-fitting by cluster and predicts every arm on
/// every row. `folds = 1` fits once on all rows and predicts them (no cross-fitting).
///
/// # Cross-fitting
/// A q̂ fitted on the same rows it predicts has seen their noise, which biases DR (its
/// correction y_i − q̂(x_i, a_i) shrinks towards 0) and makes DM look better than it is.
/// So the rows are split into folds by cluster, and each row's prediction comes from a
/// model fitted on the other folds only. Whole clusters go to one fold so that rows that
/// share a prompt never sit on both sides. A cluster's fold is
/// [`cross_fit_fold`]`(cluster, folds)`: the splitmix64 finaliser of the cluster id, modulo
/// the number of folds. It depends on the id alone, not on the row order or on the other
/// clusters, so a row's fold never changes when the log is shuffled or extended.
///
/// `contexts` are the features x_i of each row (only [`RewardModelKind::Ridge`] reads them,
/// and it needs them); `dim` is their width d.
///
/// # Errors
/// - [`Error::Empty`] when `rows` is empty;
/// - [`Error::InvalidParameter`] for `n_arms = 0`, `folds = 0`, λ not finite and > 0, ridge
///   without contexts, or when every row falls into one fold (that fold has no training
///   rows: use fewer folds or more clusters);
/// - [`Error::ArmOutOfRange`], [`Error::InvalidValue`] (a non-finite value or context),
///   [`Error::Shape`] (contexts not `[N, d]`), each naming the row;
/// - [`Error::NotPositiveDefinite`] when a ridge system fails to factorise (numerical).
///
/// # Shapes
/// `rows`: `[N]`; `contexts`: `[N, d]` row-major; returns q̂ `[N, K]` row-major, in the
/// units of [`LoggedRow::value`].
pub fn fit_q_hat(
    kind: RewardModelKind,
    rows: &[LoggedRow],
    contexts: Option<&[f64]>,
    dim: usize,
    n_arms: usize,
    folds: usize,
) -> Result<Vec<f64>> {
    check_inputs(rows, n_arms, folds)?;
    let split = Folds::new(rows, folds)?;
    match kind {
        RewardModelKind::Zero => Ok(vec![0.0; rows.len() * n_arms]),
        RewardModelKind::ArmMean => Ok(fit_arm_mean(rows, n_arms, &split)),
        RewardModelKind::Ridge { lambda } => {
            if !(lambda.is_finite() && lambda > 0.0) {
                return Err(Error::InvalidParameter {
                    name: "lambda",
                    value: lambda.to_string(),
                    reason: "the ridge penalty must be finite and > 0",
                });
            }
            let Some(contexts) = contexts else {
                return Err(Error::InvalidParameter {
                    name: "contexts",
                    value: "None".into(),
                    reason: "ridge regression needs the contexts of the rows",
                });
            };
            ensure_len("contexts ([N, d])", rows.len() * dim, contexts.len())?;
            ensure_finite_rows("context", contexts, dim)?;
            fit_ridge(rows, contexts, dim, n_arms, lambda, &split)
        }
    }
}

/// The fold of every row and which folds train which.
struct Folds {
    /// Number of folds.
    count: usize,
    /// `[N]`: the fold of each row.
    of_row: Vec<usize>,
}

impl Folds {
    /// Assigns rows to folds and checks that every fold holding rows has training rows.
    fn new(rows: &[LoggedRow], count: usize) -> Result<Self> {
        let of_row: Vec<usize> = rows
            .iter()
            .map(|row| cross_fit_fold(row.cluster, count))
            .collect();
        if count > 1 && of_row.iter().all(|&fold| fold == of_row[0]) {
            return Err(Error::InvalidParameter {
                name: "folds",
                value: count.to_string(),
                reason: "every cluster falls into one fold, which leaves it no training rows; \
                         use fewer folds or more clusters",
            });
        }
        Ok(Self { count, of_row })
    }

    /// Whether rows of fold `train` are used to fit the model that predicts fold `predict`.
    fn trains(&self, train: usize, predict: usize) -> bool {
        self.count == 1 || train != predict
    }
}

/// Per-arm means with cross-fitting.
fn fit_arm_mean(rows: &[LoggedRow], n_arms: usize, folds: &Folds) -> Vec<f64> {
    // [folds, K] sums and counts of the values of each arm's rows in each fold.
    let mut sums = vec![0.0; folds.count * n_arms];
    let mut counts = vec![0_usize; folds.count * n_arms];
    for (row, &fold) in rows.iter().zip(&folds.of_row) {
        sums[fold * n_arms + row.arm] += row.value;
        counts[fold * n_arms + row.arm] += 1;
    }
    let mut q_hat = vec![0.0; rows.len() * n_arms];
    for predict in 0..folds.count {
        if !folds.of_row.contains(&predict) {
            continue;
        }
        let mut arm_sum = vec![0.0; n_arms];
        let mut arm_count = vec![0_usize; n_arms];
        for train in (0..folds.count).filter(|&train| folds.trains(train, predict)) {
            for arm in 0..n_arms {
                arm_sum[arm] += sums[train * n_arms + arm];
                arm_count[arm] += counts[train * n_arms + arm];
            }
        }
        // At least one training row: `Folds::new` rejects a split that leaves none.
        let total: usize = arm_count.iter().sum();
        let overall = arm_sum.iter().sum::<f64>() / total as f64;
        let means: Vec<f64> = arm_sum
            .iter()
            .zip(&arm_count)
            .map(|(&sum, &count)| {
                if count == 0 {
                    overall
                } else {
                    sum / count as f64
                }
            })
            .collect();
        for (index, _) in folds
            .of_row
            .iter()
            .enumerate()
            .filter(|&(_, &f)| f == predict)
        {
            q_hat[index * n_arms..(index + 1) * n_arms].copy_from_slice(&means);
        }
    }
    q_hat
}

/// Per-arm ridge regressions with cross-fitting, each solved by a Cholesky factorisation of
/// its (d+1)×(d+1) normal equations.
fn fit_ridge(
    rows: &[LoggedRow],
    contexts: &[f64],
    dim: usize,
    n_arms: usize,
    lambda: f64,
    folds: &Folds,
) -> Result<Vec<f64>> {
    // Features z = [x, 1]: the last coordinate is the intercept, so Gram[d, d] counts the rows
    // and rhs[d] sums their values.
    let size = dim + 1;
    let block = size * size;
    // [folds, K, d+1, d+1] Gram matrices Σ z zᵀ and [folds, K, d+1] right-hand sides Σ y z.
    let mut gram = vec![0.0; folds.count * n_arms * block];
    let mut rhs = vec![0.0; folds.count * n_arms * size];
    let mut features = vec![1.0; size];
    for (index, (row, &fold)) in rows.iter().zip(&folds.of_row).enumerate() {
        features[..dim].copy_from_slice(&contexts[index * dim..(index + 1) * dim]);
        let slot = fold * n_arms + row.arm;
        let gram = &mut gram[slot * block..(slot + 1) * block];
        for (r, &zr) in features.iter().enumerate() {
            for (c, &zc) in features.iter().enumerate() {
                gram[r * size + c] += zr * zc;
            }
            rhs[slot * size + r] += row.value * zr;
        }
    }

    let mut q_hat = vec![0.0; rows.len() * n_arms];
    let mut train_gram = vec![0.0; block];
    let mut coefficients = vec![vec![0.0; size]; n_arms];
    for predict in 0..folds.count {
        if !folds.of_row.contains(&predict) {
            continue;
        }
        // Intercept-only fallback for arms without training rows: the overall mean.
        let (mut total_sum, mut total_count) = (0.0, 0.0);
        let mut fitted = vec![true; n_arms];
        for (arm, beta) in coefficients.iter_mut().enumerate() {
            train_gram.fill(0.0);
            beta.fill(0.0);
            for train in (0..folds.count).filter(|&train| folds.trains(train, predict)) {
                let slot = train * n_arms + arm;
                for (acc, g) in train_gram
                    .iter_mut()
                    .zip(&gram[slot * block..(slot + 1) * block])
                {
                    *acc += g;
                }
                for (acc, b) in beta.iter_mut().zip(&rhs[slot * size..(slot + 1) * size]) {
                    *acc += b;
                }
            }
            let count = train_gram[block - 1];
            total_count += count;
            total_sum += beta[dim];
            if count == 0.0 {
                fitted[arm] = false;
                continue;
            }
            let system = Mat::from_fn(size, size, |r, c| {
                train_gram[r * size + c] + if r == c && r < dim { lambda } else { 0.0 }
            });
            let llt = system
                .llt(Side::Lower)
                .map_err(|_| Error::NotPositiveDefinite { arm, fold: predict })?;
            // [d+1, 1] right-hand side Σ y z, overwritten with β.
            llt.solve_in_place(MatMut::from_column_major_slice_mut(beta, size, 1));
        }
        let overall = total_sum / total_count;
        for (arm, beta) in coefficients.iter_mut().enumerate() {
            if !fitted[arm] {
                beta.fill(0.0);
                beta[dim] = overall;
            }
        }
        for (index, _) in folds
            .of_row
            .iter()
            .enumerate()
            .filter(|&(_, &f)| f == predict)
        {
            let context = &contexts[index * dim..(index + 1) * dim];
            for (arm, beta) in coefficients.iter().enumerate() {
                q_hat[index * n_arms + arm] = dot(&beta[..dim], context) + beta[dim];
            }
        }
    }
    Ok(q_hat)
}

/// Checks what every model needs: rows, K, folds, arms in range, finite values.
fn check_inputs(rows: &[LoggedRow], n_arms: usize, folds: usize) -> Result<()> {
    if rows.is_empty() {
        return Err(Error::Empty {
            what: "the log (no rows)",
        });
    }
    if n_arms == 0 {
        return Err(Error::InvalidParameter {
            name: "n_arms",
            value: "0".into(),
            reason: "the reward model needs at least one arm",
        });
    }
    if folds == 0 {
        return Err(Error::InvalidParameter {
            name: "folds",
            value: "0".into(),
            reason: "cross-fitting needs at least one fold (1 = no cross-fitting)",
        });
    }
    for (index, row) in rows.iter().enumerate() {
        if row.arm >= n_arms {
            return Err(Error::ArmOutOfRange {
                index,
                arm: row.arm,
                n_arms,
            });
        }
        if !row.value.is_finite() {
            return Err(Error::InvalidValue {
                what: "value".into(),
                index,
                value: row.value,
                reason: "must be finite",
            });
        }
    }
    Ok(())
}

/// The splitmix64 output function (Steele, Lea & Flood 2014; Vigna's constants): a
/// bijective mix of all 64 bits, so consecutive cluster ids land in unrelated folds.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reward_model_names_round_trip() {
        for kind in [
            RewardModelKind::Zero,
            RewardModelKind::ArmMean,
            RewardModelKind::Ridge { lambda: 2.5 },
        ] {
            assert_eq!(kind.to_string().parse::<RewardModelKind>().unwrap(), kind);
        }
        assert_eq!(
            "ridge".parse::<RewardModelKind>().unwrap(),
            RewardModelKind::Ridge { lambda: 1.0 }
        );
        for bad in [
            "ridge:lambda=0",
            "ridge:lambda=x",
            "arm-mean:lambda=1",
            "lasso",
        ] {
            let err = bad.parse::<RewardModelKind>().unwrap_err().to_string();
            assert!(err.contains(bad), "{bad}: {err}");
        }
    }

    /// Prediction tolerance on noiseless data solved in double precision.
    const FIT_TOLERANCE: f64 = 1e-6;

    fn row(arm: usize, value: f64, cluster: u64) -> LoggedRow {
        LoggedRow {
            arm,
            propensity: 0.5,
            value,
            cluster,
        }
    }

    /// The first `count` cluster ids that fall into `fold` of `folds`.
    fn clusters_in(fold: usize, folds: usize, count: usize) -> Vec<u64> {
        (0..)
            .filter(|&cluster| cross_fit_fold(cluster, folds) == fold)
            .take(count)
            .collect()
    }

    #[test]
    fn folds_spread_consecutive_ids() {
        let mut sizes = [0_usize; 5];
        for cluster in 0..5000 {
            sizes[cross_fit_fold(cluster, 5)] += 1;
        }
        assert!(
            sizes.iter().all(|&size| (900..1100).contains(&size)),
            "{sizes:?}"
        );
    }

    #[test]
    fn cross_fitting_never_uses_the_rows_own_fold() {
        // Fold 0's rows all have value 1 and fold 1's all 5: each row must be predicted from
        // the other fold only, so fold 0 gets 5 and fold 1 gets 1, for both arms.
        let mut rows = Vec::new();
        for (fold, value) in [(0, 1.0), (1, 5.0)] {
            for (k, cluster) in clusters_in(fold, 2, 6).into_iter().enumerate() {
                rows.push(row(k % 2, value, cluster));
            }
        }
        let q_hat = fit_q_hat(RewardModelKind::ArmMean, &rows, None, 0, 2, 2).unwrap();
        for (index, row) in rows.iter().enumerate() {
            let expected = if row.value == 1.0 { 5.0 } else { 1.0 };
            assert_eq!(
                q_hat[index * 2..index * 2 + 2],
                [expected, expected],
                "row {index}"
            );
        }
        // One fold: every row sees the whole log, mean 3.
        let q_hat = fit_q_hat(RewardModelKind::ArmMean, &rows, None, 0, 2, 1).unwrap();
        assert!(q_hat.iter().all(|&q| q == 3.0), "{q_hat:?}");
    }

    #[test]
    fn arm_mean_falls_back_to_the_overall_mean() {
        // Arm 0: values 1, 2 (mean 1.5); arm 1: 6 (mean 6); arm 2 never chosen: (1+2+6)/3 = 3.
        let rows = [row(0, 1.0, 0), row(0, 2.0, 1), row(1, 6.0, 2)];
        let q_hat = fit_q_hat(RewardModelKind::ArmMean, &rows, None, 0, 3, 1).unwrap();
        for index in 0..3 {
            assert_eq!(q_hat[index * 3..index * 3 + 3], [1.5, 6.0, 3.0]);
        }
    }

    #[test]
    fn ridge_recovers_a_linear_truth() {
        // Arm 0: y = 1 + 2 x0 − 3 x1; arm 1: y = −0.5 + 0.25 x1. Noiseless, tiny λ.
        let truth = |arm: usize, x: &[f64]| match arm {
            0 => 1.0 + 2.0 * x[0] - 3.0 * x[1],
            _ => -0.5 + 0.25 * x[1],
        };
        let mut rows = Vec::new();
        let mut contexts = Vec::new();
        for index in 0..60_u64 {
            let x = [
                (index as f64 * 0.37).sin(),
                (index as f64 * 0.11).cos() * 2.0,
            ];
            let arm = (index % 2) as usize;
            rows.push(row(arm, truth(arm, &x), index));
            contexts.extend_from_slice(&x);
        }
        for folds in [1, 3] {
            let q_hat = fit_q_hat(
                RewardModelKind::Ridge { lambda: 1e-9 },
                &rows,
                Some(&contexts),
                2,
                2,
                folds,
            )
            .unwrap();
            for (index, x) in contexts.chunks_exact(2).enumerate() {
                for arm in 0..2 {
                    let error = (q_hat[index * 2 + arm] - truth(arm, x)).abs();
                    assert!(error < FIT_TOLERANCE, "folds {folds} row {index} arm {arm}");
                }
            }
        }
    }

    #[test]
    fn ridge_penalty_shrinks_slopes_not_the_intercept() {
        // y = 10 + x for a single arm; a huge λ flattens the slope to the mean, 10 + mean(x).
        let rows: Vec<LoggedRow> = (0..4).map(|i| row(0, 10.0 + i as f64, i)).collect();
        let contexts = [0.0, 1.0, 2.0, 3.0];
        let kind = RewardModelKind::Ridge { lambda: 1e12 };
        let q_hat = fit_q_hat(kind, &rows, Some(&contexts), 1, 1, 1).unwrap();
        for q in q_hat {
            assert!((q - 11.5).abs() < 1e-6, "{q}");
        }
    }

    #[test]
    fn ridge_arm_without_rows_gets_the_overall_mean() {
        let rows = [row(0, 1.0, 0), row(0, 3.0, 1)];
        let contexts = [0.0, 1.0];
        let kind = RewardModelKind::Ridge { lambda: 1.0 };
        let q_hat = fit_q_hat(kind, &rows, Some(&contexts), 1, 2, 1).unwrap();
        assert_eq!([q_hat[1], q_hat[3]], [2.0, 2.0]);
    }

    #[test]
    fn zero_model_is_zero() {
        let rows = [row(1, 4.0, 0), row(0, 3.0, 1)];
        let q_hat = fit_q_hat(RewardModelKind::Zero, &rows, None, 0, 3, 1).unwrap();
        assert_eq!(q_hat, vec![0.0; 6]);
    }

    #[test]
    fn bad_inputs_are_rejected() {
        let rows = [row(0, 1.0, 0), row(1, 2.0, 1)];
        let ridge = RewardModelKind::Ridge { lambda: 1.0 };
        assert!(matches!(
            fit_q_hat(ridge, &rows, None, 1, 2, 1),
            Err(Error::InvalidParameter {
                name: "contexts",
                ..
            })
        ));
        assert!(matches!(
            fit_q_hat(ridge, &rows, Some(&[0.0]), 1, 2, 1),
            Err(Error::Shape { .. })
        ));
        assert!(matches!(
            fit_q_hat(ridge, &rows, Some(&[0.0, f64::NAN]), 1, 2, 1),
            Err(Error::InvalidValue { index: 1, .. })
        ));
        let zero_lambda = RewardModelKind::Ridge { lambda: 0.0 };
        assert!(matches!(
            fit_q_hat(zero_lambda, &rows, Some(&[0.0, 1.0]), 1, 2, 1),
            Err(Error::InvalidParameter { name: "lambda", .. })
        ));
        assert!(matches!(
            fit_q_hat(RewardModelKind::ArmMean, &rows, None, 0, 1, 1),
            Err(Error::ArmOutOfRange { index: 1, .. })
        ));
        assert!(matches!(
            fit_q_hat(RewardModelKind::ArmMean, &rows, None, 0, 2, 0),
            Err(Error::InvalidParameter { name: "folds", .. })
        ));
        // One cluster, two folds: the fold holding it has nothing to train on.
        let one_cluster = [row(0, 1.0, 7), row(1, 2.0, 7)];
        assert!(matches!(
            fit_q_hat(RewardModelKind::ArmMean, &one_cluster, None, 0, 2, 2),
            Err(Error::InvalidParameter { name: "folds", .. })
        ));
    }
}
