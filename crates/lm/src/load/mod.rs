//! Reading weights from files: GGUF (with ggml dequantisation) and Hugging Face folders.

pub(crate) mod gguf;
pub(crate) mod gguf_decoder;
pub(crate) mod layout;
pub(crate) mod model;
pub(crate) mod quant;
pub(crate) mod weights;
