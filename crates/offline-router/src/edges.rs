//! Bradley–Terry edges: within a record, every (winner, loser) pair of RMs where the winner
//! judged the pair right and the loser wrong; and optional balancing, which removes edges
//! until no RM wins globally (METHOD.md §2).

use std::collections::VecDeque;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// The edges of one record: `(winner, loser)` RM indices.
pub type Edges = Vec<(usize, usize)>;

/// The edges of a record with per-RM verdicts `correct`.
pub fn record_edges(correct: &[bool]) -> Edges {
    let mut edges = Vec::new();
    for (w, &won) in correct.iter().enumerate() {
        for (l, &lost) in correct.iter().enumerate() {
            if won && !lost {
                edges.push((w, l));
            }
        }
    }
    edges
}

/// Each RM's wins − losses over all edges.
pub fn net_wins(edges: &[Edges], n_rms: usize) -> Vec<i64> {
    let mut net = vec![0i64; n_rms];
    for &(w, l) in edges.iter().flatten() {
        net[w] += 1;
        net[l] -= 1;
    }
    net
}

/// Removes edges until every RM's wins − losses lies within ±1, so that no RM wins
/// globally and the BT head must learn where each RM is strong rather than one ranking.
///
/// Method: while some RM has net ≥ 2, remove the edges of a shortest path (in the graph of
/// remaining winner → loser edges) from it to an RM with net ≤ −1; symmetrically for net ≤ −2.
/// Interior RMs of a path keep their net, so each round lowers the total excess by one, and
/// such a path always exists (the RMs reachable from a net winner hold a net loser: no edge
/// leaves that set, so its nets sum to ≤ 0). Which record gives up an edge is drawn with
/// `seed`. Returns the kept edges per record.
pub fn balance(mut edges: Vec<Edges>, n_rms: usize, seed: u64) -> Vec<Edges> {
    // For every (winner, loser) arc, the records holding it, in a seeded random order.
    let mut holders: Vec<Vec<Vec<usize>>> = vec![vec![Vec::new(); n_rms]; n_rms];
    for (record, record_edges) in edges.iter().enumerate() {
        for &(w, l) in record_edges {
            holders[w][l].push(record);
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for row in &mut holders {
        for list in row.iter_mut() {
            list.shuffle(&mut rng);
        }
    }
    let mut net = net_wins(&edges, n_rms);
    loop {
        let path = if let Some(start) = (0..n_rms).find(|&k| net[k] >= 2) {
            shortest_path(&holders, start, |k| net[k] <= -1, Direction::Forward)
        } else if let Some(end) = (0..n_rms).find(|&k| net[k] <= -2) {
            shortest_path(&holders, end, |k| net[k] >= 1, Direction::Backward)
        } else {
            break;
        };
        let Some(path) = path else {
            // Unreachable by the argument above; stop rather than loop.
            break;
        };
        for (w, l) in path {
            if let Some(record) = holders[w][l].pop() {
                let position = edges[record].iter().position(|&e| e == (w, l));
                if let Some(position) = position {
                    edges[record].remove(position);
                }
                net[w] -= 1;
                net[l] += 1;
            }
        }
    }
    edges
}

#[derive(Clone, Copy)]
enum Direction {
    /// Follow winner → loser arcs.
    Forward,
    /// Follow them backwards (loser ← winner).
    Backward,
}

/// Arcs `(winner, loser)` of a shortest path from `from` to an RM satisfying `is_target`,
/// over arcs with remaining holders.
fn shortest_path(
    holders: &[Vec<Vec<usize>>],
    from: usize,
    is_target: impl Fn(usize) -> bool,
    direction: Direction,
) -> Option<Vec<(usize, usize)>> {
    let n = holders.len();
    let mut previous = vec![usize::MAX; n];
    previous[from] = from;
    let mut queue = VecDeque::from([from]);
    while let Some(node) = queue.pop_front() {
        if node != from && is_target(node) {
            let mut arcs = Vec::new();
            let mut at = node;
            while at != from {
                let before = previous[at];
                arcs.push(match direction {
                    Direction::Forward => (before, at),
                    Direction::Backward => (at, before),
                });
                at = before;
            }
            return Some(arcs);
        }
        for next in 0..n {
            let count = match direction {
                Direction::Forward => holders[node][next].len(),
                Direction::Backward => holders[next][node].len(),
            };
            if count > 0 && previous[next] == usize::MAX {
                previous[next] = node;
                queue.push_back(next);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_pair_every_right_rm_with_every_wrong_one() {
        assert_eq!(
            record_edges(&[true, false, true, false]),
            vec![(0, 1), (0, 3), (2, 1), (2, 3)]
        );
        assert!(record_edges(&[true, true]).is_empty());
        assert!(record_edges(&[false, false]).is_empty());
    }

    #[test]
    fn balancing_bounds_every_net_and_only_removes() {
        // RM 0 beats RM 1 on 10 records, RM 1 beats RM 2 on 4, RM 2 beats RM 0 on 1.
        let mut edges = vec![vec![(0, 1)]; 10];
        edges.extend(vec![vec![(1, 2)]; 4]);
        edges.push(vec![(2, 0)]);
        let before = edges.iter().flatten().count();
        let balanced = balance(edges.clone(), 3, 7);
        let net = net_wins(&balanced, 3);
        assert!(net.iter().all(|n| n.abs() <= 1), "{net:?}");
        for (kept, all) in balanced.iter().zip(&edges) {
            assert!(kept.iter().all(|e| all.contains(e)));
        }
        assert!(balanced.iter().flatten().count() < before);
        // Same seed, same edges.
        assert_eq!(balance(edges, 3, 7), balanced);
    }
}
