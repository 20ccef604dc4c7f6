//! Folders and JSON files written so that a crash or error never leaves a torn one.

use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};

/// Writes `value` as pretty JSON to `path` (meant for a staging folder).
pub(crate) fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|err| Error::Input(format!("serialising {}: {err}", path.display())))?;
    std::fs::write(path, text + "\n").map_err(Error::io(path))
}

/// Reads a JSON file into `T`, naming the file on error.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
    serde_json::from_str(&text).map_err(|err| Error::artifact(path, err.to_string()))
}
