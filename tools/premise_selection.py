"""Why the online reward points the wrong way (issue 29, premise check (b)): on-policy sampling
or what the policy learned?

For a finished `cargo xtask experiment` folder, per online run of the given strategies, this
compares two measurements of the same quantity, m = Δ(right) − Δ(wrong), where
Δ(y) = log π(y | x) − log π_ref(y | x) summed over the response tokens (the DPO implicit
reward, in nats; π the run's final policy, π_ref the SFT policy):

- on-policy: the run's own verifier-decided kept pairs at iterations ≥ 1, sampled from the
  policy of that moment; m is read back from each pair's logged DPO loss ℓ:
  β(Δ(chosen) − Δ(rejected)) = −ln(e^ℓ − 1), signed by whether the label was right;
- panel: the experiment's routing panel (verifier-decided pairs of SFT samples on held-out
  prompts, the same for every run), scored by the final policy.

The bandit reward is high when ℓ is low, so its correlation with "the label is right" has the
sign of m on on-policy pairs. If m < 0 on-policy but m > 0 on the panel, the policy did move
toward right answers, and the sign flips only because on-policy pairs are sampled from the
policy itself: of the many wrong answers, those sampled are the ones the policy moved toward.

Usage: .venv-torch/bin/python tools/premise_selection.py EXPERIMENT_DIR
       [--strategies random-any,oracle-any,bayesian-v5-in-distribution,...]
(a strategy is a run folder's name up to its seed: online/<strategy>-s<seed>-<hash>)
(needs torch and transformers: tools/requirements-trl.txt)
"""

import argparse
import glob
import json
import math
import os
import statistics


def stage(experiment, name):
    found = sorted(glob.glob(os.path.join(experiment, "stages", f"{name}-*")))
    if not found:
        raise SystemExit(f"no {name} stage under {experiment}: run `cargo xtask experiment` first")
    return found[0]


def response_logprobs(model, tokenizer, prompts, responses, torch, batch=256):
    """Sum of log π(response tokens | chat prompt) per (prompt, response), with the
    response's end-of-turn token, as the trainer scores them."""
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    sequences = []
    for prompt, response in zip(prompts, responses):
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
        )
        context = tokenizer(text, add_special_tokens=False)["input_ids"]
        answer = tokenizer(response, add_special_tokens=False)["input_ids"] + [eos]
        sequences.append((list(context), answer))
    totals = []
    for start in range(0, len(sequences), batch):
        chunk = sequences[start : start + batch]
        width = max(len(c) + len(a) for c, a in chunk)
        ids = torch.zeros((len(chunk), width), dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, (context, answer) in enumerate(chunk):
            tokens = context + answer
            ids[row, : len(tokens)] = torch.tensor(tokens)
            mask[row, : len(tokens)] = 1
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
        logp = torch.log_softmax(logits, dim=-1)
        for row, (context, answer) in enumerate(chunk):
            positions = range(len(context) - 1, len(context) + len(answer) - 1)
            totals.append(
                sum(logp[row, p, answer[k]].item() for k, p in enumerate(positions))
            )
    return totals


def summary(values):
    values = list(values)
    if not values:
        return "—"
    mean = statistics.fmean(values)
    positive = sum(v > 0 for v in values) / len(values)
    return f"m {mean:+.3f} nats, P(m > 0) {positive:.1%} ({len(values)} pairs)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment")
    parser.add_argument("--strategies", default="random-any,oracle-any")
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    sft = os.path.join(stage(args.experiment, "sft"), "policy")
    panel = json.load(open(os.path.join(stage(args.experiment, "panel"), "stage.json")))
    prompts = [panel["prompts"][p["prompt"]] for p in panel["pairs"]]
    right = [p["a"] if p["right_is_a"] else p["b"] for p in panel["pairs"]]
    wrong = [p["b"] if p["right_is_a"] else p["a"] for p in panel["pairs"]]
    tokenizer = AutoTokenizer.from_pretrained(sft)
    reference = AutoModelForCausalLM.from_pretrained(sft).eval()
    ref_right = response_logprobs(reference, tokenizer, prompts, right, torch)
    ref_wrong = response_logprobs(reference, tokenizer, prompts, wrong, torch)

    report = {}
    for strategy in args.strategies.split(","):
        runs = sorted(glob.glob(os.path.join(args.experiment, "online", f"{strategy}-s*-*")))
        if not runs:
            raise SystemExit(f"no runs online/{strategy}-s*-* under {args.experiment}")
        pooled_online, pooled_panel = [], []
        for run in runs:
            folder = os.path.join(run, "run")
            config = open(os.path.join(folder, "config.toml")).read()
            beta = float(config.split("beta = ", 1)[1].split("\n", 1)[0])
            online = []
            for line in open(os.path.join(folder, "routing.jsonl")):
                row = json.loads(line)
                if row["iteration"] < 1 or not row["kept"] or row["truth"] is None:
                    continue
                if row["loss"] is None:
                    continue
                margin = -math.log(math.expm1(row["loss"])) / beta
                online.append(margin if row["chosen"] == row["truth"] else -margin)
            policy = AutoModelForCausalLM.from_pretrained(os.path.join(folder, "final", "policy"))
            policy.eval()
            pol_right = response_logprobs(policy, tokenizer, prompts, right, torch)
            pol_wrong = response_logprobs(policy, tokenizer, prompts, wrong, torch)
            on_panel = [
                (pr - rr) - (pw - rw)
                for pr, rr, pw, rw in zip(pol_right, ref_right, pol_wrong, ref_wrong)
            ]
            print(f"{os.path.basename(run)}: on-policy {summary(online)}; panel {summary(on_panel)}")
            pooled_online += online
            pooled_panel += on_panel
        print(f"== {strategy}: on-policy {summary(pooled_online)}; panel {summary(pooled_panel)}")
        report[strategy] = {
            "runs": len(runs),
            "on_policy_mean": statistics.fmean(pooled_online) if pooled_online else None,
            "on_policy_positive": sum(v > 0 for v in pooled_online) / max(1, len(pooled_online)),
            "panel_mean": statistics.fmean(pooled_panel) if pooled_panel else None,
            "panel_positive": sum(v > 0 for v in pooled_panel) / max(1, len(pooled_panel)),
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
