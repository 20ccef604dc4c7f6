//! The export folder as the offline trainer writes it: router-export's files
//! (`router.safetensors`, `encoder/` for a trained backbone) plus `split.json`, the split's
//! record ([`SplitRecord`]), swapped in whole.

use std::path::Path;

use lm::CausalLm;
use router_export::encoder::TextEncoder;
use router_export::{ExportMeta, RouterExport, RouterHead, write_export_files};

use crate::error::Result;
use crate::split::SplitRecord;

/// Writes the export folder `dir` atomically: router-export's files and, when the data's
/// split is known, `split.json`.
pub fn write_export(
    dir: &Path,
    meta: &ExportMeta,
    head: &RouterHead,
    trained: Option<(&CausalLm, &TextEncoder)>,
    split: Option<&SplitRecord>,
) -> Result<()> {
    atomic_write::replace_folder(dir, |staging| {
        if let Some(split) = split {
            split.write(staging)?;
        }
        Ok(write_export_files(staging, meta, head, trained)?)
    })
}

/// The split an export's run trained, selected and held out on; `None` for exports written
/// before `split.json` existed.
pub fn export_split(export: &RouterExport) -> Result<Option<SplitRecord>> {
    SplitRecord::read(&export.dir)
}
