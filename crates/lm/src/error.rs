//! The one error type of the crate.

/// Everything that can go wrong while loading or running a model. Variants name what was
/// wrong: the file, the byte offset, the metadata key, the tensor, the shapes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written, or a JSON document or record in it does not
    /// parse (the message names the path, and the line).
    #[error(transparent)]
    File(#[from] atomic_write::Error),
    /// A GGUF stream is malformed at a known position.
    #[error("GGUF: {reason} (at byte {offset})")]
    Gguf {
        /// Byte offset in the stream where the problem was found.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A length or count read from a file exceeds what this loader accepts.
    #[error("GGUF: {what} is {value}, above the limit of {limit} (at byte {offset})")]
    LimitExceeded {
        /// Which length (e.g. "string length", "tensor count").
        what: &'static str,
        /// The value found.
        value: u64,
        /// The limit, with its reason in the loader's docs.
        limit: u64,
        /// Byte offset of the field.
        offset: u64,
    },
    /// A device name is unknown, or its backend is not compiled in.
    #[error("device: {reason}")]
    Device {
        /// What is wrong.
        reason: String,
    },
    /// Bad input to a model (an empty sequence, an out-of-vocabulary id, …).
    #[error("input: {reason}")]
    Input {
        /// What is wrong.
        reason: String,
    },
    /// A model configuration is malformed or asks for something unsupported.
    #[error("config: {reason}")]
    Config {
        /// What is wrong, naming the field.
        reason: String,
    },
    /// A metadata key the model needs is absent.
    #[error("metadata key `{key}` is missing")]
    MissingMetadata {
        /// The key.
        key: String,
    },
    /// A metadata value has another type than the one needed.
    #[error("metadata key `{key}`: expected {expected}, found {found}")]
    MetadataType {
        /// The key.
        key: String,
        /// The type needed.
        expected: &'static str,
        /// The type found.
        found: &'static str,
    },
    /// A tensor the model needs is absent.
    #[error("tensor `{name}` is missing")]
    MissingTensor {
        /// The tensor name as stored in the file.
        name: String,
    },
    /// A tensor has another shape than the model expects.
    #[error("tensor `{name}`: expected shape {expected:?}, found {found:?}")]
    ShapeMismatch {
        /// The tensor name.
        name: String,
        /// Shape the model expects (row-major, outermost first).
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
    },
    /// Weights could not be applied to a model for another reason (dtype, adapter, file).
    #[error("weights: {reason}")]
    Weights {
        /// What went wrong.
        reason: String,
    },
    /// A tokenizer could not be built or used.
    #[error("tokenizer: {reason}")]
    Tokenizer {
        /// What went wrong.
        reason: String,
    },
    /// A chat template failed to render.
    #[error("chat template: {reason}")]
    Template {
        /// What went wrong, with the template's line.
        reason: String,
    },
    /// A tensor is stored in a quantisation this crate cannot dequantise.
    #[error("tensor `{tensor}`: quantisation type {type_name} is not supported")]
    UnsupportedQuantization {
        /// The tensor name.
        tensor: String,
        /// The ggml type name (or its numeric id).
        type_name: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
