//! Building blocks shared by the architectures.

pub(crate) mod attention;
pub(crate) mod kv_cache;
pub(crate) mod linear;
pub(crate) mod lora;
pub(crate) mod mlp;
pub(crate) mod rope;
