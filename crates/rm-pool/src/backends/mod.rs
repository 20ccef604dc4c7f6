//! One module per kind of reward model.

pub mod classifier;
pub mod embedding;
pub mod http;
pub mod llm_judge;
pub mod programmatic;
pub mod verifier;
