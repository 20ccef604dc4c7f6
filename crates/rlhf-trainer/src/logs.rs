//! The run's append-only logs and their line types: `metrics.jsonl` (one line per iteration,
//! TRL's names where they exist), `routing.jsonl` (one line per routed candidate pair: what
//! off-policy evaluation reads) and `samples.jsonl` (one line per prompt and iteration: the
//! sampled responses the routing log's pair indices point into). A checkpoint records each
//! file's length; a resumed run cuts the files back to it, so lines written after the last
//! checkpoint by an interrupted run are not kept twice.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// File name of the per-iteration metrics.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// File name of the per-pair routing log.
pub const ROUTING_FILE: &str = "routing.jsonl";
/// File name of the sampled responses.
pub const SAMPLES_FILE: &str = "samples.jsonl";

/// One candidate pair of one iteration, as routed and judged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoutingRecord {
    /// The iteration (0-based).
    pub iteration: usize,
    /// The prompt's index in the prompts file.
    pub prompt_id: usize,
    /// The prompt's category.
    pub category: Option<String>,
    /// The two responses, as indices into this prompt's `responses` in samples.jsonl.
    pub pair: [usize; 2],
    /// The routing context (only with `log_contexts`; else rebuild it from the pair).
    pub context: Option<Vec<f64>>,
    /// Who judged (or would have judged) the pair: an RM's name, or `ensemble`, `majority`,
    /// `oracle`.
    pub judge: String,
    /// The routed arm (routed strategies).
    pub arm: Option<usize>,
    /// Probability that the router's policy picks this arm for this context.
    pub propensity: Option<f64>,
    /// The router's whole distribution over arms for this context, `[K]` in the pool's
    /// order (`propensity` is its `arm` entry): what off-policy evaluation needs to see
    /// which arms the log could have shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propensities: Option<Vec<f64>>,
    /// Monte-Carlo draws behind `propensities` (Thompson sampling, the choice's own draw
    /// included); absent when they are exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propensity_draws: Option<usize>,
    /// Whether the pair was judged (the lazy draw stops once a prompt has its pairs).
    pub visited: bool,
    /// Whether the judgment was a tie (dropped).
    pub tie: bool,
    /// Whether the pair went into the DPO step.
    pub kept: bool,
    /// The judge's scores of the two responses (`None` for majority votes and unvisited
    /// pairs).
    pub scores: Option<[f64; 2]>,
    /// The preferred response (an index of `pair`'s responses), for non-tied pairs.
    pub chosen: Option<usize>,
    /// The oracle verifier's preferred response, for every visited pair (kept or tied by
    /// the judge) when the run has an oracle and the verifier does not tie.
    pub truth: Option<usize>,
    /// The pair's DPO loss before the step, nats.
    pub loss: Option<f64>,
    /// The normalised reward it produced.
    pub reward: Option<f64>,
    /// Whether the pair was re-routed because its first RM failed.
    pub rerouted: bool,
}

/// One prompt's sampled responses in one iteration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleRecord {
    /// The iteration.
    pub iteration: usize,
    /// The prompt's index in the prompts file.
    pub prompt_id: usize,
    /// The prompt's category.
    pub category: Option<String>,
    /// The responses, in sampling order.
    pub responses: Vec<String>,
    /// The responses' token ids (what the DPO step scored; a stop token included).
    pub token_ids: Vec<Vec<u32>>,
}

/// Byte lengths of the three logs at a checkpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLengths {
    /// metrics.jsonl.
    pub metrics: u64,
    /// routing.jsonl.
    pub routing: u64,
    /// samples.jsonl.
    pub samples: u64,
}

/// The three logs of a run folder, open for appending.
pub struct RunLogs {
    dir: PathBuf,
    metrics: BufWriter<File>,
    routing: BufWriter<File>,
    samples: BufWriter<File>,
}

impl RunLogs {
    /// Opens (creating) the logs in `dir`, first cutting each back to `lengths` (a resumed
    /// run) or to empty (a new run).
    pub fn open(dir: &Path, lengths: LogLengths) -> Result<Self> {
        let open = |name: &str, length: u64| -> Result<BufWriter<File>> {
            let path = dir.join(name);
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(atomic_write::io_error(&path))?;
            let found = file
                .metadata()
                .map_err(atomic_write::io_error(&path))?
                .len();
            if found < length {
                return Err(Error::Resume {
                    dir: dir.to_path_buf(),
                    reason: format!(
                        "{name} has {found} bytes, fewer than the {length} the checkpoint recorded"
                    ),
                });
            }
            file.set_len(length)
                .map_err(atomic_write::io_error(&path))?;
            Ok(BufWriter::new(file))
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            metrics: open(METRICS_FILE, lengths.metrics)?,
            routing: open(ROUTING_FILE, lengths.routing)?,
            samples: open(SAMPLES_FILE, lengths.samples)?,
        })
    }

    /// Appends one iteration's lines to the three logs and flushes them.
    pub fn append(
        &mut self,
        metrics: &serde_json::Value,
        routing: &[RoutingRecord],
        samples: &[SampleRecord],
    ) -> Result<()> {
        let dir = self.dir.clone();
        for record in samples {
            write_line(&mut self.samples, &dir.join(SAMPLES_FILE), record)?;
        }
        for record in routing {
            write_line(&mut self.routing, &dir.join(ROUTING_FILE), record)?;
        }
        write_line(&mut self.metrics, &dir.join(METRICS_FILE), metrics)?;
        for (writer, name) in [
            (&mut self.samples, SAMPLES_FILE),
            (&mut self.routing, ROUTING_FILE),
            (&mut self.metrics, METRICS_FILE),
        ] {
            writer
                .flush()
                .map_err(atomic_write::io_error(dir.join(name)))?;
        }
        Ok(())
    }

    /// The current byte lengths (after syncing the files to disk), for a checkpoint.
    pub fn lengths(&mut self) -> Result<LogLengths> {
        let length = |writer: &mut BufWriter<File>, name: &str| -> Result<u64> {
            let path = self.dir.join(name);
            writer.flush().map_err(atomic_write::io_error(&path))?;
            let file = writer.get_ref();
            file.sync_data().map_err(atomic_write::io_error(&path))?;
            Ok(file
                .metadata()
                .map_err(atomic_write::io_error(&path))?
                .len())
        };
        Ok(LogLengths {
            metrics: length(&mut self.metrics, METRICS_FILE)?,
            routing: length(&mut self.routing, ROUTING_FILE)?,
            samples: length(&mut self.samples, SAMPLES_FILE)?,
        })
    }
}

/// Writes `value` as one JSON line.
fn write_line(writer: &mut BufWriter<File>, path: &Path, value: &impl Serialize) -> Result<()> {
    serde_json::to_writer(&mut *writer, value).map_err(atomic_write::json_error(path))?;
    Ok(writer
        .write_all(b"\n")
        .map_err(atomic_write::io_error(path))?)
}
