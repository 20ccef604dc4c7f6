//! Stage caching: each stage's artifacts live in `<root>/<stage>-<key>/`, where the key is a
//! hash of what the stage reads (its config sections and the keys of the stages it builds
//! on). A stage is built in a hidden staging folder and renamed into place with a
//! `stage.json` holding its summary, so a folder that exists is complete; a second run
//! with the same config reuses it, and `fresh` rebuilds it.
//!
//! What a stage writes must refer to its own files by relative paths (the folder moves).

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The summary file of a finished stage.
pub const STAGE_FILE: &str = "stage.json";

/// Where stages live, and whether to rebuild them.
#[derive(Clone, Debug)]
pub struct StageCache {
    root: PathBuf,
    fresh: bool,
}

/// A finished stage: its folder, its key and its summary.
#[derive(Clone, Debug)]
pub struct Stage<T> {
    /// The stage's folder.
    pub dir: PathBuf,
    /// Hex key (16 characters) of everything the stage read.
    pub key: String,
    /// What the stage reported (read back from `stage.json` when cached).
    pub value: T,
    /// Whether it was reused from an earlier run.
    pub cached: bool,
}

/// Bumped whenever a stage's code changes what it produces, so that folders built by older
/// code are not reused (their keys differ).
/// (2: the offline-router table reports the split sizes training used, not estimates.)
pub const STAGES_VERSION: u32 = 2;

/// The hex key of `parts` (each serialised as JSON) and [`STAGES_VERSION`].
pub fn key_of(parts: &[&dyn erased::Json]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(STAGES_VERSION.to_le_bytes());
    for part in parts {
        hasher.update(part.json().as_bytes());
        hasher.update([0]);
    }
    hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Object-safe JSON serialisation for [`key_of`].
pub mod erased {
    /// A value that serialises to JSON.
    pub trait Json {
        /// Its JSON text.
        fn json(&self) -> String;
    }

    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> String {
            serde_json::to_string(self).expect("config values serialise")
        }
    }
}

impl StageCache {
    /// Stages under `root`; `fresh` rebuilds every stage this run reaches.
    pub fn new(root: &Path, fresh: bool) -> Self {
        Self {
            root: root.to_path_buf(),
            fresh,
        }
    }

    /// The folder of stage `name` with `key`.
    pub fn dir(&self, name: &str, key: &str) -> PathBuf {
        self.root.join(format!("{name}-{key}"))
    }

    /// Stage `name` with `key`: reused when its folder is complete (and not `fresh`), else
    /// built by `build` in a staging folder that is then renamed into place.
    pub fn stage<T: Serialize + DeserializeOwned>(
        &self,
        name: &str,
        key: String,
        build: impl FnOnce(&Path) -> Result<T>,
    ) -> Result<Stage<T>> {
        let dir = self.dir(name, &key);
        let summary = dir.join(STAGE_FILE);
        if !self.fresh && summary.exists() {
            let text =
                std::fs::read_to_string(&summary).map_err(atomic_write::io_error(&summary))?;
            let value = serde_json::from_str(&text).map_err(|err| Error::Config {
                path: summary.clone(),
                reason: format!("a cached stage summary that does not parse ({err}); delete the folder or pass --fresh"),
            })?;
            return Ok(Stage {
                dir,
                key,
                value,
                cached: true,
            });
        }
        let value = atomic_write::replace_folder(&dir, |staging| -> Result<T> {
            let value = build(staging)?;
            let text = serde_json::to_string_pretty(&value).expect("stage summaries serialise");
            let staged_summary = staging.join(STAGE_FILE);
            std::fs::write(&staged_summary, text + "\n")
                .map_err(atomic_write::io_error(&staged_summary))?;
            Ok(value)
        })?;
        Ok(Stage {
            dir,
            key,
            value,
            cached: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_is_built_once_and_rebuilt_when_fresh() {
        let root = tempfile::tempdir().unwrap();
        let cache = StageCache::new(root.path(), false);
        let key = key_of(&[&"config", &1_u32]);
        assert_eq!(key.len(), 16);
        assert_ne!(key, key_of(&[&"config", &2_u32]));
        let mut builds = 0;
        for _ in 0..2 {
            let stage = cache
                .stage("s", key.clone(), |dir| {
                    builds += 1;
                    std::fs::write(dir.join("a.txt"), "x").unwrap();
                    Ok(41_u32 + builds)
                })
                .unwrap();
            assert_eq!(stage.value, 42);
            assert!(stage.dir.join("a.txt").exists());
        }
        assert_eq!(builds, 1);
        let fresh = StageCache::new(root.path(), true);
        let stage = fresh.stage("s", key, |_| Ok(7_u32)).unwrap();
        assert_eq!((stage.value, stage.cached), (7, false));
    }

    #[test]
    fn a_failed_build_leaves_no_stage() {
        let root = tempfile::tempdir().unwrap();
        let cache = StageCache::new(root.path(), false);
        let err = cache.stage::<u32>("s", "k".into(), |_| {
            Err(Error::Stage {
                stage: "s",
                reason: "boom".into(),
            })
        });
        assert!(err.is_err());
        assert!(!cache.dir("s", "k").exists());
    }
}
