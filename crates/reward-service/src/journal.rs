//! The state folder: journal.jsonl, every route and feedback event appended and flushed
//! before the client gets its answer, and snapshot/, the router replaced whole every N
//! feedback calls. A restart loads the snapshot and replays the journal's later events, so
//! no acknowledged feedback is lost, even after kill -9 (a torn last line, never
//! acknowledged, is cut off).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::api::{FeedbackItem, FeedbackSource};
use crate::error::{Error, Result};

/// The journal's file name in the state folder.
pub const JOURNAL_FILE: &str = "journal.jsonl";
/// The snapshot folder's name in the state folder.
pub const SNAPSHOT_DIR: &str = "snapshot";

/// One routed item as journaled: enough to redo the selection on replay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoutedItem {
    /// The route id.
    pub id: u64,
    /// The chosen arm.
    pub arm: usize,
    /// Its propensity.
    pub propensity: Option<f64>,
    /// The router's whole distribution over the pool's RMs, `[K]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propensities: Option<Vec<f64>>,
    /// Monte-Carlo draws behind `propensities` (Thompson sampling), `None` when exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propensity_draws: Option<usize>,
    /// The context it was routed on, `[d]`.
    pub context: Vec<f64>,
}

/// One line of the journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A request's items were routed (one selection per item, in order).
    Route {
        /// 1-based position in the journal.
        seq: u64,
        /// Which arms were available, `[K]`.
        available: Vec<bool>,
        /// The items.
        items: Vec<RoutedItem>,
    },
    /// A feedback call was applied.
    Feedback {
        /// 1-based position in the journal.
        seq: u64,
        /// Who gave it.
        #[serde(default)]
        source: FeedbackSource,
        /// Its items, as the client sent them (or as the service derived them).
        items: Vec<FeedbackItem>,
        /// Per item, the reward the bandit was updated with (`None`: the normaliser was
        /// warming up), so that the routing log can be rebuilt from the journal alone.
        #[serde(default)]
        rewards: Vec<Option<f64>>,
    },
}

impl Event {
    /// The event's position in the journal.
    pub fn seq(&self) -> u64 {
        match self {
            Self::Route { seq, .. } | Self::Feedback { seq, .. } => *seq,
        }
    }
}

/// The journal, open for appending.
pub struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    /// Opens (creating) the journal in `state_dir` and returns it with its complete events;
    /// a torn last line (no newline: a write cut off by a crash, never acknowledged) is cut
    /// off the file. A malformed complete line is an error naming it.
    pub fn open(state_dir: &Path) -> Result<(Self, Vec<Event>)> {
        std::fs::create_dir_all(state_dir).map_err(atomic_write::io_error(state_dir))?;
        let path = state_dir.join(JOURNAL_FILE);
        let text = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(err) => return Err(atomic_write::io_error(&path)(err).into()),
        };
        let complete = text
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |last| last + 1);
        let mut events = Vec::new();
        for (index, line) in text[..complete].split(|&b| b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let event: Event = serde_json::from_slice(line).map_err(|err| {
                Error::File(atomic_write::Error::Record {
                    path: path.clone(),
                    line: index + 1,
                    reason: err.to_string(),
                })
            })?;
            events.push(event);
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(atomic_write::io_error(&path))?;
        if complete < text.len() {
            tracing::warn!(path = %path.display(), bytes = text.len() - complete,
                "cutting a torn last journal line (a write interrupted by a crash)");
            file.set_len(complete as u64)
                .map_err(atomic_write::io_error(&path))?;
        }
        Ok((Self { path, file }, events))
    }

    /// Appends `event` as one line and flushes it to the operating system (it survives the
    /// process being killed; `sync` makes it survive a power cut too).
    pub fn append(&mut self, event: &Event) -> Result<()> {
        let mut line = serde_json::to_vec(event).map_err(atomic_write::json_error(&self.path))?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .map_err(atomic_write::io_error(&self.path))?;
        self.file
            .flush()
            .map_err(atomic_write::io_error(&self.path))?;
        Ok(())
    }

    /// Forces the journal to disk.
    pub fn sync(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(atomic_write::io_error(&self.path))?;
        Ok(())
    }
}
