#!/usr/bin/env bash
# Check the course on a machine with an NVIDIA GPU: install the `gpu` extra (tensorflow[and-cuda])
# into the venv, show the GPU as nvidia-smi and TensorFlow see it, run the unit tests and every
# notebook under nbval in the quick profile (as `make test` does), and say which device each
# notebook used (from the GPU memory and utilisation sampled while it ran), with a summary.
#
#   scripts/gpu_check.sh                               # everything
#   scripts/gpu_check.sh notebooks/07_yolo.ipynb       # the unit tests and only these notebooks
#   SKIP_INSTALL=1 scripts/gpu_check.sh                # the gpu extra is installed already (offline)
#   SKIP_UNIT=1 scripts/gpu_check.sh                   # notebooks only
#   VENV=/opt/tfcourse-venv scripts/gpu_check.sh       # another venv (default .venv)
#
# The unit tests run with -m "not slow": the one slow test renders a slide deck in a headless
# browser, which says nothing about the GPU. Logs go to build/gpu_check/.
# Exit status: 0 every step passed; 1 a step failed; 2 TensorFlow sees no GPU (nothing is run).
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${VENV:-.venv}"
py="$venv/bin/python"
logs="build/gpu_check"
mkdir -p "$logs"
export TFCOURSE_PROFILE=quick MPLBACKEND=Agg

if [ "$#" -gt 0 ]; then
  notebooks=("$@")
else
  notebooks=(notebooks/[0-9][0-9]_*.ipynb)
fi

if [ ! -x "$py" ]; then
  make env VENV="$venv"
fi
if [ "${SKIP_INSTALL:-0}" != 1 ]; then
  echo "== Installing the gpu extra into $venv"
  "$py" -m pip install --quiet -e ".[build,dev,gpu]"
fi

echo "== nvidia-smi"
has_smi=0
if command -v nvidia-smi >/dev/null 2>&1; then
  has_smi=1
  nvidia-smi || true
else
  echo "nvidia-smi not found: no NVIDIA driver on this machine?"
fi

echo "== TensorFlow"
if ! "$py" - <<'PYTHON'
import sys

import tensorflow as tf

info = tf.sysconfig.get_build_info()
print(f"TensorFlow {tf.__version__}, built for CUDA {info.get('cuda_version', '-')}, cuDNN {info.get('cudnn_version', '-')}")
gpus = tf.config.list_physical_devices("GPU")
print("GPUs:", gpus or "none")
if not gpus:
    sys.exit(1)
for gpu in gpus:
    print(f"  {gpu.name}: {tf.config.experimental.get_device_details(gpu)}")
with tf.device("/GPU:0"):
    product = tf.matmul(tf.ones((256, 256)), tf.ones((256, 256)))
print(f"A 256x256 matmul ran on {product.device}")
tf32 = tf.config.experimental.tensor_float_32_execution_enabled()
print(f"TensorFloat-32 is {'on' if tf32 else 'off'} by default (the unit tests turn it off; the notebooks keep it)")
PYTHON
then
  echo "TensorFlow sees no GPU: nothing else is run (see README.md, GPU)." >&2
  exit 2
fi

# The largest memory.used (MiB) over the GPUs right now.
gpu_memory_now() {
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | sort -n | tail -n 1
}

# The pytest summary line of a log ("== 12 passed, 1 skipped in 30.1s =="), without the equals signs.
pytest_result() {
  { grep -E '^=+ .*(passed|failed|error|skipped|deselected|no tests ran).* =+$' "$1" || true; } |
    tail -n 1 | sed -E 's/^=+ | =+$//g'
}

rows=()
failed=0

# record NAME STATUS SECONDS LOG DEVICE: one summary row.
record() {
  local verdict=PASS
  if [ "$2" -ne 0 ]; then
    verdict=FAIL
    failed=1
  fi
  rows+=("$(printf '%-34s %-4s %6ss  %-28s %s' "$1" "$verdict" "$3" "$5" "$(pytest_result "$4")")")
}

if [ "${SKIP_UNIT:-0}" != 1 ]; then
  echo "== Unit tests and doctests (log: $logs/unit.log)"
  start=$SECONDS
  status=0
  "$py" -m pytest tests tfcourse -m "not slow" >"$logs/unit.log" 2>&1 || status=$?
  record "unit tests + doctests" "$status" "$((SECONDS - start))" "$logs/unit.log" "-"
  tail -n 3 "$logs/unit.log"
fi

baseline=0
if [ "$has_smi" = 1 ]; then
  baseline=$(gpu_memory_now || echo 0)
fi
for notebook in "${notebooks[@]}"; do
  stem=$(basename "$notebook" .ipynb)
  echo "== $notebook under nbval (log: $logs/$stem.log)"
  sampler=""
  if [ "$has_smi" = 1 ]; then
    nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader,nounits -lms 500 \
      >"$logs/$stem.gpu.csv" 2>/dev/null &
    sampler=$!
  fi
  start=$SECONDS
  status=0
  "$py" -m pytest "$notebook" >"$logs/$stem.log" 2>&1 || status=$?
  took=$((SECONDS - start))
  device="? (no nvidia-smi)"
  if [ -n "$sampler" ]; then
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    samples="$logs/$stem.gpu.csv"
    peak_memory=$(awk -F', *' '$1 > m { m = $1 } END { print m + 0 }' "$samples")
    peak_use=$(awk -F', *' '$2 > u { u = $2 } END { print u + 0 }' "$samples")
    if [ ! -s "$samples" ]; then
      device="? (no nvidia-smi samples)"
    elif [ "$((peak_memory - baseline))" -gt 256 ]; then  # TensorFlow reserves most of it at once
      device="GPU (+$((peak_memory - baseline)) MiB, peak ${peak_use}%)"
    else
      device="CPU (GPU memory unchanged)"
    fi
  fi
  record "$stem" "$status" "$took" "$logs/$stem.log" "$device"
  echo "${rows[-1]}"
done

echo
echo "== Summary (quick profile; logs in $logs/)"
printf '%-34s %-4s %7s  %-28s %s\n' "step" "" "time" "device" "pytest"
printf '%s\n' "${rows[@]}"
if [ "$failed" -ne 0 ]; then
  echo "Some steps failed: read their logs above." >&2
  exit 1
fi
echo "Every step passed."
