//! Verifier-grounded preference data from tasks with checkable answers (GSM8K, MMLU): a
//! policy samples several answers per prompt, the task's checker labels each (GSM8K: the
//! extracted number equals the gold one, eval-harness's numeric equivalence; MMLU: the
//! extracted letter is the right one), and every (correct, incorrect) combination becomes a
//! pair `correct ≻ incorrect` with the task as category. The benchmark's own reference
//! answer (GSM8K's worked solution, MMLU's right choice) and MMLU's distractors can join the
//! candidates. The checker only makes labels: it is never an RM of the routed pool.

use std::collections::BTreeSet;

use burn::prelude::Device;
use eval_harness::gsm8k::{self, Gsm8kDoc};
use eval_harness::mmlu::{self, MmluDoc};
use lm::{CausalLm, ChatMessage, GenerationRequest, SamplingParams, Tokenizer, generate};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use regex::Regex;
use rm_pool::PreferencePair;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// The policy whose answers are labelled.
pub struct Policy<'a> {
    /// An instruct model (prompts go through its chat template).
    pub model: &'a CausalLm,
    /// Its tokenizer.
    pub tokenizer: &'a Tokenizer,
    /// Where it runs.
    pub device: &'a Device,
}

/// How candidates are made and paired.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildOptions {
    /// Policy samples per prompt (0: no policy answers).
    pub samples: usize,
    /// Sampling temperature.
    pub temperature: f32,
    /// Nucleus mass.
    pub top_p: f32,
    /// Tokens per sampled answer.
    pub max_new_tokens: usize,
    /// Seeds the sampling (request i of prompt p gets seed + p·samples + i) and the pairing.
    pub seed: u64,
    /// Requests per generation batch.
    pub batch_size: usize,
    /// Add the benchmark's reference answer (correct).
    pub reference_answers: bool,
    /// Add MMLU's three wrong choices (incorrect).
    pub distractors: bool,
    /// At most this many pairs per prompt (a seeded sample of all combinations).
    pub max_pairs_per_prompt: usize,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            samples: 4,
            temperature: 0.8,
            top_p: 0.95,
            max_new_tokens: 256,
            seed: 0,
            batch_size: 8,
            reference_answers: true,
            distractors: true,
            max_pairs_per_prompt: 2,
        }
    }
}

/// Where a candidate answer came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Sampled from the policy.
    Policy,
    /// The benchmark's reference answer.
    Reference,
    /// A wrong multiple-choice option.
    Distractor,
}

/// One labelled answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// The answer text.
    pub text: String,
    /// The checker says it is right.
    pub correct: bool,
    /// Its origin.
    pub source: Source,
}

/// Counts of what a build produced.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BuildStats {
    /// Prompts used.
    pub prompts: usize,
    /// Policy answers sampled.
    pub policy_answers: usize,
    /// Of which the checker accepted.
    pub policy_correct: usize,
    /// Pairs emitted.
    pub pairs: usize,
    /// Prompts with no (correct, incorrect) combination.
    pub prompts_without_pairs: usize,
}

/// The GSM8K question as the policy and the RMs see it.
pub fn gsm8k_question(doc: &Gsm8kDoc) -> String {
    doc.question.clone()
}

/// A GSM8K reference solution as prose: calculator annotations `<<…>>` removed and the
/// closing `#### N` turned into "The answer is N."
pub fn gsm8k_reference_answer(solution: &str) -> String {
    let annotations = Regex::new(r"<<[^>]*>>").expect("valid pattern");
    let text = annotations.replace_all(solution, "");
    match text.rsplit_once("#### ") {
        Some((work, answer)) => format!("{}\nThe answer is {}.", work.trim_end(), answer.trim()),
        None => text.into_owned(),
    }
}

/// An MMLU question with its lettered choices and the instruction to answer with a letter.
pub fn mmlu_question(doc: &MmluDoc) -> String {
    let mut text = format!("{}\n", doc.question.trim());
    for (letter, choice) in mmlu::LETTERS.iter().zip(&doc.choices) {
        text.push_str(&format!("{letter}. {}\n", choice.trim()));
    }
    text.push_str("Answer with the letter of the correct choice.");
    text
}

/// An MMLU answer naming choice `index`.
pub fn mmlu_answer(doc: &MmluDoc, index: usize) -> String {
    format!(
        "The answer is ({}) {}.",
        mmlu::LETTERS[index],
        doc.choices[index].trim().trim_end_matches('.')
    )
}

/// Verifier-grounded GSM8K pairs (category `gsm8k`, reference = the gold number).
pub fn gsm8k_pairs(
    docs: &[Gsm8kDoc],
    policy: Option<&Policy<'_>>,
    options: &BuildOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(Vec<PreferencePair>, BuildStats)> {
    let questions: Vec<String> = docs.iter().map(gsm8k_question).collect();
    let samples = sample_answers(policy, &questions, options, progress)?;
    let mut stats = BuildStats::default();
    let mut pairs = Vec::new();
    for (p, doc) in docs.iter().enumerate() {
        let mut candidates = policy_candidates(&samples[p], |text| {
            gsm8k::score(text, &doc.answer).numeric_equivalence
        });
        if options.reference_answers {
            candidates.push(Candidate {
                text: gsm8k_reference_answer(&doc.answer),
                correct: true,
                source: Source::Reference,
            });
        }
        let gold = doc
            .answer
            .rsplit_once("#### ")
            .map(|(_, n)| n.trim().to_string());
        emit(
            &questions[p],
            candidates,
            gold,
            "gsm8k",
            options,
            p,
            &mut pairs,
            &mut stats,
        );
    }
    Ok((pairs, stats))
}

/// Verifier-grounded MMLU pairs (category `mmlu`, reference = the right choice's text).
pub fn mmlu_pairs(
    docs: &[MmluDoc],
    policy: Option<&Policy<'_>>,
    options: &BuildOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(Vec<PreferencePair>, BuildStats)> {
    let questions: Vec<String> = docs.iter().map(mmlu_question).collect();
    let samples = sample_answers(policy, &questions, options, progress)?;
    let mut stats = BuildStats::default();
    let mut pairs = Vec::new();
    for (p, doc) in docs.iter().enumerate() {
        let mut candidates = policy_candidates(&samples[p], |text| {
            mmlu::extract_letter(text) == Some(doc.answer)
        });
        if options.reference_answers {
            candidates.push(Candidate {
                text: mmlu_answer(doc, doc.answer),
                correct: true,
                source: Source::Reference,
            });
        }
        if options.distractors {
            candidates.extend((0..4).filter(|&i| i != doc.answer).map(|i| Candidate {
                text: mmlu_answer(doc, i),
                correct: false,
                source: Source::Distractor,
            }));
        }
        let gold = Some(doc.choices[doc.answer].trim().to_string());
        emit(
            &questions[p],
            candidates,
            gold,
            "mmlu",
            options,
            p,
            &mut pairs,
            &mut stats,
        );
    }
    Ok((pairs, stats))
}

/// The policy's answers, labelled by the task's checker `is_correct`.
fn policy_candidates(answers: &[String], is_correct: impl Fn(&str) -> bool) -> Vec<Candidate> {
    answers
        .iter()
        .map(|text| Candidate {
            correct: is_correct(text),
            text: text.clone(),
            source: Source::Policy,
        })
        .collect()
}

/// Pairs every correct candidate with every incorrect one (identical texts once), keeps a
/// seeded sample of at most `max_pairs_per_prompt`, and counts.
#[allow(clippy::too_many_arguments)]
fn emit(
    question: &str,
    candidates: Vec<Candidate>,
    reference: Option<String>,
    category: &str,
    options: &BuildOptions,
    prompt_index: usize,
    pairs: &mut Vec<PreferencePair>,
    stats: &mut BuildStats,
) {
    stats.prompts += 1;
    for c in candidates.iter().filter(|c| c.source == Source::Policy) {
        stats.policy_answers += 1;
        stats.policy_correct += usize::from(c.correct);
    }
    let distinct = |correct: bool| -> Vec<String> {
        let set: BTreeSet<&str> = candidates
            .iter()
            .filter(|c| c.correct == correct && !c.text.trim().is_empty())
            .map(|c| c.text.as_str())
            .collect();
        set.into_iter().map(str::to_string).collect()
    };
    let (right, wrong) = (distinct(true), distinct(false));
    let mut combos: Vec<(String, String)> = right
        .iter()
        .flat_map(|r| wrong.iter().map(move |w| (r.clone(), w.clone())))
        .collect();
    if combos.is_empty() {
        stats.prompts_without_pairs += 1;
        return;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed ^ (prompt_index as u64).rotate_left(32));
    combos.shuffle(&mut rng);
    combos.truncate(options.max_pairs_per_prompt.max(1));
    for (chosen, rejected) in combos {
        pairs.push(PreferencePair {
            prompt: vec![ChatMessage::user(question)],
            chosen,
            rejected,
            reference: reference.clone(),
            category: Some(category.into()),
        });
        stats.pairs += 1;
    }
}

/// `options.samples` policy answers per question (none without a policy), generated in
/// batches of `options.batch_size`; `progress(done, total)` counts answers.
fn sample_answers(
    policy: Option<&Policy<'_>>,
    questions: &[String],
    options: &BuildOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Vec<String>>> {
    let mut answers = vec![Vec::new(); questions.len()];
    let Some(policy) = policy.filter(|_| options.samples > 0) else {
        return Ok(answers);
    };
    let mut requests = Vec::with_capacity(questions.len() * options.samples);
    for (p, question) in questions.iter().enumerate() {
        let text = policy
            .tokenizer
            .apply_chat_template(&[ChatMessage::user(question.as_str())], true)?;
        let prompt = policy.tokenizer.encode(&text, false)?;
        for s in 0..options.samples {
            requests.push((
                p,
                GenerationRequest {
                    prompt: prompt.clone(),
                    params: SamplingParams {
                        max_new_tokens: options.max_new_tokens,
                        temperature: options.temperature,
                        top_k: 0,
                        top_p: options.top_p,
                        seed: options.seed.wrapping_add((p * options.samples + s) as u64),
                        stop_token_ids: policy.tokenizer.eos_id().into_iter().collect(),
                        stop_strings: Vec::new(),
                    },
                },
            ));
        }
    }
    let pad_id = policy
        .tokenizer
        .pad_id()
        .or(policy.tokenizer.eos_id())
        .unwrap_or(0);
    let total = requests.len();
    let mut done = 0;
    progress(done, total);
    for chunk in requests.chunks(options.batch_size.max(1)) {
        let batch: Vec<GenerationRequest> = chunk.iter().map(|(_, r)| r.clone()).collect();
        let outputs = generate(
            policy.model,
            &batch,
            pad_id,
            Some(policy.tokenizer),
            policy.device,
        )?;
        for ((p, _), output) in chunk.iter().zip(outputs) {
            let text = output.text.unwrap_or_default();
            answers[*p].push(text.trim().to_string());
        }
        done += chunk.len();
        progress(done, total);
    }
    Ok(answers)
}
