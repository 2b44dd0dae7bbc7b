#!/usr/bin/env bash
# Detection figures on the shipped rules (no model), as README reports them.
#
#   phishing-dev  ../shared/phishing-dev/email   modern phishing: flagged and MALICIOUS share
#   ham-dev       ../shared/ham-dev              modern legitimate mail: flagged and quarantine-grade
#   easy_ham      corpus/public/easy_ham         \
#   easy_ham_2    corpus/holdout/easy_ham_2       > SpamAssassin public corpus (scripts/fetch-public-corpus.sh --holdout)
#   hard_ham      corpus/holdout/hard_ham         |
#   spam          corpus/public/spam              |
#   spam_2        corpus/holdout/spam_2          /
#
# "flagged" is any disposition but NONE and BULK; "quarantine-grade" is MALICIOUS or SPAM.
# Sets that are missing are reported as missing, not skipped silently.
#
# Usage: scripts/measure-detection.sh [BINARY] [OUTDIR]
#   BINARY  mailsift binary (default target/release/mailsift; built if missing)
#   OUTDIR  where the per-message JSON lines go (default target/detection)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/mailsift}
out=${2:-target/detection}
shared=${MAILSIFT_SHARED:-../shared}
[[ -x $bin ]] || cargo build --release --bin mailsift
mkdir -p "$out"

sets=(
  "phishing-dev:$shared/phishing-dev/email"
  "ham-dev:$shared/ham-dev"
  "easy_ham:corpus/public/easy_ham"
  "easy_ham_2:corpus/holdout/easy_ham_2"
  "hard_ham:corpus/holdout/hard_ham"
  "spam:corpus/public/spam"
  "spam_2:corpus/holdout/spam_2"
)
printf '%-12s %6s %9s %11s %10s %10s\n' set messages flagged quarantine MALICIOUS errors
for entry in "${sets[@]}"; do
  name=${entry%%:*}
  dir=${entry#*:}
  if [[ ! -d $dir ]]; then
    printf '%-12s missing (%s)\n' "$name" "$dir"
    continue
  fi
  "$bin" replay "$dir" --out "$out/$name.jsonl" >/dev/null
  python3 - "$name" "$out/$name.jsonl" <<'EOF'
import json, sys
name, path = sys.argv[1], sys.argv[2]
n = flagged = quarantine = malicious = errors = 0
for line in open(path):
    v = json.loads(line)
    n += 1
    d = v.get("disposition")
    if v.get("error"):
        errors += 1
    if d not in ("NONE", "BULK"):
        flagged += 1
    if d in ("MALICIOUS", "SPAM"):
        quarantine += 1
    if d == "MALICIOUS":
        malicious += 1
pct = lambda k: f"{100.0 * k / max(n, 1):.2f}%"
print(f"{name:<12} {n:>6} {pct(flagged):>9} {pct(quarantine):>11} {pct(malicious):>10} {errors:>10}")
EOF
done
