//! Offline metrics of reward models and routers on preference pairs (one implementation,
//! shared with the offline router): RewardBench-style pair accuracy, and the paper's routing
//! accuracy table (METHOD.md §2).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{Error, Result};

/// Fraction of pairs an RM orders right (chosen scored strictly above rejected; a tie is
/// wrong), overall and per subset.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PairAccuracy {
    /// Pairs.
    pub n: usize,
    /// Over all pairs.
    pub accuracy: f64,
    /// Per subset: (pairs, accuracy).
    pub subsets: BTreeMap<String, (usize, f64)>,
}

/// Pair accuracy of `(subset, chosen score, rejected score)` triples.
pub fn pair_accuracy<'a>(
    pairs: impl IntoIterator<Item = (&'a str, f64, f64)>,
) -> Result<PairAccuracy> {
    let mut subsets: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let (mut n, mut right) = (0, 0);
    for (subset, chosen, rejected) in pairs {
        if chosen.is_nan() || rejected.is_nan() {
            return Err(Error::Metric {
                metric: "pair accuracy",
                reason: format!("a NaN score in subset {subset:?}"),
            });
        }
        let hit = usize::from(chosen > rejected);
        let entry = subsets.entry(subset.to_string()).or_default();
        entry.0 += 1;
        entry.1 += hit;
        n += 1;
        right += hit;
    }
    if n == 0 {
        return Err(Error::Metric {
            metric: "pair accuracy",
            reason: "no pairs".into(),
        });
    }
    Ok(PairAccuracy {
        n,
        accuracy: right as f64 / n as f64,
        subsets: subsets
            .into_iter()
            .map(|(s, (n, r))| (s, (n, r as f64 / n as f64)))
            .collect(),
    })
}

/// One held-out record: which RMs judged it correctly, and which RM the router chose.
#[derive(Clone, Debug, PartialEq)]
pub struct RoutedRecord {
    /// Category for the per-category table.
    pub category: Option<String>,
    /// Per RM (arm order): its verdict on the pair was correct.
    pub correct: Vec<bool>,
    /// The router's chosen RM.
    pub chosen: usize,
}

/// Routing accuracy beside its references, on records where at least one RM is correct.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoutingRow {
    /// Records counted (at least one RM correct).
    pub n: usize,
    /// Records left out because no RM was correct.
    pub n_excluded: usize,
    /// The router's chosen RM is correct.
    pub router: f64,
    /// Each RM alone, in arm order.
    pub single: Vec<f64>,
    /// Expected accuracy of a uniformly random RM.
    pub random: f64,
    /// Majority vote: right when more than half the RMs are, a coin flip (0.5) on a tie.
    pub majority_vote: f64,
    /// Always choosing a correct RM: 1 by construction.
    pub oracle: f64,
}

/// The routing table overall and per category.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoutingAccuracy {
    /// Over all records.
    pub overall: RoutingRow,
    /// Per category (records without one are only in `overall`).
    pub categories: BTreeMap<String, RoutingRow>,
}

/// The paper's routing-accuracy table of `records` over `n_rms` RMs.
pub fn routing_accuracy(records: &[RoutedRecord], n_rms: usize) -> Result<RoutingAccuracy> {
    for (i, r) in records.iter().enumerate() {
        if r.correct.len() != n_rms || r.chosen >= n_rms {
            return Err(Error::Metric {
                metric: "routing accuracy",
                reason: format!(
                    "record {i}: {} verdicts and chosen RM {} for {n_rms} RMs",
                    r.correct.len(),
                    r.chosen
                ),
            });
        }
    }
    let overall = row(records.iter(), n_rms).ok_or(Error::Metric {
        metric: "routing accuracy",
        reason: "no record has a correct RM".into(),
    })?;
    let mut names: Vec<&String> = records.iter().filter_map(|r| r.category.as_ref()).collect();
    names.sort();
    names.dedup();
    let categories = names
        .into_iter()
        .filter_map(|name| {
            let members = records.iter().filter(|r| r.category.as_ref() == Some(name));
            row(members, n_rms).map(|row| (name.clone(), row))
        })
        .collect();
    Ok(RoutingAccuracy {
        overall,
        categories,
    })
}

/// A two-sided 95% interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Interval {
    /// 2.5th percentile.
    pub low: f64,
    /// 97.5th percentile.
    pub high: f64,
}

impl Interval {
    /// The 2.5th and 97.5th percentiles of `values` (sorted in place; empty gives NaNs).
    fn percentile_95(values: &mut [f64]) -> Self {
        values.sort_by(f64::total_cmp);
        let at = |q: f64| {
            if values.is_empty() {
                return f64::NAN;
            }
            let position = q * (values.len() - 1) as f64;
            let (below, above) = (position.floor() as usize, position.ceil() as usize);
            let weight = position - below as f64;
            values[below] * (1.0 - weight) + values[above] * weight
        };
        Self {
            low: at(0.025),
            high: at(0.975),
        }
    }

    /// Whether 0 lies outside the interval (a difference is significant at 5%).
    pub fn excludes_zero(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }
}

/// Percentile-bootstrap 95% intervals of the overall row of [`routing_accuracy`], resampling
/// whole groups (prompts: the records of one prompt are not independent) with replacement.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoutingIntervals {
    /// Bootstrap resamples drawn.
    pub resamples: usize,
    /// Groups resampled (distinct prompts).
    pub groups: usize,
    /// The router's accuracy.
    pub router: Interval,
    /// Each RM's accuracy, in arm order.
    pub single: Vec<Interval>,
    /// Majority vote's accuracy.
    pub majority_vote: Interval,
    /// Router minus each RM, in arm order (paired: the same resample for both).
    pub router_minus_single: Vec<Interval>,
    /// Router minus majority vote (paired).
    pub router_minus_majority_vote: Interval,
}

/// Bootstrap intervals of `records`' overall routing row: `groups[i]` is record `i`'s group
/// (e.g. a hash of its prompt); `resamples` draws of as many groups as there are, with
/// replacement, from a ChaCha8 stream seeded by `seed`. Resamples in which no record has a
/// correct RM are skipped.
pub fn bootstrap_routing(
    records: &[RoutedRecord],
    groups: &[u64],
    n_rms: usize,
    resamples: usize,
    seed: u64,
) -> Result<RoutingIntervals> {
    use rand::{RngExt, SeedableRng};

    if groups.len() != records.len() {
        return Err(Error::Metric {
            metric: "routing bootstrap",
            reason: format!("{} groups for {} records", groups.len(), records.len()),
        });
    }
    routing_accuracy(records, n_rms)?;
    let mut members: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (index, group) in groups.iter().enumerate() {
        members.entry(*group).or_default().push(index);
    }
    let members: Vec<Vec<usize>> = members.into_values().collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut router = Vec::with_capacity(resamples);
    let mut single = vec![Vec::with_capacity(resamples); n_rms];
    let mut majority = Vec::with_capacity(resamples);
    let mut minus_single = vec![Vec::with_capacity(resamples); n_rms];
    let mut minus_majority = Vec::with_capacity(resamples);
    let mut drawn: Vec<usize> = Vec::with_capacity(records.len());
    for _ in 0..resamples {
        drawn.clear();
        for _ in 0..members.len() {
            drawn.extend(&members[rng.random_range(0..members.len())]);
        }
        let Some(row) = row(drawn.iter().map(|&i| &records[i]), n_rms) else {
            continue;
        };
        router.push(row.router);
        majority.push(row.majority_vote);
        minus_majority.push(row.router - row.majority_vote);
        for (rm, accuracy) in row.single.iter().enumerate() {
            single[rm].push(*accuracy);
            minus_single[rm].push(row.router - accuracy);
        }
    }
    Ok(RoutingIntervals {
        resamples,
        groups: members.len(),
        router: Interval::percentile_95(&mut router),
        single: single
            .iter_mut()
            .map(|v| Interval::percentile_95(v))
            .collect(),
        majority_vote: Interval::percentile_95(&mut majority),
        router_minus_single: minus_single
            .iter_mut()
            .map(|v| Interval::percentile_95(v))
            .collect(),
        router_minus_majority_vote: Interval::percentile_95(&mut minus_majority),
    })
}

fn row<'a>(records: impl Iterator<Item = &'a RoutedRecord>, n_rms: usize) -> Option<RoutingRow> {
    let (mut n, mut excluded) = (0usize, 0usize);
    let (mut router, mut random, mut majority) = (0.0, 0.0, 0.0);
    let mut single = vec![0.0; n_rms];
    for r in records {
        let n_correct = r.correct.iter().filter(|c| **c).count();
        if n_correct == 0 {
            excluded += 1;
            continue;
        }
        n += 1;
        router += f64::from(u8::from(r.correct[r.chosen]));
        for (s, c) in single.iter_mut().zip(&r.correct) {
            *s += f64::from(u8::from(*c));
        }
        random += n_correct as f64 / n_rms as f64;
        majority += match (2 * n_correct).cmp(&n_rms) {
            std::cmp::Ordering::Greater => 1.0,
            std::cmp::Ordering::Equal => 0.5,
            std::cmp::Ordering::Less => 0.0,
        };
    }
    (n > 0).then(|| {
        let n_f = n as f64;
        RoutingRow {
            n,
            n_excluded: excluded,
            router: router / n_f,
            single: single.into_iter().map(|s| s / n_f).collect(),
            random: random / n_f,
            majority_vote: majority / n_f,
            oracle: 1.0,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(correct: &[bool], chosen: usize, category: &str) -> RoutedRecord {
        RoutedRecord {
            category: Some(category.into()),
            correct: correct.to_vec(),
            chosen,
        }
    }

    #[test]
    fn bootstrap_intervals_cover_the_estimate_and_shrink_with_data() {
        // Router right on 3 of 4 records, RM 0 on 2 of 4; records come in prompt groups of 2.
        let base = [
            record(&[true, false], 0, "a"),
            record(&[false, true], 1, "a"),
            record(&[true, false], 1, "a"),
            record(&[false, true], 1, "a"),
        ];
        let width = |copies: usize| {
            let records: Vec<RoutedRecord> =
                (0..copies).flat_map(|_| base.iter().cloned()).collect();
            let groups: Vec<u64> = (0..records.len() as u64).map(|i| i / 2).collect();
            let ci = bootstrap_routing(&records, &groups, 2, 1000, 7).unwrap();
            assert_eq!(ci.groups, 2 * copies);
            assert!(ci.router.low <= 0.75 && 0.75 <= ci.router.high, "{ci:?}");
            assert!(
                ci.router_minus_single[0].low <= 0.25 && 0.25 <= ci.router_minus_single[0].high
            );
            ci.router.high - ci.router.low
        };
        let (small, large) = (width(5), width(80));
        assert!(large < small / 2.0, "{small} vs {large}");
        // Same seed, same intervals.
        let groups = [0, 0, 1, 1];
        assert_eq!(
            bootstrap_routing(&base, &groups, 2, 200, 1).unwrap(),
            bootstrap_routing(&base, &groups, 2, 200, 1).unwrap()
        );
        assert!(bootstrap_routing(&base, &groups[..3], 2, 10, 1).is_err());
        let mut values = vec![3.0, 1.0, 2.0];
        let interval = Interval::percentile_95(&mut values);
        assert!((interval.low - 1.05).abs() < 1e-12 && (interval.high - 2.95).abs() < 1e-12);
    }

    #[test]
    fn routing_table_by_hand() {
        let records = vec![
            record(&[true, false, false, false], 0, "math"), // majority 0, random 1/4
            record(&[true, true, false, false], 1, "math"),  // tie: 0.5, random 1/2
            record(&[false, true, true, true], 0, "code"),   // majority 1, router wrong
            record(&[false, false, false, false], 2, "code"), // excluded
        ];
        let table = routing_accuracy(&records, 4).unwrap();
        let o = &table.overall;
        assert_eq!((o.n, o.n_excluded), (3, 1));
        assert!((o.router - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(o.single, vec![2.0 / 3.0, 2.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0]);
        assert!((o.random - (0.25 + 0.5 + 0.75) / 3.0).abs() < 1e-12);
        assert!((o.majority_vote - 1.5 / 3.0).abs() < 1e-12);
        assert_eq!(table.categories["math"].router, 1.0);
        assert_eq!(table.categories["code"].n, 1);
        assert!(routing_accuracy(&records, 3).is_err());
    }

    #[test]
    fn ties_are_wrong_in_pair_accuracy() {
        let acc =
            pair_accuracy([("chat", 1.0, 0.0), ("chat", 0.5, 0.5), ("math", -1.0, -2.0)]).unwrap();
        assert!((acc.accuracy - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(acc.subsets["chat"], (2, 0.5));
        assert!(pair_accuracy([("x", f64::NAN, 0.0)]).is_err());
    }
}
