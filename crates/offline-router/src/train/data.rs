//! The routing data of a run: records read, judged by the pool where they lack a judgment
//! (scores appended to `scores/<rm>.jsonl` as they are computed, so an interrupted run
//! resumes its judging; the judged records in `judged.jsonl`), turned into routing records
//! and split by prompt into train, validation and test.

use rm_pool::{PoolConfig, RmPool};

use crate::config::TrainConfig;
use crate::dataset::{RoutingRecord, routing_records};
use crate::error::{Error, Result};
use crate::layout::RunLayout;
use crate::records::{read_records, write_records};
use crate::scoring::score_missing;
use crate::split::{DataSplit, SplitFractions, SplitRecord, split_by_prompt};

use super::TrainEvent;

/// The routing data of a run.
#[derive(Clone, Debug)]
pub struct PreparedData {
    /// Arm names.
    pub rm_names: Vec<String>,
    /// All records.
    pub records: Vec<RoutingRecord>,
    /// Record indices per part (training reads only `train` and `validation`).
    pub split: DataSplit,
    /// What exports record of the split (`split.json`).
    pub split_record: SplitRecord,
}

/// Reads the records, judges what they lack with the pool (keeping its scores in
/// `data.scores`, by default the run folder's `scores/`, and writing `judged.jsonl` to the
/// run folder), and splits them.
pub fn prepare_data(
    config: &TrainConfig,
    events: &mut dyn FnMut(&TrainEvent),
) -> Result<PreparedData> {
    let mut records = read_records(&config.data.records)?;
    let rm_names = match &config.data.pool {
        Some(pool_path) => {
            let pool_config = PoolConfig::read(pool_path)?;
            let pool_names: Vec<String> = pool_config
                .rms
                .iter()
                .map(|rm| rm.name().to_string())
                .collect();
            let needed = config.data.rms.clone().unwrap_or(pool_names);
            let lacking = records
                .iter()
                .any(|r| needed.iter().any(|name| !r.judgments.contains_key(name)));
            if lacking {
                let mut pool = RmPool::from_config_file(pool_path)?;
                let scores =
                    (config.data.scores.clone()).unwrap_or_else(|| config.output.join("scores"));
                pool.keep_scores_in(&scores)?;
                score_missing(
                    &mut pool,
                    &mut records,
                    config.data.judge_batch_size,
                    &mut |done, total| events(&TrainEvent::Judging { done, total }),
                )?;
                write_records(&RunLayout::new(&config.output).judged(), &records)?;
            }
            needed
        }
        None => config.data.rms.clone().unwrap_or_default(),
    };
    let records = routing_records(&records, &rm_names)?;
    let fractions = SplitFractions {
        validation: config.data.validation_fraction,
        test: config.data.test_fraction,
    };
    let split = split_by_prompt(&records, fractions, config.seed);
    if split.train.is_empty() {
        return Err(Error::Input(format!(
            "{}: no training records after the split",
            config.data.records.display()
        )));
    }
    let split_record = SplitRecord::new(&records, &split, fractions, config.seed);
    Ok(PreparedData {
        rm_names,
        records,
        split,
        split_record,
    })
}
