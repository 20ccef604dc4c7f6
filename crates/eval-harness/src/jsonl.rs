//! Reading JSONL files record by record, with errors that name the file, line and field;
//! writing JSONL and JSON files whole (atomically: a reader sees the old file or the new).

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Every non-blank line of `path` as a `T`.
pub fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_jsonl(&text, path)
}

/// Every non-blank line of `text` as a `T`; `path` is only for messages.
pub fn parse_jsonl<T: DeserializeOwned>(text: &str, path: &Path) -> Result<Vec<T>> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|err| Error::Record {
                path: path.to_path_buf(),
                line: i + 1,
                reason: err.to_string(),
            })
        })
        .collect()
}

/// A whole-file JSON document as a `T`.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|err| Error::Record {
        path: path.to_path_buf(),
        line: err.line(),
        reason: err.to_string(),
    })
}

/// `rows` as JSON lines, replacing `path` whole.
pub fn write_jsonl<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let mut text = Vec::new();
    for row in rows {
        serde_json::to_writer(&mut text, row).map_err(|err| serialise_error(path, &err))?;
        text.push(b'\n');
    }
    Ok(atomic_write::replace_file(path, &text)?)
}

/// `value` as indented JSON, replacing `path` whole.
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_vec_pretty(value).map_err(|err| serialise_error(path, &err))?;
    Ok(atomic_write::replace_file(path, &text)?)
}

fn serialise_error(path: &Path, err: &serde_json::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Row {
        answer: String,
    }

    #[test]
    fn errors_name_line_and_field() {
        let err = parse_jsonl::<Row>(
            "{\"answer\": \"1\"}\n\n{\"anser\": \"2\"}\n",
            Path::new("p.jsonl"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("p.jsonl:3:") && err.contains("answer"),
            "{err}"
        );
    }
}
