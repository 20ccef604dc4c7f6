//! The estimators, each written as per-row (numerator, denominator) terms so that the
//! bootstrap only needs the terms summed per cluster, and the Monte-Carlo standard error
//! they inherit from a sampled target (derived in [`Estimator`]'s docs).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::data::{OpeData, dot};
use crate::error::{Error, Result};

/// τ of switch-DR when the specification does not give one: rows with weight above 10 use
/// the direct method alone.
pub const DEFAULT_SWITCH_TAU: f64 = 10.0;

/// An off-policy estimator of V(π) (formulas in the crate docs).
///
/// Parsed from and printed as `NAME[:KEY=VALUE[,KEY=VALUE…]]`, e.g. `ips`, `ips:clip=10`,
/// `snips`, `dm`, `dr`, `switch-dr`, `switch-dr:tau=5`. `Display` prints the canonical form
/// with every parameter that is set (`switch-dr` prints `switch-dr:tau=10`), which parses
/// back to the same estimator; serde uses the same string.
///
/// # Notation
/// Row i logged arm a_i with propensity π0_i and value y_i; π_i = π(·|x_i) is the target's
/// row, q̂_i = q̂(x_i, ·) the reward model's, w_i = π_i(a_i)/π0_i the importance weight and
/// DM_i = Σ_a π_i(a) q̂_i(a). Every estimate is V̂ = Σ_i num_i / Σ_i den_i (see the table in
/// the crate docs), so the bootstrap only needs the terms, summed per cluster.
///
/// # Monte-Carlo error of a sampled target
/// When π_i is the frequency of each arm among D draws of a stochastic router, each term
/// is written as linear in π_i: num_i = Σ_a π_i(a) c_i(a) and den_i = Σ_a π_i(a) e_i(a)
/// (a constant den_i = 1 is Σ_a π_i(a)·1). The coefficients c, e hold everything that is
/// not π (y, π0, q̂). Two terms depend on π in a non-linear way, and there the indicator is
/// held fixed at its value on the log: the clip of IPS (a clipped row's term is the
/// constant clip·y_i) and the switch of switch-DR. By the delta method,
/// V̂ − V ≈ Σ_i (num_i − V den_i) / Σ_i den_i, which is linear in the π_i with coefficients
/// g_i = c_i − V̂ e_i. A multinomial frequency has Var(Σ_a π̂(a) g(a)) = Var_{A~π}(g(A))/D,
/// and rows are drawn independently, so, with the observed frequencies plugged in for π,
///
/// ```text
/// SE_MC = sqrt(Σ_i var_i) / |Σ_i den_i|,
/// var_i = Σ_a π_i(a) (g_i(a) − ḡ_i)² / D,   ḡ_i = Σ_a π_i(a) g_i(a).
/// ```
///
/// The plug-in variance is (D−1)/D of the unbiased one, and is 0 for D = 1, where a row's
/// spread cannot be seen; rows near a clip or switch threshold add variance this ignores.
///
/// **Bound.** A variable with values in an interval of width R has variance at most R²/4
/// (Popoviciu's inequality), so var_i ≤ R_i²/(4D) with R_i = max_a g_i(a) − min_a g_i(a)
/// (the spread over the arms with π_i(a) > 0 suffices), and
///
/// ```text
/// SE_MC ≤ √N · max_i R_i / (2 √D · |Σ_i den_i|)  =  max_i R_i / (2 √(N·D))  when den = 1.
/// ```
///
/// For IPS R_i = |y_i|/π0_i, so with values in [0, y_max] the bound is
/// y_max / (2 π0_min √(N·D)); for SNIPS R_i = |y_i − V̂|/π0_i; for DM R_i is the spread of
/// q̂_i across arms; DR adds (y_i − q̂_i(a_i))/π0_i to the logged arm's entry of q̂_i.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Estimator {
    /// Inverse propensity scoring: (1/N) Σ min(w_i, clip)·y_i. Unbiased without a clip when
    /// the logging policy covers the target's arms; the clip trades bias for variance.
    Ips {
        /// Upper bound on the weight (> 0), or `None` for none.
        clip: Option<f64>,
    },
    /// Self-normalised IPS: Σ w_i y_i / Σ w_i. Slightly biased, invariant to a constant
    /// shift of the values, and much less variable than IPS when weights are large.
    Snips,
    /// The direct method: (1/N) Σ_i Σ_a π_i(a) q̂_i(a). Sees every arm, but is only as good
    /// as q̂.
    DirectMethod,
    /// Doubly robust: DM plus the IPS-weighted residual of q̂ on the logged arm. Unbiased if
    /// either the propensities or q̂ are right.
    DoublyRobust,
    /// Switch-DR (Wang, Agarwal & Dudík 2017, in the Open Bandit Pipeline's form): DR on rows
    /// with w_i ≤ τ, DM alone on the others.
    SwitchDr {
        /// The weight threshold τ ≥ 0 above which a row's IPS correction is dropped.
        tau: f64,
    },
}

impl Estimator {
    /// The short name: "ips", "snips", "dm", "dr" or "switch-dr" (without parameters; see
    /// `Display` for the full specification).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Ips { .. } => "ips",
            Self::Snips => "snips",
            Self::DirectMethod => "dm",
            Self::DoublyRobust => "dr",
            Self::SwitchDr { .. } => "switch-dr",
        }
    }

    /// Checks the parameters: a clip must be finite and > 0, τ finite and ≥ 0.
    pub fn check(&self) -> Result<()> {
        match *self {
            Self::Ips { clip: Some(clip) } if !(clip.is_finite() && clip > 0.0) => {
                Err(Error::InvalidParameter {
                    name: "clip",
                    value: clip.to_string(),
                    reason: "the IPS weight clip must be finite and > 0",
                })
            }
            Self::SwitchDr { tau } if !(tau.is_finite() && tau >= 0.0) => {
                Err(Error::InvalidParameter {
                    name: "tau",
                    value: tau.to_string(),
                    reason: "the switch-DR threshold must be finite and >= 0",
                })
            }
            _ => Ok(()),
        }
    }

    /// The point estimate V̂ = Σ num_i / Σ den_i on the whole log, in the units of the
    /// logged values.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] from [`Estimator::check`]; [`Error::Undefined`] when
    /// Σ den_i = 0 (SNIPS with a target that gives 0 to every logged arm).
    pub fn estimate(&self, data: &OpeData) -> Result<f64> {
        self.check()?;
        self.terms(data).estimate(self)
    }

    /// The per-row terms of this estimator on `data`.
    pub(crate) fn terms(&self, data: &OpeData) -> Terms {
        let n_rows = data.n_rows();
        let mut terms = Terms {
            num: Vec::with_capacity(n_rows),
            den: Vec::with_capacity(n_rows),
        };
        for (index, (row, weight)) in data.rows().iter().zip(data.weights()).enumerate() {
            let q_hat = data.q_hat_row(index);
            let direct = || dot(data.target().row(index), q_hat);
            let residual = row.value - q_hat[row.arm];
            let (num, den) = match *self {
                Self::Ips { clip } => (clip.map_or(weight, |c| weight.min(c)) * row.value, 1.0),
                Self::Snips => (weight * row.value, weight),
                Self::DirectMethod => (direct(), 1.0),
                Self::DoublyRobust => (direct() + weight * residual, 1.0),
                Self::SwitchDr { tau } => {
                    let correction = if weight <= tau {
                        weight * residual
                    } else {
                        0.0
                    };
                    (direct() + correction, 1.0)
                }
            };
            terms.num.push(num);
            terms.den.push(den);
        }
        terms
    }

    /// The coefficients of row `index`'s terms as linear functions of π_i (see [`Estimator`]):
    /// `num`, `den` `[K]` are overwritten with c_i and e_i.
    fn coefficients(&self, data: &OpeData, index: usize, num: &mut [f64], den: &mut [f64]) {
        let row = data.rows()[index];
        let q_hat = data.q_hat_row(index);
        let weight = data.target().row(index)[row.arm] / row.propensity;
        // The logged arm's coefficient of π_i(a_i)·x / π0_i, i.e. w_i·x.
        let spike = |coefficients: &mut [f64], x: f64| {
            coefficients[row.arm] += x / row.propensity;
        };
        den.fill(1.0);
        match *self {
            Self::Ips { clip } => match clip {
                Some(clip) if weight > clip => num.fill(clip * row.value),
                _ => {
                    num.fill(0.0);
                    spike(num, row.value);
                }
            },
            Self::Snips => {
                num.fill(0.0);
                spike(num, row.value);
                den.fill(0.0);
                spike(den, 1.0);
            }
            Self::DirectMethod => num.copy_from_slice(q_hat),
            Self::DoublyRobust => {
                num.copy_from_slice(q_hat);
                spike(num, row.value - q_hat[row.arm]);
            }
            Self::SwitchDr { tau } => {
                num.copy_from_slice(q_hat);
                if weight <= tau {
                    spike(num, row.value - q_hat[row.arm]);
                }
            }
        }
    }

    /// The Monte-Carlo standard error of `estimate` when the target's rows are frequencies
    /// among `draws` draws (see [`Estimator`]), in the units of the logged values.
    pub(crate) fn monte_carlo_se(
        &self,
        data: &OpeData,
        terms: &Terms,
        estimate: f64,
        draws: usize,
    ) -> f64 {
        let n_arms = data.n_arms();
        let mut num = vec![0.0; n_arms];
        let mut den = vec![0.0; n_arms];
        let mut variance = 0.0;
        for index in 0..data.n_rows() {
            self.coefficients(data, index, &mut num, &mut den);
            let probabilities = data.target().row(index);
            // g = c − V̂ e; the spread is taken about its mean (two passes) rather than as
            // E[g²] − E[g]², which cancels catastrophically when g is large and nearly flat.
            for (g, e) in num.iter_mut().zip(&den) {
                *g -= estimate * e;
            }
            let mean = dot(probabilities, &num);
            let spread: f64 = probabilities
                .iter()
                .zip(&num)
                .map(|(p, g)| p * (g - mean) * (g - mean))
                .sum();
            variance += spread / draws as f64;
        }
        variance.sqrt() / terms.den.iter().sum::<f64>().abs()
    }
}

/// Per-row numerators and denominators, `[N]` each: V̂ = Σ num / Σ den.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Terms {
    /// num_i, in value units.
    pub(crate) num: Vec<f64>,
    /// den_i, dimensionless.
    pub(crate) den: Vec<f64>,
}

impl Terms {
    /// Σ num / Σ den, or [`Error::Undefined`] when Σ den = 0.
    pub(crate) fn estimate(&self, estimator: &Estimator) -> Result<f64> {
        let den: f64 = self.den.iter().sum();
        if den == 0.0 {
            return Err(Error::Undefined {
                estimator: estimator.to_string(),
                reason: "the target gives probability 0 to every logged arm, so the weights sum \
                         to 0",
            });
        }
        Ok(self.num.iter().sum::<f64>() / den)
    }
}

impl fmt::Display for Estimator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match self {
            Self::Ips { clip: Some(clip) } => write!(f, ":clip={clip}"),
            Self::SwitchDr { tau } => write!(f, ":tau={tau}"),
            _ => Ok(()),
        }
    }
}

impl From<Estimator> for String {
    fn from(estimator: Estimator) -> Self {
        estimator.to_string()
    }
}

impl TryFrom<String> for Estimator {
    type Error = Error;

    fn try_from(text: String) -> Result<Self> {
        text.parse()
    }
}

impl FromStr for Estimator {
    type Err = Error;

    /// Parses `NAME[:KEY=VALUE[,KEY=VALUE…]]`: `ips[:clip=C]`, `snips`, `dm`, `dr`,
    /// `switch-dr[:tau=T]` (τ defaults to [`DEFAULT_SWITCH_TAU`]).
    fn from_str(input: &str) -> Result<Self> {
        let fail = |reason: String| Error::ParseEstimator {
            input: input.to_string(),
            reason,
        };
        let (name, parameters) = match input.trim().split_once(':') {
            Some((name, parameters)) => (name.trim(), Some(parameters)),
            None => (input.trim(), None),
        };
        let mut clip = None;
        let mut tau = None;
        let allowed: &[&str] = match name {
            "ips" => &["clip"],
            "switch-dr" => &["tau"],
            "snips" | "dm" | "dr" => &[],
            _ => {
                return Err(fail(format!(
                    "unknown estimator {name:?}; expected ips, snips, dm, dr or switch-dr"
                )));
            }
        };
        for parameter in parameters.into_iter().flat_map(|p| p.split(',')) {
            let Some((key, value)) = parameter.split_once('=') else {
                return Err(fail(format!("expected KEY=VALUE, found {parameter:?}")));
            };
            let key = key.trim();
            if !allowed.contains(&key) {
                return Err(fail(format!(
                    "{name} takes {}, not {key:?}",
                    match allowed {
                        [] => "no parameters".to_string(),
                        keys => format!("the parameter {}", keys.join(", ")),
                    }
                )));
            }
            let value: f64 = value
                .trim()
                .parse()
                .map_err(|_| fail(format!("{key} must be a number, found {value:?}")))?;
            let slot = if key == "clip" { &mut clip } else { &mut tau };
            if slot.replace(value).is_some() {
                return Err(fail(format!("{key} is given twice")));
            }
        }
        let estimator = match name {
            "ips" => Self::Ips { clip },
            "snips" => Self::Snips,
            "dm" => Self::DirectMethod,
            "dr" => Self::DoublyRobust,
            _ => Self::SwitchDr {
                tau: tau.unwrap_or(DEFAULT_SWITCH_TAU),
            },
        };
        estimator.check()?;
        Ok(estimator)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::data::{LoggedRow, TargetProbabilities};

    /// Agreement required of values computed by hand in exact binary fractions.
    const EXACT: f64 = 1e-12;

    /// The hand-computed log: K = 3, four rows, one cluster each.
    ///
    /// | row | a_i | π0_i | y_i | π_i              | q̂_i               | w_i | DM_i  |
    /// |-----|-----|------|-----|------------------|--------------------|-----|-------|
    /// | 0   | 0   | 0.5  | 1   | 0.5, 0.5, 0      | 0.75, 0.5, 0       | 1   | 0.625 |
    /// | 1   | 1   | 0.25 | 0   | 0, 1, 0          | 0.25, 0.5, 1       | 4   | 0.5   |
    /// | 2   | 2   | 0.25 | 1   | 0.25, 0.25, 0.5  | 0, 0.5, 0.75       | 2   | 0.5   |
    /// | 3   | 0   | 0.5  | 0.5 | 1, 0, 0          | 1, 0, 0.5          | 2   | 1     |
    pub(crate) fn hand_log() -> OpeData {
        let rows = [(0, 0.5, 1.0), (1, 0.25, 0.0), (2, 0.25, 1.0), (0, 0.5, 0.5)]
            .into_iter()
            .enumerate()
            .map(|(i, (arm, propensity, value))| LoggedRow {
                arm,
                propensity,
                value,
                cluster: i as u64,
            })
            .collect();
        let target = TargetProbabilities {
            n_arms: 3,
            values: vec![
                0.5, 0.5, 0.0, //
                0.0, 1.0, 0.0, //
                0.25, 0.25, 0.5, //
                1.0, 0.0, 0.0,
            ],
            draws: None,
        };
        let q_hat = vec![
            0.75, 0.5, 0.0, //
            0.25, 0.5, 1.0, //
            0.0, 0.5, 0.75, //
            1.0, 0.0, 0.5,
        ];
        OpeData::new(rows, target, q_hat).unwrap()
    }

    fn assert_exact(estimator: Estimator, expected: f64) {
        let value = estimator.estimate(&hand_log()).unwrap();
        assert!(
            (value - expected).abs() < EXACT,
            "{estimator}: {value} != {expected}"
        );
    }

    #[test]
    fn hand_computed_estimates() {
        // IPS: w·y = 1, 0, 2, 1 → 4/4 = 1.
        assert_exact(Estimator::Ips { clip: None }, 1.0);
        // Clip 1.5: min(w, 1.5)·y = 1, 0, 1.5, 0.75 → 3.25/4 = 0.8125.
        assert_exact(Estimator::Ips { clip: Some(1.5) }, 0.8125);
        // SNIPS: Σ w y / Σ w = 4 / (1 + 4 + 2 + 2) = 4/9.
        assert_exact(Estimator::Snips, 4.0 / 9.0);
        // DM: (0.625 + 0.5 + 0.5 + 1) / 4 = 0.65625.
        assert_exact(Estimator::DirectMethod, 0.65625);
        // DR: residuals y − q̂(a_i) = 0.25, −0.5, 0.25, −0.5; w·residual = 0.25, −2, 0.5, −1;
        // terms 0.875, −1.5, 1, 0 → 0.375/4 = 0.09375.
        assert_exact(Estimator::DoublyRobust, 0.09375);
        // Switch-DR τ = 3 drops row 1 (w = 4): 0.875, 0.5, 1, 0 → 2.375/4 = 0.59375.
        assert_exact(Estimator::SwitchDr { tau: 3.0 }, 0.59375);
        // τ = 1.5 keeps row 0 only: 0.875, 0.5, 0.5, 1 → 2.875/4 = 0.71875.
        assert_exact(Estimator::SwitchDr { tau: 1.5 }, 0.71875);
    }

    #[test]
    fn names_and_specifications_round_trip() {
        let cases = [
            ("ips", Estimator::Ips { clip: None }, "ips"),
            ("ips:clip=10", Estimator::Ips { clip: Some(10.0) }, "ips"),
            (
                " ips : clip = 2.5 ",
                Estimator::Ips { clip: Some(2.5) },
                "ips",
            ),
            ("snips", Estimator::Snips, "snips"),
            ("dm", Estimator::DirectMethod, "dm"),
            ("dr", Estimator::DoublyRobust, "dr"),
            ("switch-dr", Estimator::SwitchDr { tau: 10.0 }, "switch-dr"),
            (
                "switch-dr:tau=5",
                Estimator::SwitchDr { tau: 5.0 },
                "switch-dr",
            ),
        ];
        for (text, estimator, name) in cases {
            let parsed: Estimator = text.parse().unwrap();
            assert_eq!(parsed, estimator, "{text}");
            assert_eq!(parsed.name(), name);
            assert_eq!(parsed.to_string().parse::<Estimator>().unwrap(), estimator);
        }
        assert_eq!(
            Estimator::SwitchDr { tau: 10.0 }.to_string(),
            "switch-dr:tau=10"
        );
        assert_eq!(
            Estimator::Ips { clip: Some(0.5) }.to_string(),
            "ips:clip=0.5"
        );
    }

    #[test]
    fn bad_specifications_are_rejected() {
        for text in [
            "ipw",
            "ips:tau=3",
            "dr:clip=1",
            "ips:clip",
            "ips:clip=ten",
            "ips:clip=1,clip=2",
            "switch-dr:tau=-1",
            "ips:clip=0",
            "ips:clip=inf",
            "",
        ] {
            let err = text.parse::<Estimator>().unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::ParseEstimator { .. } | Error::InvalidParameter { .. }
                ),
                "{text}: {err:?}"
            );
        }
    }

    #[test]
    fn snips_with_no_weight_is_undefined() {
        let rows = vec![LoggedRow {
            arm: 0,
            propensity: 0.5,
            value: 1.0,
            cluster: 0,
        }];
        let target = TargetProbabilities {
            n_arms: 2,
            values: vec![0.0, 1.0],
            draws: None,
        };
        let data = OpeData::new(rows, target, vec![0.0; 2]).unwrap();
        assert!(matches!(
            Estimator::Snips.estimate(&data),
            Err(Error::Undefined { .. })
        ));
        assert_eq!(Estimator::Ips { clip: None }.estimate(&data).unwrap(), 0.0);
    }

    #[test]
    fn monte_carlo_se_on_a_hand_example() {
        // One row, DM with q̂ = [0, 1] and π̂ = [0.5, 0.5] from D = 4 draws:
        // var = (0.5·(0 − 0.5)² + 0.5·(1 − 0.5)²)/4 = 1/16, SE = 1/4.
        let rows = vec![LoggedRow {
            arm: 0,
            propensity: 0.5,
            value: 1.0,
            cluster: 0,
        }];
        let target = TargetProbabilities {
            n_arms: 2,
            values: vec![0.5, 0.5],
            draws: Some(4),
        };
        let data = OpeData::new(rows, target, vec![0.0, 1.0]).unwrap();
        let estimator = Estimator::DirectMethod;
        let terms = estimator.terms(&data);
        let se = estimator.monte_carlo_se(&data, &terms, 0.5, 4);
        assert!((se - 0.25).abs() < EXACT, "{se}");
        // IPS: c = [y/π0, 0] = [2, 0] → var = (0.5·1 + 0.5·1)/4 = 1/4, SE = 1/2.
        let ips = Estimator::Ips { clip: None };
        let se = ips.monte_carlo_se(&data, &ips.terms(&data), 1.0, 4);
        assert!((se - 0.5).abs() < EXACT, "{se}");
    }

    /// A random small log: N in 1..8, K in 1..4, target rows normalised from random
    /// non-negative weights (some exactly 0), q̂ random.
    pub(crate) fn small_log() -> impl Strategy<Value = OpeData> {
        (1_usize..4, 1_usize..8)
            .prop_flat_map(|(n_arms, n_rows)| {
                (
                    prop::collection::vec((0..n_arms, 0.05_f64..=1.0, -2.0_f64..2.0), n_rows),
                    prop::collection::vec(prop_oneof![Just(0.0), 0.0_f64..1.0], n_rows * n_arms),
                    prop::collection::vec(-2.0_f64..2.0, n_rows * n_arms),
                    Just(n_arms),
                )
            })
            .prop_map(|(rows, mut target, q_hat, n_arms)| {
                for row in target.chunks_exact_mut(n_arms) {
                    let sum: f64 = row.iter().sum();
                    if sum == 0.0 {
                        row.fill(1.0 / n_arms as f64);
                    } else {
                        row.iter_mut().for_each(|p| *p /= sum);
                    }
                }
                let rows = rows
                    .into_iter()
                    .enumerate()
                    .map(|(i, (arm, propensity, value))| LoggedRow {
                        arm,
                        propensity,
                        value,
                        cluster: i as u64 / 2,
                    })
                    .collect();
                let target = TargetProbabilities {
                    n_arms,
                    values: target,
                    draws: None,
                };
                OpeData::new(rows, target, q_hat).unwrap()
            })
    }

    /// The same log with another q̂.
    fn with_q_hat(data: &OpeData, q_hat: Vec<f64>) -> OpeData {
        OpeData::new(data.rows().to_vec(), data.target().clone(), q_hat).unwrap()
    }

    /// Relative-and-absolute agreement for sums of a few terms of size ~10.
    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
    }

    proptest! {
        /// DR is DM when q̂ predicts every logged value exactly, and IPS when q̂ = 0.
        #[test]
        fn dr_reduces_to_dm_and_ips(data in small_log()) {
            let n_arms = data.n_arms();
            let mut exact = data.q_hat().to_vec();
            for (index, row) in data.rows().iter().enumerate() {
                exact[index * n_arms + row.arm] = row.value;
            }
            let exact = with_q_hat(&data, exact);
            let dr = Estimator::DoublyRobust.estimate(&exact).unwrap();
            let dm = Estimator::DirectMethod.estimate(&exact).unwrap();
            prop_assert!(close(dr, dm), "{dr} vs {dm}");

            let zero = with_q_hat(&data, vec![0.0; data.q_hat().len()]);
            let dr = Estimator::DoublyRobust.estimate(&zero).unwrap();
            let ips = Estimator::Ips { clip: None }.estimate(&zero).unwrap();
            prop_assert!(close(dr, ips), "{dr} vs {ips}");
        }

        /// Switch-DR is DR when τ is at least every weight, and DM when τ is below every
        /// weight.
        #[test]
        fn switch_dr_interpolates_dr_and_dm(data in small_log()) {
            let weights = data.weights();
            let max = weights.iter().copied().fold(0.0, f64::max);
            let min = weights.iter().copied().fold(f64::INFINITY, f64::min);
            let dr = Estimator::DoublyRobust.estimate(&data).unwrap();
            let high = Estimator::SwitchDr { tau: max }.estimate(&data).unwrap();
            prop_assert!(close(high, dr), "{high} vs {dr}");
            if min > 0.0 {
                let dm = Estimator::DirectMethod.estimate(&data).unwrap();
                let low = Estimator::SwitchDr { tau: min * 0.5 }.estimate(&data).unwrap();
                prop_assert!(close(low, dm), "{low} vs {dm}");
            }
        }

        /// The linear coefficients reproduce every row's terms: num_i = Σ_a π(a) c(a) and
        /// den_i = Σ_a π(a) e(a).
        #[test]
        fn coefficients_reproduce_the_terms(data in small_log(), clip in 0.5_f64..5.0) {
            let n_arms = data.n_arms();
            let mut num = vec![0.0; n_arms];
            let mut den = vec![0.0; n_arms];
            for estimator in [
                Estimator::Ips { clip: None },
                Estimator::Ips { clip: Some(clip) },
                Estimator::Snips,
                Estimator::DirectMethod,
                Estimator::DoublyRobust,
                Estimator::SwitchDr { tau: clip },
            ] {
                let terms = estimator.terms(&data);
                for index in 0..data.n_rows() {
                    estimator.coefficients(&data, index, &mut num, &mut den);
                    let probabilities = data.target().row(index);
                    let (n, d) = (dot(probabilities, &num), dot(probabilities, &den));
                    prop_assert!(close(n, terms.num[index]), "{estimator} row {index}");
                    prop_assert!(close(d, terms.den[index]), "{estimator} row {index}");
                }
            }
        }
    }
}
