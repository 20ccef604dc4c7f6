//! Model configurations: mirrors of upstream formats, resolved into checked configs.

pub(crate) mod hf;
