//! Real LLM judges (SmolLM2-135M-Instruct and Qwen2.5-Coder-0.5B-Instruct GGUFs) on a small
//! committed set of hand-written GSM8K pairs (tests/fixtures/gsm8k_pairs.jsonl: a correct
//! solution and one with a wrong arithmetic step). Accuracies are printed.
//!
//! Measured here (docs/RESULTS.md): asked "Is the solution correct? Yes or No", both judges
//! are at chance (7/16 and 8/16): the Yes/No margin of models this small does not track
//! arithmetic. Scored by the likelihood of the solution itself they beat chance, which is
//! what this test requires; the verdict judges must only give finite, non-constant scores.

use lm::DeviceSpec;
use rm_pool::backends::llm_judge::{JudgeScoring, LlmJudgeRm};
use rm_pool::{RewardModel, read_pairs};

use crate::{asset, fixture};

const TEMPLATE: &str = "Here is a math problem and a proposed solution.\n\nProblem: {{ prompt }}\n\n\
Solution: {{ response }}\n\nIs the solution correct? Answer Yes or No.";

/// (pairs ranked right, pairs, distinct scores) of `judge` on the committed pairs.
fn accuracy(judge: &mut LlmJudgeRm) -> (usize, usize, usize) {
    let pairs = read_pairs(&fixture("gsm8k_pairs.jsonl")).unwrap();
    let (chosen, rejected): (Vec<_>, Vec<_>) = pairs.iter().map(|p| p.items()).unzip();
    let a = judge.score(&chosen).unwrap();
    let b = judge.score(&rejected).unwrap();
    assert!(a.iter().chain(&b).all(|s| s.is_finite()));
    let right = a.iter().zip(&b).filter(|(a, b)| a > b).count();
    let mut distinct: Vec<u32> = a.iter().chain(&b).map(|s| s.to_bits()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    eprintln!(
        "{}: {right}/{} GSM8K pairs ranked right",
        judge.info().description,
        pairs.len()
    );
    (right, pairs.len(), distinct.len())
}

#[test]
fn llm_judges_beat_chance_on_gsm8k_pairs() {
    for model in [
        "models/SmolLM2-135M-Instruct.Q4_1.gguf",
        "models/Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf",
    ] {
        let verdict = JudgeScoring::Verdict {
            positive: "Yes".into(),
            negative: "No".into(),
        };
        let mut judge = LlmJudgeRm::load(
            model,
            &asset(model),
            &DeviceSpec::Cpu,
            TEMPLATE,
            verdict,
            1024,
            8,
        )
        .unwrap();
        let (_, n, distinct) = accuracy(&mut judge);
        assert!(
            distinct > n,
            "{model}: the verdict scores barely vary ({distinct} values)"
        );
        let mut judge = judge.with_scoring("", JudgeScoring::Likelihood).unwrap();
        let (right, n, _) = accuracy(&mut judge);
        assert!(
            2 * right > n,
            "{model}: likelihood {right}/{n} is not better than chance"
        );
    }
}
