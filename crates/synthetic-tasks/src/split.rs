//! Disjoint splits: which stage of the experiment a prompt belongs to, fixed by its text.

use std::collections::HashSet;
use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use answer_check::synthetic::Domain;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::generate::{Task, generate};
use seed_mix::{fnv1a64, splitmix64};

use crate::params::SuiteParams;

/// A stage of the experiment, each with its own prompts.
///
/// A prompt's *bucket* is the 64-bit FNV-1a hash (`seed_mix::fnv1a64`) of its UTF-8 bytes, mod 100.
/// Each split owns a fixed range of buckets, so a prompt belongs to exactly one split,
/// whatever the seed, the parameters or the Rust version:
///
/// | split          | buckets | share |
/// |----------------|---------|-------|
/// | `sft`          | 0–39    | 40 %  |
/// | `reward-model` | 40–59   | 20 %  |
/// | `offline`      | 60–74   | 15 %  |
/// | `online`       | 75–87   | 13 %  |
/// | `eval`         | 88–99   | 12 %  |
///
/// std's `DefaultHasher` is not used: its algorithm may change between Rust versions, which
/// would move prompts between splits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Split {
    /// Supervised fine-tuning of the policy: buckets 0–39.
    Sft,
    /// Reward-model training data: buckets 40–59.
    RewardModel,
    /// The offline router's preference data: buckets 60–74.
    Offline,
    /// Online RLHF prompts: buckets 75–87.
    Online,
    /// Held-out evaluation: buckets 88–99.
    Eval,
}

impl Split {
    /// Every split, in bucket order.
    pub const ALL: [Split; 5] = [
        Split::Sft,
        Split::RewardModel,
        Split::Offline,
        Split::Online,
        Split::Eval,
    ];

    /// The split's name: `sft`, `reward-model`, `offline`, `online` or `eval` (its serde name
    /// too).
    pub fn name(&self) -> &'static str {
        match self {
            Split::Sft => "sft",
            Split::RewardModel => "reward-model",
            Split::Offline => "offline",
            Split::Online => "online",
            Split::Eval => "eval",
        }
    }

    /// The buckets (prompt hash mod 100) the split owns.
    pub fn buckets(&self) -> RangeInclusive<u8> {
        match self {
            Split::Sft => 0..=39,
            Split::RewardModel => 40..=59,
            Split::Offline => 60..=74,
            Split::Online => 75..=87,
            Split::Eval => 88..=99,
        }
    }

    /// The one split `prompt` belongs to.
    pub fn of(prompt: &str) -> Split {
        let bucket = bucket(prompt);
        Split::ALL
            .into_iter()
            .find(|split| split.buckets().contains(&bucket))
            .expect("the splits' buckets cover 0..=99")
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Split {
    type Err = Error;

    /// Parses a split's exact [`name`](Split::name).
    fn from_str(s: &str) -> Result<Self> {
        Split::ALL
            .into_iter()
            .find(|split| split.name() == s)
            .ok_or_else(|| Error::UnknownSplit {
                found: s.to_string(),
                expected: Split::ALL.map(|split| split.name()).join(", "),
            })
    }
}

/// A prompt's bucket: the FNV-1a hash of its UTF-8 bytes mod 100.
pub fn bucket(prompt: &str) -> u8 {
    (fnv1a64(prompt.as_bytes()) % 100) as u8
}

/// `n_per_domain` distinct tasks of `split` for each of `params.domains`, domain by domain in
/// that order, with ids `{split}-{domain}-{index:04}` (e.g. `eval-add-0007`).
///
/// Each domain draws from its own ChaCha8 stream, seeded from `seed`, the split and the
/// domain ([`stream_seed`]), and keeps the first `n_per_domain` distinct prompts that fall in
/// `split`'s buckets. So the same arguments always give the same tasks, a domain's tasks do
/// not depend on which other domains are asked for, and no prompt of one split is ever in
/// another.
///
/// # Errors
/// [`Error::InvalidParameter`] when `params` fail [`SuiteParams::check`];
/// [`Error::PromptSpaceExhausted`] when a domain has not supplied `n_per_domain` distinct
/// prompts of the split after `200 · n_per_domain + 10 000` draws (its prompt space is too
/// small, e.g. `add_digits = 1` has only 100 prompts in all splits together).
pub fn sample(
    params: &SuiteParams,
    split: Split,
    n_per_domain: usize,
    seed: u64,
) -> Result<Vec<Task>> {
    params.check()?;
    let max_attempts = n_per_domain.saturating_mul(200).saturating_add(10_000);
    let mut tasks = Vec::with_capacity(params.domains.len() * n_per_domain);
    for &domain in &params.domains {
        let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, split, domain));
        let mut seen = HashSet::new();
        let mut attempts = 0;
        while seen.len() < n_per_domain {
            if attempts == max_attempts {
                return Err(Error::PromptSpaceExhausted {
                    domain,
                    split,
                    found: seen.len(),
                    wanted: n_per_domain,
                    attempts,
                });
            }
            attempts += 1;
            let mut task = generate(domain, params, &mut rng);
            if Split::of(&task.prompt) == split && seen.insert(task.prompt.clone()) {
                task.id = format!("{}-{}-{:04}", split.name(), domain.name(), seen.len() - 1);
                tasks.push(task);
            }
        }
    }
    Ok(tasks)
}

/// The seed of the stream that [`sample`] draws `domain`'s tasks of `split` from:
/// SplitMix64(SplitMix64(`seed`) XOR (256 · split index + domain index)), indices in
/// declaration order ([`Split::ALL`], [`Domain::ALL`]).
pub fn stream_seed(seed: u64, split: Split, domain: Domain) -> u64 {
    let split_index = Split::ALL.iter().position(|&s| s == split).expect("in ALL") as u64;
    let domain_index = Domain::ALL
        .iter()
        .position(|&d| d == domain)
        .expect("in ALL") as u64;
    splitmix64(splitmix64(seed) ^ (split_index << 8 | domain_index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_partition_0_to_99_in_order() {
        let mut next = 0;
        for split in Split::ALL {
            assert_eq!(*split.buckets().start(), next, "{split}");
            next = split.buckets().end() + 1;
        }
        assert_eq!(next, 100);
    }

    #[test]
    fn splits_round_trip_through_their_names() {
        for split in Split::ALL {
            assert_eq!(split.name().parse::<Split>().unwrap(), split);
            let json = serde_json::to_string(&split).unwrap();
            assert_eq!(json, format!("\"{}\"", split.name()));
        }
        let message = "test".parse::<Split>().unwrap_err().to_string();
        assert!(
            message.contains("`test`") && message.contains("reward-model"),
            "{message}"
        );
    }

    #[test]
    fn stream_seeds_differ_per_split_and_domain() {
        let mut seeds = HashSet::new();
        for split in Split::ALL {
            for domain in Domain::ALL {
                assert!(seeds.insert(stream_seed(7, split, domain)));
            }
        }
    }
}
