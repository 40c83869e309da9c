#!/usr/bin/env bash
# postgres.sh - the inbox keeping mail in PostgreSQL (issue 15), on
# loopback: throughput at 10 sessions, 1 KiB and 100 KiB, against the
# go-smtp anchors of the shared bench.sh (gosmtp: bare; maildir: go-smtp
# writing a Maildir with fsyncs), for
#   pg       inbox -postgres URL: each message committed to PostgreSQL
#            (synchronous_commit on, fsync on) before its 250;
#   maildir+ inbox -maildir DIR, the default store, for comparison.
# PostgreSQL is a throwaway cluster of the installed server (Debian
# postgresql), started here in a temporary directory on a free port and
# stopped on exit; it runs as the postgres user when this runs as root.
# Besides bench.sh's tables, the report gives PostgreSQL's CPU time per
# 1000 messages (its processes' utime+stime over the whole run, divided by
# the messages stored) and the bytes of database per message.
#
# The inbox trusts loopback (no -check-local): this measures the store,
# not SPF/DKIM/DMARC, which bench/run.sh measures.
#
# Usage: bench/postgres.sh [--rounds N] [--quick]
# Results go to bench/results/postgres-<stamp>/ (git-ignored); report.md
# holds the tables. Environment: BENCH_WORK (default
# /tmp/ownmx-bench-postgres), BENCH_PORT_BASE (default 2900), BENCH_SH
# (the shared bench.sh).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)

BENCH_SH=${BENCH_SH:-/work/shared/bench/bench.sh}
export BENCH_WORK=${BENCH_WORK:-/tmp/ownmx-bench-postgres}
export BENCH_PORT_BASE=${BENCH_PORT_BASE:-2900}
rounds=3
quick=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2;;
    --quick) quick=(--quick); shift;;
    -h|--help) sed -n '2,24p' "$0"; exit 0;;
    *) echo "postgres.sh: unknown option $1" >&2; exit 2;;
  esac
done
[ -x "$BENCH_SH" ] || { echo "postgres.sh: $BENCH_SH not found (set BENCH_SH)" >&2; exit 1; }
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$pgbin/initdb" ] || { echo "postgres.sh: no PostgreSQL server installed (apt-get install postgresql)" >&2; exit 1; }

stamp=$(date +%Y%m%d-%H%M%S)
out=$repo/bench/results/postgres-$stamp
mkdir -p "$out" "$BENCH_WORK"
tmp=$(mktemp -d "$BENCH_WORK/ownmx.XXXXXX")
chmod 755 "$tmp"
as=()
if [ "$(id -u)" -eq 0 ]; then as=(runuser -u postgres --); fi
pgdata=$tmp/pgdata
pgport=$((BENCH_PORT_BASE + 50))
cleanup() {
  "${as[@]}" "$pgbin/pg_ctl" -D "$pgdata" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$pgdata"
[ ${#as[@]} -eq 0 ] || chown postgres "$pgdata"
"${as[@]}" "$pgbin/initdb" -D "$pgdata" -U bench --auth=trust >"$out/initdb.log" 2>&1
"${as[@]}" "$pgbin/pg_ctl" -D "$pgdata" -l "$pgdata/log" -w \
  -o "-c listen_addresses=127.0.0.1 -c port=$pgport -c unix_socket_directories=$pgdata -c fsync=on -c synchronous_commit=on -c max_connections=200" \
  start >"$out/pg_ctl.log" 2>&1
url="postgres://bench@127.0.0.1:$pgport/postgres?sslmode=disable"
psql=("$pgbin/psql" -X -q -t -A "$url")

# pgcpu prints the CPU seconds (utime+stime) of the cluster's processes,
# those that ended included (cutime, cstime of the postmaster).
pgcpu() {
  local pid; pid=$(head -1 "$pgdata/postmaster.pid")
  local tck; tck=$(getconf CLK_TCK)
  { cat "/proc/$pid/stat"; for c in $(pgrep -P "$pid"); do cat "/proc/$c/stat" 2>/dev/null || true; done; } |
    awk -v t="$tck" -v p="$pid" '{ s += $14 + $15; if ($1 == p) s += $16 + $17 } END { printf "%.2f", s / t }'
}

echo "postgres.sh: building into $tmp/bin" >&2
go build -o "$tmp/bin/" ./examples/inbox

pb=$BENCH_PORT_BASE
inbox() { # inbox ADDR ARGS...
  local addr=$1; shift
  echo "$tmp/bin/inbox -listen $addr -domain example.com -hostname mx.bench.test -log-level warn -max-conn-per-ip 100 $*"
}

cpu0=$(pgcpu)
"$BENCH_SH" --out "$out/throughput" --builtins gosmtp,maildir --rounds "$rounds" --conc 10 --sizes "1024 102400" \
  --modes "session conn" --lat-n 0 "${quick[@]}" \
  --target "$(inbox 127.0.0.1:$((pb + 11)) -postgres "'$url'" -maildir "$tmp/spool")" --target-name pg \
  --target-cleanup "${psql[*]} -c 'TRUNCATE mail_messages CASCADE' >/dev/null 2>&1 || true" \
  --target "$(inbox 127.0.0.1:$((pb + 12)) -maildir "$tmp/maildir")" --target-name maildir+ \
  --target-cleanup "find $tmp/maildir -mindepth 2 -path '*/new/*' -type f -delete"
cpu1=$(pgcpu)
"$BENCH_WORK/bin/benchsum" -dir "$out/throughput" -baseline maildir > "$out/throughput/vs-maildir.md" 2>/dev/null || true

# Bytes of database per message: 1000 messages of 1 KiB into an empty
# store, the database's size before and after (its relations: tables,
# TOAST, indexes).
setsid bash -c "exec $(inbox 127.0.0.1:$((pb + 13)) -postgres "'$url'" -maildir "$tmp/spool")" >"$out/bytes-inbox.log" 2>&1 </dev/null &
bytes_pid=$!
for _ in $(seq 1 100); do grep -q 'msg=listening' "$out/bytes-inbox.log" 2>/dev/null && break; sleep 0.1; done
"${psql[@]}" -c 'TRUNCATE mail_messages, mail_dedup CASCADE' >/dev/null
"${psql[@]}" -c 'VACUUM FULL' >/dev/null
size() { "${psql[@]}" -c "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public'"; }
size0=$(size)
timeout 60 /usr/sbin/smtp-source -c -d -m 1000 -s 10 -l 1024 -M localhost -f bench@example.com -t rcpt@example.com \
  127.0.0.1:$((pb + 13)) >"$out/bytes-src.out" 2>&1 || true
stored=$("${psql[@]}" -c 'SELECT count(*) FROM mail_messages')
size1=$(size)
kill -TERM "$bytes_pid" 2>/dev/null || true
wait "$bytes_pid" 2>/dev/null || true

{
  echo "# bench/postgres.sh $stamp"
  echo
  echo '```'
  cat "$out/throughput/env.txt" 2>/dev/null || true
  "$pgbin/postgres" --version
  echo "pg:       $(inbox 127.0.0.1:PORT -postgres URL -maildir SPOOL)"
  echo "maildir+: $(inbox 127.0.0.1:PORT -maildir DIR)"
  echo '```'
  echo
  echo "## Throughput, ratios to go-smtp writing a Maildir (maildir)"
  echo
  cat "$out/throughput/vs-maildir.md" 2>/dev/null || echo "(no summary)"
  echo
  echo "## The whole table"
  echo
  cat "$out/throughput/table.md" 2>/dev/null || true
  echo
  echo "## PostgreSQL's side"
  echo
  echo "PostgreSQL's processes used $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.1f", b - a }') CPU-s over the whole throughput run (all targets; only pg writes to it)."
  echo
  echo "Bytes of database per message (1000 messages of 1 KiB from smtp-source, $stored stored): $(awk -v a="$size0" -v b="$size1" -v n="$stored" 'BEGIN { if (n > 0) printf "%.0f", (b - a) / n; else print "?" }')."
} > "$out/report.md"
cat "$out/report.md"
echo "postgres.sh: report in $out/report.md" >&2
