#!/usr/bin/env bash
# One prepared check for a lent GPU machine. It runs the project from this folder with the machine's
# python (PY=..., default python3), which must already have torch; the study part also needs the
# project's notebook extras (`pip install -e '.[notebooks]'`) and says so when they are missing.
#   1. the tests marked `cuda` (AMP bf16 training, CPU/GPU agreement, NCCL DDP when 2 GPUs);
#   2. 500 steps of each method on ResNet-18 at 224 px (random images), float32 and bf16 autocast,
#      then on the study's synth_cnn_slim at 48 px: steps/s and peak memory -> bench/results/device_steps.txt;
#   3. the default study on the GPU (`studies/default_gpu`: every run with train.device=cuda, one run
#      per GPU), its wall time -> bench/results/device_study.txt;
#   4. a 2-GPU DDP run through torchrun when two devices exist;
# then one table. Each results file starts with the command and the device's name.
#
#   bash bench/device_check.sh              # on the GPU machine
#   bash bench/device_check.sh --dry-run    # on CPU: the same steps, tiny, to prove the script runs
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 MPLBACKEND=Agg
if [ "${1:-}" = "--dry-run" ]; then
  DEVICE=cpu; BENCH="--backbone synth_cnn_tiny --size 32 --steps 2 --warmup 1"; GPUS=0; TESTS="--co"
  RESULTS=$(mktemp -d)
else
  DEVICE=cuda; BENCH="--steps 500 --warmup 10"; GPUS=$($PY -c "import torch; print(torch.cuda.device_count())"); TESTS=""
  RESULTS=bench/results
fi
NAME=$($PY -c "import torch; print(torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')")
out=$(mktemp -d)
status() { [ "$1" = 0 ] && echo ok || echo "FAILED (exit $1)"; }

echo "== 1. tests marked cuda (device: $DEVICE)"
timeout 240 $PY -m pytest -q -m cuda $TESTS -p no:cacheprovider --continue-on-collection-errors tests 2>&1 | tee "$out/tests.txt" | tail -n 15
t_rc=${PIPESTATUS[0]}
# pytest exits 5 when everything was deselected/collected only; a dry run only collects
[ "$DEVICE" = cpu ] && [ "$t_rc" = 5 ] && t_rc=0

echo "== 2. steps/s and peak memory, every method"
{ echo "\$ PY=$PY bash bench/device_check.sh   # part 2, on $NAME"
  timeout 300 $PY bench/device_bench.py --device $DEVICE $BENCH --methods supervised fixmatch sitfer leaf \
    --variants fp32 bf16 2>&1; } | tee "$out/bench.txt"
b_rc=${PIPESTATUS[0]}
# the study's own network and images (synth_cnn_slim, 48 px), whose steps a GPU would speed up first
if [ "$DEVICE" = cuda ]; then SLIM="--backbone synth_cnn_slim --size 48 --steps 500 --warmup 10"; else SLIM="--backbone synth_cnn_slim --size 48 --steps 2 --warmup 1"; fi
{ echo; echo "\$ PY=$PY bash bench/device_check.sh   # part 2b, on $NAME"
  timeout 200 $PY bench/device_bench.py --device $DEVICE $SLIM --methods supervised fixmatch sitfer leaf \
    --variants fp32 bf16 2>&1; } | tee -a "$out/bench.txt"
b_rc=$(( b_rc + ${PIPESTATUS[0]} ))
cp "$out/bench.txt" "$RESULTS/device_steps.txt"

echo "== 3. the default study on the GPU (studies/default_gpu)"
s_rc=skipped
if [ "$DEVICE" = cuda ] && $PY -c "import dvc, papermill" 2>/dev/null; then
  t0=$(date +%s)
  $PY -m ssfer_study.cli profile resolve default_gpu >/dev/null && ln -sfn ../../dvc.yaml studies/default_gpu/dvc.yaml
  PATH=$(dirname "$(command -v $PY)"):$PATH timeout 420 $PY -m dvc repro studies/default_gpu/dvc.yaml > "$out/study.log" 2>&1
  s_rc=$?
  s_time=$(( $(date +%s) - t0 ))
  { echo "\$ PY=$PY bash bench/device_check.sh   # part 3: dvc repro studies/default_gpu/dvc.yaml, on $NAME ($GPUS GPU(s))"
    echo "exit $s_rc after ${s_time} s (wall time of the whole pipeline: synth, pretraining, 32 runs, reports)"
    grep -E "^\[[0-9]+/[0-9]+\]|train-runs:" "$out/study.log"; } | tee "$RESULTS/device_study.txt"
else
  echo "skipped: no GPU, or dvc / papermill not installed for $PY (pip install -e '.[notebooks]')"
fi

d_rc=skipped
if [ "${GPUS:-0}" -ge 2 ]; then
  echo "== 4. DDP over NCCL, 2 GPUs (torchrun)"
  $PY -m ssfer_study.cli synth --out "$out/synth" --n-train 700 --n-test 210 --size 32 >/dev/null 2>&1
  t0=$(date +%s)
  timeout 180 $PY -m torch.distributed.run --nproc_per_node 2 -m ssfer_study.cli train --out "$out/ddp" \
    --device cuda --profile studies/smoke/params.yaml --run fixmatch_s0 -S data.root="$out/synth" \
    -S data.split_dir="$out/splits" -S data.cache_dir="$out/cache" -S net.weights=null -S steps=50 \
    -S batch_size=16 -S eval_every=50 2>&1 | tail -n 3
  d_rc=${PIPESTATUS[0]}
  d_time=$(( $(date +%s) - t0 ))
fi

echo
echo "== device check: one table ($NAME)"
printf '%-34s %s\n' "part" "result"
printf '%-34s %s\n' "tests -m cuda" "$(status $t_rc): $(tail -n 1 "$out/tests.txt")"
printf '%-34s %s\n' "steps/s, every method" "$(status $b_rc)"
sed 's/^/    /' "$out/bench.txt"
if [ "$s_rc" = skipped ]; then
  printf '%-34s %s\n' "default study on the GPU" "skipped"
else
  printf '%-34s %s\n' "default study on the GPU" "$(status $s_rc), ${s_time} s"
fi
if [ "$d_rc" = skipped ]; then
  printf '%-34s %s\n' "DDP 2 GPUs (NCCL, torchrun)" "skipped: $GPUS GPU(s)"
else
  printf '%-34s %s\n' "DDP 2 GPUs (NCCL, torchrun)" "$(status $d_rc), 50 steps in ${d_time}s"
fi
[ "$t_rc" = 0 ] && [ "$b_rc" = 0 ] && { [ "$s_rc" = skipped ] || [ "$s_rc" = 0 ]; } && { [ "$d_rc" = skipped ] || [ "$d_rc" = 0 ]; }
