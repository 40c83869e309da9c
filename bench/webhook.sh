#!/usr/bin/env bash
# webhook.sh - the inbox handing mail to a webhook through its queue
# (issue 13), on loopback, in three parts:
#
#   1. Throughput at 10 sessions, 1 KiB and 100 KiB, against the go-smtp
#      anchors of the shared bench.sh (gosmtp: bare; maildir: go-smtp
#      writing a Maildir with fsyncs), for
#        hook    inbox -webhook URL -maildir "": each message committed to
#                the queue (fsync), then POSTed to bench/webhooksink;
#        hook+md the same with the Maildir kept too (two deliveries).
#   2. Whether the drain keeps up: 60 s of smtp-source load (10 sessions,
#      1 KiB, bounded by count and time) on "hook", with the number of
#      messages waiting in the queue sampled every 5 s, then the time the
#      queue takes to empty after the load.
#   3. SMTP latency (serial transactions, p50/p99, bench.sh's smtplat) with
#      a receiver that answers at once and one that takes 1 s per POST.
#
# The inbox trusts loopback (no -check-local): this measures the queue and
# the webhook, not SPF/DKIM/DMARC, which bench/run.sh measures.
#
# Usage: bench/webhook.sh [--rounds N] [--quick] [--only "throughput drain latency"]
# Results go to bench/results/webhook-<stamp>/ (git-ignored); report.md
# holds the tables. Everything started here is stopped on exit.
# Environment: BENCH_WORK (default /tmp/ownmx-bench-webhook),
# BENCH_PORT_BASE (default 2800), BENCH_SH (the shared bench.sh).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)

BENCH_SH=${BENCH_SH:-/work/shared/bench/bench.sh}
export BENCH_WORK=${BENCH_WORK:-/tmp/ownmx-bench-webhook}
export BENCH_PORT_BASE=${BENCH_PORT_BASE:-2800}
rounds=3
quick=()
parts="throughput drain latency"
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2;;
    --quick) quick=(--quick); shift;;
    --only) parts=$2; shift 2;;
    -h|--help) sed -n '2,28p' "$0"; exit 0;;
    *) echo "webhook.sh: unknown option $1" >&2; exit 2;;
  esac
done
[ -x "$BENCH_SH" ] || { echo "webhook.sh: $BENCH_SH not found (set BENCH_SH)" >&2; exit 1; }

stamp=$(date +%Y%m%d-%H%M%S)
out=$repo/bench/results/webhook-$stamp
mkdir -p "$out" "$BENCH_WORK"
tmp=$(mktemp -d "$BENCH_WORK/ownmx.XXXXXX")
pgids=()
cleanup() {
  for g in "${pgids[@]}"; do kill -TERM -- "-$g" 2>/dev/null || true; done
  for g in "${pgids[@]}"; do
    for _ in $(seq 1 50); do kill -0 -- "-$g" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$g" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "webhook.sh: building into $tmp/bin" >&2
go build -o "$tmp/bin/" ./examples/inbox ./bench/webhooksink

# start_sink NAME DELAY: a webhook receiver in its own process group; sets
# sink_addr.
start_sink() {
  setsid "$tmp/bin/webhooksink" -addr-file "$tmp/$1.addr" -count-file "$out/$1.count" -delay "$2" \
    >"$out/$1.log" 2>&1 </dev/null &
  pgids+=($!)
  for _ in $(seq 1 100); do [ -s "$tmp/$1.addr" ] && break; sleep 0.1; done
  sink_addr=$(cat "$tmp/$1.addr")
  case "$sink_addr" in 127.*:*) ;; *) echo "webhook.sh: sink address '$sink_addr' is not on loopback" >&2; exit 1;; esac
}
start_sink fast 0s
fast=$sink_addr
start_sink slow 1s
slow=$sink_addr

secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
pb=$BENCH_PORT_BASE
inbox() { # inbox ADDR NAME WEBHOOK [MAILDIR]
  echo "$tmp/bin/inbox -listen $1 -domain example.com -hostname mx.bench.test -log-level warn -max-conn-per-ip 100 -webhook http://$3/hook -webhook-secret $secret -queue $tmp/$2.queue -maildir ${4:-''}"
}

part() { case " $parts " in *" $1 "*) return 0;; esac; return 1; }

# 1. Throughput.
part throughput && "$BENCH_SH" --out "$out/throughput" --builtins gosmtp,maildir --rounds "$rounds" --conc 10 --sizes "1024 102400" \
  --modes "session conn" --lat-n 0 "${quick[@]}" \
  --target "$(inbox 127.0.0.1:$((pb + 11)) hook "$fast")" --target-name hook \
  --target "$(inbox 127.0.0.1:$((pb + 12)) hookmd "$fast" "$tmp/maildir")" --target-name hook+md \
  --target-cleanup "find $tmp/maildir -mindepth 2 -path '*/new/*' -type f -delete"
part throughput && "$BENCH_WORK/bin/benchsum" -dir "$out/throughput" -baseline maildir > "$out/throughput/vs-maildir.md"

# 2. Does the drain keep up? 60 s of load on "hook", the queue sampled.
if part drain; then
q=$tmp/drain.queue
setsid bash -c "exec $(inbox 127.0.0.1:$((pb + 13)) drain "$fast")" >"$out/drain-inbox.log" 2>&1 </dev/null &
pgids+=($!)
for _ in $(seq 1 100); do grep -q 'msg=listening' "$out/drain-inbox.log" 2>/dev/null && break; sleep 0.1; done
waiting() { find "$q/queue" -maxdepth 1 -type f ! -name '*.state' 2>/dev/null | wc -l; }
before=$(sed -n 's/requests \([0-9]*\).*/\1/p' "$out/fast.count")
timeout 65 /usr/sbin/smtp-source -c -d -m 1000000 -s 10 -l 1024 -M localhost -f bench@example.com -t rcpt@example.com \
  127.0.0.1:$((pb + 13)) >"$out/drain-src.out" 2>&1 &
src=$!
{
  echo "| t (s) | waiting in the queue |"
  echo "|---:|---:|"
  for t in $(seq 5 5 60); do
    sleep 5
    echo "| $t | $(waiting) |"
  done
} > "$out/drain.md"
kill "$src" 2>/dev/null || true
wait "$src" 2>/dev/null || true
sent=$(grep -o '[0-9]*' "$out/drain-src.out" | tail -1 || echo "?")
t0=$EPOCHREALTIME
for _ in $(seq 1 600); do [ "$(waiting)" = 0 ] && break; sleep 0.1; done
empty=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
sleep 1.2 # the sink writes its counts every second
after=$(sed -n 's/requests \([0-9]*\).*/\1/p' "$out/fast.count")
{
  echo
  echo "smtp-source sent $sent messages in 60 s; the queue held $(waiting) after ${empty} s more; the receiver got $((after - before)) POSTs."
} >> "$out/drain.md"
fi

# 3. SMTP latency with a fast and a slow (1 s per POST) receiver.
part latency && "$BENCH_SH" --out "$out/latency" --builtins gosmtp --rounds "$rounds" --conc 10 --sizes 1024 --modes session \
  --msgs-small 1000 --lat-n 2000 "${quick[@]}" \
  --target "$(inbox 127.0.0.1:$((pb + 14)) latfast "$fast")" --target-name hook-fast \
  --target "$(inbox 127.0.0.1:$((pb + 15)) latslow "$slow")" --target-name hook-slow

{
  echo "# bench/webhook.sh $stamp"
  echo
  echo '```'
  cat "$out/throughput/env.txt" 2>/dev/null || true
  echo "hook:    $(inbox 127.0.0.1:PORT hook SINK)"
  echo "hook+md: $(inbox 127.0.0.1:PORT hookmd SINK MAILDIR)"
  echo '```'
  echo
  echo "## 1. Throughput, ratios to go-smtp writing a Maildir (maildir)"
  echo
  cat "$out/throughput/vs-maildir.md" 2>/dev/null || echo "(not run)"
  echo
  echo "## 2. The drain under 60 s of load (10 sessions, 1 KiB)"
  echo
  cat "$out/drain.md" 2>/dev/null || echo "(not run)"
  echo
  echo "## 3. Latency, fast and slow (1 s per POST) receivers"
  echo
  cat "$out/latency/table.md" 2>/dev/null || echo "(not run)"
} > "$out/report.md"
cat "$out/report.md"
echo "webhook.sh: report in $out/report.md" >&2
