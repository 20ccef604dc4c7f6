//! reward-service integration tests: one binary, one module per topic. Every test starts a
//! real server on 127.0.0.1 (an ephemeral port) over programmatic RMs whose scores are
//! functions of the text, so every expectation is exact.

mod common;
mod endpoints;
mod kill9;
mod learning;
mod limits;
mod micro_batching;
mod python_clients;
