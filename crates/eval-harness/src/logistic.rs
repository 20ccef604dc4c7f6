//! Weighted logistic regression without intercept, optionally L1-penalised, solved to high
//! precision: the model under AlpacaEval's length-controlled win rate (liblinear's
//! L1 logistic regression) and under Arena-Hard's Bradley–Terry fit (unpenalised).
//!
//! Objective, liblinear's form with per-row weights `s_i` and labels `y_i ∈ {0, 1}`:
//! `‖w‖₁ + C · Σ_i s_i · log(1 + exp(−(2y_i − 1) · w·x_i))` (without the L1 term when
//! unpenalised). The problem is convex, so any exact solver finds liblinear's optimum; we use
//! cyclic coordinate descent with a Newton step and soft-thresholding per coordinate.

/// One row of the design: features, label (1 or 0) and weight (≥ 0).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Row {
    /// Features `x_i`.
    pub x: Vec<f64>,
    /// `true` for y = 1.
    pub y: bool,
    /// Weight `s_i`.
    pub weight: f64,
}

/// log(1 + exp(z)), stable for large |z|.
pub(crate) fn log1p_exp(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

/// σ(z) = 1 / (1 + exp(−z)), without overflow for large |z|.
pub(crate) fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// The weights minimising the objective above; `c = None` means no penalty.
///
/// Coordinates whose feature is zero on every row stay 0. Stops when no coordinate moves by
/// more than 1e-12 (relative) in a sweep, or after `max_sweeps`.
pub(crate) fn fit(rows: &[Row], n_features: usize, c: Option<f64>, max_sweeps: usize) -> Vec<f64> {
    let mut w = vec![0.0; n_features];
    // Margins z_i = w·x_i, kept up to date as coordinates move.
    let mut z = vec![0.0; rows.len()];
    let scale = c.unwrap_or(1.0);
    let l1 = if c.is_some() { 1.0 } else { 0.0 };
    for _ in 0..max_sweeps {
        let mut largest_step: f64 = 0.0;
        for j in 0..n_features {
            // Gradient and curvature of the smooth part along coordinate j.
            let (mut g, mut h) = (0.0, 0.0);
            for (row, &zi) in rows.iter().zip(&z) {
                let xj = row.x[j];
                if xj == 0.0 || row.weight == 0.0 {
                    continue;
                }
                let p = sigmoid(zi);
                let target = if row.y { 1.0 } else { 0.0 };
                g += scale * row.weight * (p - target) * xj;
                h += scale * row.weight * p * (1.0 - p) * xj * xj;
            }
            if h <= 1e-300 {
                continue;
            }
            let h = h.max(1e-12);
            // Proximal Newton step on |w_j| + smooth(w_j).
            let proposal = soft_threshold(w[j] - g / h, l1 / h);
            let step = line_search(rows, &z, &w, j, proposal - w[j], scale, l1);
            if step != 0.0 {
                w[j] += step;
                for (zi, row) in z.iter_mut().zip(rows) {
                    *zi += step * row.x[j];
                }
            }
            largest_step = largest_step.max(step.abs() / w[j].abs().max(1.0));
        }
        if largest_step < 1e-12 {
            break;
        }
    }
    w
}

fn soft_threshold(v: f64, t: f64) -> f64 {
    if v > t {
        v - t
    } else if v < -t {
        v + t
    } else {
        0.0
    }
}

/// Backtracking along coordinate `j`: the largest of `delta`, `delta/2`, … that lowers the
/// objective (0 if none does).
fn line_search(
    rows: &[Row],
    z: &[f64],
    w: &[f64],
    j: usize,
    delta: f64,
    scale: f64,
    l1: f64,
) -> f64 {
    let objective_along = |t: f64| -> f64 {
        let smooth: f64 = rows
            .iter()
            .zip(z)
            .map(|(row, &zi)| {
                let zt = zi + t * row.x[j];
                let signed = if row.y { -zt } else { zt };
                row.weight * log1p_exp(signed)
            })
            .sum();
        scale * smooth + l1 * (w[j] + t).abs()
    };
    let base = objective_along(0.0);
    let mut t = delta;
    for _ in 0..60 {
        if objective_along(t) < base {
            return t;
        }
        t /= 2.0;
        if t.abs() < 1e-300 {
            break;
        }
    }
    0.0
}

/// Weighted mean log-loss of probabilities `q_i = σ(w·x_i)` against soft targets `t_i`
/// with weights `s_i`: −mean(s_i (t_i log q_i + (1 − t_i) log(1 − q_i))), `q` clipped to
/// [1e-15, 1 − 1e-15].
pub(crate) fn weighted_log_loss(w: &[f64], x: &[Vec<f64>], t: &[f64], s: &[f64]) -> f64 {
    let n = x.len() as f64;
    x.iter()
        .zip(t)
        .zip(s)
        .map(|((xi, &ti), &si)| {
            let z: f64 = xi.iter().zip(w).map(|(a, b)| a * b).sum();
            let q = sigmoid(z).clamp(1e-15, 1.0 - 1e-15);
            -si * (ti * q.ln() + (1.0 - ti) * (1.0 - q).ln())
        })
        .sum::<f64>()
        / n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpenalised_fit_is_the_log_odds() {
        // One constant feature: the MLE is log(wins / losses).
        let rows: Vec<Row> = (0..10)
            .map(|i| Row {
                x: vec![1.0],
                y: i < 7,
                weight: 1.0,
            })
            .collect();
        let w = fit(&rows, 1, None, 1000);
        assert!((w[0] - (7.0_f64 / 3.0).ln()).abs() < 1e-9, "{w:?}");
    }

    #[test]
    fn strong_l1_penalty_zeroes_the_weights() {
        let rows: Vec<Row> = (0..10)
            .map(|i| Row {
                x: vec![1.0, i as f64 / 10.0],
                y: i < 7,
                weight: 1.0,
            })
            .collect();
        assert_eq!(fit(&rows, 2, Some(1e-4), 1000), vec![0.0, 0.0]);
        let loose = fit(&rows, 2, Some(1e4), 1000);
        assert!(loose[0] != 0.0);
    }

    #[test]
    fn l1_optimum_satisfies_the_subgradient_condition() {
        let rows: Vec<Row> = (0..40)
            .map(|i| {
                let a = (i as f64 * 0.37).sin();
                Row {
                    x: vec![1.0, a, (i as f64 * 1.3).cos()],
                    y: (i * 7919) % 3 != 0 || a > 0.5,
                    weight: 0.5 + (i % 3) as f64,
                }
            })
            .collect();
        let c = 0.3;
        let w = fit(&rows, 3, Some(c), 10_000);
        for j in 0..3 {
            let g: f64 = rows
                .iter()
                .map(|r| {
                    let z: f64 = r.x.iter().zip(&w).map(|(a, b)| a * b).sum();
                    c * r.weight * (sigmoid(z) - f64::from(u8::from(r.y))) * r.x[j]
                })
                .sum();
            if w[j] == 0.0 {
                assert!(g.abs() <= 1.0 + 1e-8, "coordinate {j}: |g| = {g}");
            } else {
                assert!((g + w[j].signum()).abs() < 1e-6, "coordinate {j}: g = {g}");
            }
        }
    }
}
