//! Diagnostics of the importance weights and the warnings an evaluation raises.
//!
//! IPS-type estimates are only as trustworthy as their weights w_i = π(a_i|x_i)/π0_i: a few
//! huge weights (tiny propensities, a low effective sample size) make them noisy, and a mean
//! weight far from 1 means the propensities are wrong or the target uses arms the logging
//! policy never chose (E_π0[w] = 1 exactly when the logging policy covers the target).
//! Each check has a documented threshold constant below.

use std::fmt;

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::data::{LoggingDistribution, OpeData};

/// A logged propensity below this is "tiny": its weight can exceed 100.
pub const TINY_PROPENSITY: f64 = 0.01;
/// [`Warning::LowEss`] fires when the effective sample size is below this share of N.
pub const LOW_ESS_FRACTION: f64 = 0.1;
/// [`Warning::MeanWeightFar`] fires when |mean weight − 1| exceeds this …
pub const MEAN_WEIGHT_TOLERANCE: f64 = 0.1;
/// … and this many standard errors of the mean weight …
pub const MEAN_WEIGHT_Z: f64 = 3.0;
/// … on a log of at least this many rows (fewer give no usable standard error).
pub const MEAN_WEIGHT_MIN_ROWS: usize = 30;
/// [`Warning::TargetMonteCarlo`] fires when the Monte-Carlo standard error exceeds this share
/// of the bootstrap interval's half-width.
pub const TARGET_MONTE_CARLO_SHARE: f64 = 0.1;
/// [`Warning::LoggingMonteCarlo`] counts the rows whose propensity, estimated from D draws,
/// has a relative standard error sqrt((1 − p)/(p·D)) above this.
pub const LOGGING_RELATIVE_SE: f64 = 0.2;
/// [`Warning::UnsupportedTargetMass`] fires when the mean target mass on arms the logging
/// policy never chooses exceeds this.
pub const UNSUPPORTED_TARGET_MASS: f64 = 0.01;

/// Summary of the importance weights w_i = π(a_i|x_i)/π0_i (dimensionless).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WeightDiagnostics {
    /// Kish's effective sample size (Σ w)² / Σ w², in rows: N for equal weights, about 1
    /// when one weight dominates; 0 when every weight is 0.
    pub ess: f64,
    /// `ess / N`, in [0, 1].
    pub ess_fraction: f64,
    /// (1/N) Σ w_i: 1 in expectation when the propensities are right and the logging policy
    /// covers the target.
    pub mean_weight: f64,
    /// Standard error of `mean_weight`: the weights' sample standard deviation / √N (0 for
    /// N = 1).
    pub mean_weight_se: f64,
    /// max_i w_i.
    pub max_weight: f64,
    /// Rows whose propensity is below [`TINY_PROPENSITY`].
    pub tiny_propensities: usize,
    /// min_i π0_i.
    pub min_propensity: f64,
    /// (1/N) Σ_i Σ_a π(a|x_i)·1{π0(a|x_i) = 0}: the target's mean probability mass on arms
    /// the logging policy never chooses, which IPS-type estimators cannot see. `None`
    /// without the logging policy's full distribution. With a sampled logging distribution,
    /// "never" means "won none of its D draws", i.e. probability below about 1/D.
    pub unsupported_target_mass: Option<f64>,
}

impl WeightDiagnostics {
    /// Computes the diagnostics of a checked log; `logging` (checked against `data` by the
    /// caller) adds the unsupported target mass.
    pub(crate) fn new(data: &OpeData, logging: Option<&LoggingDistribution>) -> Self {
        let weights = data.weights();
        let n_rows = weights.len() as f64;
        let sum: f64 = weights.iter().sum();
        let sum_sq: f64 = weights.iter().map(|w| w * w).sum();
        let ess = if sum_sq > 0.0 {
            sum * sum / sum_sq
        } else {
            0.0
        };
        let mean_weight = sum / n_rows;
        let mean_weight_se = if weights.len() > 1 {
            let variance = weights
                .iter()
                .map(|w| (w - mean_weight) * (w - mean_weight))
                .sum::<f64>()
                / (n_rows - 1.0);
            (variance / n_rows).sqrt()
        } else {
            0.0
        };
        let propensities = data.rows().iter().map(|row| row.propensity);
        let unsupported_target_mass = logging.map(|logging| {
            let n_arms = data.n_arms();
            let mass: f64 = logging
                .values
                .chunks_exact(n_arms)
                .zip(data.target().values.chunks_exact(n_arms))
                .flat_map(|(logging, target)| logging.iter().zip(target))
                .filter(|&(&logging, _)| logging == 0.0)
                .map(|(_, &target)| target)
                .sum();
            mass / n_rows
        });
        Self {
            ess,
            ess_fraction: ess / n_rows,
            mean_weight,
            mean_weight_se,
            max_weight: weights.iter().copied().fold(0.0, f64::max),
            tiny_propensities: propensities
                .clone()
                .filter(|&p| p < TINY_PROPENSITY)
                .count(),
            min_propensity: propensities.fold(1.0, f64::min),
            unsupported_target_mass,
        }
    }

    /// The warnings these diagnostics and the logging distribution raise (all but
    /// [`Warning::TargetMonteCarlo`], which needs the intervals).
    pub(crate) fn warnings(
        &self,
        data: &OpeData,
        logging: Option<&LoggingDistribution>,
    ) -> Vec<Warning> {
        let n = data.n_rows();
        let mut warnings = Vec::new();
        if self.tiny_propensities > 0 {
            warnings.push(Warning::TinyPropensities {
                rows: self.tiny_propensities,
                threshold: TINY_PROPENSITY,
                min: self.min_propensity,
            });
        }
        if self.ess < LOW_ESS_FRACTION * n as f64 {
            warnings.push(Warning::LowEss { ess: self.ess, n });
        }
        let distance = (self.mean_weight - 1.0).abs();
        if n >= MEAN_WEIGHT_MIN_ROWS
            && distance > MEAN_WEIGHT_TOLERANCE
            && distance > MEAN_WEIGHT_Z * self.mean_weight_se
        {
            warnings.push(Warning::MeanWeightFar {
                mean: self.mean_weight,
                se: self.mean_weight_se,
            });
        }
        if let Some(LoggingDistribution {
            draws: Some(draws), ..
        }) = logging
        {
            let rows = data
                .rows()
                .iter()
                .filter(|row| {
                    let p = row.propensity;
                    ((1.0 - p) / (p * *draws as f64)).sqrt() > LOGGING_RELATIVE_SE
                })
                .count();
            if rows > 0 {
                warnings.push(Warning::LoggingMonteCarlo {
                    rows,
                    draws: *draws,
                });
            }
        }
        if let Some(share) = self.unsupported_target_mass
            && share > UNSUPPORTED_TARGET_MASS
        {
            warnings.push(Warning::UnsupportedTargetMass { share });
        }
        warnings
    }
}

/// [`Warning::TargetMonteCarlo`] when `se` exceeds [`TARGET_MONTE_CARLO_SHARE`] of
/// `half_width`.
pub(crate) fn target_monte_carlo(estimator: &str, se: f64, half_width: f64) -> Option<Warning> {
    (se > TARGET_MONTE_CARLO_SHARE * half_width).then(|| Warning::TargetMonteCarlo {
        estimator: estimator.to_string(),
        se,
        half_width,
    })
}

/// Something that makes an estimate less trustworthy than its interval suggests.
///
/// Serialises as a map with a `kind` tag (the kebab-case variant name), the `message` that
/// `Display` prints, and the variant's fields.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Warning {
    /// Some logged propensities are below `threshold` ([`TINY_PROPENSITY`]).
    TinyPropensities {
        /// How many rows.
        rows: usize,
        /// The threshold.
        threshold: f64,
        /// The smallest propensity.
        min: f64,
    },
    /// The weights' effective sample size is below [`LOW_ESS_FRACTION`] of N.
    LowEss {
        /// Kish's effective sample size, in rows.
        ess: f64,
        /// N.
        n: usize,
    },
    /// The mean weight is far from 1 (thresholds [`MEAN_WEIGHT_TOLERANCE`],
    /// [`MEAN_WEIGHT_Z`], [`MEAN_WEIGHT_MIN_ROWS`]).
    MeanWeightFar {
        /// The mean weight.
        mean: f64,
        /// Its standard error.
        se: f64,
    },
    /// The Monte-Carlo error of a sampled target is a noticeable part of an interval
    /// ([`TARGET_MONTE_CARLO_SHARE`]).
    TargetMonteCarlo {
        /// The estimator, as it prints.
        estimator: String,
        /// Its Monte-Carlo standard error, in value units.
        se: f64,
        /// Half the width of its bootstrap interval, in value units.
        half_width: f64,
    },
    /// Some logged propensities are Monte-Carlo estimates with a relative standard error
    /// above [`LOGGING_RELATIVE_SE`].
    LoggingMonteCarlo {
        /// How many rows.
        rows: usize,
        /// D, the draws each propensity was estimated from.
        draws: usize,
    },
    /// The target puts more than [`UNSUPPORTED_TARGET_MASS`] of its mass, on average, on
    /// arms the logging policy never chooses.
    UnsupportedTargetMass {
        /// The mean mass, in [0, 1].
        share: f64,
    },
    /// An estimator has no value on this log (e.g. SNIPS when the target never chooses a
    /// logged arm, so the weights sum to 0); it is left out of the estimates.
    Undefined {
        /// The estimator, as it prints.
        estimator: String,
        /// Why.
        reason: &'static str,
    },
}

impl Warning {
    /// The kebab-case tag of the variant, e.g. `"low-ess"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TinyPropensities { .. } => "tiny-propensities",
            Self::LowEss { .. } => "low-ess",
            Self::MeanWeightFar { .. } => "mean-weight-far",
            Self::TargetMonteCarlo { .. } => "target-monte-carlo",
            Self::LoggingMonteCarlo { .. } => "logging-monte-carlo",
            Self::UnsupportedTargetMass { .. } => "unsupported-target-mass",
            Self::Undefined { .. } => "undefined",
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TinyPropensities {
                rows,
                threshold,
                min,
            } => write!(
                f,
                "{rows} logged rows have a propensity below {threshold} (the smallest is \
                 {min:.3e}); their weights can reach {:.0} and dominate IPS-type estimates.",
                1.0 / min
            ),
            Self::LowEss { ess, n } => write!(
                f,
                "The importance weights' effective sample size is {ess:.1} of {n} rows (below \
                 {:.0}%); IPS-type estimates rest on a few rows.",
                LOW_ESS_FRACTION * 100.0
            ),
            Self::MeanWeightFar { mean, se } => write!(
                f,
                "The mean importance weight is {mean:.3} (standard error {se:.3}), not 1: the \
                 logged propensities may be wrong, or the target chooses arms the logging \
                 policy does not."
            ),
            Self::TargetMonteCarlo {
                estimator,
                se,
                half_width,
            } => write!(
                f,
                "{estimator}: the Monte-Carlo standard error of the target's sampled \
                 probabilities ({se:.3e}) exceeds {:.0}% of the interval's half-width \
                 ({half_width:.3e}); draw the target policy more often.",
                TARGET_MONTE_CARLO_SHARE * 100.0
            ),
            Self::LoggingMonteCarlo { rows, draws } => write!(
                f,
                "{rows} logged propensities, estimated from {draws} draws each, have a relative \
                 standard error above {LOGGING_RELATIVE_SE}; their weights are noisy: log more \
                 draws."
            ),
            Self::UnsupportedTargetMass { share } => write!(
                f,
                "On average {:.1}% of the target's probability falls on arms the logging \
                 policy never chooses; IPS, SNIPS and DR's correction cannot see it (DM sees \
                 it only through q̂).",
                share * 100.0
            ),
            Self::Undefined { estimator, reason } => {
                write!(f, "{estimator} is undefined on this log: {reason}.")
            }
        }
    }
}

impl Serialize for Warning {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("kind", self.kind())?;
        map.serialize_entry("message", &self.to_string())?;
        match self {
            Self::TinyPropensities {
                rows,
                threshold,
                min,
            } => {
                map.serialize_entry("rows", rows)?;
                map.serialize_entry("threshold", threshold)?;
                map.serialize_entry("min", min)?;
            }
            Self::LowEss { ess, n } => {
                map.serialize_entry("ess", ess)?;
                map.serialize_entry("n", n)?;
            }
            Self::MeanWeightFar { mean, se } => {
                map.serialize_entry("mean", mean)?;
                map.serialize_entry("se", se)?;
            }
            Self::TargetMonteCarlo {
                estimator,
                se,
                half_width,
            } => {
                map.serialize_entry("estimator", estimator)?;
                map.serialize_entry("se", se)?;
                map.serialize_entry("half_width", half_width)?;
            }
            Self::LoggingMonteCarlo { rows, draws } => {
                map.serialize_entry("rows", rows)?;
                map.serialize_entry("draws", draws)?;
            }
            Self::UnsupportedTargetMass { share } => {
                map.serialize_entry("share", share)?;
            }
            Self::Undefined { estimator, reason } => {
                map.serialize_entry("estimator", estimator)?;
                map.serialize_entry("reason", reason)?;
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{LoggedRow, TargetProbabilities};
    use crate::estimator::tests::hand_log;

    /// `n` rows over K = 3 arms (arm i mod 3), propensity `propensity`, target rows
    /// `target_row`.
    fn log(n: usize, propensity: f64, target_row: [f64; 3]) -> OpeData {
        let rows = (0..n)
            .map(|i| LoggedRow {
                arm: i % 3,
                propensity,
                value: 1.0,
                cluster: i as u64,
            })
            .collect();
        let target = TargetProbabilities {
            n_arms: 3,
            values: target_row.repeat(n),
            draws: None,
        };
        OpeData::new(rows, target, vec![0.0; 3 * n]).unwrap()
    }

    fn kinds(warnings: &[Warning]) -> Vec<&'static str> {
        warnings.iter().map(Warning::kind).collect()
    }

    const THIRD: f64 = 1.0 / 3.0;

    #[test]
    fn uniform_weights_have_full_ess_and_no_warning() {
        let data = log(90, THIRD, [THIRD; 3]);
        let diagnostics = WeightDiagnostics::new(&data, None);
        assert!((diagnostics.ess - 90.0).abs() < 1e-9, "{}", diagnostics.ess);
        assert!((diagnostics.ess_fraction - 1.0).abs() < 1e-12);
        assert!((diagnostics.mean_weight - 1.0).abs() < 1e-12);
        assert_eq!(diagnostics.tiny_propensities, 0);
        assert!(diagnostics.warnings(&data, None).is_empty());
    }

    #[test]
    fn kish_ess_on_the_hand_log() {
        // Weights 1, 4, 2, 2: (Σw)² / Σw² = 81 / 25 = 3.24; mean 9/4; max 4.
        let diagnostics = WeightDiagnostics::new(&hand_log(), None);
        assert!(
            (diagnostics.ess - 3.24).abs() < 1e-12,
            "{}",
            diagnostics.ess
        );
        assert!((diagnostics.ess_fraction - 0.81).abs() < 1e-12);
        assert_eq!(diagnostics.mean_weight, 2.25);
        assert_eq!(diagnostics.max_weight, 4.0);
        assert_eq!(diagnostics.min_propensity, 0.25);
        // Sample variance of (1, 4, 2, 2) about 2.25: (1.5625 + 3.0625 + 0.0625·2)/3 = 4.75/3.
        let se = (4.75 / 3.0 / 4.0_f64).sqrt();
        assert!((diagnostics.mean_weight_se - se).abs() < 1e-12);
    }

    #[test]
    fn tiny_propensities_warn() {
        let mut data = log(40, THIRD, [THIRD; 3]);
        let mut rows = data.rows().to_vec();
        rows[5].propensity = 0.002;
        rows[9].propensity = 0.005;
        data = OpeData::new(rows, data.target().clone(), data.q_hat().to_vec()).unwrap();
        let diagnostics = WeightDiagnostics::new(&data, None);
        let warnings = diagnostics.warnings(&data, None);
        assert_eq!(
            warnings[0],
            Warning::TinyPropensities {
                rows: 2,
                threshold: TINY_PROPENSITY,
                min: 0.002
            }
        );
    }

    #[test]
    fn low_ess_warns() {
        // Target: arm 0 only. One row in three has weight 3, the rest 0: ESS = N/3 (no
        // warning). Then make one row's weight dominate.
        let data = log(60, THIRD, [1.0, 0.0, 0.0]);
        let diagnostics = WeightDiagnostics::new(&data, None);
        assert!((diagnostics.ess - 20.0).abs() < 1e-9);
        assert!(!kinds(&diagnostics.warnings(&data, None)).contains(&"low-ess"));

        let mut rows = data.rows().to_vec();
        rows[0].propensity = 0.011;
        let skewed = OpeData::new(rows, data.target().clone(), data.q_hat().to_vec()).unwrap();
        let diagnostics = WeightDiagnostics::new(&skewed, None);
        assert!(diagnostics.ess < 6.0, "{}", diagnostics.ess);
        assert!(kinds(&diagnostics.warnings(&skewed, None)).contains(&"low-ess"));
    }

    #[test]
    fn mean_weight_far_from_one_warns() {
        // Logging chooses arms 0 and 1 (propensity 1/2), the target puts 0.4 on arm 2 that
        // is never logged: every weight is 0.3/0.5 = 0.6, mean 0.6.
        let rows = (0..60)
            .map(|i| LoggedRow {
                arm: i % 2,
                propensity: 0.5,
                value: 1.0,
                cluster: i as u64,
            })
            .collect();
        let target = TargetProbabilities {
            n_arms: 3,
            values: [0.3, 0.3, 0.4].repeat(60),
            draws: None,
        };
        let data = OpeData::new(rows, target, vec![0.0; 180]).unwrap();
        let logging = LoggingDistribution {
            values: [0.5, 0.5, 0.0].repeat(60),
            draws: None,
        };
        logging.check(&data).unwrap();
        let diagnostics = WeightDiagnostics::new(&data, Some(&logging));
        assert!((diagnostics.unsupported_target_mass.unwrap() - 0.4).abs() < 1e-12);
        let warnings = diagnostics.warnings(&data, Some(&logging));
        assert_eq!(
            kinds(&warnings),
            ["mean-weight-far", "unsupported-target-mass"]
        );
        // Too few rows to tell: no mean-weight warning.
        let first = OpeData::new(
            data.rows()[..10].to_vec(),
            TargetProbabilities {
                n_arms: 3,
                values: data.target().values[..30].to_vec(),
                draws: None,
            },
            vec![0.0; 30],
        )
        .unwrap();
        let diagnostics = WeightDiagnostics::new(&first, None);
        assert!(diagnostics.warnings(&first, None).is_empty());
    }

    #[test]
    fn noisy_logging_propensities_warn() {
        let data = log(30, THIRD, [THIRD; 3]);
        let logging = |draws| LoggingDistribution {
            values: vec![THIRD; 90],
            draws: Some(draws),
        };
        // sqrt((2/3)/((1/3)·20)) = 0.32 > 0.2; with 1000 draws 0.045.
        let noisy = logging(20);
        let diagnostics = WeightDiagnostics::new(&data, Some(&noisy));
        assert_eq!(
            diagnostics.warnings(&data, Some(&noisy)),
            [Warning::LoggingMonteCarlo {
                rows: 30,
                draws: 20
            }]
        );
        let precise = logging(1000);
        assert!(diagnostics.warnings(&data, Some(&precise)).is_empty());
        assert_eq!(diagnostics.unsupported_target_mass, Some(0.0));
    }

    #[test]
    fn target_monte_carlo_threshold() {
        assert!(target_monte_carlo("dr", 0.02, 0.1).is_some());
        assert!(target_monte_carlo("dr", 0.005, 0.1).is_none());
    }

    #[test]
    fn warnings_display_and_serialise_with_kind_and_message() {
        let warning = Warning::LowEss { ess: 3.5, n: 100 };
        assert_eq!(
            warning.to_string(),
            "The importance weights' effective sample size is 3.5 of 100 rows (below 10%); \
             IPS-type estimates rest on a few rows."
        );
        let mut recorder = recorder::Recorder::default();
        warning.serialize(&mut recorder).unwrap();
        assert_eq!(
            recorder.0,
            format!("{{kind=low-ess;message={warning};ess=3.5;n=100;}}")
        );
    }

    /// A serializer of maps of scalars that writes `{key=value;…}`, so the test needs no
    /// JSON dependency.
    mod recorder {
        use std::fmt::Display;

        use serde::Serialize;
        use serde::ser::{self, Impossible, Serializer};

        #[derive(Default)]
        pub(super) struct Recorder(pub(super) String);

        #[derive(Debug)]
        pub(super) struct Unsupported;

        impl Display for Unsupported {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("unsupported by the test recorder")
            }
        }

        impl std::error::Error for Unsupported {}

        impl ser::Error for Unsupported {
            fn custom<T: Display>(_: T) -> Self {
                Self
            }
        }

        macro_rules! scalars {
            ($($method:ident: $ty:ty),*) => {
                $(fn $method(self, value: $ty) -> Result<(), Unsupported> {
                    self.0.push_str(&value.to_string());
                    Ok(())
                })*
            };
        }

        macro_rules! unsupported {
            ($($method:ident($($arg:ty),*) -> $ret:ty),*) => {
                $(fn $method(self, $(_: $arg),*) -> Result<$ret, Unsupported> {
                    Err(Unsupported)
                })*
            };
        }

        impl Serializer for &mut Recorder {
            type Ok = ();
            type Error = Unsupported;
            type SerializeSeq = Impossible<(), Unsupported>;
            type SerializeTuple = Impossible<(), Unsupported>;
            type SerializeTupleStruct = Impossible<(), Unsupported>;
            type SerializeTupleVariant = Impossible<(), Unsupported>;
            type SerializeMap = Self;
            type SerializeStruct = Impossible<(), Unsupported>;
            type SerializeStructVariant = Impossible<(), Unsupported>;

            scalars!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16,
                serialize_i32: i32, serialize_i64: i64, serialize_u8: u8, serialize_u16: u16,
                serialize_u32: u32, serialize_u64: u64, serialize_f32: f32, serialize_f64: f64,
                serialize_char: char, serialize_str: &str);
            unsupported!(serialize_bytes(&[u8]) -> (), serialize_none() -> (),
                serialize_unit() -> (), serialize_unit_struct(&'static str) -> (),
                serialize_unit_variant(&'static str, u32, &'static str) -> (),
                serialize_seq(Option<usize>) -> Self::SerializeSeq,
                serialize_tuple(usize) -> Self::SerializeTuple,
                serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct,
                serialize_tuple_variant(&'static str, u32, &'static str, usize)
                    -> Self::SerializeTupleVariant,
                serialize_struct(&'static str, usize) -> Self::SerializeStruct,
                serialize_struct_variant(&'static str, u32, &'static str, usize)
                    -> Self::SerializeStructVariant);

            fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<(), Unsupported> {
                Err(Unsupported)
            }

            fn serialize_newtype_struct<T: ?Sized + Serialize>(
                self,
                _: &'static str,
                _: &T,
            ) -> Result<(), Unsupported> {
                Err(Unsupported)
            }

            fn serialize_newtype_variant<T: ?Sized + Serialize>(
                self,
                _: &'static str,
                _: u32,
                _: &'static str,
                _: &T,
            ) -> Result<(), Unsupported> {
                Err(Unsupported)
            }

            fn serialize_map(self, _: Option<usize>) -> Result<Self, Unsupported> {
                self.0.push('{');
                Ok(self)
            }
        }

        impl ser::SerializeMap for &mut Recorder {
            type Ok = ();
            type Error = Unsupported;

            fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), Unsupported> {
                key.serialize(&mut **self)?;
                self.0.push('=');
                Ok(())
            }

            fn serialize_value<T: ?Sized + Serialize>(
                &mut self,
                value: &T,
            ) -> Result<(), Unsupported> {
                value.serialize(&mut **self)?;
                self.0.push(';');
                Ok(())
            }

            fn end(self) -> Result<(), Unsupported> {
                self.0.push('}');
                Ok(())
            }
        }
    }
}
