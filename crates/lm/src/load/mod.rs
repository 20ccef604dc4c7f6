//! Reading weights from files: GGUF (with ggml dequantisation).

pub(crate) mod gguf;
pub(crate) mod quant;
