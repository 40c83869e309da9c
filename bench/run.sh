#!/usr/bin/env bash
# run.sh - throughput, CPU, memory and latency of ownmx's example servers
# against the anchors of the shared harness (issue 6), on loopback.
#
# Builds examples/hello, examples/inbox and bench/benchdns, starts benchdns
# (a DNS server on 127.0.0.1 publishing SPF, DMARC and a DKIM key for
# example.com, the domain Postfix smtp-source sends from), then runs the
# shared bench.sh with two targets besides its anchors:
#
#   hello  examples/hello -log-level warn: smtpd with a handler that
#          discards the message (compare with bare go-smtp, "gosmtp");
#   inbox  examples/inbox -check-local -dns <benchdns>: SPF at MAIL FROM,
#          spooling, DKIM, DMARC with the policy applied, Authentication-
#          Results, and a durable Maildir delivery under a temporary
#          directory, emptied after every load run (compare with go-smtp
#          writing each message to a Maildir with fsyncs, "maildir").
#
# The DNS cache is warm after the first message: every load run sends from
# the same domain. smtp-source does not sign its messages, so DKIM finds no
# signature (dkim=none); `go test -bench Check ./auth/` measures signed ones.
#
# Scenarios (bench.sh's defaults): 1 KiB and 100 KiB; 1, 10 and 50
# sessions; many messages per connection and one per connection; then the
# latency of serial 1 KiB transactions (p50/p99). Every load is bounded by a
# message count and a time cap (bench.sh's `timeout`), all on 127.0.0.1.
#
# Then it runs bench/inbox-memory.sh (peak RSS of the inbox with 50
# concurrent 10 MiB messages, checks on) unless --no-memory is given.
#
# Usage:
#   bench/run.sh [bench.sh options]        # e.g. --rounds 5, --quick
#   bench/run.sh --quick --builtins gosmtp,maildir --no-memory
#
# Default anchors: gosmtp (ratio baseline), maildir, node, sink. The tables
# go to bench/results/<stamp>/ (git-ignored): table.md is bench.sh's
# (ratios to gosmtp), vs-maildir.md the same data with ratios to the
# maildir anchor, summary.md the ratios the targets of issue 6 are read
# from. Everything started here is stopped on exit, even on ^C.
#
# Environment: BENCH_WORK (bench.sh's work folder; default
# /tmp/ownmx-bench-run, so as not to share one with other runs of bench.sh),
# BENCH_PORT_BASE (default 2700: anchors on 2701-2706, hello on 2711,
# inbox on 2712), BENCH_SH (default /work/shared/bench/bench.sh).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)

BENCH_SH=${BENCH_SH:-/work/shared/bench/bench.sh}
export BENCH_WORK=${BENCH_WORK:-/tmp/ownmx-bench-run}
export BENCH_PORT_BASE=${BENCH_PORT_BASE:-2700}
hello_addr=127.0.0.1:$((BENCH_PORT_BASE + 11))
inbox_addr=127.0.0.1:$((BENCH_PORT_BASE + 12))

builtins=gosmtp,maildir,node,sink
memory=1
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --builtins) builtins=$2; shift 2;;
    --no-memory) memory=0; shift;;
    -h|--help) sed -n '2,43p' "$0"; exit 0;;
    *) args+=("$1"); shift;;
  esac
done
case ",$builtins," in *,maildir,*) ;; *) builtins=$builtins,maildir;; esac

[ -x "$BENCH_SH" ] || { echo "run.sh: $BENCH_SH not found (set BENCH_SH)" >&2; exit 1; }

stamp=$(date +%Y%m%d-%H%M%S)
out=$repo/bench/results/$stamp
mkdir -p "$out" "$BENCH_WORK"
tmp=$(mktemp -d "$BENCH_WORK/ownmx.XXXXXX")
dns_pgid=""
cleanup() {
  if [ -n "$dns_pgid" ]; then
    kill -TERM -- "-$dns_pgid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 -- "-$dns_pgid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$dns_pgid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "run.sh: building into $tmp/bin" >&2
go build -o "$tmp/bin/" ./examples/hello ./examples/inbox ./bench/benchdns

# The DNS server, in its own process group so that it is stopped whole.
setsid "$tmp/bin/benchdns" -addr-file "$tmp/dns.addr" >"$out/benchdns.log" 2>&1 </dev/null &
dns_pgid=$!
for _ in $(seq 1 100); do
  [ -s "$tmp/dns.addr" ] && break
  kill -0 "$dns_pgid" 2>/dev/null || { echo "run.sh: benchdns exited (see $out/benchdns.log)" >&2; exit 1; }
  sleep 0.1
done
dns_addr=$(cat "$tmp/dns.addr")
case "$dns_addr" in 127.*:*) ;; *) echo "run.sh: benchdns address '$dns_addr' is not on loopback" >&2; exit 1;; esac
echo "run.sh: benchdns on $dns_addr" >&2

maildir=$tmp/maildir
hello_cmd="$tmp/bin/hello -listen $hello_addr -domain example.com -log-level warn"
inbox_cmd="$tmp/bin/inbox -listen $inbox_addr -domain example.com -hostname mx.bench.test -maildir $maildir -dns $dns_addr -check-local -log-level warn -max-conn-per-ip 100"
# The files of a load run go, as the maildir anchor's do, so that each run
# starts with empty directories.
inbox_clean="find $maildir -mindepth 2 -path '*/new/*' -type f -delete; find $maildir -mindepth 2 -path '*/tmp/*' -type f -delete"

"$BENCH_SH" --out "$out" --builtins "$builtins" "${args[@]}" \
  --target "$hello_cmd" --target-name hello \
  --target "$inbox_cmd" --target-name inbox --target-cleanup "$inbox_clean"

# The same data with the maildir anchor as the baseline, for the inbox.
"$BENCH_WORK/bin/benchsum" -dir "$out" -baseline maildir > "$out/vs-maildir.md"

# Peak RSS with 50 concurrent 10 MiB messages, by the inbox's own script.
if [ "$memory" = 1 ]; then
  echo "run.sh: bench/inbox-memory.sh" >&2
  bash bench/inbox-memory.sh > "$out/memory.txt" 2>&1 || echo "inbox-memory.sh failed (exit $?)" >> "$out/memory.txt"
fi

# The ratios issue 6 sets targets on: the median over rounds of the
# same-round ratio target/anchor, per scenario.
awk -F, '
  NR == 1 { next }
  { rate[$1 "," $2 "," $3 "," $4 "," $5] = $8; scen[$2 "," $3 "," $4] = 1; rounds[$5] = 1 }
  function median(a, n,   i, j, t) {
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
    if (n == 0) return "-"
    return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
  }
  function ratio(num, den, s,   r, n, k, v) {
    n = 0
    for (r in rounds) {
      k = s "," r
      if ((num "," k) in rate && (den "," k) in rate && rate[den "," k] > 0) v[++n] = rate[num "," k] / rate[den "," k]
    }
    m = median(v, n)
    return m == "-" ? m : sprintf("%.2f", m)
  }
  END {
    print "| scenario | inbox/maildir | hello/gosmtp | hello/node |"
    print "|---|---:|---:|---:|"
    n = 0
    for (s in scen) list[++n] = s
    for (i = 2; i <= n; i++) for (j = i; j > 1 && list[j-1] > list[j]; j--) { t = list[j]; list[j] = list[j-1]; list[j-1] = t }
    for (i = 1; i <= n; i++) {
      split(list[i], p, ",")
      name = (p[1] >= 102400 ? "100KiB" : "1KiB") " " (p[2] == "session" ? "many/conn" : "1/conn") " c=" p[3]
      print "| " name " | " ratio("inbox", "maildir", list[i]) " | " ratio("hello", "gosmtp", list[i]) " | " ratio("hello", "node", list[i]) " |"
    }
  }' "$out/raw.csv" > "$out/summary.md"

{
  echo "# bench/run.sh $stamp"
  echo
  echo '```'
  cat "$out/env.txt"
  echo "command: bench/run.sh ${args[*]:-} (builtins $builtins)"
  echo "hello: $hello_cmd"
  echo "inbox: $inbox_cmd"
  echo '```'
  echo
  echo "## Ratios (median of same-round ratios)"
  echo
  cat "$out/summary.md"
  echo
  if [ -s "$out/memory.txt" ]; then
    echo "## Peak RSS, 50 concurrent 10 MiB messages (bench/inbox-memory.sh)"
    echo
    echo '```'
    cat "$out/memory.txt"
    echo '```'
    echo
  fi
  echo "## bench.sh table (ratios to gosmtp)"
  echo
  cat "$out/table.md"
} > "$out/report.md"
cat "$out/summary.md"
echo "run.sh: report in $out/report.md" >&2
