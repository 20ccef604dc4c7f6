"""TRL's online DPO trainer with the reward service as its reward function: a real client of
`cargo xtask serve`, run by tools/trl_integration.sh (which starts the service first).

Every step TRL samples two completions per prompt and calls the reward function with 2B
completions; ``rm_routing.trl_pairwise_reward_function`` sends each pair to ``/route_pairs``,
where the router picks one RM for it. The dataset's ``reference`` and ``category`` columns go
with each pair, so a service started with ``--verifier synthetic`` rewards the routed RM
whenever the verifier decides the pair.

Usage: trl_online_dpo.py --policy DIR --prompts FILE.jsonl --url URL --steps N --out DIR
"""

import argparse
import json
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "clients", "python"))

import rm_routing  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", required=True, help="Hugging Face folder of the policy")
    parser.add_argument("--prompts", required=True, help="JSONL: prompt, reference, category")
    parser.add_argument("--url", required=True, help="the reward service's root URL")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8, help="prompts per step")
    parser.add_argument("--max-new-tokens", type=int, default=10)
    parser.add_argument("--out", required=True, help="where TRL writes its output")
    args = parser.parse_args()

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.experimental.online_dpo import OnlineDPOConfig, OnlineDPOTrainer

    torch.manual_seed(0)
    rows = []
    with open(args.prompts, encoding="utf-8") as file:
        for line in file:
            row = json.loads(line)
            rows.append(
                {
                    "prompt": [{"role": "user", "content": row["prompt"]}],
                    "reference": row["reference"],
                    "category": row["category"],
                }
            )
    # The prompts file is grouped by category: a seeded shuffle mixes the domains.
    random.Random(0).shuffle(rows)
    dataset = Dataset.from_list(rows[: args.steps * args.batch])
    tokenizer = AutoTokenizer.from_pretrained(args.policy)
    model = AutoModelForCausalLM.from_pretrained(args.policy)
    config = OnlineDPOConfig(
        output_dir=args.out,
        per_device_train_batch_size=args.batch,
        max_steps=args.steps,
        max_new_tokens=args.max_new_tokens,
        temperature=1.0,
        beta=0.1,
        learning_rate=3e-5,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        seed=0,
    )
    trainer = OnlineDPOTrainer(
        model=model,
        reward_funcs=rm_routing.trl_pairwise_reward_function(args.url),
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    start = time.time()
    trainer.train()
    seconds = time.time() - start
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    summary = {"steps": trainer.state.global_step, "seconds": seconds, "losses": losses}
    print("TRL_SUMMARY " + json.dumps(summary))


if __name__ == "__main__":
    main()
