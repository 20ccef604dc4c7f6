//! JSON documents and JSON Lines files: read with errors that name the file and line (and
//! the field, where serde says), written whole through [`crate::replace_file`].

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result, io_error};
use crate::write::replace_file;

/// The whole of `path` as text.
pub fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(io_error(path))
}

/// The JSON document at `path` as a `T`.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    parse_json(&read_text(path)?, path)
}

/// The JSON document `text` as a `T`; `path` is only for messages.
pub fn parse_json<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T> {
    serde_json::from_str(text).map_err(|err| Error::Record {
        path: path.to_path_buf(),
        line: err.line(),
        reason: err.to_string(),
    })
}

/// Every non-blank line of `path` as a `T`.
pub fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    parse_jsonl(&read_text(path)?, path)
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

/// `value` as indented JSON with a trailing newline, replacing `path` whole.
pub fn write_json_pretty<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_vec_pretty(value).map_err(|err| unserialisable(path, &err))?;
    text.push(b'\n');
    replace_file(path, &text)
}

/// `value` as compact JSON on one line (no trailing newline), replacing `path` whole: for
/// large machine-read state.
pub fn write_json_compact<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_vec(value).map_err(|err| unserialisable(path, &err))?;
    replace_file(path, &text)
}

/// `rows` as JSON lines, replacing `path` whole.
pub fn write_jsonl<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let mut text = Vec::new();
    for row in rows {
        serde_json::to_writer(&mut text, row).map_err(|err| unserialisable(path, &err))?;
        text.push(b'\n');
    }
    replace_file(path, &text)
}

fn unserialisable(path: &Path, err: &serde_json::Error) -> Error {
    Error::Record {
        path: path.to_path_buf(),
        line: 0,
        reason: format!("cannot be written as JSON: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Row {
        answer: String,
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let err = parse_jsonl::<Row>(
            "{\"answer\": \"1\"}\n\n{\"anser\": \"2\"}\n",
            Path::new("p.jsonl"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("p.jsonl:3:") && err.contains("anser"),
            "{err}"
        );
        let err = parse_json::<Row>("{\n  \"answer\": 3\n}", Path::new("d.json"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("d.json:2:"), "{err}");
        let missing = read_json::<Row>(Path::new("/nonexistent/x.json")).unwrap_err();
        assert!(matches!(missing, Error::Io { .. }), "{missing}");
        assert_eq!(missing.path(), Path::new("/nonexistent/x.json"));
    }

    #[test]
    fn written_files_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let rows = vec![Row { answer: "1".into() }, Row { answer: "2".into() }];
        let lines = dir.path().join("rows.jsonl");
        write_jsonl(&lines, &rows).unwrap();
        assert_eq!(read_jsonl::<Row>(&lines).unwrap(), rows);
        let pretty = dir.path().join("row.json");
        write_json_pretty(&pretty, &rows[0]).unwrap();
        let text = read_text(&pretty).unwrap();
        assert!(
            text.ends_with("}\n") && text.contains("\n  \"answer\""),
            "{text:?}"
        );
        assert_eq!(read_json::<Row>(&pretty).unwrap(), rows[0]);
        let compact = dir.path().join("row-compact.json");
        write_json_compact(&compact, &rows[1]).unwrap();
        assert_eq!(read_text(&compact).unwrap(), "{\"answer\":\"2\"}");
    }
}
