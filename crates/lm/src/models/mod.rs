//! Architectures and their heads.

pub(crate) mod batch;
pub(crate) mod bert;
pub(crate) mod decoder;
