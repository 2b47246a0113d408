#!/usr/bin/env bash
# Session 32's GPU run in one call: the meta-step throughput bench on CUDA, a new pick_place train
# set collected on the machine's cores (seed 29, DART, 8-step descent), `daml train --device cuda
# --preload` from the shipped pick_place model for the time left (the step count is fitted from
# the bench's ms/step), and the average of the run's last four checkpoints (daml export --blend).
# Needs data/pick_place_val (daml collect --task pick_place --split val --variations 48 --seed 1).
#
#   on the device machine:  source .carry/activate.sh; BUDGET=570 bash benchmarks/gpu_finetune_pick_place.sh
#   a local check (CPU, tiny sizes):  DRY=1 OUT=/tmp/gpu_out bash benchmarks/gpu_finetune_pick_place.sh
#
# Writes run.log, throughput.md, config.json, metrics.jsonl, learning_curve.png, last.pt, best.pt and
# pp_gpu_avg.pt to $OUT (default /tmp/gpu_out). BUDGET: seconds the whole script may take.
set -u
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
T0=$(date +%s); BUDGET=${BUDGET:-560}; DEADLINE=$((T0 + BUDGET))
LOG="$OUT/run.log"; exec > >(tee -a "$LOG") 2>&1
PY=python3; [ -n "${DRY:-}" ] && PY=python
DEV=cuda; VARS=4000; WORKERS=15; TASKS="8 32 64"; META=32; COLLECT_S=170; REP=3
if [ -n "${DRY:-}" ]; then DEV=cpu; VARS=40; WORKERS=2; TASKS="4"; META=4; COLLECT_S=30; REP=1; fi
DATA=/tmp/pp_s29; RUN=/tmp/pp_gpu
rm -rf "$RUN"
el() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
el "start"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null; nproc
$PY -c "import torch; print('torch', torch.__version__, torch.cuda.is_available())"
el "throughput bench"
timeout 120 $PY benchmarks/meta_throughput.py --device $DEV --tasks $TASKS --warmup 2 --repeats $REP | tee "$OUT/throughput.md"
el "collect"
timeout $COLLECT_S $PY -m daml collect --task pick_place --split train --variations $VARS --workers $WORKERS \
  --seed 29 --out $DATA --action-noise 0.2 --descent-steps 8 --no-progress
el "collected $(ls $DATA/episodes | grep -c '^[0-9].*npz$') episodes"
# step time: the bench's vmap ms/step at META tasks (x1.35 for val, aux, loader); else 0.5 s
MS=$(awk -F'|' -v t=$META '$2+0==t {print $3+0}' "$OUT/throughput.md" | head -1)
[ -z "$MS" ] || [ "$MS" = 0 ] && MS=500
LEFT=$((DEADLINE - $(date +%s) - 60))
STEPS=$($PY -c "print(max(8, int($LEFT / ($MS * 1.35 / 1000) / 8) * 8))")
[ -n "${DRY:-}" ] && STEPS=8
EVERY=$((STEPS / 8))
el "train $STEPS steps (bench ${MS} ms/step at $META tasks, ${LEFT} s left), checkpoint every $EVERY"
$PY - "$STEPS" "$EVERY" "$META" <<'PYCFG'
import json, sys
cfg = json.load(open("configs/daml_gray_grasp_scale5_slow_gpu.json"))
steps, every, meta = map(int, sys.argv[1:])
cfg["train"].update(steps=steps, seed=181, meta_batch=meta, checkpoint_every=every, val_every=every,
                    log_every=max(1, every // 10))
json.dump(cfg, open("/tmp/pp_gpu.json", "w"), indent=1)
PYCFG
timeout $((DEADLINE - $(date +%s) - 25)) $PY -m daml train --data $DATA --val-data data/pick_place_val \
  --out $RUN --config /tmp/pp_gpu.json --init daml/pretrained/pick_place.pt --device $DEV --preload --no-progress
el "train rc=$?"
ls $RUN
B=""; for k in 5 6 7 8; do f=$(printf "$RUN/step_%06d.pt" $((k * EVERY))); [ -f $f ] && B="$B $f"; done
F4=$(printf "$RUN/step_%06d.pt" $((4 * EVERY)))
[ -f "$F4" ] && [ -n "$B" ] && $PY -m daml export --checkpoint "$F4" --blend $B --blend-weight 1 --out "$OUT/pp_gpu_avg.pt"
cp $RUN/config.json $RUN/metrics.jsonl $RUN/learning_curve.png $RUN/last.pt "$OUT/" 2>/dev/null
[ -f $RUN/best.pt ] && cp $RUN/best.pt "$OUT/best.pt"
el "done"; ls -la "$OUT"
