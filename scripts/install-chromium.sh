#!/usr/bin/env bash
# Install Debian's headless-capable Chromium and its matching chromedriver, for the browser test of
# the HTML report (tests/cli/test_report.py). Idempotent: does nothing when both are already installed.
#
#   bash scripts/install-chromium.sh
#
# Needs Debian or Ubuntu with apt, and root (or sudo). The Python side is `pip install selenium`
# (a dev dependency); selenium is pointed at /usr/bin/chromedriver, so it downloads nothing.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if { have chromium || have chromium-browser; } && have chromedriver; then
  echo "chromium and chromedriver are already installed:"
  (chromium --version 2>/dev/null || chromium-browser --version) | head -n 1
  chromedriver --version | head -n 1
  exit 0
fi

if ! have apt-get; then
  echo "install-chromium.sh: apt-get not found; install chromium and chromedriver with your package" \
       "manager (the browser test is skipped without them)." >&2
  exit 1
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if have sudo; then
    sudo_cmd=(sudo)
  else
    echo "install-chromium.sh: run as root (or install sudo)." >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
# Debian names the packages chromium / chromium-driver; Ubuntu's equivalents are snap wrappers.
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends chromium chromium-driver

chromium --version | head -n 1
chromedriver --version | head -n 1
