#!/usr/bin/env bash
# Runs on the GPU host (torch+CUDA at /opt/torch/.venv, no Rust, no network), from the repo
# root, with device-bin/ from benches/gpu/build.sh: the lm CUDA correctness tests, then
# `lm bench` on SmolLM2-135M's shape (random weights: speed does not depend on the values)
# in bf16 beside transformers when it is importable there. Prints a short table last.
set -uo pipefail
venv=${TORCH_VENV:-/opt/torch/.venv}
torch_lib=$(ls -d "$venv"/lib/python3*/site-packages/torch/lib | head -1)
export LD_LIBRARY_PATH="$torch_lib:${LD_LIBRARY_PATH:-}"
out=${OUT:-/tmp/gpu-out}
mkdir -p "$out"
# The binaries travel xz-compressed (the device tool carries at most 64 MiB).
for packed in device-bin/*.xz; do
    [ -e "$packed" ] || continue
    "$venv/bin/python" -c 'import lzma, shutil, sys
with lzma.open(sys.argv[1]) as src, open(sys.argv[2], "wb") as dst: shutil.copyfileobj(src, dst)' \
        "$packed" "${packed%.xz}" && chmod +x "${packed%.xz}"
done
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"

# 1. Correctness on CUDA: transformers parity, generation, LoRA/PEFT, saving, optimiser.
LM_TEST_DEVICE=cuda LM_FIXTURES=crates/lm/tests/fixtures device-bin/lm-tests \
    decoder_parity generation lora save optimizer 2>&1 | tee "$out/tests.txt" | tail -5
tests=$(grep -E '^test result' "$out/tests.txt" | tail -1)

# 2. Throughput beside transformers. The host has no network: if its venv lacks
# transformers, install the wheels benches/gpu/build.sh put in device-bin/wheels.
baseline=()
if ! "$venv/bin/python" -c 'import transformers' 2>/dev/null && [ -d device-bin/wheels ]; then
    "$venv/bin/python" -m pip install --quiet --no-index --find-links device-bin/wheels \
        --target /tmp/hf-site transformers 2>&1 | tail -2 \
        || for wheel in device-bin/wheels/*.whl; do   # no pip: a wheel is a zip of site-packages
            "$venv/bin/python" -m zipfile -e "$wheel" /tmp/hf-site; done
    export PYTHONPATH=/tmp/hf-site${PYTHONPATH:+:$PYTHONPATH}
fi
if "$venv/bin/python" -c 'import transformers' 2>/dev/null; then
    baseline=(--baseline-python "$venv/bin/python")
fi
for batch in 8 32; do
    device-bin/xtask lm bench --model configs/models/smollm2-135m.json --device cuda \
        --dtype bf16 --batch "$batch" --prompt-len 128 --new-tokens 64 --repeats 7 \
        "${baseline[@]}" 2>"$out/bench-b$batch.err" | tail -1 > "$out/bench-b$batch.json"
done

echo
echo "tests (CUDA): $tests"
"$venv/bin/python" - "$out" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
rates = ["prefill_tokens_per_s", "decode_tokens_per_s", "dpo_pairs_per_s"]
phases = ["dpo_forward_ms", "dpo_backward_ms", "dpo_optimizer_ms"]
for keys, note in [(rates, "ratio = ours / hf, higher is better"),
                   (phases, "DPO step phases; ratio = ours / hf, lower is better")]:
    print(f"{'batch':>5} " + " ".join(f"{k:>22} {'hf':>10} {'ratio':>6}" for k in keys) + f"   ({note})")
    for f in sorted(out.glob("bench-b*.json")):
        try:
            r = json.loads(f.read_text())
        except json.JSONDecodeError:
            print(f.name, "failed; see", f.with_suffix(".err")); continue
        cells = []
        for k in keys:
            hf = r.get("hf_" + k)
            ratio = f"{r[k] / hf:.2f}" if hf and k in r else "-"
            cells.append(f"{r.get(k, float('nan')):>22.1f} {hf or float('nan'):>10.1f} {ratio:>6}")
        print(f"{r['batch']:>5} " + " ".join(cells))
PY
