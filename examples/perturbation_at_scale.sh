#!/usr/bin/env bash
# Perturbation curves at full size: Rotten Tomatoes and tweets (positive vs negative), each with a
# 16-slot soft prompt and a linear head read at [CLS], trained on the whole packaged training split;
# zero / mean / Gaussian perturbation of the top-p skill neurons against 20 layer-matched random draws,
# evaluated on the whole test split. Meant for a GPU (a few minutes there); on 2 CPU cores it takes hours.
#
#   bash examples/perturbation_at_scale.sh [DEVICE] [OUT_ROOT]      # defaults: cuda runs/scale
#
# SNL names the command line (default: python -m skillneuron_lens); DRAWS, BATCH, STEPS, N_RT, N_TWEETS
# can be overridden for a quick trial run.
set -euo pipefail
DEVICE=${1:-cuda}
ROOT=${2:-runs/scale}
SNL=${SNL:-python -m skillneuron_lens}
DRAWS=${DRAWS:-20}
BATCH=${BATCH:-128}
STEPS=${STEPS:-450}
N_RT=${N_RT:-0}
N_TWEETS=${N_TWEETS:-0}
FRACTIONS=${FRACTIONS:-0.01,0.02,0.05,0.1,0.15,0.2}

tune() {  # task n name
    $SNL find --model minilm --task "$1" --n "$2" --tune prompt --pooling read --steps "$STEPS" \
        --lr 3e-3 --head-lr 3e-3 --train-batch-size 16 --eval-every "$STEPS" --patience 0 \
        --max-length 64 --batch-size "$BATCH" --device "$DEVICE" --out "$ROOT/$3" \
        --overwrite --quiet --no-report
}

curve() {  # run output mode-arguments...
    local run=$1 output=$2
    shift 2
    $SNL perturb --run "$ROOT/$run" --device "$DEVICE" --draws "$DRAWS" --fractions "$FRACTIONS" \
        --output "$output" --overwrite --no-report --quiet "$@"
    echo "done: $run $output (${SECONDS} s since the start)"
}

tune rotten_tomatoes "$N_RT" rt-read
curve rt-read perturbation-zero.json --mode zero
curve rt-read perturbation-mean.json --mode mean
tune tweets_binary "$N_TWEETS" tweets-read
curve tweets-read perturbation-zero.json --mode zero
curve tweets-read perturbation-mean.json --mode mean
curve rt-read perturbation-gaussian.json --mode gaussian --std 0.1
curve tweets-read perturbation-gaussian.json --mode gaussian --std 0.1
