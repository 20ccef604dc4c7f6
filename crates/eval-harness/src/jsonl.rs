//! Reading JSONL files record by record, with errors that name the file, line and field.

use std::path::Path;

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
