//! Arena-Hard (v0.1) as arena-hard-auto's `show_result.py` scores it: each question is judged
//! twice with the answers' positions swapped, verdicts become battles against the baseline
//! (strong verdicts `>>` count three times), a Bradley–Terry model is fitted by maximum
//! likelihood on the Elo scale with the baseline anchored at 1000, and a model's score is its
//! predicted win rate against the baseline, with a 95% interval from 100 bootstrap
//! resamples of the battles.
//!
//! [`evaluate_v2`] scores as arena-hard-auto v2 does (the Arena-Hard v2.0 data here): each
//! label becomes per-battle scores from the model's side (strong verdicts three times),
//! and a model's score is the mean of 100 bootstrap means of its scores, with the 5th and
//! 95th percentiles as its interval.
//!
//! v0.1's point score is exact. The interval is a bootstrap like the official one, but drawn
//! from our own seeded generator (the official one uses numpy's global generator seeded with
//! 42), so its ends differ from the official ones by Monte-Carlo noise.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::logistic::{Row, fit};

/// Ratings' scale: a 400-point gap is 10:1 odds.
const SCALE: f64 = 400.0;
/// Where the baseline is anchored.
const INIT_RATING: f64 = 1000.0;
/// How many times a strong verdict (`A>>B`) counts.
const STRONG_WEIGHT: usize = 3;
/// Bootstrap resamples for the interval.
pub const BOOTSTRAP_ROUNDS: usize = 100;

static VERDICT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[\[([AB<>=]+)\]\]").expect("valid pattern"));
static VERDICT_SINGLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[([AB<>=]+)\]").expect("valid pattern"));

/// v0.1 verdict parsing: the `[[…]]` label if the judgment gives exactly one distinct label,
/// else `None` (none: the official tool asks the judge to continue; several: unusable).
pub fn parse_verdict(judgment: &str) -> Option<String> {
    let mut labels: Vec<&str> = VERDICT
        .captures_iter(judgment)
        .filter_map(|c| c.get(1).map(|m| m.as_str()))
        .filter(|s| !s.is_empty())
        .collect();
    labels.sort_unstable();
    labels.dedup();
    match labels.as_slice() {
        [one] => Some(one.trim_matches('\n').to_string()),
        _ => None,
    }
}

/// v2 verdict parsing: on the upper-cased judgment, the last `[[…]]` label, else the last
/// `[…]` label, else `None`.
pub fn parse_verdict_v2(judgment: &str) -> Option<String> {
    let upper = judgment.to_uppercase();
    [&*VERDICT, &*VERDICT_SINGLE]
        .into_iter()
        .find_map(|pattern| {
            pattern
                .captures_iter(&upper)
                .filter_map(|c| c.get(1).map(|m| m.as_str().to_string()))
                .filter(|s| !s.is_empty())
                .last()
        })
}

/// One question's two judgments of a model against the baseline.
///
/// Reads both our flat lines (`{"model", "game1", "game2"}`) and arena-hard-auto's
/// `model_judgment` lines (`{"model", "games": [{"score": "B>A", …}, {…}]}`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(from = "JudgmentLine")]
pub struct Judgment {
    /// The judged model.
    pub model: String,
    /// Verdict label of game 1 (answer A = baseline, B = model), e.g. `"B>A"`.
    pub game1: Option<String>,
    /// Verdict label of game 2 (positions swapped: A = model, B = baseline).
    pub game2: Option<String>,
}

/// Either line layout of [`Judgment`].
#[derive(Deserialize)]
struct JudgmentLine {
    model: String,
    #[serde(default)]
    game1: Option<String>,
    #[serde(default)]
    game2: Option<String>,
    #[serde(default)]
    games: Vec<Game>,
}

#[derive(Deserialize)]
struct Game {
    score: Option<String>,
}

impl From<JudgmentLine> for Judgment {
    fn from(line: JudgmentLine) -> Self {
        let mut games = line.games.into_iter().map(|g| g.score);
        Self {
            model: line.model,
            game1: line.game1.or_else(|| games.next().flatten()),
            game2: line.game2.or_else(|| games.next().flatten()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome {
    BaselineWins,
    ModelWins,
    Tie,
}

/// A battle of `model` (index) against the baseline.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Battle {
    model: usize,
    outcome: Outcome,
}

/// The battles of one game's label, from the baseline's side when `baseline_is_a`.
fn battles_of(label: Option<&str>, baseline_is_a: bool, model: usize) -> Vec<Battle> {
    let (outcome, weight) = match label {
        Some("A>B") => (Outcome::BaselineWins, 1),
        Some("A>>B") => (Outcome::BaselineWins, STRONG_WEIGHT),
        Some("A=B") => (Outcome::Tie, 1),
        Some("B>A") => (Outcome::ModelWins, 1),
        Some("B>>A") => (Outcome::ModelWins, STRONG_WEIGHT),
        _ => return Vec::new(), // unparsed or unknown: the game is dropped
    };
    let outcome = match (outcome, baseline_is_a) {
        (o, true) | (o @ Outcome::Tie, false) => o,
        (Outcome::BaselineWins, false) => Outcome::ModelWins,
        (Outcome::ModelWins, false) => Outcome::BaselineWins,
    };
    vec![Battle { model, outcome }; weight]
}

/// One model's Arena-Hard score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ArenaScore {
    /// Predicted win rate against the baseline, in percent.
    pub score: f64,
    /// 2.5th percentile of the bootstrap, in percent.
    pub lower: f64,
    /// 97.5th percentile of the bootstrap, in percent.
    pub upper: f64,
    /// Bradley–Terry rating (baseline = 1000).
    pub rating: f64,
    /// Battles after weighting.
    pub battles: usize,
}

/// Scores every model in `judgments` against the baseline (all fitted jointly, as the
/// official tool does); the bootstrap is seeded by `seed`.
pub fn evaluate(judgments: &[Judgment], seed: u64) -> Result<BTreeMap<String, ArenaScore>> {
    let mut models: Vec<String> = judgments.iter().map(|j| j.model.clone()).collect();
    models.sort();
    models.dedup();
    let index = |name: &str| models.iter().position(|m| m == name).expect("listed");
    let battles: Vec<Battle> = judgments
        .iter()
        .flat_map(|j| {
            let model = index(&j.model);
            let mut both = battles_of(j.game1.as_deref(), true, model);
            both.extend(battles_of(j.game2.as_deref(), false, model));
            both
        })
        .collect();
    if battles.is_empty() {
        return Err(Error::Metric {
            metric: "arena-hard",
            reason: "no judgment has a usable verdict".into(),
        });
    }
    let ratings = fit_ratings(&battles, models.len());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(BOOTSTRAP_ROUNDS); models.len()];
    for _ in 0..BOOTSTRAP_ROUNDS {
        let resample: Vec<Battle> = (0..battles.len())
            .map(|_| battles[rng.random_range(0..battles.len())])
            .collect();
        for (m, rating) in fit_ratings(&resample, models.len()).into_iter().enumerate() {
            samples[m].push(rating);
        }
    }
    Ok(models
        .iter()
        .enumerate()
        .map(|(m, name)| {
            let mut boot = samples[m].clone();
            boot.sort_by(f64::total_cmp);
            let score = ArenaScore {
                score: win_rate_vs_baseline(ratings[m]),
                lower: win_rate_vs_baseline(percentile(&boot, 2.5)),
                upper: win_rate_vs_baseline(percentile(&boot, 97.5)),
                rating: ratings[m],
                battles: battles.iter().filter(|b| b.model == m).count(),
            };
            (name.clone(), score)
        })
        .collect())
}

/// The model's scores (1 = win, 0.5 = tie, 0 = loss) of a v2 label read from answer A's side.
fn v2_scores(label: &str) -> Option<Vec<f64>> {
    let strong = |s: f64| vec![s; STRONG_WEIGHT];
    Some(match label {
        "A>B" | "B<A" => vec![1.0],
        "A>>B" | "B<<A" => strong(1.0),
        "A=B" | "B=A" => vec![0.5],
        "A<B" | "B>A" => vec![0.0],
        "A<<B" | "B>>A" => strong(0.0),
        _ => return None,
    })
}

/// One model's Arena-Hard v2 score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ArenaScoreV2 {
    /// Mean of the bootstrap means of the model's battle scores, in percent.
    pub score: f64,
    /// 5th percentile of the bootstrap means, in percent.
    pub lower: f64,
    /// 95th percentile, in percent.
    pub upper: f64,
    /// Battle scores after weighting.
    pub battles: usize,
    /// Judgments left out because a game had no verdict.
    pub dropped: usize,
}

/// Scores every model in `judgments` as arena-hard-auto v2 does (see the module docs); a
/// label outside the ten known ones is an error naming it.
pub fn evaluate_v2(judgments: &[Judgment], seed: u64) -> Result<BTreeMap<String, ArenaScoreV2>> {
    let mut per_model: BTreeMap<String, (Vec<f64>, usize)> = BTreeMap::new();
    for (i, j) in judgments.iter().enumerate() {
        let entry = per_model.entry(j.model.clone()).or_default();
        let (Some(game1), Some(game2)) = (&j.game1, &j.game2) else {
            entry.1 += 1;
            continue;
        };
        let scores = |label: &str| {
            v2_scores(label).ok_or_else(|| Error::Metric {
                metric: "arena-hard v2",
                reason: format!("judgment {i}: unknown verdict label {label:?}"),
            })
        };
        // Game 2 has the model as answer A; game 1 has the baseline there.
        entry.0.extend(scores(game2)?);
        entry.0.extend(scores(game1)?.into_iter().map(|s| 1.0 - s));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    per_model
        .into_iter()
        .map(|(model, (scores, dropped))| {
            if scores.is_empty() {
                return Err(Error::Metric {
                    metric: "arena-hard v2",
                    reason: format!("model {model:?} has no judgment with both verdicts"),
                });
            }
            let mut means: Vec<f64> = (0..BOOTSTRAP_ROUNDS)
                .map(|_| {
                    let total: f64 = (0..scores.len())
                        .map(|_| scores[rng.random_range(0..scores.len())])
                        .sum();
                    total / scores.len() as f64
                })
                .collect();
            means.sort_by(f64::total_cmp);
            let score = ArenaScoreV2 {
                score: 100.0 * means.iter().sum::<f64>() / means.len() as f64,
                lower: 100.0 * percentile(&means, 5.0),
                upper: 100.0 * percentile(&means, 95.0),
                battles: scores.len(),
                dropped,
            };
            Ok((model, score))
        })
        .collect()
}

/// P(model beats the baseline) for a model rated `rating`, in percent.
pub fn win_rate_vs_baseline(rating: f64) -> f64 {
    100.0 / (1.0 + 10f64.powf((INIT_RATING - rating) / SCALE))
}

/// Bradley–Terry maximum likelihood: each model's Elo rating with the baseline at 1000.
///
/// Official semantics: every decided battle counts twice, a tie once as a baseline win and
/// once as a model win; P(a beats b) = 1 / (1 + 10^((R_b − R_a)/400)). A model that won or
/// lost every battle has no finite MLE: its rating is capped at 1000 ± 4000 (the official
/// solver stops at its iteration limit instead; both give a score of ≈ 100 or ≈ 0).
fn fit_ratings(battles: &[Battle], n_models: usize) -> Vec<f64> {
    // Features: one per model, ln(10)·(+1 for the model, the baseline being the reference);
    // label y = 1 when the model wins. The baseline's rating is fixed, so the fit is
    // identifiable.
    let ln10 = std::f64::consts::LN_10;
    let mut counts: BTreeMap<(usize, u8), f64> = BTreeMap::new();
    for b in battles {
        match b.outcome {
            Outcome::ModelWins => *counts.entry((b.model, 1)).or_default() += 2.0,
            Outcome::BaselineWins => *counts.entry((b.model, 0)).or_default() += 2.0,
            Outcome::Tie => {
                *counts.entry((b.model, 1)).or_default() += 1.0;
                *counts.entry((b.model, 0)).or_default() += 1.0;
            }
        }
    }
    let rows: Vec<Row> = counts
        .into_iter()
        .map(|((model, won), weight)| {
            let mut x = vec![0.0; n_models];
            x[model] = ln10;
            Row {
                x,
                y: won == 1,
                weight,
            }
        })
        .collect();
    // 100 sweeps bound the rating of an undefeated (or winless) model, like the official
    // solver's iteration limit.
    fit(&rows, n_models, None, 100)
        .into_iter()
        .map(|w| SCALE * w.clamp(-10.0, 10.0) + INIT_RATING)
        .collect()
}

/// numpy's default (linear) percentile of sorted values.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let position = q / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (position.floor() as usize, position.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (position - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judgment(game1: &str, game2: &str) -> Judgment {
        Judgment {
            model: "m".into(),
            game1: Some(game1.into()),
            game2: Some(game2.into()),
        }
    }

    #[test]
    fn parses_verdicts() {
        assert_eq!(parse_verdict("...so [[B>A]]"), Some("B>A".into()));
        assert_eq!(
            parse_verdict("[[B>A]] and again [[B>A]]"),
            Some("B>A".into())
        );
        assert_eq!(parse_verdict("[[A>B]] or [[B>A]]"), None);
        assert_eq!(parse_verdict("no label"), None);
        assert_eq!(
            parse_verdict_v2("[[a>b]] then [[B>>A]]"),
            Some("B>>A".into())
        );
        assert_eq!(parse_verdict_v2("final: [A=B]"), Some("A=B".into()));
    }

    #[test]
    fn reads_official_judgment_lines() {
        let line = r#"{"question_id": "q1", "model": "m", "judge": "gpt-4",
            "games": [{"user_prompt": "...", "judgment": "... [[B>A]]", "score": "B>A"},
                      {"user_prompt": "...", "judgment": "...", "score": null}]}"#;
        let j: Judgment = serde_json::from_str(line).unwrap();
        assert_eq!((j.game1.as_deref(), j.game2), (Some("B>A"), None));
    }

    #[test]
    fn swapped_games_mirror() {
        assert_eq!(
            battles_of(Some("A>>B"), false, 0),
            vec![
                Battle {
                    model: 0,
                    outcome: Outcome::ModelWins
                };
                3
            ]
        );
        assert!(battles_of(Some("A<B"), true, 0).is_empty());
        assert!(battles_of(None, true, 0).is_empty());
    }

    #[test]
    fn one_model_score_is_its_tie_adjusted_win_share() {
        // Games: model wins 3 (one strong: +3), baseline wins 1, one tie.
        // Battles: model 2 + 3 = 5 wins, baseline 1 win, 1 tie → share (5 + 0.5) / 7.
        let judgments = vec![
            judgment("B>A", "A>B"),   // model, model
            judgment("B>>A", "B>A"),  // model ×3, baseline
            judgment("A=B", "bogus"), // tie, dropped
        ];
        let scores = evaluate(&judgments, 0).unwrap();
        let m = &scores["m"];
        assert_eq!(m.battles, 7);
        assert!((m.score - 100.0 * 5.5 / 7.0).abs() < 1e-6, "{m:?}");
        assert!(m.lower <= m.score && m.score <= m.upper, "{m:?}");
    }

    #[test]
    fn v2_scores_by_hand() {
        // Scores: game 2 "A>>B" → 1, 1, 1; game 1 "A=B" → 0.5. Mean 3.5 / 4.
        let judgments = vec![
            judgment("A=B", "A>>B"),
            Judgment {
                model: "m".into(),
                game1: None,
                game2: Some("A>B".into()),
            },
        ];
        let m = &evaluate_v2(&judgments, 0).unwrap()["m"];
        assert_eq!((m.battles, m.dropped), (4, 1));
        assert!((m.score - 87.5).abs() < 10.0, "{m:?}");
        assert!(m.lower <= m.score && m.score <= m.upper);
        let err = evaluate_v2(&[judgment("A?B", "A>B")], 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"A?B\""), "{err}");
    }

    #[test]
    fn even_record_is_fifty() {
        let judgments = vec![judgment("A>B", "A>B"), judgment("B>A", "B>A")];
        let m = &evaluate(&judgments, 0).unwrap()["m"];
        assert!((m.score - 50.0).abs() < 1e-9);
        assert!((m.rating - 1000.0).abs() < 1e-6);
    }
}
