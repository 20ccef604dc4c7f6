//! Which arms a selection may choose.

use crate::error::{Error, Result};

/// Availability of each arm for one selection call (e.g. an RM server is down). Masked arms
/// are never chosen and get propensity 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArmMask {
    available: Vec<bool>,
}

impl ArmMask {
    /// Every one of `n_arms` arms available.
    pub fn all(n_arms: usize) -> Self {
        Self {
            available: vec![true; n_arms],
        }
    }

    /// All arms available except those listed.
    ///
    /// Errors if a listed arm is not below `n_arms`.
    pub fn without(n_arms: usize, unavailable: &[usize]) -> Result<Self> {
        let mut mask = Self::all(n_arms);
        for &arm in unavailable {
            if arm >= n_arms {
                return Err(Error::ArmOutOfRange { arm, n_arms });
            }
            mask.available[arm] = false;
        }
        Ok(mask)
    }

    /// From one flag per arm (`true` = available).
    pub fn from_flags(available: Vec<bool>) -> Self {
        Self { available }
    }

    /// Number of arms the mask covers.
    pub fn len(&self) -> usize {
        self.available.len()
    }

    /// Whether the mask covers no arm.
    pub fn is_empty(&self) -> bool {
        self.available.is_empty()
    }

    /// Whether `arm` may be chosen.
    pub fn is_available(&self, arm: usize) -> bool {
        self.available.get(arm).copied().unwrap_or(false)
    }

    /// Indices of the available arms, ascending.
    pub fn available_arms(&self) -> impl Iterator<Item = usize> + '_ {
        self.available
            .iter()
            .enumerate()
            .filter_map(|(arm, &ok)| ok.then_some(arm))
    }

    /// Number of available arms.
    pub fn count_available(&self) -> usize {
        self.available.iter().filter(|&&ok| ok).count()
    }

    /// Checks the mask against a router with `n_arms` arms: right length, one arm available.
    pub(crate) fn check(&self, n_arms: usize) -> Result<()> {
        if self.len() != n_arms {
            return Err(Error::DimensionMismatch {
                what: "arm mask".into(),
                expected: n_arms,
                found: self.len(),
            });
        }
        if self.count_available() == 0 {
            return Err(Error::NoArmAvailable {
                reason: format!("all {n_arms} arms are masked"),
            });
        }
        Ok(())
    }
}
