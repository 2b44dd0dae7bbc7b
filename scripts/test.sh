#!/usr/bin/env bash
# The whole test suite: what README calls "the test command" and .ci/run runs.
# Installs what it needs (the public tuning corpus), then checks formatting,
# lints, and runs every unit, integration and golden test in one (release)
# profile, so CI builds the dependency set once.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -f corpus/public/labels.csv ]]; then
  echo "== installing the public tuning corpus (scripts/fetch-public-corpus.sh)"
  scripts/fetch-public-corpus.sh
fi
if [[ ! -d ../shared/robustness ]]; then
  echo "error: ../shared/robustness is missing (the shared data sets sit beside the project root)" >&2
  exit 1
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --release --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --release --locked
