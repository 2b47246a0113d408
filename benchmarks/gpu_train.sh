#!/usr/bin/env bash
# Meta-training on the GPU machine in one device call: a new train set collected on its cores,
# then `daml train --device cuda --preload` runs side by side on the one GPU. Two kinds of run:
#
# * fine-tunes (default): from INIT (the shipped model), the step count fitted to the time left;
#   each run's second half of checkpoints comes back weights-only, to average and blend on the
#   dev box (daml export --blend) and pick there by validation (benchmarks/val_protocol.py);
# * long runs (INIT=none: from scratch with CONFIG's model; or RESUME=a carried run dir): the
#   config's steps, stopped when the time is up and continued in a later call or session
#   (`daml train --resume`); the run dir's last.pt, config and metrics come back as NAME_run.tar.
#
#   pick_place, session 32:  source .carry/activate.sh; BUDGET=570 TASK=pick_place bash benchmarks/gpu_train.sh
#   push, session 33:        source .carry/activate.sh; BUDGET=560 TASK=push bash benchmarks/gpu_train.sh
#   push, encoder widened:   ... TASK=push CONFIG=configs/daml_avatar_hue_wide_push_gpu.json MS=200 RUNS=a:0.0003:231 bash benchmarks/gpu_train.sh
#     (train.init_conv_channels: the shipped model's convs at 2x width; ~2x the step time, so MS)
#   push from scratch:       ... TASK=push INIT=none CONFIG=configs/daml_push_wide_scratch_gpu.json RUNS=w:0.001:241 bash benchmarks/gpu_train.sh
#   ... on 3 human videos per variation (daml collect --human-takes; session 56):
#                            ... TASK=push INIT=none COLLECT="--seed 37 --action-noise 0.2 --human-takes 3" CONFIG=... bash benchmarks/gpu_train.sh
#   and on (carry runs/w):   ... TASK=push RESUME=runs/w RUNS=w bash benchmarks/gpu_train.sh
#   a local check (CPU, tiny sizes):  DRY=1 TASK=push OUT=/tmp/gpu_out bash benchmarks/gpu_train.sh
#
# Needs data/TASK_val (daml collect --task TASK --split val --variations 48 --seed 1) carried.
# RUNS: "name:outer_lr:seed ..." (concurrent runs; a resumed run keeps its own lr and seed). MS:
# expected ms per meta-step of one run while the others run; BENCH=1 measures it first with
# benchmarks/meta_throughput.py on CONFIG's model (x1.35 for validation and loading).
# Writes to $OUT (default /tmp/gpu_out): run.log, throughput.md (BENCH=1), logs.tar (each run's
# config, metrics, learning curve, log), NAME_ckpts.tar (fine-tunes) or NAME_run.tar (long runs).
set -u
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
T0=$(date +%s); BUDGET=${BUDGET:-560}; DEADLINE=$((T0 + BUDGET))
LOG="$OUT/run.log"; exec > >(tee -a "$LOG") 2>&1
TASK=${TASK:-pick_place}
case $TASK in
  pick_place) CONFIG=${CONFIG:-configs/daml_gray_grasp_scale5_slow_gpu.json}
    COLLECT=${COLLECT:-"--seed 29 --action-noise 0.2 --descent-steps 8"}; RUNS=${RUNS:-"a:0.0003:181"}
    BENCH=${BENCH:-1}; MS=${MS:-500}; VARS=${VARS:-4000} ;;
  push) CONFIG=${CONFIG:-configs/daml_avatar_hue_dart_push_gpu.json}
    COLLECT=${COLLECT:-"--seed 37 --action-noise 0.2"}; RUNS=${RUNS:-"a:0.0003:231 b:0.0001:232"}
    BENCH=${BENCH:-0}; MS=${MS:-100}; VARS=${VARS:-3000} ;;
  *) echo "TASK must be pick_place or push, got $TASK"; exit 2 ;;
esac
INIT=${INIT:-daml/pretrained/$TASK.pt}; RESUME=${RESUME:-}
LONG=""; { [ "$INIT" = none ] || [ -n "$RESUME" ]; } && LONG=1
PY=python3; DEV=cuda; WORKERS=15; TASKS="8 32 64"; META=32; COLLECT_S=200; REP=3
if [ -n "${DRY:-}" ]; then PY=python; DEV=cpu; VARS=40; WORKERS=2; TASKS="4"; META=4; COLLECT_S=60; REP=1; fi
DATA=/tmp/${TASK}_gpu_data
el() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
START="init $INIT"; [ -n "$RESUME" ] && START="resuming $RESUME"
el "start $TASK, runs: $RUNS, $START"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null; nproc
$PY -c "import torch; print('torch', torch.__version__, torch.cuda.is_available())"
if [ "$BENCH" = 1 ]; then
  el "throughput bench"
  timeout 120 $PY benchmarks/meta_throughput.py --device $DEV --tasks $TASKS --warmup 2 --repeats $REP \
    --config "$CONFIG" | tee "$OUT/throughput.md"
  B=$(awk -F'|' -v t=$META '$2+0==t {print $3+0}' "$OUT/throughput.md" | head -1)
  [ -n "$B" ] && [ "$B" != 0 ] && MS=$($PY -c "print($B * 1.35)")
fi
el "collect"
timeout $COLLECT_S $PY -m daml collect --task $TASK --split train --variations $VARS --workers $WORKERS \
  --out $DATA $COLLECT --no-progress
el "collected $(ls $DATA/episodes | grep -c '^[0-9].*npz$') episodes"
LEFT=$((DEADLINE - $(date +%s) - 75))
STEPS=$($PY -c "print(max(8, int($LEFT / ($MS / 1000) / 8) * 8))")
[ -n "${DRY:-}" ] && STEPS=8
EVERY=$((STEPS / 8))
[ -z "$LONG" ] && el "train $STEPS steps per run (${MS} ms/step, ${LEFT} s left), checkpoint every $EVERY"
[ -n "$LONG" ] && el "train until $((LEFT + 35)) s from now (about $STEPS steps at ${MS} ms/step)"
PIDS=""
for R in $RUNS; do
  IFS=: read -r NAME LR SEED <<<"$R"
  RUN=/tmp/${TASK}_run_$NAME; rm -rf "$RUN"
  if [ -n "$RESUME" ]; then
    cp -r "$RESUME" "$RUN"; ARGS="--resume"
  else
    $PY - "$CONFIG" "/tmp/${TASK}_$NAME.json" "$STEPS" "$EVERY" "$META" "$LR" "$SEED" "$LONG" "${DRY:-}" <<'PYCFG'
import json, sys
src, dst = sys.argv[1:3]
steps, every, meta = map(int, sys.argv[3:6])
long_run, dry = sys.argv[8:10]
cfg = json.load(open(src))
cfg["train"].update(seed=int(sys.argv[7]), meta_batch=meta, outer_lr=float(sys.argv[6]))
if not long_run or dry:  # a fine-tune's steps fit the time; a long run keeps the config's
    cfg["train"].update(steps=steps, checkpoint_every=every, val_every=every,
                        log_every=max(1, every // 10), lr_decay_start=0)
json.dump(cfg, open(dst, "w"), indent=1)
PYCFG
    ARGS="--config /tmp/${TASK}_$NAME.json"
    [ "$INIT" != none ] && ARGS="$ARGS --init $INIT"
  fi
  [ -n "${DRY:-}" ] && [ -n "$RESUME" ] && ARGS="$ARGS --steps 16"
  # a long run is stopped here (SIGTERM): it saves last.pt after the step in hand, which --resume continues
  timeout $((DEADLINE - $(date +%s) - 40)) $PY -m daml train --data $DATA \
    --val-data data/${TASK}_val --out "$RUN" $ARGS --device $DEV --preload --no-progress \
    > "$OUT/train_$NAME.log" 2>&1 &
  PIDS="$PIDS $!"
done
for P in $PIDS; do wait $P; el "train pid $P rc=$?"; done
mkdir -p /tmp/${TASK}_logs
for R in $RUNS; do
  NAME=${R%%:*}; RUN=/tmp/${TASK}_run_$NAME
  ls $RUN
  if [ -n "$LONG" ]; then
    tar -cf "$OUT/${NAME}_run.tar" -C $RUN last.pt config.json metrics.jsonl learning_curve.png
  else
    W=/tmp/${TASK}_weights_$NAME; rm -rf $W; mkdir -p $W
    for f in $(ls $RUN/step_*.pt 2>/dev/null | tail -4); do
      $PY -m daml export --checkpoint $f --out $W/$(basename $f)
    done
    tar -cf "$OUT/${NAME}_ckpts.tar" -C $W .
  fi
  mkdir -p /tmp/${TASK}_logs/$NAME
  cp $RUN/config.json $RUN/metrics.jsonl $RUN/learning_curve.png "$OUT/train_$NAME.log" /tmp/${TASK}_logs/$NAME/ 2>/dev/null
  rm -f "$OUT/train_$NAME.log"
done
tar -cf "$OUT/logs.tar" -C /tmp/${TASK}_logs .
el "done"; ls -la "$OUT"
