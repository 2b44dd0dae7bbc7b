#!/usr/bin/env bash
# Measures the SMTP path on this machine: edge → RabbitMQ → worker →
# deliver → a next hop (aiosmtpd), all on loopback.
#
# 1. accepted/s: Postfix's smtp-source sends MESSAGES messages over
#    SESSIONS parallel sessions to the edge (250 = on the broker);
# 2. end to end/s: from the first send until the next hop holds every
#    delivered message (the rest are quarantined);
# 3. latency: Python smtplib sends 500 more at a steady RATE per second
#    (default 50: below what the Python next hop absorbs, so the figure is
#    the pipeline's, not a queue in front of the sink); p50/p99 from the
#    client's MAIL FROM to the next hop's receipt (the 100 spam-like ones
#    are quarantined and not counted).
#
#   scripts/bench-smtp.sh [MESSAGES] [SESSIONS] [RATE]
# Needs the release binary (cargo build --release), RabbitMQ on
# 127.0.0.1:5672, postfix's smtp-source and target/py-venv (scripts/test.sh
# prepares it).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5000}
SESSIONS=${2:-8}
RATE=${3:-50}
BIN=target/release/mailsift
PY=target/py-venv/bin/python
WORK=$(mktemp -d /tmp/bench-smtp.XXXXXX)
VHOST=bench-smtp-$$
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
EDGE=$(port); SINK=$(port)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rabbitmqctl delete_vhost "$VHOST" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
rabbitmqctl add_vhost "$VHOST" >/dev/null
rabbitmqctl set_permissions -p "$VHOST" guest '.*' '.*' '.*' >/dev/null
export MAILSIFT_AMQP_URL="amqp://guest:guest@127.0.0.1:5672/$VHOST" RUST_LOG=warn
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/k.pem" -out "$WORK/c.pem" -days 1 \
  -subj "/CN=localhost" >/dev/null 2>&1
"$PY" worker/testkit/py/sink.py --port "$SINK" --dir "$WORK/sink" --tls-cert "$WORK/c.pem" --tls-key "$WORK/k.pem" >/dev/null &
pids+=($!)
SINK_PID=$!
"$BIN" edge --listen "127.0.0.1:$EDGE" --hostname mx.bench.example --max-connections-per-ip 100 &
pids+=($!)
EDGE_PID=$!
"$BIN" worker --no-auth &
pids+=($!)
WORKER_PID=$!
"$BIN" deliver --smarthost "127.0.0.1:$SINK" --hostname gw.bench.example &
pids+=($!)
DELIVER_PID=$!
BROKER_PID=$(pgrep -o beam.smp || echo "")
# CPU seconds (user + system) a process has used so far.
cpu() { [ -n "$1" ] && awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0; }
declare -A cpu0
snapshot() { for n in edge worker deliver sink broker; do v=${n^^}_PID; cpu0[$n]=$(cpu "${!v}"); done; }
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$EDGE") 2>/dev/null && break; sleep 0.1; done
sleep 1

snapshot
start=$(date +%s.%N)
smtp-source -s "$SESSIONS" -m "$N" -l 4000 -f alice@sender.test -t bob@contoso.com \
  -S "bench message" -M sender.test "127.0.0.1:$EDGE"
accepted=$(date +%s.%N)
# smtp-source's messages are all alike; the policy delivers them (NONE).
while [ "$(ls "$WORK/sink" 2>/dev/null | grep -c '\.json$')" -lt "$N" ]; do
  sleep 0.2
  [ "$(echo "$(date +%s.%N) - $start > 300" | bc)" = 1 ] && { echo "timeout: $(ls "$WORK/sink" | grep -c json) of $N delivered"; break; }
done
done_at=$(date +%s.%N)
delivered=$(ls "$WORK/sink" | grep -c '\.json$')
printf 'edge accepted %d messages in %.2f s: %.0f messages/s (%d sessions)\n' "$N" \
  "$(echo "$accepted - $start" | bc -l)" "$(echo "$N / ($accepted - $start)" | bc -l)" "$SESSIONS"
printf 'end to end (to the next hop) %d messages in %.2f s: %.0f messages/s\n' "$delivered" \
  "$(echo "$done_at - $start" | bc -l)" "$(echo "$delivered / ($done_at - $start)" | bc -l)"
printf 'CPU per message over that run (µs):'
for n in edge worker deliver sink broker; do
  v=${n^^}_PID
  printf ' %s %.0f' "$n" "$(echo "($(cpu "${!v}") - ${cpu0[$n]}) * 1000000 / $N" | bc -l)"
done
echo

# Latency at a steady pace, over two sessions.
rm -rf "$WORK/sink"/*
"$PY" worker/testkit/py/send.py --port "$EDGE" --count 500 --parallel 2 --rate "$RATE" --tag lat --to bob@contoso.com >"$WORK/sent.json"
sleep 3
"$PY" - "$WORK/sent.json" "$WORK/sink" "$RATE" <<'PY'
import json, os, sys, re
sent = json.load(open(sys.argv[1]))["sent_at"]
lat = []
for f in os.listdir(sys.argv[2]):
    if not f.endswith(".json"):
        continue
    meta = json.load(open(os.path.join(sys.argv[2], f)))
    body = open(os.path.join(sys.argv[2], f[:-5] + ".eml"), "rb").read().decode("utf-8", "replace")
    m = re.search(r"Message-ID: <([^>]+)>", body)
    if m and m.group(1) in sent:
        lat.append((meta["received_at"] - sent[m.group(1)]) * 1000)
lat.sort()
pct = lambda p: lat[min(len(lat) - 1, int(len(lat) * p))]
print("latency (client send → next hop receipt) at %s/s, %d messages: p50 %.1f ms, p99 %.1f ms" % (sys.argv[3], len(lat), pct(0.5), pct(0.99)))
PY
