#!/usr/bin/env bash
# GPU check: run on a machine with a CUDA GPU (no package registry needed), from anywhere:
#   bash benchmarks/gpu_check.sh
# 1. builds pyhcs in place, offline;
# 2. runs the `gpu` and `cudasim` tests on the real GPU (simulator off, cupy arrays);
# 3. runs the GPU benchmarks;
# and prints a short table. Budget: 8 minutes in all.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
status=()

step() {  # step NAME SECONDS COMMAND...
  local name=$1 limit=$2
  shift 2
  local start=$SECONDS
  echo "=== $name"
  timeout "$limit" "$@" 2>&1 | tee "$out/$name.log" | tail -n 40
  local rc=${PIPESTATUS[0]}
  status+=("$(printf '%-12s rc=%-3s %4ss' "$name" "$rc" "$((SECONDS - start))")")
  return "$rc"
}

step build 240 python -m pip install --no-build-isolation --no-deps -e . -q
step info 60 python -m pyhcs info
step tests 240 env PYHCS_TEST_REAL_GPU=1 python -m pytest -m "gpu or cudasim" -q -p no:cacheprovider \
  --junitxml="$out/gpu-tests.xml"
step bench 180 python benchmarks/run.py --device cuda --json "$out/gpu-bench.json"

echo "=== summary"
printf '%s\n' "${status[@]}"
grep -E "passed|failed" "$out/tests.log" | tail -n 1
sed -n '/^family/,$p' "$out/bench.log"
