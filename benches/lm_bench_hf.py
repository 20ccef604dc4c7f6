#!/usr/bin/env python3
"""The Hugging Face transformers side of `cargo xtask lm bench`: the same workload, the same
timing rules, one JSON line (hf_* keys) last.

Workload (see xtask/src/commands/lm_bench.rs): `batch` prompts of `prompt_len` random ids;
prefill = one forward keeping the last position's logits; decode = greedy generation of
exactly `new_tokens` tokens, minus the prefill time; DPO step = policy log-probs of chosen and
rejected responses with backward, reference log-probs without, the DPO loss (beta 0.1),
clip_grad_norm_(1.0) and a torch.optim.AdamW step on every parameter, and its phases
(forwards + loss; backward; clipping + AdamW) timed inside each step. Median (of the step
and of each phase) over `repeats` timed runs after one warm-up. The random ids differ from the Rust side's (another generator);
the cost does not depend on them.

Usage: python benches/lm_bench_hf.py --model PATH [--batch 8 --new-tokens 32 --prompt-len 64
       --repeats 3 --device cpu|cuda:0 --dtype f32|bf16 --no-dpo]
A .gguf PATH is loaded through transformers' GGUF support (dequantised, needs `gguf`).
"""
import argparse
import copy
import json
import math
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import transformers


def load(path: Path, dtype: torch.dtype, device: str):
    if path.suffix == ".gguf":
        model = transformers.AutoModelForCausalLM.from_pretrained(
            path.parent, gguf_file=path.name, torch_dtype=dtype)
    else:
        model = transformers.AutoModelForCausalLM.from_pretrained(path, torch_dtype=dtype)
    return model.to(device)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def median_seconds(repeats: int, device: str, run) -> float:
    run()
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def response_logps(model, ids: torch.Tensor, response_len: int) -> torch.Tensor:
    """Summed log-probabilities of the last `response_len` tokens of each row."""
    logits = model(input_ids=ids, logits_to_keep=response_len + 1).logits[:, :-1]
    targets = ids[:, -response_len:]
    logps = torch.log_softmax(logits.float(), dim=-1)
    return logps.gather(2, targets.unsqueeze(-1)).squeeze(-1).sum(-1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--prompt-len", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
    parser.add_argument("--no-dpo", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    dtype = torch.float32 if args.dtype == "f32" else torch.bfloat16
    device = args.device
    torch.manual_seed(args.seed)
    model = load(args.model, dtype, device).eval()
    vocab = model.config.vocab_size
    prompts = torch.randint(10, vocab - 10, (args.batch, args.prompt_len), device=device)
    mask = torch.ones_like(prompts)
    result = dict(hf_transformers_version=transformers.__version__,
                  hf_torch_version=torch.__version__,
                  hf_attn_implementation=model.config._attn_implementation,
                  hf_torch_threads=torch.get_num_threads())

    def prefill():
        with torch.no_grad():
            model(input_ids=prompts, attention_mask=mask, use_cache=True, logits_to_keep=1)

    greedy = transformers.GenerationConfig(
        max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, do_sample=False,
        eos_token_id=None, pad_token_id=0)

    def decode():
        with torch.no_grad():
            out = model.generate(input_ids=prompts, attention_mask=mask, generation_config=greedy)
        assert out.shape[1] == args.prompt_len + args.new_tokens

    prefill_s = median_seconds(args.repeats, device, prefill)
    generate_s = median_seconds(args.repeats, device, decode)
    result["hf_prefill_tokens_per_s"] = args.batch * args.prompt_len / prefill_s
    result["hf_decode_tokens_per_s"] = (args.batch * args.new_tokens
                                        / max(generate_s - prefill_s, 1e-12))

    if not args.no_dpo:
        reference = model
        policy = copy.deepcopy(model).train()
        for p in reference.parameters():
            p.requires_grad_(False)
        optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-6, betas=(0.9, 0.999),
                                      eps=1e-8, weight_decay=0.0)
        chosen = torch.randint(10, vocab - 10, (args.batch, args.new_tokens), device=device)
        rejected = torch.randint(10, vocab - 10, (args.batch, args.new_tokens), device=device)
        ids = torch.cat([torch.cat([prompts, chosen], 1), torch.cat([prompts, rejected], 1)])
        n = args.batch

        def dpo_loss():
            policy_logps = response_logps(policy, ids, args.new_tokens)
            with torch.no_grad():
                reference_logps = response_logps(reference, ids, args.new_tokens)
            margins = ((policy_logps[:n] - policy_logps[n:])
                       - (reference_logps[:n] - reference_logps[n:]))
            return -F.logsigmoid(0.1 * margins).mean()

        phases = []

        def dpo_step():
            # Each phase timed inside the step, the device synchronised at each boundary
            # (as on the Rust side).
            start = time.perf_counter()
            loss = dpo_loss()
            loss_value = loss.item()
            forward = time.perf_counter() - start
            start = time.perf_counter()
            loss.backward()
            sync(device)
            backward = time.perf_counter() - start
            start = time.perf_counter()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            sync(device)
            phases.append((forward, backward, time.perf_counter() - start))
            if not math.isfinite(loss_value):
                raise SystemExit(f"DPO loss is {loss_value}")

        for _ in range(args.repeats + 1):
            dpo_step()
        timed = phases[1:]  # the first step was the warm-up
        step_s = statistics.median(sum(p) for p in timed)
        result["hf_dpo_pairs_per_s"] = args.batch / step_s
        # Phases of the step (ms): the forwards and loss, the backward, clipping + AdamW.
        result["hf_dpo_forward_ms"] = 1e3 * statistics.median(p[0] for p in timed)
        result["hf_dpo_backward_ms"] = 1e3 * statistics.median(p[1] for p in timed)
        result["hf_dpo_optimizer_ms"] = 1e3 * statistics.median(p[2] for p in timed)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
