#!/usr/bin/env bash
# One prepared check for a lent GPU machine (issue #14), well inside 8 minutes:
#   1. the tests marked `cuda` (AMP bf16 training, CPU/GPU agreement, NCCL DDP when 2 GPUs),
#   2. ResNet-18 / 224 px FixMatch steps: fp32, bf16 autocast, each with and without channels_last,
#   3. a 2-GPU DDP run through torchrun when two devices exist,
# then one table. Installs nothing: it runs the project from this folder with the machine's python
# (PY=..., default python3), which must already have torch.
#
#   bash bench/device_check.sh              # on the GPU machine
#   bash bench/device_check.sh --dry-run    # on CPU: the same steps, tiny, to prove the script runs
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 MPLBACKEND=Agg
if [ "${1:-}" = "--dry-run" ]; then
  DEVICE=cpu; BENCH="--backbone synth_cnn_tiny --size 32 --steps 2 --warmup 1"; GPUS=0; TESTS="--co"
else
  DEVICE=cuda; BENCH="--steps 30 --warmup 5"; GPUS=$($PY -c "import torch; print(torch.cuda.device_count())"); TESTS=""
fi
out=$(mktemp -d)
status() { [ "$1" = 0 ] && echo ok || echo "FAILED (exit $1)"; }

echo "== 1. tests marked cuda (device: $DEVICE)"
timeout 240 $PY -m pytest -q -m cuda $TESTS -p no:cacheprovider tests 2>&1 | tee "$out/tests.txt" | tail -n 15
t_rc=${PIPESTATUS[0]}
# pytest exits 5 when everything was deselected/collected only; a dry run only collects
[ "$DEVICE" = cpu ] && [ "$t_rc" = 5 ] && t_rc=0

echo "== 2. FixMatch step timing"
timeout 240 $PY bench/device_bench.py --device $DEVICE $BENCH 2>&1 | tee "$out/bench.txt"
b_rc=${PIPESTATUS[0]}

d_rc=skipped
if [ "${GPUS:-0}" -ge 2 ]; then
  echo "== 3. DDP over NCCL, 2 GPUs (torchrun)"
  $PY -m ssfer_study.cli synth --out "$out/synth" --n-train 700 --n-test 210 --size 32 >/dev/null 2>&1
  t0=$(date +%s)
  timeout 180 $PY -m torch.distributed.run --nproc_per_node 2 -m ssfer_study.cli train --out "$out/ddp" \
    --device cuda --config none -S method=fixmatch -S data.root="$out/synth" -S data.image_size=32 \
    -S data.labels_per_class=4 -S data.split_dir="$out/splits" -S data.cache_dir="$out/cache" \
    -S net.backbone=synth_cnn_tiny -S steps=50 -S batch_size=16 -S mu=2 -S eval_every=50 2>&1 | tail -n 3
  d_rc=${PIPESTATUS[0]}
  d_time=$(( $(date +%s) - t0 ))
fi

echo
echo "== device check: one table"
printf '%-34s %s\n' "part" "result"
printf '%-34s %s\n' "tests -m cuda" "$(status $t_rc): $(tail -n 1 "$out/tests.txt")"
printf '%-34s %s\n' "FixMatch timing" "$(status $b_rc)"
sed 's/^/    /' "$out/bench.txt"
if [ "$d_rc" = skipped ]; then
  printf '%-34s %s\n' "DDP 2 GPUs (NCCL, torchrun)" "skipped: $GPUS GPU(s)"
else
  printf '%-34s %s\n' "DDP 2 GPUs (NCCL, torchrun)" "$(status $d_rc), 50 steps in ${d_time}s"
fi
[ "$t_rc" = 0 ] && [ "$b_rc" = 0 ] && { [ "$d_rc" = skipped ] || [ "$d_rc" = 0 ]; }
