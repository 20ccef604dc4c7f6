//! JSON files written atomically and read with errors that name the file.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Writes `value` as JSON to `path` atomically: into a temporary file in the same directory,
/// flushed and synced, then renamed over `path`. A crash or error leaves either the old file
/// or the new one, never a torn one.
pub(crate) fn write_json_atomic(path: &Path, value: &impl Serialize) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let temp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    {
        let mut writer = BufWriter::new(temp.as_file());
        serde_json::to_writer(&mut writer, value).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            source,
        })?;
        writer.flush().map_err(io)?;
    }
    temp.as_file().sync_all().map_err(io)?;
    temp.persist(path).map_err(|err| io(err.error))?;
    Ok(())
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
