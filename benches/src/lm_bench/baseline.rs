//! The transformers side: benches/lm_bench_hf.py run on the same workload.

use std::path::{Path, PathBuf};
use std::process::Command;

use lm::DeviceSpec;
use serde_json::{Map, Value};

use super::{Error, LmBenchConfig, Result, dtype_name};

/// Runs benches/lm_bench_hf.py with `python` on the same workload; returns its JSON fields.
pub(super) fn run_baseline(
    python: &Path,
    model: &Path,
    config: &LmBenchConfig,
) -> Result<Map<String, Value>> {
    // The checkout's script when run from its root (as on a GPU host, where the binary was
    // built elsewhere), else the one beside the sources this binary was built from.
    let script = [
        PathBuf::from("benches/lm_bench_hf.py"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("lm_bench_hf.py"),
    ]
    .into_iter()
    .find(|path| path.exists())
    .ok_or_else(|| {
        Error::Baseline("benches/lm_bench_hf.py not found: run from the repository root".into())
    })?;
    let device = match config.device {
        DeviceSpec::Cuda(index) => format!("cuda:{index}"),
        _ => "cpu".into(),
    };
    let mut command = Command::new(python);
    command
        .arg(&script)
        .arg("--model")
        .arg(model)
        .args(["--batch", &config.batch.to_string()])
        .args(["--new-tokens", &config.new_tokens.to_string()])
        .args(["--prompt-len", &config.prompt_len.to_string()])
        .args(["--repeats", &config.repeats.to_string()])
        .args(["--device", &device])
        .args(["--dtype", dtype_name(config.dtype)])
        .args(["--seed", &config.seed.to_string()]);
    if config.no_dpo {
        command.arg("--no-dpo");
    }
    tracing::info!(?command, "running the transformers baseline");
    let output = command
        .output()
        .map_err(|err| Error::Baseline(format!("running {}: {err}", python.display())))?;
    if !output.status.success() {
        return Err(Error::Baseline(format!(
            "{} failed ({}): {}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    match serde_json::from_str(last) {
        Ok(Value::Object(fields)) => Ok(fields),
        _ => Err(Error::Baseline(format!(
            "{}: last line is not a JSON object: {last:?}",
            script.display()
        ))),
    }
}
