//! JSON files written atomically and read with errors that name the file.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Writes `value` as JSON to `path`, replacing the file whole (`atomic_write::replace_file`):
/// a crash or error leaves either the old file or the new one, never a torn one.
pub(crate) fn write_json_atomic(path: &Path, value: &impl Serialize) -> Result<()> {
    let bytes = serde_json::to_vec(value).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(atomic_write::replace_file(path, &bytes)?)
}

/// Reads and parses a JSON file.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_reader(BufReader::new(file)).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// Checks a file's format tag and version.
pub(crate) fn check_format(
    path: &Path,
    found: (&str, u32),
    expected: (&'static str, u32),
) -> Result<()> {
    if found == (expected.0, expected.1) {
        Ok(())
    } else {
        Err(Error::UnsupportedFormat {
            path: path.to_path_buf(),
            found: format!("{} v{}", found.0, found.1),
            expected: format!("{} v{}", expected.0, expected.1),
        })
    }
}
