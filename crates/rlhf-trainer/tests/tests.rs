//! rlhf-trainer integration tests: one binary, one module per topic.
//!
//! The policy is the tiny Llama decoder of rm-pool's fixtures (2 layers, d = 64, a 128-token
//! BPE vocabulary with a ChatML template), made by tools/make_rm_fixtures.py; the routed RMs
//! are programmatic (scores that are functions of the text, with call counters), so every
//! expectation is exact.

mod common;
mod http_masking;
mod iteration;
mod learning;
mod objective;
mod ope;
mod reference;
mod resume;
mod strategies;
