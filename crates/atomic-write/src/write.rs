//! Writing files and folders whole: [`replace_file`], [`replace_folder`],
//! [`merge_into_folder`] (the crate docs give each one's guarantee).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result, io_error};

fn at(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    io_error(path)
}

/// The folder `path` sits in (`.` for a bare name), created if missing (folders are built
/// beside their target, so the parent must exist).
fn parent_of(path: &Path) -> Result<PathBuf> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(at(&parent))?;
    Ok(parent)
}

/// A fresh hidden staging folder (`.<prefix>…`) beside `dir`, whose parent is created if
/// missing; returns it with that parent.
fn staging_beside(dir: &Path, prefix: &str) -> Result<(tempfile::TempDir, PathBuf)> {
    let parent = parent_of(dir)?;
    let staging = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&parent)
        .map_err(at(&parent))?;
    Ok((staging, parent))
}

/// Replaces the file `path` with `bytes`, whole (see the crate docs). Its folder must exist
/// (a missing one is an error naming `path`). On error the temporary file is removed and
/// `path` is untouched.
pub fn replace_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut temp = tempfile::NamedTempFile::new_in(parent).map_err(at(path))?;
    temp.write_all(bytes).map_err(at(path))?;
    temp.as_file().sync_all().map_err(at(path))?;
    temp.persist(path)
        .map_err(|err| io_error(path)(err.error))?;
    Ok(())
}

/// Replaces the folder `dir` with what `build` writes into a fresh staging folder (see the
/// crate docs) and returns `build`'s value. When `build` fails, the staging folder is
/// removed and `dir` is untouched.
pub fn replace_folder<T, E: From<Error>>(
    dir: &Path,
    build: impl FnOnce(&Path) -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    let (staging, parent) = staging_beside(dir, ".writing-")?;
    let value = build(staging.path())?;
    let staged = staging.keep();
    if dir.exists() {
        let aside = tempfile::Builder::new()
            .prefix(".replaced-")
            .tempdir_in(&parent)
            .map_err(at(&parent))?
            .keep();
        std::fs::remove_dir(&aside).map_err(at(&aside))?;
        std::fs::rename(dir, &aside).map_err(at(dir))?;
        std::fs::rename(&staged, dir).map_err(at(dir))?;
        std::fs::remove_dir_all(&aside).map_err(at(&aside))?;
    } else {
        std::fs::rename(&staged, dir).map_err(at(dir))?;
    }
    Ok(value)
}

/// Moves the files `build` writes into a fresh staging folder into `dir`, each one whole
/// (see the crate docs); files of `dir` that `build` did not write are kept. When `build`
/// fails, the staging folder is removed and `dir` is untouched.
pub fn merge_into_folder<T, E: From<Error>>(
    dir: &Path,
    build: impl FnOnce(&Path) -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    let (staging, _) = staging_beside(dir, ".saving-")?;
    let value = build(staging.path())?;
    if !dir.exists() {
        let staged = staging.keep();
        std::fs::rename(&staged, dir).map_err(at(dir))?;
        return Ok(value);
    }
    for entry in std::fs::read_dir(staging.path()).map_err(at(staging.path()))? {
        let entry = entry.map_err(at(staging.path()))?;
        let target = dir.join(entry.file_name());
        std::fs::rename(entry.path(), &target).map_err(at(&target))?;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_file_is_replaced_whole_and_no_temporary_file_stays() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("deep/state.json");
        assert!(
            replace_file(&file, b"old").is_err(),
            "a missing folder is an error"
        );
        std::fs::create_dir(root.path().join("deep")).unwrap();
        replace_file(&file, b"old").unwrap();
        replace_file(&file, b"new").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"new");
        assert_eq!(names(&root.path().join("deep")), ["state.json"]);
    }

    #[test]
    fn a_failed_file_write_names_the_path_and_keeps_the_old_file() {
        let root = tempfile::tempdir().unwrap();
        let blocker = root.path().join("blocker");
        std::fs::write(&blocker, b"a file, not a folder").unwrap();
        let err = replace_file(&blocker.join("x.json"), b"new").unwrap_err();
        assert!(err.to_string().contains("blocker"), "{err}");
        assert_eq!(std::fs::read(&blocker).unwrap(), b"a file, not a folder");
    }

    #[test]
    fn a_folder_is_replaced_whole_or_not_at_all() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("export");
        replace_folder::<_, Error>(&dir, |d| {
            std::fs::write(d.join("a"), b"1").map_err(at(d))?;
            std::fs::write(d.join("stale"), b"1").map_err(at(d))
        })
        .unwrap();
        let failed = replace_folder::<(), Error>(&dir, |d| {
            std::fs::write(d.join("a"), b"2").map_err(at(d))?;
            Err(io_error(d)(std::io::Error::other("build failed")))
        });
        assert!(failed.is_err());
        assert_eq!(names(&dir), ["a", "stale"]);
        assert_eq!(std::fs::read(dir.join("a")).unwrap(), b"1");
        let value = replace_folder::<_, Error>(&dir, |d| {
            std::fs::write(d.join("a"), b"3").map_err(at(d))?;
            Ok(7)
        })
        .unwrap();
        assert_eq!(value, 7);
        assert_eq!(names(&dir), ["a"]);
        assert_eq!(
            names(root.path()),
            ["export"],
            "staging or aside folders left"
        );
    }

    #[test]
    fn merging_adds_whole_files_and_keeps_the_others() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("model");
        merge_into_folder::<_, Error>(&dir, |d| {
            std::fs::write(d.join("config.json"), b"{}").map_err(at(d))
        })
        .unwrap();
        merge_into_folder::<_, Error>(&dir, |d| {
            std::fs::write(d.join("model.safetensors"), b"w").map_err(at(d))
        })
        .unwrap();
        assert_eq!(names(&dir), ["config.json", "model.safetensors"]);
        assert_eq!(names(root.path()), ["model"], "staging folders left");
    }
}
