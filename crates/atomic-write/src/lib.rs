//! The workspace's file handling: files and folders written so that a crash or an error
//! never leaves a torn one, JSON and JSON Lines read with errors that name the file and line,
//! and the one error type for both ([`Error`]).
//!
//! Three guarantees for writing, one function each, named after what a reader can rely on:
//!
//! - [`replace_file`]: the file is replaced whole. The bytes go to a temporary file in the
//!   same folder (same filesystem, so the rename is atomic), are synced, and the temporary
//!   file is renamed over the target. Readers see the old bytes or the new ones.
//! - [`replace_folder`]: the folder is replaced whole. It is built in a staging folder
//!   beside the target; then the old folder is renamed aside, the new one renamed into
//!   place and the old one removed. A failed build leaves the old folder as it was; at no
//!   moment is there a partly written folder under the target's name.
//! - [`merge_into_folder`]: files are added to a folder, each one whole. They are built in a
//!   staging folder beside the target and renamed into it one by one (a target that does
//!   not exist yet is renamed whole). Files the build did not write are kept; an
//!   interruption can leave some files new and others old, never a torn file.
//!
//! JSON ([`read_json`], [`write_json_pretty`], [`write_json_compact`]) and JSON Lines
//! ([`read_jsonl`], [`write_jsonl`]) go through these: every write is a [`replace_file`].

mod error;
mod json;
mod write;

pub use crate::{
    error::{Error, Result, io_error, json_error},
    json::{
        parse_json, parse_jsonl, read_json, read_jsonl, read_text, write_json_compact,
        write_json_pretty, write_jsonl,
    },
    write::{merge_into_folder, replace_file, replace_folder},
};
