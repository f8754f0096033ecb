#!/usr/bin/env bash
# The checks that need a GPU, in one short run (at most 570 s of steps on one H200: each
# step has a time limit; not yet run on a GPU, so the limits are estimates), everything
# written under $OUT:
#
#   1. the conformance suite on torch-lstm, cell-loop and stacked with --lstm-device,
#      at the quick and default profiles (TF32 off: the suite's float32 tolerances were
#      measured without it), reports in $OUT/conformance-<profile>/;
#   2. nn.LSTM's float32 error under TF32 off and on and under autocast float16 and
#      bfloat16 (tools/measure_precision.py), in $OUT/precision.{txt,json};
#   3. the stress profile on torch-lstm, report in $OUT/stress/;
#   4. the oracle's timings (tools/bench_oracle.py), in $OUT/bench_oracle.txt.
#
# $OUT/summary.txt has one line per step: its exit status and seconds.
#
#   OUT=/tmp/check tools/device_check.sh                      # on a machine with a GPU
#   OUT=/tmp/check tools/device_check.sh --device cpu --short # the same steps, shortened,
#                                                             # on the CPU (tests/test_device_check.py)
#
# --short: the quick profile only, 20 examples per precision policy, the stress profile
# without its 65,537-step check; for trying the script end to end, not for figures.
set -u -o pipefail

DEVICE=cuda
SHORT=0
while [ $# -gt 0 ]; do
    case "$1" in
        --device) DEVICE="$2"; shift 2 ;;
        --short) SHORT=1; shift ;;
        *) echo "usage: OUT=DIR $0 [--device DEVICE] [--short]" >&2; exit 2 ;;
    esac
done
: "${OUT:?set OUT to the directory the results go to}"
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"

# step NAME LIMIT_S COMMAND...: run it with a time limit, its output in $OUT/NAME.log.
step() {
    local name=$1 limit=$2
    shift 2
    local start=$SECONDS
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    echo "$name rc=$rc $((SECONDS - start)) s" | tee -a "$SUMMARY"
}

# The suite finds its implementations through entry points: install the tree once if
# this environment does not have it (a bare machine).
if ! "$PYTHON" -c "import importlib.metadata as m; m.distribution('lstm-conformance')" 2>/dev/null; then
    step install 300 "$PYTHON" -m pip install --quiet --no-deps --no-build-isolation -e .
fi
step environment 60 "$PYTHON" -c "
import torch, platform
print('torch', torch.__version__, 'python', platform.python_version())
print('cuda available', torch.cuda.is_available(), 'cudnn', torch.backends.cudnn.version())
if torch.cuda.is_available():
    print('device', torch.cuda.get_device_name(0))
print('tf32 matmul', torch.backends.cuda.matmul.allow_tf32, 'tf32 cudnn', torch.backends.cudnn.allow_tf32)
"
cat "$OUT/environment.log"

# Time limits per step, in seconds. On the GPU machine they add up to 570 s, so the whole
# script stays under 10 minutes whatever hangs; --short runs on a CPU that may be shared,
# with room to spare instead.
if [ "$SHORT" = 1 ]; then
    PROFILES="quick"; EXAMPLES=20; WORKERS=1
    LIMIT_QUICK=900; LIMIT_DEFAULT=0; LIMIT_PRECISION=600; LIMIT_STRESS=900; LIMIT_BENCH=300
else
    PROFILES="quick default"; EXAMPLES=200; WORKERS=4
    LIMIT_QUICK=90; LIMIT_DEFAULT=180; LIMIT_PRECISION=90; LIMIT_STRESS=180; LIMIT_BENCH=30
fi

for profile in $PROFILES; do
    limit=$LIMIT_QUICK
    [ "$profile" = default ] && limit=$LIMIT_DEFAULT
    step "conformance-$profile" "$limit" "$PYTHON" -m lstm_conformance run \
        --lstm-impl torch-lstm --lstm-impl cell-loop --lstm-impl stacked \
        --lstm-device "$DEVICE" --lstm-tf32 off --lstm-profile "$profile" \
        --lstm-report-dir "$OUT/conformance-$profile" -n "$WORKERS"
done

step precision "$LIMIT_PRECISION" "$PYTHON" tools/measure_precision.py --device "$DEVICE" \
    --examples "$EXAMPLES" --json "$OUT/precision.json"
cp "$OUT/precision.log" "$OUT/precision.txt"

if [ "$SHORT" = 1 ]; then
    step stress "$LIMIT_STRESS" "$PYTHON" -m lstm_conformance run --lstm-impl torch-lstm \
        --lstm-device "$DEVICE" --lstm-profile stress --lstm-report-dir "$OUT/stress" \
        -n 1 -k "stress-batch or stress-hidden-size"
else
    step stress "$LIMIT_STRESS" "$PYTHON" -m lstm_conformance run --lstm-impl torch-lstm \
        --lstm-device "$DEVICE" --lstm-profile stress --lstm-report-dir "$OUT/stress" -n 3
fi

step bench_oracle "$LIMIT_BENCH" "$PYTHON" tools/bench_oracle.py
cp "$OUT/bench_oracle.log" "$OUT/bench_oracle.txt"
cat "$SUMMARY"
