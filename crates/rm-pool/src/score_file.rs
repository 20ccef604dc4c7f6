//! An RM's scores on disk, so that a long scoring run that stops (a later RM fails, the
//! process is interrupted) loses nothing and a rerun scores only what is missing. One JSON
//! Lines file per RM: a header naming the RM, then one line per distinct scored item, its
//! digest ([`ScoreItem::digest`](crate::ScoreItem::digest), hex) and its score — in digest
//! order when saved whole ([`RmPool::save_scores`]), in the order they were computed when
//! appended ([`RmPool::keep_scores_in`]).
//!
//! ```text
//! {"format":"rm-pool-scores","version":1,"rm":"minilm-similarity","description":"…"}
//! {"item":"00a3…","score":0.8125}
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::pool::RmPool;

/// The header's `format`.
pub const SCORES_FORMAT: &str = "rm-pool-scores";
/// The header's `version`.
pub const SCORES_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    rm: String,
    description: String,
}

#[derive(Serialize, Deserialize)]
struct Line {
    item: String,
    score: f32,
}

fn hex(digest: &[u8; 16]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 16]> {
    if text.len() != 32 || !text.is_ascii() {
        return None;
    }
    let mut digest = [0u8; 16];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(digest)
}

impl RmPool {
    /// Saves every score in RM `rm`'s cache to `path`, replacing the file whole.
    pub fn save_scores(&self, rm: usize, path: &Path) -> Result<()> {
        let info = self.info(rm);
        let header = Header {
            format: SCORES_FORMAT.into(),
            version: SCORES_VERSION,
            rm: self.names()[rm].clone(),
            description: info.description,
        };
        let mut text = serde_json::to_string(&header).expect("headers serialise") + "\n";
        for (digest, score) in self.cached_scores(rm) {
            let line = Line {
                item: hex(&digest),
                score,
            };
            text += &(serde_json::to_string(&line).expect("lines serialise") + "\n");
        }
        Ok(atomic_write::replace_file(path, text.as_bytes())?)
    }

    /// Loads RM `rm`'s scores saved at `path` into its cache and returns how many there
    /// were; a missing file loads nothing. A file saved for another RM (its name or its
    /// description — model, scoring rule — differ) is refused, naming both. A last line cut
    /// short by an interrupted append (no closing newline, not valid JSON) is left out.
    pub fn load_scores(&mut self, rm: usize, path: &Path) -> Result<usize> {
        Ok(self
            .load_score_file(rm, path)?
            .map_or(0, |file| file.scores))
    }

    fn load_score_file(&mut self, rm: usize, path: &Path) -> Result<Option<LoadedFile>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(atomic_write::io_error(path)(source).into()),
        };
        let bad = |line: usize, reason: String| Error::Data {
            path: path.to_path_buf(),
            line,
            reason,
        };
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .peekable();
        let (_, first) = lines.next().ok_or_else(|| bad(1, "empty file".into()))?;
        let header: Header =
            serde_json::from_str(first).map_err(|e| bad(1, format!("header: {e}")))?;
        if header.format != SCORES_FORMAT || header.version != SCORES_VERSION {
            return Err(bad(
                1,
                format!(
                    "format {} v{}, expected {SCORES_FORMAT} v{SCORES_VERSION}",
                    header.format, header.version
                ),
            ));
        }
        let (name, description) = (self.names()[rm].clone(), self.info(rm).description);
        if header.rm != name || header.description != description {
            return Err(bad(
                1,
                format!(
                    "scores of `{}` ({}), not of `{name}` ({description}); delete the file \
                     to score again",
                    header.rm, header.description
                ),
            ));
        }
        let mut scores = Vec::new();
        let mut torn = false;
        while let Some((index, raw)) = lines.next() {
            let line: Line = match serde_json::from_str(raw) {
                Ok(line) => line,
                Err(_) if lines.peek().is_none() && !text.ends_with('\n') => {
                    torn = true;
                    break;
                }
                Err(e) => return Err(bad(index + 1, e.to_string())),
            };
            let digest = unhex(&line.item).ok_or_else(|| {
                bad(
                    index + 1,
                    format!("`item` {:?} is not 32 hex digits", line.item),
                )
            })?;
            if !line.score.is_finite() {
                return Err(bad(
                    index + 1,
                    format!("score {} is not finite", line.score),
                ));
            }
            scores.push((digest, line.score));
        }
        let n = scores.len();
        self.restore_cached_scores(rm, scores);
        Ok(Some(LoadedFile { scores: n, torn }))
    }

    /// Keeps every RM's scores in `dir` from now on: loads `dir/<rm name>.jsonl` where it
    /// exists (as [`RmPool::load_scores`]) and appends each newly computed score to it
    /// before [`RmPool::score`] returns, so that an interrupted run loses at most the batch
    /// in flight and a rerun scores only what is missing. Creates `dir`; a file cut short
    /// by an interrupted append is rewritten without its torn line. Returns how many scores
    /// were loaded per RM.
    pub fn keep_scores_in(&mut self, dir: &Path) -> Result<Vec<usize>> {
        std::fs::create_dir_all(dir).map_err(atomic_write::io_error(dir))?;
        let mut loaded = Vec::with_capacity(self.len());
        for rm in 0..self.len() {
            let path = score_file_path(dir, &self.names()[rm]);
            let file = self.load_score_file(rm, &path)?;
            if file.as_ref().is_none_or(|file| file.torn) {
                // A fresh file (its header) or a clean copy of a torn one.
                self.save_scores(rm, &path)?;
            }
            self.set_score_store(rm, Some(path));
            loaded.push(file.map_or(0, |file| file.scores));
        }
        Ok(loaded)
    }
}

/// The file [`RmPool::keep_scores_in`] keeps RM `name`'s scores in, under `dir`.
pub fn score_file_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.jsonl"))
}

/// What [`RmPool::load_score_file`] found.
struct LoadedFile {
    /// Scores loaded.
    scores: usize,
    /// The last line was cut short (and left out).
    torn: bool,
}

/// Appends `scores` to the score file at `path` (which has its header) and flushes them.
pub(crate) fn append_scores(path: &Path, scores: &[([u8; 16], f32)]) -> Result<()> {
    let mut text = String::with_capacity(56 * scores.len());
    for (digest, score) in scores {
        let line = Line {
            item: hex(digest),
            score: *score,
        };
        text += &(serde_json::to_string(&line).expect("lines serialise") + "\n");
    }
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(atomic_write::io_error(path))?;
    Ok(file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_data())
        .map_err(atomic_write::io_error(path))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let digest: [u8; 16] = std::array::from_fn(|i| (i * 17) as u8);
        assert_eq!(unhex(&hex(&digest)), Some(digest));
        assert_eq!(unhex("zz"), None);
    }
}
