//! Folders and JSON files written so that a crash or error never leaves a torn one.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};

/// Builds the folder `dir` by calling `write` on a fresh staging folder beside it, then
/// swaps it into place: an existing `dir` is renamed aside, the staging folder renamed to
/// `dir`, and the old one removed. A failed `write` leaves `dir` as it was.
pub(crate) fn write_folder(dir: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(Error::io(&parent))?;
    let staging = tempfile::Builder::new()
        .prefix(".writing-")
        .tempdir_in(&parent)
        .map_err(Error::io(&parent))?;
    write(staging.path())?;
    let staged = staging.keep();
    if dir.exists() {
        let aside = tempfile::Builder::new()
            .prefix(".replaced-")
            .tempdir_in(&parent)
            .map_err(Error::io(&parent))?
            .keep();
        std::fs::remove_dir(&aside).map_err(Error::io(&aside))?;
        std::fs::rename(dir, &aside).map_err(Error::io(dir))?;
        std::fs::rename(&staged, dir).map_err(Error::io(dir))?;
        std::fs::remove_dir_all(&aside).map_err(Error::io(&aside))?;
    } else {
        std::fs::rename(&staged, dir).map_err(Error::io(dir))?;
    }
    Ok(())
}

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
