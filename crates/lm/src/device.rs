//! The one place where a compute backend is chosen.
//!
//! Everything else in the workspace takes a burn [`Device`] and never names a backend, so a
//! later move from burn-tch (deprecated in burn 0.22) to burn's own CUDA backend changes this
//! file only.

use std::fmt;
use std::str::FromStr;

use burn::prelude::Device;

use crate::error::{Error, Result};

/// Where tensors live, as a user names it: `cpu`, `libtorch` or `cuda[:N]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceSpec {
    /// burn's pure-Rust `flex` backend on the CPU (always available).
    #[default]
    Cpu,
    /// libtorch on the CPU (cargo feature `tch`).
    Libtorch,
    /// libtorch on CUDA GPU `N` (cargo feature `tch`).
    Cuda(usize),
}

impl FromStr for DeviceSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let invalid = || Error::Device {
            reason: format!("unknown device {s:?}: use cpu, libtorch, cuda or cuda:N"),
        };
        match s {
            "cpu" => Ok(Self::Cpu),
            "libtorch" => Ok(Self::Libtorch),
            "cuda" => Ok(Self::Cuda(0)),
            _ => match s.strip_prefix("cuda:") {
                Some(index) => index.parse().map(Self::Cuda).map_err(|_| invalid()),
                None => Err(invalid()),
            },
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => write!(f, "cpu"),
            Self::Libtorch => write!(f, "libtorch"),
            Self::Cuda(index) => write!(f, "cuda:{index}"),
        }
    }
}

impl DeviceSpec {
    /// The burn device; errors if this build lacks the backend.
    pub fn device(self) -> Result<Device> {
        match self {
            Self::Cpu => Ok(Device::flex()),
            #[cfg(feature = "tch")]
            // burn-tch is deprecated in burn 0.22 but is the verified CUDA path (GPU.md).
            #[allow(deprecated)]
            Self::Libtorch => Ok(Device::libtorch()),
            #[cfg(feature = "tch")]
            #[allow(deprecated)]
            Self::Cuda(index) => Ok(Device::libtorch_cuda(index)),
            #[cfg(not(feature = "tch"))]
            Self::Libtorch | Self::Cuda(_) => Err(Error::Device {
                reason: format!("device {self} needs a build with `--features tch`"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for (text, spec) in [
            ("cpu", DeviceSpec::Cpu),
            ("libtorch", DeviceSpec::Libtorch),
            ("cuda", DeviceSpec::Cuda(0)),
            ("cuda:3", DeviceSpec::Cuda(3)),
        ] {
            assert_eq!(text.parse::<DeviceSpec>().unwrap(), spec);
        }
        assert_eq!(DeviceSpec::Cuda(3).to_string(), "cuda:3");
        assert!(
            "gpu"
                .parse::<DeviceSpec>()
                .unwrap_err()
                .to_string()
                .contains("\"gpu\"")
        );
        assert!("cuda:x".parse::<DeviceSpec>().is_err());
    }
}
