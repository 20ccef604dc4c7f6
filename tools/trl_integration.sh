#!/usr/bin/env bash
# TRL end to end against the reward service (issue 30; not part of the default test run: it
# installs TRL and trains): starts `cargo xtask serve` on the embedded world of a finished
# `cargo xtask experiment` (its RM pool, its offline router export as the prior, the
# synthetic verifier as the learning signal), runs TRL's online DPO trainer for a few steps
# on that world's SFT policy with rm_routing.trl_pairwise_reward_function as its reward
# function, stops the service with SIGTERM and prints what the service saw.
#
# Usage: tools/trl_integration.sh [EXPERIMENT_DIR (default runs/experiment/default)] [STEPS (default 8)]
# Needs: a finished `cargo xtask experiment` in EXPERIMENT_DIR; python3 with venv.
set -euo pipefail
cd "$(dirname "$0")/.."

experiment=${1:-runs/experiment/default}
steps=${2:-8}
stage() { compgen -G "$experiment/stages/$1-*" | head -n 1; }
pool="$(stage reward-models)/pool.toml"
policy="$(stage sft)/policy"
router="$(stage offline-router)/in-distribution/s0/run/best"
prompts="$experiment/online/prompts.jsonl"
for path in "$pool" "$policy" "$router" "$prompts"; do
    [ -e "$path" ] || { echo "missing $path: run \`cargo xtask experiment\` first" >&2; exit 1; }
done

# TRL and its stack beside torch, in the venv .ci/lm-libtorch uses.
venv=.venv-torch
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tools/requirements-trl.txt

cargo build --release --quiet -p xtask
work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
target/release/xtask serve --pool "$pool" --router "$router" --strategy bayesian-v5 \
    --verifier synthetic --state "$work/state" --bind "127.0.0.1:$port" 2> "$work/serve.log" &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    curl -sf "$url/healthz" > /dev/null && break
    sleep 0.2
done
curl -sf "$url/healthz" > /dev/null || { cat "$work/serve.log" >&2; exit 1; }

start=$(date +%s)
"$venv/bin/python" tools/trl_online_dpo.py --policy "$policy" --prompts "$prompts" \
    --url "$url" --steps "$steps" --out "$work/trl" 2>&1 | grep -v "^\s*$" | tail -n 30
echo "TRL run: $(( $(date +%s) - start )) s"

echo "== the service's metrics"
curl -sf "$url/metrics" | grep -E '^rm_service_(routed_total|derived_rewards_total|bandit_updates|pending_routes|rm_calls_total|requests_total)' || true
kill -TERM "$server"
wait "$server" || true
trap - EXIT
echo "== state: $work/state"
ls "$work/state"
python3 - "$work/state/routing.jsonl" <<'PY'
import collections, json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
print(f"routing.jsonl: {len(rows)} rewarded routes (verifier-decided pairs)")
by_rm = collections.defaultdict(list)
for row in rows:
    by_rm[row["judge"]].append(row["reward"])
for rm, rewards in sorted(by_rm.items()):
    print(f"  {rm:<16} {len(rewards):>4} pairs, routed RM agreed with the verifier on {sum(rewards) / len(rewards):.0%}")
PY
