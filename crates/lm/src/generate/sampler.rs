//! Picking the next token from logits: greedy, or sampled with temperature, top-k and top-p
//! (applied in that order, as transformers' logits warpers are), from a seeded generator.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};

/// How each next token is chosen.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingParams {
    /// Most tokens to generate.
    pub max_new_tokens: usize,
    /// Softmax temperature; 0 = greedy (argmax).
    pub temperature: f32,
    /// Keep the k most likely tokens; 0 = all.
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probability reaches p; 1 = all.
    pub top_p: f32,
    /// Seed of this request's generator (the same seed gives the same tokens).
    pub seed: u64,
    /// Tokens that end the sequence (kept in the output), e.g. EOS.
    pub stop_token_ids: Vec<u32>,
    /// Texts that end the sequence (cut from the returned text); need a tokenizer.
    pub stop_strings: Vec<String>,
}

impl SamplingParams {
    /// Greedy decoding of at most `max_new_tokens`, no stops.
    pub fn greedy(max_new_tokens: usize) -> Self {
        Self {
            max_new_tokens,
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            seed: 0,
            stop_token_ids: Vec::new(),
            stop_strings: Vec::new(),
        }
    }

    /// Rejects a negative or non-finite temperature, and top-p outside (0, 1].
    pub fn check(&self) -> Result<()> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(Error::Input {
                reason: format!("temperature is {}; expected ≥ 0", self.temperature),
            });
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::Input {
                reason: format!("top_p is {}; expected in (0, 1]", self.top_p),
            });
        }
        Ok(())
    }

    fn is_greedy(&self) -> bool {
        self.temperature == 0.0 || self.top_k == 1
    }
}

/// A request's token picker: its parameters and its own generator.
pub(crate) struct Sampler {
    params: SamplingParams,
    rng: ChaCha8Rng,
}

impl Sampler {
    pub(crate) fn new(params: SamplingParams) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(params.seed);
        Self { params, rng }
    }

    pub(crate) fn params(&self) -> &SamplingParams {
        &self.params
    }

    /// The next token for `logits` (`[vocab_size]`, nats).
    pub(crate) fn pick(&mut self, logits: &[f32]) -> u32 {
        if self.params.is_greedy() {
            return argmax(logits);
        }
        let temperature = self.params.temperature;
        // Candidates, most likely first.
        let mut order: Vec<u32> = (0..logits.len() as u32).collect();
        let by_logit_desc = |a: &u32, b: &u32| {
            logits[*b as usize]
                .total_cmp(&logits[*a as usize])
                .then(a.cmp(b))
        };
        if self.params.top_k > 0 && self.params.top_k < order.len() {
            order.select_nth_unstable_by(self.params.top_k - 1, by_logit_desc);
            order.truncate(self.params.top_k);
        }
        order.sort_unstable_by(by_logit_desc);
        // Softmax of logits / temperature over the candidates (the max first, so exp ≤ 1).
        let top = logits[order[0] as usize] / temperature;
        let weights: Vec<f64> = order
            .iter()
            .map(|&t| f64::from(logits[t as usize] / temperature - top).exp())
            .collect();
        let total: f64 = weights.iter().sum();
        // Top-p: the shortest prefix whose probability reaches p (at least one token).
        let mut keep = weights.len();
        if self.params.top_p < 1.0 {
            let mut cumulative = 0.0;
            for (i, w) in weights.iter().enumerate() {
                cumulative += w / total;
                if cumulative >= f64::from(self.params.top_p) {
                    keep = i + 1;
                    break;
                }
            }
        }
        let kept_total: f64 = weights[..keep].iter().sum();
        let mut u = self.rng.random::<f64>() * kept_total;
        for (i, w) in weights[..keep].iter().enumerate() {
            if u < *w {
                return order[i];
            }
            u -= w;
        }
        order[keep - 1]
    }
}

/// Index of the first largest logit.
pub(crate) fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, v) in logits.iter().enumerate() {
        if *v > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// log softmax(logits)[token], accumulated in f64.
pub(crate) fn token_logprob(logits: &[f32], token: u32) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let log_sum: f64 = logits
        .iter()
        .map(|&v| f64::from(v - max).exp())
        .sum::<f64>()
        .ln();
    (f64::from(logits[token as usize] - max) - log_sum) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(temperature: f32, top_k: usize, top_p: f32, seed: u64) -> SamplingParams {
        SamplingParams {
            temperature,
            top_k,
            top_p,
            seed,
            ..SamplingParams::greedy(1)
        }
    }

    const LOGITS: [f32; 5] = [0.1, 2.0, -1.0, 1.9, 0.0];

    #[test]
    fn greedy_and_top_k_one_take_the_argmax() {
        assert_eq!(Sampler::new(params(0.0, 0, 1.0, 0)).pick(&LOGITS), 1);
        for seed in 0..20 {
            assert_eq!(Sampler::new(params(1.5, 1, 1.0, seed)).pick(&LOGITS), 1);
        }
    }

    #[test]
    fn top_k_and_top_p_restrict_the_candidates() {
        for seed in 0..200 {
            let token = Sampler::new(params(1.0, 2, 1.0, seed)).pick(&LOGITS);
            assert!(token == 1 || token == 3, "{token}");
            // p(1) ≈ 0.43, p(3) ≈ 0.39: top-p 0.5 keeps exactly those two.
            let token = Sampler::new(params(1.0, 0, 0.5, seed)).pick(&LOGITS);
            assert!(token == 1 || token == 3, "{token}");
        }
    }

    #[test]
    fn sampling_is_seeded_and_follows_the_distribution() {
        let draw = |seed| {
            let mut s = Sampler::new(params(1.0, 0, 1.0, seed));
            (0..4000).map(|_| s.pick(&LOGITS)).collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
        let draws = draw(5);
        let share = draws.iter().filter(|t| **t == 1).count() as f64 / draws.len() as f64;
        let expected = f64::from(token_logprob(&LOGITS, 1)).exp();
        assert!((share - expected).abs() < 0.03, "{share} vs {expected}");
    }

    #[test]
    fn logprobs_normalise() {
        let total: f64 = (0..5)
            .map(|t| f64::from(token_logprob(&LOGITS, t)).exp())
            .sum();
        assert!((total - 1.0).abs() < 1e-6);
    }
}
