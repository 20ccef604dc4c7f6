//! The format tag and version every state file of this crate carries, checked on read.
//! (Reading and writing JSON is atomic-write's.)

use std::path::Path;

use crate::error::{Error, Result};

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
