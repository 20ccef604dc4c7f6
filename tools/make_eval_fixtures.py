"""Writes crates/eval-harness/tests/fixtures/reference.json: inputs and the numbers the
official formulas give for them, for the Rust metrics to reproduce.

Run it through tools/make_fixtures.sh (a throwaway venv with pinned numpy, pandas and
scikit-learn). Everything is seeded, so rerunning reproduces the committed file.

- gsm8k: tricky completions scored with lm-evaluation-harness's gsm8k filters and
  exact_match normalisation (Python `re`, the task's own patterns).
- mt_bench: judge texts parsed with FastChat's rating patterns.
- alpaca_eval: synthetic annotations; raw win rate as alpaca_eval's winrate.py computes it,
  and the length-controlled GLM (length_controlled_v1 features, L1 logistic regression by
  liblinear, C chosen over logspace(-4, 4, 10) by 5 GroupKFold folds on weighted log-loss,
  without the hub-only regularisation rows), with and without instruction difficulties.
- python_random: CPython's random.Random seeded with strings (alpaca_eval swaps the two
  outputs shown to its judge when random.Random("is_switched_outputs" + instruction +
  "0").choices([False, True])[0] is True), with the first draws and that decision.
- arena_hard: synthetic judgments of three models; v0.1 battles (strong verdicts x3),
  Bradley-Terry by scikit-learn's unpenalised LogisticRegression on the Elo scale, baseline
  at 1000, scores as win rates, and the 100-round bootstrap interval (numpy seed 42).
"""

import json
import math
import random
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

# --- GSM8K (lm-eval gsm8k.yaml) ---------------------------------------------------------

STRICT = re.compile(r"#### (\-?[0-9\.\,]+)")
FLEXIBLE = re.compile(r"(-?[$0-9.,]{2,})|(-?[0-9]+)")
IGNORE = [",", r"\$", r"(?s).*#### ", r"\.$"]


def regex_filter(pattern, text, group_select):
    found = pattern.findall(text)
    if not found:
        return "[invalid]"
    match = found[group_select]
    if isinstance(match, tuple):
        match = [m for m in match if m]
        match = match[0] if match else "[invalid]"
    return match.strip()


def exact_match(prediction, reference):
    for pattern in IGNORE:
        prediction = re.sub(pattern, "", prediction)
        reference = re.sub(pattern, "", reference)
    return prediction.lower() == reference.lower()


GSM8K_CASES = [
    ("Natalia sold 48 + 24 = 72 clips.\n#### 72", "48/2 = 24\n48 + 24 = 72\n#### 72"),
    ("The answer is $1,250.", "...\n#### 1250"),
    ("It drops to -7 degrees.\n#### -7", "...\n#### -7"),
    ("So she has 18.0 dollars left. #### 18.0", "...\n#### 18"),
    ("I cannot solve this.", "...\n#### 5"),
    ("#### 3\n#### 4", "...\n#### 4"),
    ("Total: 1,000,000 people.", "...\n#### 1000000"),
    ("5 apples and 6 pears: 11.\n", "...\n#### 11"),
    ("The result is .5", "...\n#### 0.5"),
    ("Answer: 42.\n\nQuestion: next one", "...\n#### 42"),
    ("$$ 12 $$", "...\n#### 12"),
    ("x = 3, y = 4, so #### 3,4", "...\n#### 34"),
]


def gsm8k_fixture():
    rows = []
    for completion, answer in GSM8K_CASES:
        cut = completion
        for stop in ["Question:", "</s>", "<|im_end|>"]:
            cut = cut.split(stop)[0]
        strict = regex_filter(STRICT, cut, 0)
        flexible = regex_filter(FLEXIBLE, cut, -1)
        rows.append(dict(completion=completion, answer=answer, strict=strict, flexible=flexible,
                         exact_match_strict=exact_match(strict, answer),
                         exact_match_flexible=exact_match(flexible, answer)))
    return rows


# --- MT-Bench (FastChat llm_judge/common.py) --------------------------------------------

ONE_SCORE = re.compile(r"\[\[(\d+\.?\d*)\]\]")
ONE_SCORE_BACKUP = re.compile(r"\[(\d+\.?\d*)\]")

MT_BENCH_JUDGMENTS = [
    "The answer is accurate and helpful. Rating: [[8]]",
    "Good. Rating: [[7.5]]. Earlier I thought [[3]].",
    "Rating: [6]",
    "Mostly wrong [2] but formatted well [[4]]",
    "I would rate it seven.",
    "[[10]]",
    "Rating: [[ 9 ]]",
]


def mt_bench_fixture():
    rows = []
    for text in MT_BENCH_JUDGMENTS:
        match = ONE_SCORE.search(text) or ONE_SCORE_BACKUP.search(text)
        rows.append(dict(judgment=text, rating=float(match.groups()[0]) if match else None))
    return rows


# --- AlpacaEval (metrics/winrate.py, metrics/glm_winrate.py) -----------------------------

def alpaca_annotations(rng, n):
    base_len = rng.integers(200, 2000, size=n)
    model_len = (base_len * rng.lognormal(0.3, 0.5, size=n)).astype(int) + 1
    difficulty = rng.normal(0.0, 1.0, size=n)
    std = np.std(base_len - model_len, ddof=1)
    logit = 0.3 - 0.8 * np.tanh((base_len - model_len) / std) - 0.7 * difficulty
    p = 1 / (1 + np.exp(-logit))
    kind = rng.random(n)
    preference = np.where(kind < 0.7, 1 + (rng.random(n) < p), 1 + p)  # hard and soft verdicts
    preference = np.where(kind > 0.95, 1.5, preference)  # some draws
    annotations = [dict(instruction=f"instruction {i}", output_1="b" * int(base_len[i]),
                        output_2="m" * int(model_len[i]), preference=float(preference[i]))
                   for i in range(n)]
    return annotations, difficulty


def raw_win_rate(preferences):
    x = pd.Series(preferences).replace({0: 1.5}).astype(float)
    x = x[(x >= 1) & (x <= 2)]
    share = x - 1
    return dict(win_rate=float(share.mean() * 100), standard_error=float(share.sem() * 100))


def lc_win_rate(annotations, difficulty):
    df = pd.DataFrame(annotations)
    delta = df["output_1"].str.len() - df["output_2"].str.len()
    std_delta = delta / delta.std()
    d = np.zeros(len(df)) if difficulty is None else np.asarray(difficulty)
    X = np.stack([np.tanh(std_delta), d, np.ones(len(df))], axis=1)
    p = df["preference"].replace({0.0: 1.5}).astype(float).to_numpy() - 1
    groups = np.arange(len(df))
    Xd = np.concatenate([X, X])
    yd = np.concatenate([np.ones(len(df)), np.zeros(len(df))])
    wd = np.concatenate([p, 1 - p])
    gd = np.concatenate([groups, groups])
    td = np.concatenate([p, p])

    def weighted_log_loss(model, X_, t_):
        q = np.clip(model.predict_proba(X_)[:, 1], 1e-15, 1 - 1e-15)
        return -np.mean(t_ * np.log(q) + (1 - t_) * np.log(1 - q))

    best = None
    for c in np.logspace(-4, 4, 10):
        losses = []
        for train, test in GroupKFold(n_splits=5).split(Xd, yd, gd):
            model = LogisticRegression(penalty="l1", solver="liblinear", C=c,
                                       fit_intercept=False, random_state=123)
            model.fit(Xd[train], yd[train], sample_weight=wd[train])
            losses.append(weighted_log_loss(model, Xd[test], td[test]))
        if best is None or np.mean(losses) < best[0]:
            best = (np.mean(losses), c)
    model = LogisticRegression(penalty="l1", solver="liblinear", C=best[1], fit_intercept=False,
                               random_state=123)
    model.fit(Xd, yd, sample_weight=wd)
    X_test = X.copy()
    X_test[:, 0] = 0.0
    predicted = model.predict_proba(X_test)[:, 1]
    return dict(length_controlled_winrate=float(predicted.mean() * 100), c=float(best[1]),
                weights=[float(w) for w in model.coef_[0]])


def alpaca_fixture():
    rng = np.random.default_rng(20261126)
    annotations, difficulty = alpaca_annotations(rng, 400)
    prefs = [a["preference"] for a in annotations]
    # Outputs are runs of one letter: the fixture keeps their lengths only.
    compact = [dict(len_1=len(a["output_1"]), len_2=len(a["output_2"]), preference=a["preference"])
               for a in annotations]
    return dict(annotations=compact, instruction_difficulty=difficulty.tolist(),
                raw=raw_win_rate(prefs), lc=lc_win_rate(annotations, None),
                lc_with_difficulty=lc_win_rate(annotations, difficulty))


# --- Arena-Hard v0.1 (show_result.py) ---------------------------------------------------

LABELS = ["A>>B", "A>B", "A=B", "B>A", "B>>A"]


def arena_judgments(rng):
    judgments = []
    for model, strength in [("model-weak", -1.0), ("model-even", 0.0), ("model-strong", 1.2)]:
        for q in range(150):
            # Game 1: A = baseline; a stronger model pushes the label towards B.
            logits = np.array([-1.0, 0.0, 0.2, 0.0, -1.0]) + strength * np.array([-2, -1, 0, 1, 2])
            probs = np.exp(logits) / np.exp(logits).sum()
            g1 = LABELS[rng.choice(5, p=probs)]
            g2 = LABELS[4 - rng.choice(5, p=probs)]  # swapped positions
            if q % 37 == 0:
                g2 = None  # an unparsed game
            judgments.append(dict(model=model, game1=g1, game2=g2))
    return judgments


def battles_of(judgments):
    rows = []
    for j in judgments:
        for game, label in ((1, j["game1"]), (2, j["game2"])):
            weight = 1
            if label in ("A>B", "B>A", "A=B"):
                winner = {"A>B": "a", "B>A": "b", "A=B": "tie"}[label]
            elif label in ("A>>B", "B>>A"):
                winner = {"A>>B": "a", "B>>A": "b"}[label]
                weight = 3
            else:
                continue
            if game == 2 and winner != "tie":
                winner = "b" if winner == "a" else "a"
            # model_a is the baseline.
            winner = {"a": "model_a", "b": "model_b", "tie": "tie"}[winner]
            rows += [dict(model_a="baseline", model_b=j["model"], winner=winner)] * weight
    return pd.DataFrame(rows)


def mle_elo(df):
    models = pd.concat([df["model_a"], df["model_b"]]).unique()
    index = pd.Series(np.arange(len(models)), index=models)
    df = pd.concat([df, df], ignore_index=True)
    n = len(df)
    X = np.zeros([n, len(models)])
    X[np.arange(n), index[df["model_a"]]] = +math.log(10)
    X[np.arange(n), index[df["model_b"]]] = -math.log(10)
    Y = np.zeros(n)
    Y[df["winner"] == "model_a"] = 1.0
    tie = (df["winner"] == "tie").to_numpy().copy()
    tie[len(tie) // 2:] = False
    Y[tie] = 1.0
    lr = LogisticRegression(fit_intercept=False, penalty=None, tol=1e-8)
    lr.fit(X, Y)
    elo = 400 * lr.coef_[0] + 1000
    elo = elo - elo[index["baseline"]] + 1000
    return pd.Series(elo, index=models)


def win_rate(rating):
    return 100 / (1 + 10 ** ((1000 - rating) / 400))


def arena_fixture():
    rng = np.random.default_rng(7)
    judgments = arena_judgments(rng)
    battles = battles_of(judgments)
    ratings = mle_elo(battles)
    np.random.seed(42)
    boot = pd.DataFrame([mle_elo(battles.sample(frac=1.0, replace=True)) for _ in range(100)])
    scores = {}
    for model in ratings.index:
        if model == "baseline":
            continue
        scores[model] = dict(score=float(win_rate(ratings[model])),
                             lower=float(win_rate(np.percentile(boot[model], 2.5))),
                             upper=float(win_rate(np.percentile(boot[model], 97.5))),
                             battles=int((battles["model_b"] == model).sum()))
    return dict(judgments=judgments, scores=scores)


# --- CPython's string-seeded random (alpaca_eval's output order) ---------------------------

SEEDS = ["", "0", "is_switched_outputs0", "is_switched_outputsWhat is 2+2?0",
         "is_switched_outputsÉcris un poème sur la mer 🌊0",
         "is_switched_outputs" + "long instruction " * 40 + "0"]


def python_random_fixture():
    rows = []
    for seed in SEEDS:
        draws = random.Random(seed)
        rows.append(dict(seed=seed, draws=[draws.random() for _ in range(3)],
                         switched=random.Random(seed).choices([False, True], k=1)[0]))
    return rows


def main():
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
    out = root / "crates" / "eval-harness" / "tests" / "fixtures" / "reference.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(gsm8k=gsm8k_fixture(), mt_bench=mt_bench_fixture(),
                                   alpaca_eval=alpaca_fixture(), arena_hard=arena_fixture(),
                                   python_random=python_random_fixture()),
                              indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
