//! An RM's scores on disk, so that a long scoring run that stops (a later RM fails, the
//! process is interrupted) loses nothing and a rerun scores only what is missing. One JSON
//! Lines file per RM: a header naming the RM, then one line per distinct scored item, its
//! digest ([`ScoreItem::digest`], hex) and its score, in digest order.
//!
//! ```text
//! {"format":"rm-pool-scores","version":1,"rm":"minilm-similarity","description":"…"}
//! {"item":"00a3…","score":0.8125}
//! ```

use std::path::Path;

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
        atomic_write::replace_file(path, text.as_bytes()).map_err(|err| Error::Io {
            path: err.path,
            source: err.source,
        })
    }

    /// Loads RM `rm`'s scores saved at `path` into its cache and returns how many there
    /// were; a missing file loads nothing. A file saved for another RM (its name or its
    /// description — model, scoring rule — differ) is refused, naming both.
    pub fn load_scores(&mut self, rm: usize, path: &Path) -> Result<usize> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(source) => {
                return Err(Error::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let bad = |line: usize, reason: String| Error::Data {
            path: path.to_path_buf(),
            line,
            reason,
        };
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
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
        for (index, raw) in lines {
            let line: Line =
                serde_json::from_str(raw).map_err(|e| bad(index + 1, e.to_string()))?;
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
        Ok(n)
    }
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
