//! Which candidate pairs a prompt contributes to the DPO batch: up to `quota` non-tied pairs,
//! drawn uniformly WITHOUT replacement, scoring only what the draw needs.
//!
//! Each prompt's n(n−1)/2 candidate pairs are visited in a seeded random order; a visited pair
//! is judged, a tie is dropped, and visiting stops once `quota` pairs are kept. The kept set is
//! a uniform draw without replacement from the non-tied pairs (the first `quota` non-ties of a
//! uniform permutation), and no pair beyond the stopping point is ever judged. (The reference
//! code samples with replacement, so a pair can appear twice in one batch: METHOD.md §5.)
//!
//! Pairs are visited in rounds so that a round's judgments go to each RM as one batched call:
//! a prompt that still lacks r pairs visits its next r pairs in order. Kept pairs never exceed
//! the quota, and the visited pairs are exactly the prefix of the order that visiting one pair
//! at a time would visit.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// All unordered pairs (i, j), i < j, of `n` responses: n(n−1)/2 of them.
pub fn candidate_pairs(n: usize) -> Vec<(usize, usize)> {
    (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .collect()
}

/// A seeded uniform permutation of `0..len` (a prompt's visiting order).
pub fn visiting_order(len: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    order
}

/// The state of one prompt's draw.
#[derive(Clone, Debug)]
struct PromptDraw {
    order: Vec<usize>,
    /// Pairs of `order` visited so far (a prefix).
    visited: usize,
    kept: usize,
}

/// The lazy draw over a batch of prompts (see the module docs).
#[derive(Clone, Debug)]
pub struct LazyDraw {
    prompts: Vec<PromptDraw>,
    quota: usize,
}

impl LazyDraw {
    /// A draw with one visiting order per prompt (indices into that prompt's candidate
    /// pairs) and at most `quota` kept pairs per prompt.
    pub fn new(orders: Vec<Vec<usize>>, quota: usize) -> Self {
        Self {
            prompts: orders
                .into_iter()
                .map(|order| PromptDraw {
                    order,
                    visited: 0,
                    kept: 0,
                })
                .collect(),
            quota,
        }
    }

    /// The pairs to judge in the next round, as `(prompt, pair)`; marks them visited. Empty
    /// when every prompt has its quota or has run out of pairs.
    pub fn next_round(&mut self) -> Vec<(usize, usize)> {
        let mut round = Vec::new();
        for (p, draw) in self.prompts.iter_mut().enumerate() {
            let wanted = self.quota.saturating_sub(draw.kept);
            let end = (draw.visited + wanted).min(draw.order.len());
            round.extend(draw.order[draw.visited..end].iter().map(|&pair| (p, pair)));
            draw.visited = end;
        }
        round
    }

    /// Records the judgment of a pair handed out by [`next_round`](Self::next_round):
    /// `tie` pairs are dropped, the others kept.
    pub fn record(&mut self, prompt: usize, tie: bool) {
        if !tie {
            self.prompts[prompt].kept += 1;
        }
    }

    /// Pairs visited per prompt.
    pub fn visited(&self, prompt: usize) -> usize {
        self.prompts[prompt].visited
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn candidate_pairs_are_all_unordered_pairs() {
        assert_eq!(candidate_pairs(3), vec![(0, 1), (0, 2), (1, 2)]);
        assert_eq!(candidate_pairs(6).len(), 15);
        assert!(candidate_pairs(1).is_empty());
    }

    proptest! {
        /// Against visiting one pair at a time: the same pairs are visited and kept, no pair
        /// is visited twice, and no prompt keeps more than its quota.
        #[test]
        fn rounds_equal_one_at_a_time_without_replacement(
            n in 2usize..8,
            quota in 1usize..6,
            prompts in 1usize..5,
            seed in 0u64..1000,
            tie_rate in 0.0f64..1.0,
        ) {
            let len = n * (n - 1) / 2;
            let orders: Vec<Vec<usize>> =
                (0..prompts).map(|p| visiting_order(len, seed + p as u64)).collect();
            // A pair's tie status is a fixed function of (prompt, pair).
            let is_tie = |p: usize, pair: usize| {
                let h = (p as u64 * 7919 + pair as u64 * 104_729 + seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                ((h >> 11) as f64 / (1u64 << 53) as f64) < tie_rate
            };
            let mut draw = LazyDraw::new(orders.clone(), quota);
            let mut visited: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); prompts];
            let mut kept: Vec<Vec<usize>> = vec![Vec::new(); prompts];
            loop {
                let round = draw.next_round();
                if round.is_empty() { break; }
                for (p, pair) in round {
                    prop_assert!(visited[p].insert(pair), "pair {pair} of prompt {p} visited twice");
                    let tie = is_tie(p, pair);
                    if !tie { kept[p].push(pair); }
                    draw.record(p, tie);
                }
            }
            for p in 0..prompts {
                // One pair at a time: walk the order, stop at the quota.
                let mut expected_kept = Vec::new();
                let mut expected_visited = 0;
                for &pair in &orders[p] {
                    if expected_kept.len() == quota { break; }
                    expected_visited += 1;
                    if !is_tie(p, pair) { expected_kept.push(pair); }
                }
                prop_assert!(kept[p].len() <= quota);
                prop_assert_eq!(visited[p].len(), expected_visited);
                prop_assert_eq!(draw.visited(p), expected_visited);
                let mut got = kept[p].clone();
                got.sort_unstable();
                expected_kept.sort_unstable();
                prop_assert_eq!(got, expected_kept);
            }
        }
    }
}
