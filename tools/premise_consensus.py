"""Does the online reward pay agreement with the pool rather than correctness? (issue 29,
premise check (b))

For a finished `cargo xtask experiment` folder, this takes every verifier-decided kept pair of
the `random` runs from iteration 1 on (the pairs check (b) is computed over), has every RM of
the experiment's pool score both responses (`cargo xtask rm score`), and prints per domain:

- r(reward, right): check (b) itself, Pearson r between the pair's bandit reward and its
  routed label being right;
- r(reward, agreement): r between the reward and how many of the other RMs (all but the
  routed one) prefer the response the label chose;
- r(right, agreement): whether the pool's consensus says anything about correctness;
- within agreement: r(reward, right) inside each agreement level (levels with ≥ 30 pairs),
  averaged with pair-count weights.

A reward that follows agreement while agreement says nothing about correctness pays consensus;
a negative r(reward, right) that survives within agreement levels comes from something else
the policy learned.

Usage: python3 tools/premise_consensus.py EXPERIMENT_DIR [--out DIR] [--xtask PATH]
(EXPERIMENT_DIR is `<out>/<name>` of an experiment; needs only the standard library and the
release build of xtask, default target/release/xtask)
"""

import argparse
import collections
import glob
import hashlib
import json
import math
import os
import struct
import subprocess


def item_digest(prompt, response, category):
    """rm-pool's `ScoreItem::digest` for a one-turn user prompt with a category and no
    reference: SHA-256 over each message's role and content (length-prefixed, u64 LE), 0xff,
    the response (length-prefixed), then tag 0x02 and the category (length-prefixed); the
    first 16 bytes in hex (docs/FORMATS.md, "Saved RM scores")."""
    h = hashlib.sha256()

    def field(text):
        data = text.encode()
        h.update(struct.pack("<Q", len(data)))
        h.update(data)

    field("user")
    field(prompt)
    h.update(b"\xff")
    field(response)
    h.update(b"\x02")
    field(category)
    return h.hexdigest()[:32]


def decided_pairs(experiment):
    """The random runs' verifier-decided kept pairs at iterations ≥ 1, as dicts."""
    online = os.path.join(experiment, "online")
    with open(os.path.join(online, "prompts.jsonl")) as f:
        prompts = [json.loads(line)["prompt"] for line in f]
    rows = []
    for run in sorted(glob.glob(os.path.join(online, "random-*", "run"))):
        with open(os.path.join(run, "samples.jsonl")) as f:
            samples = {}
            for line in f:
                s = json.loads(line)
                samples[(s["iteration"], s["prompt_id"])] = s["responses"]
        with open(os.path.join(run, "routing.jsonl")) as f:
            for line in f:
                r = json.loads(line)
                if not r["kept"] or r["truth"] is None or r["iteration"] < 1:
                    continue
                responses = samples[(r["iteration"], r["prompt_id"])]
                a, b = (responses[i] for i in r["pair"])
                chosen, rejected = (a, b) if r["chosen"] == 0 else (b, a)
                rows.append(
                    {
                        "domain": r["category"],
                        "prompt": prompts[r["prompt_id"]],
                        "chosen": chosen,
                        "rejected": rejected,
                        "right": r["truth"] == r["chosen"],
                        "reward": r["reward"],
                        "judge": r["judge"],
                    }
                )
    if not rows:
        raise SystemExit(f"no decided pairs of random runs under {online}")
    return rows


def read_scores(score_dir):
    """Every RM's saved scores: {rm: {digest: score}}."""
    scores = {}
    for path in sorted(glob.glob(os.path.join(score_dir, "scores", "*.jsonl"))):
        with open(path) as f:
            header = json.loads(next(f))
            scores[header["rm"]] = {o["item"]: o["score"] for o in map(json.loads, f)}
    return scores


def pearson(x, y):
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sx = math.sqrt(sum((a - mx) ** 2 for a in x))
    sy = math.sqrt(sum((b - my) ** 2 for b in y))
    return sxy / (sx * sy) if sx and sy else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment")
    parser.add_argument("--out", default=None, help="work folder (default EXPERIMENT/consensus)")
    parser.add_argument("--xtask", default="target/release/xtask")
    args = parser.parse_args()
    out = args.out or os.path.join(args.experiment, "consensus")
    os.makedirs(out, exist_ok=True)
    rows = decided_pairs(args.experiment)
    pairs_file = os.path.join(out, "pairs.jsonl")
    with open(pairs_file, "w") as f:
        for r in rows:
            pair = {"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]}
            f.write(json.dumps({**pair, "category": r["domain"]}) + "\n")
    pools = glob.glob(os.path.join(args.experiment, "stages", "reward-models-*", "pool.toml"))
    if not pools:
        raise SystemExit(f"no reward-models stage under {args.experiment}")
    score_dir = os.path.join(out, "score")
    scored = subprocess.run(
        [args.xtask, "rm", "score", "--pool", pools[0], "--pairs", pairs_file, "--out", score_dir],
        capture_output=True,
        text=True,
    )
    if scored.returncode != 0:
        raise SystemExit(f"{args.xtask} rm score failed:\n{scored.stderr}")
    scores = read_scores(score_dir)
    for r in rows:
        keys = [item_digest(r["prompt"], y, r["domain"]) for y in (r["chosen"], r["rejected"])]
        others = [rm for rm in scores if rm != r["judge"]]
        r["agreement"] = sum(scores[rm][keys[0]] > scores[rm][keys[1]] for rm in others)
    by_domain = collections.defaultdict(list)
    for r in rows:
        by_domain[r["domain"]].append(r)
        by_domain["(pooled)"].append(r)
    print(f"{len(rows)} decided pairs of random runs, {len(scores)} RMs")
    print("domain     pairs  r(reward,right)  r(reward,agreement)  r(right,agreement)  within agreement")
    for domain, group in sorted(by_domain.items()):
        reward = [r["reward"] for r in group]
        right = [float(r["right"]) for r in group]
        agreement = [r["agreement"] for r in group]
        levels = collections.defaultdict(list)
        for r in group:
            levels[r["agreement"]].append(r)
        within = [
            (len(level), pearson([r["reward"] for r in level], [float(r["right"]) for r in level]))
            for level in levels.values()
            if len(level) >= 30
        ]
        within = [(n, c) for n, c in within if c == c]
        weighted = sum(n * c for n, c in within) / sum(n for n, _ in within) if within else float("nan")
        print(
            f"{domain:10} {len(group):5}  {pearson(reward, right):+15.3f}  "
            f"{pearson(reward, agreement):+19.3f}  {pearson(right, agreement):+18.3f}  {weighted:+16.3f}"
        )


if __name__ == "__main__":
    main()
