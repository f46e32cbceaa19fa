#!/usr/bin/env bash
# The experiments behind docs/results.md ("The paper's setting"), on the packaged MiniLM and SmolLM2.
#
#   bash examples/paper_experiments.sh [OUT_DIR]      (default runs/paper; it must not exist yet)
#
# Two queues run side by side with one thread each (2 cores): A = Rotten Tomatoes prompt tuning
# (3 seeds, input-token control), its perturbation curves, the tuning benchmark, a label-slot ([CLS])
# head with its perturbation curves, and the transferability experiment; B = tweets (positive vs
# negative) with its perturbation curve, BitFit and adapters on Rotten Tomatoes, SmolLM2 prompt tuning
# with a verbalizer, the subjectivity / BBC News runs for the task comparison (prompt slots, and the
# frozen model's [CLS] neurons), and the pruning benchmark.
# Every number in docs/results.md comes from the files this writes (summary.json, perturbation*.json,
# compare*/compare.json, smollm2.json, transferability.json, bench-*.json). About 2.5 hours. The two-thread
# runs for the 5-minute target must run alone; their commands are in docs/results.md.
set -euo pipefail
OUT="${1:-runs/paper}"
if [ -e "$OUT" ]; then
  echo "$OUT exists: choose another directory (nothing is overwritten)" >&2
  exit 2
fi
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
SNL=".venv/bin/skillneuron-lens"
PY=".venv/bin/python"
TUNE=(--tune prompt --steps 300 --lr 3e-3 --head-lr 3e-3 --train-batch-size 16 --eval-every 100
      --patience 0 --max-length 64 --quiet)

queue_a() {
  "$SNL" find --model minilm --task rotten_tomatoes --n 4000 "${TUNE[@]}" --runs 3 --input-control \
    --out "$OUT/rt-prompt"
  "$SNL" perturb --run "$OUT/rt-prompt" --mode gaussian --std 0.1 --quiet
  "$SNL" perturb --run "$OUT/rt-prompt" --mode zero --fractions 0.02,0.05,0.1,0.2 --draws 3 \
    --output perturbation-zero.json --no-report --quiet
  "$PY" benchmarks/bench_tuning.py --n 2000 --steps 60 --repeats 1 --threads 1 --json "$OUT/bench-tuning.json"
  "$SNL" find --model minilm --task rotten_tomatoes --n 4000 "${TUNE[@]}" --pooling read \
    --out "$OUT/rt-prompt-read" --no-report
  "$SNL" perturb --run "$OUT/rt-prompt-read" --mode gaussian --std 0.1 --fractions 0.02,0.05,0.1,0.2 \
    --no-report --quiet
  "$SNL" perturb --run "$OUT/rt-prompt-read" --mode zero --fractions 0.02,0.05,0.1,0.2 \
    --output perturbation-zero.json --no-report --quiet
  "$PY" examples/transferability.py "$OUT/transferability.json" --n 1000 --steps 150 --head-steps 60
}

queue_b() {
  "$SNL" find --model minilm --task tweets_binary --n 4000 "${TUNE[@]}" --out "$OUT/tweets-prompt"
  "$SNL" perturb --run "$OUT/tweets-prompt" --mode gaussian --std 0.1 --quiet
  for method in bitfit adapter; do
    "$SNL" find --model minilm --task rotten_tomatoes --n 4000 "${TUNE[@]}" --tune "$method" \
      --out "$OUT/rt-$method" --no-report
  done
  "$PY" examples/tune_smollm2.py --n 2000 --steps 60 --eval-every 30 --json "$OUT/smollm2.json"
  for task in subjectivity bbc_news; do
    "$SNL" find --model minilm --task "$task" --n 4000 "${TUNE[@]}" --out "$OUT/$task-prompt" --no-report
  done
  "$SNL" compare "$OUT/rt-prompt" "$OUT/tweets-prompt" "$OUT/subjectivity-prompt" "$OUT/bbc_news-prompt" \
    --names rotten_tomatoes,tweets_binary,subjectivity,bbc_news --out "$OUT/compare"
  for task in rotten_tomatoes tweets_binary subjectivity bbc_news; do
    "$SNL" find --model minilm --task "$task" --n 4000 --out "$OUT/frozen/$task" --no-report --quiet
  done
  "$SNL" compare "$OUT/frozen/rotten_tomatoes" "$OUT/frozen/tweets_binary" "$OUT/frozen/subjectivity" \
    "$OUT/frozen/bbc_news" --names rotten_tomatoes,tweets_binary,subjectivity,bbc_news --out "$OUT/compare-frozen"
  "$PY" benchmarks/bench_pruning.py --n 4000 --classifier "$OUT/rt-prompt/tuned-run0" --layers 2-5 \
    --repeats 3 --threads 1 --json "$OUT/bench-pruning-layers2-5.json"
  "$PY" benchmarks/bench_pruning.py --n 4000 --classifier "$OUT/rt-prompt/tuned-run0" --layers 2-5 \
    --means tokens --keep 0.02,0.2 --repeats 2 --threads 1 --json "$OUT/bench-pruning-layers2-5-tokens.json"
}

queue_a > "$OUT/queue-a.log" 2>&1 &
queue_b > "$OUT/queue-b.log" 2>&1 &
wait
echo "done: $OUT"
