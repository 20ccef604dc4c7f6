//! The task suite of the miniature RLHF experiment: short prompts in seven domains whose
//! answers can be checked exactly, so that verifiers can label data and score evaluations.
//! Six have one right answer per prompt; `shuffle` has many. The default suite is the first
//! four; `shuffle`, and `rotate` and `next` (which a small reward model can check by
//! comparing letters in place), are opt-in.
//!
//! | domain    | prompt             | answer    |
//! |-----------|--------------------|-----------|
//! | `add`     | `add 47 85`        | `132`     |
//! | `reverse` | `reverse kqzt`     | `tzqk`    |
//! | `sort`    | `sort 5 2 9 1`     | `1 2 5 9` |
//! | `count`   | `count a in abcab` | `2`       |
//! | `shuffle` | `shuffle kqzt`     | `zktq`, `tqkz`, … (any order of the letters) |
//! | `rotate`  | `rotate kqzt`      | `qztk`    |
//! | `next`    | `next kqa`         | `lrb`     |
//!
//! - [`SuiteParams`]: the difficulty knobs per domain (operand digits, lengths, alphabets).
//! - [`generate`]: one seeded task; [`near_miss`]: a plausible wrong answer to it (the
//!   negatives of reward-model training data).
//! - [`Split`]: the stage a prompt belongs to, fixed by a stable hash of its text, so the
//!   SFT, reward-model, offline, online and evaluation prompts never overlap; [`sample`]
//!   draws a split's tasks.
//! - [`prompt_record`], [`prompts_jsonl`]: the trainer's prompts-file format.
//!
//! Whether an answer is right is decided by answer-check ([`answer_check::synthetic`]), the
//! same code as the `synthetic` verifier of the reward-model pool.
//!
//! # Example
//! ```
//! use answer_check::synthetic::is_correct;
//! use rand::SeedableRng;
//! use rand_chacha::ChaCha8Rng;
//! use synthetic_tasks::{Split, SuiteParams, near_miss, sample};
//!
//! let tasks = sample(&SuiteParams::default(), Split::Eval, 3, 7)?;
//! assert_eq!(tasks.len(), 4 * 3);
//! assert_eq!(tasks[0].id, "eval-add-0000");
//! let mut rng = ChaCha8Rng::seed_from_u64(7);
//! for task in &tasks {
//!     assert_eq!(Split::of(&task.prompt), Split::Eval);
//!     assert!(is_correct(task.domain, &task.answer, &task.answer));
//!     assert!(!is_correct(task.domain, &near_miss(task, &mut rng), &task.answer));
//! }
//! # Ok::<(), synthetic_tasks::Error>(())
//! ```

mod error;
mod export;
mod generate;
mod near_miss;
mod params;
mod split;

pub use answer_check::synthetic::Domain;

pub use crate::{
    error::{Error, Result},
    export::{prompt_record, prompts_jsonl},
    generate::{Task, generate},
    near_miss::near_miss,
    params::{MAX_ADD_DIGITS, SuiteParams},
    split::{Split, bucket, sample, stream_seed},
};
