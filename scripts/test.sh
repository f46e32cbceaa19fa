#!/usr/bin/env bash
# Run the test suite in a virtualenv: bash scripts/test.sh [VENV_DIR] [PYTEST ARGS...]
# pytest's "no tests ran" (exit code 5) counts as a failure.
set -uo pipefail
venv="${1:-.venv}"
shift || true
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$status"
