//! Integration tests of the bandit crate: one binary, one module per topic.

mod closed_form;
mod common;
mod persistence;
mod selection;
mod validation;
