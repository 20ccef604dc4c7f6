//! Producing predictions with a language model from the `lm` crate: GSM8K by batched greedy
//! generation, MMLU by the log-likelihood of each answer letter, both with lm-eval's prompts;
//! chat replies (AlpacaEval, Arena-Hard, MT-Bench) through the model's chat template.

use burn::prelude::Device;
use lm::{
    CausalLm, ChatMessage, Generation, GenerationRequest, SamplingParams, Tokenizer, generate,
    next_token_logprobs, sequence_logprobs,
};

use crate::error::{Error, Result};
use crate::gsm8k::{self, Gsm8kDoc, Gsm8kPrediction};
use crate::mmlu::{self, MmluDoc, MmluPrediction};

/// A model with its tokenizer, on a device.
pub struct LanguageModel<'a> {
    /// The causal LM.
    pub model: &'a CausalLm,
    /// Its tokenizer.
    pub tokenizer: &'a Tokenizer,
    /// Where it runs.
    pub device: &'a Device,
    /// lm-eval's `max_length`: the most tokens the model reads at once (its config's
    /// `max_position_embeddings`, `DecoderConfig::max_positions`; lm-eval falls back to 2048
    /// when a config has none). Longer inputs are cut from the left as lm-eval cuts them:
    /// a scored (context, continuation) to its last `max_length + 1` tokens, a generation
    /// prompt to its last `max_length − max_new_tokens`.
    pub max_length: usize,
}

impl LanguageModel<'_> {
    fn pad_id(&self) -> u32 {
        self.tokenizer
            .pad_id()
            .or(self.tokenizer.eos_id())
            .unwrap_or(0)
    }

    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        // As lm-eval's HF models do by default: no special tokens (no BOS) added.
        self.tokenizer.encode(text, false).map_err(lm_error)
    }

    /// `prompt` cut from the left to leave room for `max_new_tokens` within `max_length`
    /// (lm-eval's left truncation of generation contexts).
    fn fit_prompt(&self, mut prompt: Vec<u32>, max_new_tokens: usize) -> Result<Vec<u32>> {
        let room = self
            .max_length
            .checked_sub(max_new_tokens)
            .filter(|r| *r > 0);
        let Some(room) = room else {
            return Err(Error::Metric {
                metric: "language model",
                reason: format!(
                    "{max_new_tokens} new tokens leave no room for a prompt in the model's \
                     context of {} tokens",
                    self.max_length
                ),
            });
        };
        if prompt.len() > room {
            prompt.drain(..prompt.len() - room);
        }
        Ok(prompt)
    }
}

fn lm_error(err: lm::Error) -> Error {
    Error::Metric {
        metric: "language model",
        reason: err.to_string(),
    }
}

/// Greedy completions of GSM8K problems after `shots`, `batch_size` prompts at a time,
/// stopping at lm-eval's stop sequences or EOS, at most `max_new_tokens` each; `progress`
/// is told how many problems are done after each batch.
pub fn run_gsm8k(
    lm: &LanguageModel<'_>,
    docs: &[Gsm8kDoc],
    shots: &[Gsm8kDoc],
    batch_size: usize,
    max_new_tokens: usize,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<Gsm8kPrediction>> {
    let params = SamplingParams {
        stop_token_ids: lm.tokenizer.eos_id().into_iter().collect(),
        stop_strings: gsm8k::STOP_SEQUENCES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        ..SamplingParams::greedy(max_new_tokens)
    };
    let prompts = docs
        .iter()
        .map(|doc| lm.encode(&gsm8k::prompt(doc, shots)))
        .collect::<Result<Vec<_>>>()?;
    let outputs = generate_all(lm, prompts, &params, batch_size, progress)?;
    Ok(docs
        .iter()
        .zip(outputs)
        .map(|(doc, output)| Gsm8kPrediction {
            completion: output.text.unwrap_or_default(),
            answer: doc.answer.clone(),
        })
        .collect())
}

/// The generative MMLU variant: greedy text after the same prompt (ending in "Answer:"),
/// sent as one user turn through the model's chat template when `chat` is set (instruct
/// models often end their turn at once after a bare prompt), stopped at the end of the line
/// or after `max_new_tokens`; the letter is extracted when scored
/// ([`mmlu::extract_letter`]). Our stop rule, not lm-eval's `mmlu_generative` settings (its
/// YAML is not available here).
pub fn run_mmlu_generative(
    lm: &LanguageModel<'_>,
    docs: &[MmluDoc],
    shots: &std::collections::BTreeMap<String, Vec<MmluDoc>>,
    batch_size: usize,
    max_new_tokens: usize,
    chat: bool,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<MmluPrediction>> {
    let params = SamplingParams {
        stop_token_ids: lm.tokenizer.eos_id().into_iter().collect(),
        stop_strings: vec!["\n".into()],
        ..SamplingParams::greedy(max_new_tokens)
    };
    let prompts = docs
        .iter()
        .map(|doc| {
            let examples = shots.get(&doc.subject).map_or(&[][..], Vec::as_slice);
            let mut text = mmlu::prompt(doc, examples);
            if chat {
                text = lm
                    .tokenizer
                    .apply_chat_template(&[ChatMessage::user(text)], true)
                    .map_err(lm_error)?;
            }
            lm.encode(&text)
        })
        .collect::<Result<Vec<_>>>()?;
    let outputs = generate_all(lm, prompts, &params, batch_size, progress)?;
    Ok(docs
        .iter()
        .zip(outputs)
        .map(|(doc, output)| MmluPrediction {
            subject: doc.subject.clone(),
            gold: mmlu::LETTERS[doc.answer].to_string(),
            loglikelihoods: None,
            completion: Some(output.text.unwrap_or_default()),
        })
        .collect())
}

/// Greedy chat replies: each conversation goes through the model's chat template with the
/// generation prompt; replies stop at EOS or `max_new_tokens` (`batch_size` conversations
/// at a time, `progress` told how many are done). Returns `(reply, reply tokens)`.
pub fn run_chat(
    lm: &LanguageModel<'_>,
    conversations: &[Vec<ChatMessage>],
    batch_size: usize,
    max_new_tokens: usize,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<(String, usize)>> {
    let params = SamplingParams {
        stop_token_ids: lm.tokenizer.eos_id().into_iter().collect(),
        ..SamplingParams::greedy(max_new_tokens)
    };
    let prompts = conversations
        .iter()
        .map(|messages| {
            let text = lm
                .tokenizer
                .apply_chat_template(messages, true)
                .map_err(lm_error)?;
            // The template writes its own special tokens.
            lm.encode(&text)
        })
        .collect::<Result<Vec<_>>>()?;
    let eos = lm.tokenizer.eos_id();
    Ok(generate_all(lm, prompts, &params, batch_size, progress)?
        .into_iter()
        .map(|output| {
            // The stop token is kept in `tokens`; it is not part of the reply's length.
            let len = output.tokens.iter().filter(|t| Some(**t) != eos).count();
            (output.text.unwrap_or_default(), len)
        })
        .collect())
}

/// Generates for every prompt with `params`, `batch_size` prompts at a time; `progress` is
/// told how many are done after each batch.
fn generate_all(
    lm: &LanguageModel<'_>,
    prompts: Vec<Vec<u32>>,
    params: &SamplingParams,
    batch_size: usize,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<Generation>> {
    let mut outputs = Vec::with_capacity(prompts.len());
    for chunk in prompts.chunks(batch_size.max(1)) {
        let requests = chunk
            .iter()
            .map(|prompt| {
                Ok(GenerationRequest {
                    prompt: lm.fit_prompt(prompt.clone(), params.max_new_tokens)?,
                    params: params.clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        outputs.extend(
            generate(
                lm.model,
                &requests,
                lm.pad_id(),
                Some(lm.tokenizer),
                lm.device,
            )
            .map_err(lm_error)?,
        );
        progress(outputs.len());
    }
    Ok(outputs)
}

/// lm-eval's context/continuation split: trailing whitespace of the context moves to the
/// continuation, the pair is encoded whole, and the continuation is what follows the
/// context's own tokens (so a merge across the boundary is not double-counted). Unlike
/// lm-eval, at least one token is always left to the continuation.
struct ContextEncoder<'c> {
    /// The context without its trailing whitespace.
    trimmed: &'c str,
    /// That whitespace, which starts every continuation.
    moved: &'c str,
    /// How many tokens `trimmed` encodes to (encoded once for all continuations).
    ids_len: usize,
}

impl<'c> ContextEncoder<'c> {
    fn new(lm: &LanguageModel<'_>, context: &'c str) -> Result<Self> {
        let trimmed = context.trim_end();
        Ok(Self {
            trimmed,
            moved: &context[trimmed.len()..],
            ids_len: lm.encode(trimmed)?.len(),
        })
    }

    /// The (context, continuation) token pair, the context cut from the left so that both
    /// fit in `max_length + 1` tokens (the model reads all but the last).
    fn pair(&self, lm: &LanguageModel<'_>, continuation: &str) -> Result<(Vec<u32>, Vec<u32>)> {
        let whole = lm.encode(&format!("{}{}{continuation}", self.trimmed, self.moved))?;
        let split = self.ids_len.min(whole.len().saturating_sub(1));
        let continuation = &whole[split..];
        let Some(room) = (lm.max_length + 1)
            .checked_sub(continuation.len())
            .filter(|r| *r > 0)
        else {
            return Err(Error::Metric {
                metric: "language model",
                reason: format!(
                    "a continuation of {} tokens does not fit the model's context of {} tokens",
                    continuation.len(),
                    lm.max_length
                ),
            });
        };
        let context = &whole[split.saturating_sub(room)..split];
        Ok((context.to_vec(), continuation.to_vec()))
    }
}

/// Log-likelihoods of `" A"` … `" D"` after each MMLU prompt (the first `n_shots` questions
/// of each subject in `shots` as examples), `batch_size` questions at a time.
pub fn run_mmlu(
    lm: &LanguageModel<'_>,
    docs: &[MmluDoc],
    shots: &std::collections::BTreeMap<String, Vec<MmluDoc>>,
    batch_size: usize,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<MmluPrediction>> {
    let mut predictions = Vec::with_capacity(docs.len());
    for chunk in docs.chunks(batch_size.max(1)) {
        // Per question: the four (context, continuation) pairs, and whether they share
        // one context and are single tokens (then one forward of the context scores all
        // four, instead of four sequences).
        let mut questions = Vec::with_capacity(chunk.len());
        for doc in chunk {
            let examples = shots.get(&doc.subject).map_or(&[][..], Vec::as_slice);
            let context = mmlu::prompt(doc, examples);
            let encoder = ContextEncoder::new(lm, &context)?;
            let pairs = mmlu::CONTINUATIONS
                .iter()
                .map(|continuation| encoder.pair(lm, continuation))
                .collect::<Result<Vec<_>>>()?;
            let shared = pairs
                .iter()
                .all(|(context, continuation)| continuation.len() == 1 && *context == pairs[0].0);
            questions.push((pairs, shared));
        }
        let contexts: Vec<Vec<u32>> = questions
            .iter()
            .filter(|(_, shared)| *shared)
            .map(|(pairs, _)| pairs[0].0.clone())
            .collect();
        let mut next_token = if contexts.is_empty() {
            Vec::new()
        } else {
            read_f32(
                next_token_logprobs(lm.model, &contexts, lm.pad_id(), lm.device)
                    .map_err(lm_error)?,
            )?
        }
        .into_iter();
        let vocab = if contexts.is_empty() {
            0
        } else {
            next_token.len() / contexts.len()
        };
        let separate: Vec<(Vec<u32>, Vec<u32>)> = questions
            .iter()
            .filter(|(_, shared)| !*shared)
            .flat_map(|(pairs, _)| pairs.iter().cloned())
            .collect();
        let mut summed = if separate.is_empty() {
            Vec::new()
        } else {
            read_f32(
                sequence_logprobs(lm.model, &separate, lm.pad_id(), lm.device)
                    .map_err(lm_error)?
                    .sum,
            )?
        }
        .into_iter();
        for (doc, (pairs, shared)) in chunk.iter().zip(&questions) {
            let ll: Vec<f32> = if *shared {
                let row: Vec<f32> = next_token.by_ref().take(vocab).collect();
                pairs.iter().map(|(_, c)| row[c[0] as usize]).collect()
            } else {
                summed.by_ref().take(4).collect()
            };
            predictions.push(MmluPrediction {
                subject: doc.subject.clone(),
                gold: mmlu::LETTERS[doc.answer].to_string(),
                loglikelihoods: Some([ll[0], ll[1], ll[2], ll[3]].map(f64::from)),
                completion: None,
            });
        }
        progress(predictions.len());
    }
    Ok(predictions)
}

/// A tensor's values as f32 (row-major).
fn read_f32<const D: usize>(tensor: burn::prelude::Tensor<D>) -> Result<Vec<f32>> {
    tensor
        .try_into_vec_as::<f32>()
        .map_err(|err| Error::Metric {
            metric: "mmlu",
            reason: format!("reading log-likelihoods: {err:?}"),
        })
}
