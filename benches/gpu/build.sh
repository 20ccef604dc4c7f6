#!/usr/bin/env bash
# Builds, on this (CPU) machine, the two binaries the GPU host runs: the lm test binary and
# xtask, both with libtorch (CUDA) linked in, stripped, into device-bin/ (ignored by git via
# .git/info/exclude; name it in the device tool's `carry`). Needs .venv-torch (see
# .ci/lm-libtorch, which creates it). Then on the GPU host: benches/gpu/run.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
LIBTORCH="$(ls -d "$root"/.venv-torch/lib/python3*/site-packages/torch | head -1)"
export LIBTORCH LIBTORCH_BYPASS_VERSION_CHECK=1
# --no-as-needed keeps libtorch_cuda linked although no symbol of it is named directly;
# --target keeps these flags off build scripts.
export RUSTFLAGS="-C link-arg=-L$LIBTORCH/lib -C link-arg=-Wl,--no-as-needed -C link-arg=-ltorch_cuda"
export CARGO_TARGET_DIR="$root/target/gpu"
target=x86_64-unknown-linux-gnu
cargo build --release --locked --target "$target" -p xtask --features tch
tests=$(cargo test --release --locked --target "$target" -p lm --features tch --no-run \
    --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "tests" and m.get("executable"):
        print(m["executable"])')
rm -rf device-bin && mkdir -p device-bin
strip -o device-bin/xtask "$CARGO_TARGET_DIR/$target/release/xtask"
strip -o device-bin/lm-tests "$tests"
xz -f -T2 -6 device-bin/xtask device-bin/lm-tests   # the device tool carries at most 64 MiB
# transformers and its dependencies for the GPU host's baseline (Python 3.12, no network
# there; torch itself is on the host).
pip download --quiet --dest device-bin/wheels --only-binary=:all: --python-version 3.12 \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux_2_28_x86_64 transformers==4.57.1
ls -la device-bin device-bin/wheels
