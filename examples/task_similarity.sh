#!/usr/bin/env bash
# Which tasks share skill neurons? Frozen MiniLM, four packaged tasks (Rotten Tomatoes, tweets positive vs
# negative, subjectivity, BBC News), predictivity on class-balanced splits (--balance on), neurons read at
# [CLS] (position 0) and mean-pooled over the input tokens, three seeds (each a different 4,000-example
# sample and split). One `compare` per seed and position writes the task x task matrices.
#
#   bash examples/task_similarity.sh [OUT_DIR]      (default runs/similarity)
#
# Runs already in OUT_DIR (a summary.json) are kept, so an interrupted run can be resumed. About 10
# minutes per seed and position on one CPU thread. SEEDS, POSITIONS (cls, mean) and BALANCE (on, off)
# can be overridden: BALANCE=off shows how always-on neurons fill the skill sets of imbalanced tasks
# (find and compare warn, and count them in summary.json).
set -euo pipefail
OUT="${1:-runs/similarity}"
SNL="${SNL:-.venv/bin/skillneuron-lens}"
SEEDS="${SEEDS:-0 1 2}"
POSITIONS="${POSITIONS:-cls mean}"
BALANCE="${BALANCE:-on}"
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" TOKENIZERS_PARALLELISM=false
TASKS=(rotten_tomatoes tweets_binary subjectivity bbc_news)

for seed in $SEEDS; do
  for position in $POSITIONS; do
    where=$([ "$position" = cls ] && echo 0 || echo mean)
    runs=()
    for task in "${TASKS[@]}"; do
      run="$OUT/$position-seed$seed/$task"
      runs+=("$run")
      [ -f "$run/summary.json" ] && continue
      $SNL find --model minilm --task "$task" --n 4000 --seed "$seed" --balance "$BALANCE" --positions "$where" \
        --out "$run" --no-report --quiet
    done
    $SNL compare "${runs[@]}" --names "$(IFS=,; echo "${TASKS[*]}")" --seed "$seed" \
      --out "$OUT/compare-$position-seed$seed" --overwrite --quiet
    echo "seed $seed, $position: $OUT/compare-$position-seed$seed (${SECONDS} s)"
  done
done
