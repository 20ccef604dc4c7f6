//! AlpacaEval 2: the raw win rate and the length-controlled (LC) win rate, computed as
//! alpaca_eval computes them (`metrics/winrate.py`, `metrics/glm_winrate.py`,
//! `length_controlled_v1`).
//!
//! Annotations compare a baseline's `output_1` with the model's `output_2`; `preference` is 1
//! when the baseline wins, 2 when the model wins, 1.5 (or the legacy 0) for a draw, and may
//! be fractional (a judge's probability). Values outside [1, 2] or missing are left out.
//!
//! LC win rate: a logistic GLM without intercept on three features per instruction i —
//! `tanh(Δ_i / sd(Δ))` with Δ_i = len(output_1) − len(output_2) in Unicode code points and
//! sd the sample standard deviation over the annotations, the instruction's difficulty, and
//! a constant 1 (the model is not the baseline) — fitted by L1-penalised logistic regression
//! on soft labels (each annotation twice: y = 1 weighted p, y = 0 weighted 1 − p, with
//! p = preference − 1), the penalty chosen by 5-fold cross-validation grouped by instruction
//! over C ∈ logspace(−4, 4, 10) on weighted log-loss. The LC win rate is the model's mean
//! predicted preference at zero length difference, × 100.
//!
//! What cannot be reproduced offline, and what we do instead:
//! - alpaca_eval reads each instruction's difficulty from a table on the Hugging Face hub
//!   (fitted once on its leaderboard). Pass that table when you have it
//!   ([`LcInputs::instruction_difficulty`]); without it the feature is 0 for every
//!   instruction, so the GLM adjusts for length only.
//! - alpaca_eval adds the annotations of two length-gamed variants of its baseline (verbose
//!   and concise GPT-4 answers, weight 0.1 each) to regularise towards the baseline; they
//!   also live on the hub, so we fit without them (alpaca_eval's `length_controlled_noreg`).
//! - Cross-validation folds are assigned round-robin by instruction; scikit-learn's
//!   GroupKFold may group differently, which can only change the chosen C.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::logistic::{Row, fit, sigmoid, weighted_log_loss};
use crate::stats::MeanStderr;

/// One annotation, as alpaca_eval's `annotations.json` holds it (other fields ignored).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Annotation {
    /// The instruction.
    #[serde(default)]
    pub instruction: String,
    /// The baseline's output.
    pub output_1: String,
    /// The model's output.
    pub output_2: String,
    /// 1 = baseline better, 2 = model better, 1.5 or 0 = draw; `null` = no verdict.
    pub preference: Option<f64>,
}

/// The raw win rate of the model over the baseline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WinRate {
    /// Mean of preference − 1, in percent.
    pub win_rate: f64,
    /// Its standard error, in percent.
    pub standard_error: f64,
    /// Annotations the model won (preference − 1 > 0.5).
    pub n_wins: usize,
    /// Annotations the baseline won.
    pub n_wins_base: usize,
    /// Draws (1.5 or 0).
    pub n_draws: usize,
    /// Valid annotations.
    pub n_total: usize,
    /// The win rate with each preference rounded to a win, loss or draw, in percent.
    pub discrete_win_rate: f64,
}

/// A preference with the legacy draw 0 read as 1.5; `None` when missing or outside [1, 2].
fn valid_preference(preference: Option<f64>) -> Option<f64> {
    let p = preference?;
    let p = if p == 0.0 { 1.5 } else { p };
    (1.0..=2.0).contains(&p).then_some(p)
}

/// The raw and discrete win rates of `preferences`.
pub fn win_rate(preferences: &[Option<f64>]) -> Result<WinRate> {
    let n_draws = preferences
        .iter()
        .filter(|p| matches!(p, Some(x) if *x == 1.5 || *x == 0.0))
        .count();
    let shares: Vec<f64> = preferences
        .iter()
        .filter_map(|p| valid_preference(*p))
        .map(|p| p - 1.0)
        .collect();
    let raw = MeanStderr::of(&shares).ok_or(Error::Metric {
        metric: "alpaca_eval win rate",
        reason: "no valid preference".into(),
    })?;
    // Discrete: a draw stays a draw, anything else rounds to the nearer side.
    let discrete: Vec<f64> = shares
        .iter()
        .map(|&s| if s == 0.5 { 0.5 } else { s.round() })
        .collect();
    let discrete = MeanStderr::of(&discrete).expect("same length as shares");
    Ok(WinRate {
        win_rate: raw.mean * 100.0,
        standard_error: raw.stderr * 100.0,
        n_wins: shares.iter().filter(|&&s| s > 0.5).count(),
        n_wins_base: shares.iter().filter(|&&s| s < 0.5).count(),
        n_draws,
        n_total: shares.len(),
        discrete_win_rate: discrete.mean * 100.0,
    })
}

/// Inputs of the LC win rate beyond the annotations.
#[derive(Clone, Debug, Default)]
pub struct LcInputs<'a> {
    /// alpaca_eval's per-instruction difficulty, in annotation order; `None` = all 0.
    pub instruction_difficulty: Option<&'a [f64]>,
}

/// The length-controlled win rate and the fitted GLM.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LcWinRate {
    /// Mean predicted preference at zero length difference, in percent.
    pub length_controlled_winrate: f64,
    /// Its standard error, in percent.
    pub lc_standard_error: f64,
    /// GLM weight of tanh(standardised length difference).
    pub weight_std_delta_len: f64,
    /// GLM weight of instruction difficulty.
    pub weight_instruction_difficulty: f64,
    /// GLM weight of the not-the-baseline indicator.
    pub weight_not_gamed_baseline: f64,
    /// The inverse penalty C chosen by cross-validation.
    pub c: f64,
    /// Whether instruction difficulties were given.
    pub has_instruction_difficulty: bool,
}

/// What alpaca_eval's leaderboard reports for a model: the raw and the length-controlled win
/// rates, side by side (one flat JSON object, as `eval score` and `eval judge` print it).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlpacaEvalMetrics {
    /// Raw and discrete win rates.
    #[serde(flatten)]
    pub raw: WinRate,
    /// Length-controlled win rate and its GLM.
    #[serde(flatten)]
    pub length_controlled: LcWinRate,
}

/// The raw and length-controlled win rates of `annotations`; `instruction_difficulty` as in
/// [`LcInputs`].
pub fn metrics(
    annotations: &[Annotation],
    instruction_difficulty: Option<&[f64]>,
) -> Result<AlpacaEvalMetrics> {
    let preferences: Vec<Option<f64>> = annotations.iter().map(|a| a.preference).collect();
    Ok(AlpacaEvalMetrics {
        raw: win_rate(&preferences)?,
        length_controlled: length_controlled_win_rate(
            annotations,
            &LcInputs {
                instruction_difficulty,
            },
        )?,
    })
}

const N_SPLITS: usize = 5;
const N_FEATURES: usize = 3;
const MAX_SWEEPS: usize = 10_000;

/// The LC win rate of the model in `annotations` (see the module docs).
pub fn length_controlled_win_rate(
    annotations: &[Annotation],
    inputs: &LcInputs<'_>,
) -> Result<LcWinRate> {
    let metric = "alpaca_eval length-controlled win rate";
    if let Some(difficulty) = inputs.instruction_difficulty
        && difficulty.len() != annotations.len()
    {
        return Err(Error::Metric {
            metric,
            reason: format!(
                "{} instruction difficulties for {} annotations",
                difficulty.len(),
                annotations.len()
            ),
        });
    }
    let deltas: Vec<f64> = annotations
        .iter()
        .map(|a| a.output_1.chars().count() as f64 - a.output_2.chars().count() as f64)
        .collect();
    let sd = MeanStderr::of(&deltas)
        .map(|m| m.stderr * (deltas.len() as f64).sqrt())
        .unwrap_or(0.0);
    let difficulty = |i: usize| inputs.instruction_difficulty.map_or(0.0, |d| d[i]);
    let features = |i: usize, std_delta: f64| vec![std_delta.tanh(), difficulty(i), 1.0];

    // (instruction, features, soft label) of every annotation with a verdict.
    let observed: Vec<(usize, Vec<f64>, f64)> = annotations
        .iter()
        .enumerate()
        .filter_map(|(i, a)| {
            let p = valid_preference(a.preference)? - 1.0;
            let std_delta = if sd > 0.0 { deltas[i] / sd } else { 0.0 };
            Some((i, features(i, std_delta), p))
        })
        .collect();
    if observed.len() < N_SPLITS {
        return Err(Error::Metric {
            metric,
            reason: format!(
                "{} annotations with a verdict; at least {N_SPLITS} are needed",
                observed.len()
            ),
        });
    }
    let rows_of = |subset: &[&(usize, Vec<f64>, f64)]| -> Vec<Row> {
        subset
            .iter()
            .flat_map(|(_, x, p)| {
                [
                    Row {
                        x: x.clone(),
                        y: true,
                        weight: *p,
                    },
                    Row {
                        x: x.clone(),
                        y: false,
                        weight: 1.0 - p,
                    },
                ]
            })
            .collect()
    };

    // Cross-validate C on weighted log-loss, folds by instruction.
    let cs: Vec<f64> = (0..10)
        .map(|k| 10f64.powf(-4.0 + 8.0 * k as f64 / 9.0))
        .collect();
    let fold_of = |position: usize| position % N_SPLITS;
    let mut best: Option<(f64, f64)> = None; // (mean loss, C)
    for &c in &cs {
        let mut total_loss = 0.0;
        for fold in 0..N_SPLITS {
            let (test, train): (Vec<_>, Vec<_>) = observed
                .iter()
                .enumerate()
                .partition(|(position, _)| fold_of(*position) == fold);
            let train: Vec<_> = train.into_iter().map(|(_, o)| o).collect();
            let w = fit(&rows_of(&train), N_FEATURES, Some(c), MAX_SWEEPS);
            let x: Vec<Vec<f64>> = test.iter().map(|(_, o)| o.1.clone()).collect();
            let t: Vec<f64> = test.iter().map(|(_, o)| o.2).collect();
            total_loss += weighted_log_loss(&w, &x, &t, &vec![1.0; x.len()]);
        }
        let mean_loss = total_loss / N_SPLITS as f64;
        if best.is_none_or(|(loss, _)| mean_loss < loss) {
            best = Some((mean_loss, c));
        }
    }
    let (_, c) = best.expect("ten candidates");
    let all: Vec<_> = observed.iter().collect();
    let w = fit(&rows_of(&all), N_FEATURES, Some(c), MAX_SWEEPS);

    let predicted: Vec<f64> = (0..annotations.len())
        .map(|i| {
            let x = features(i, 0.0);
            sigmoid(x.iter().zip(&w).map(|(a, b)| a * b).sum())
        })
        .collect();
    let lc = MeanStderr::of(&predicted).expect("non-empty");
    Ok(LcWinRate {
        length_controlled_winrate: lc.mean * 100.0,
        lc_standard_error: lc.stderr * 100.0,
        weight_std_delta_len: w[0],
        weight_instruction_difficulty: w[1],
        weight_not_gamed_baseline: w[2],
        c,
        has_instruction_difficulty: inputs.instruction_difficulty.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotation(baseline_len: usize, model_len: usize, preference: Option<f64>) -> Annotation {
        Annotation {
            instruction: String::new(),
            output_1: "b".repeat(baseline_len),
            output_2: "m".repeat(model_len),
            preference,
        }
    }

    #[test]
    fn raw_win_rate_by_hand() {
        // Shares 1, 0, 0.5 (the legacy draw 0), 0.75; the missing and out-of-range ones drop.
        let prefs = [Some(2.0), Some(1.0), Some(0.0), Some(1.75), None, Some(3.0)];
        let w = win_rate(&prefs).unwrap();
        assert_eq!(w.n_total, 4);
        assert!((w.win_rate - 56.25).abs() < 1e-12);
        assert_eq!((w.n_wins, w.n_wins_base, w.n_draws), (2, 1, 1));
        // Discrete: 1, 0, 0.5, 1 → 62.5.
        assert!((w.discrete_win_rate - 62.5).abs() < 1e-12);
        let sd = ((0.4375f64.powi(2) + 0.5625f64.powi(2) + 0.0625f64.powi(2) + 0.1875f64.powi(2))
            / 3.0)
            .sqrt();
        assert!((w.standard_error - sd / 2.0 * 100.0).abs() < 1e-9);
    }

    #[test]
    fn length_control_discounts_wins_that_come_from_length() {
        // The model wins exactly when it is longer than the baseline; the raw win rate is
        // high, the LC win rate at equal length is far lower.
        let annotations: Vec<Annotation> = (0..200)
            .map(|i| {
                let model_len = 100 + (i * 37) % 400;
                let longer = model_len > 300;
                annotation(300, model_len, Some(if longer { 2.0 } else { 1.0 }))
            })
            .collect();
        let prefs: Vec<_> = annotations.iter().map(|a| a.preference).collect();
        let raw = win_rate(&prefs).unwrap().win_rate;
        let lc = length_controlled_win_rate(&annotations, &LcInputs::default()).unwrap();
        assert!(lc.weight_std_delta_len < 0.0, "{lc:?}");
        assert!(
            lc.length_controlled_winrate < raw - 10.0,
            "raw {raw}, {lc:?}"
        );
    }

    #[test]
    fn equal_lengths_give_the_raw_rate_back() {
        // No length signal: the GLM is a constant, and its prediction is the mean share.
        let annotations: Vec<Annotation> = (0..100)
            .map(|i| annotation(50, 50, Some(if i % 4 == 0 { 1.0 } else { 2.0 })))
            .collect();
        let lc = length_controlled_win_rate(&annotations, &LcInputs::default()).unwrap();
        assert!((lc.length_controlled_winrate - 75.0).abs() < 0.5, "{lc:?}");
    }

    #[test]
    fn rejects_mismatched_difficulties() {
        let annotations = vec![annotation(1, 2, Some(2.0)); 10];
        let difficulty = [0.0; 3];
        let err = length_controlled_win_rate(
            &annotations,
            &LcInputs {
                instruction_difficulty: Some(&difficulty),
            },
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("3 instruction difficulties for 10"), "{err}");
    }
}
