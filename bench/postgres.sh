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
# Besides bench.sh's tables, the report gives, for the pg inbox alone at
# 1 KiB and 100 KiB, the CPU per message of the inbox and of PostgreSQL
# (utime+stime of their processes) and the bytes of database per message.
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

# Each side's CPU and the bytes of database per message: the pg inbox
# alone, N messages from smtp-source at 10 sessions into an empty store;
# the inbox's CPU (utime+stime of its process) and PostgreSQL's (all its
# processes) over that run, and the database's size (its relations:
# tables, TOAST, indexes) before and after.
setsid bash -c "exec $(inbox 127.0.0.1:$((pb + 13)) -postgres "'$url'" -maildir "$tmp/spool")" >"$out/alone-inbox.log" 2>&1 </dev/null &
alone_pid=$!
for _ in $(seq 1 100); do grep -q 'msg=listening' "$out/alone-inbox.log" 2>/dev/null && break; sleep 0.1; done
size() { "${psql[@]}" -c "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public'"; }
proccpu() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }
alone=()
for run in "1024 5000" "102400 1000"; do
  set -- $run
  "${psql[@]}" -c 'TRUNCATE mail_messages, mail_dedup CASCADE' >/dev/null
  size0=$(size); pg0=$(pgcpu); in0=$(proccpu "$alone_pid"); t0=$(date +%s.%N)
  timeout 120 /usr/sbin/smtp-source -c -d -m "$2" -s 10 -l "$1" -M localhost -f bench@example.com -t rcpt@example.com \
    127.0.0.1:$((pb + 13)) >"$out/alone-src-$1.out" 2>&1 || true
  t1=$(date +%s.%N); pg1=$(pgcpu); in1=$(proccpu "$alone_pid")
  stored=$("${psql[@]}" -c 'SELECT count(*) FROM mail_messages')
  size1=$(size)
  alone+=("$(awk -v l="$1" -v m="$2" -v n="$stored" -v t0="$t0" -v t1="$t1" -v i0="$in0" -v i1="$in1" -v p0="$pg0" -v p1="$pg1" -v s0="$size0" -v s1="$size1" 'BEGIN {
    if (n == 0) n = -1
    printf "| %d KiB | %d/%d | %.0f | %.3f | %.3f | %.3f | %.0f |", l / 1024, n, m, n / (t1 - t0), (i1 - i0) * 1000 / n, (p1 - p0) * 1000 / n, (i1 - i0 + p1 - p0) * 1000 / n, (s1 - s0) / n }')")
done
kill -TERM "$alone_pid" 2>/dev/null || true
wait "$alone_pid" 2>/dev/null || true

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
  echo "## Each side's CPU, and bytes of database per message"
  echo
  echo "The pg inbox alone, smtp-source at 10 sessions, many messages per connection, into an empty store. CPU in ms per message stored: the inbox's process, PostgreSQL's processes, and both. Compare the sum with the CPU-s / 1000 msgs of maildir above (go-smtp writing a Maildir does its own writing, so its column is all of its CPU)."
  echo
  echo "| size | stored/sent | msgs/s | inbox CPU ms/msg | PostgreSQL CPU ms/msg | both | bytes of database per message |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${alone[@]}"
  echo
  echo "PostgreSQL's processes used $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.1f", b - a }') CPU-s over the whole throughput run (all targets; only pg writes to it)."
} > "$out/report.md"
cat "$out/report.md"
echo "postgres.sh: report in $out/report.md" >&2
