#!/usr/bin/env bash
# Peak memory of examples/inbox with 50 concurrent 10 MiB messages (issue 4:
# under 64 MiB). Builds the inbox and the load program bench/inboxload into a
# temporary directory; inboxload starts a DNS server and the inbox on
# 127.0.0.1 (with -check-local, so SPF, DKIM and DMARC run and every message
# is spooled as mail from the internet would be), sends the messages at once,
# checks each got 250 and landed, and reads VmHWM from /proc/PID/status of
# the inbox process before stopping it with SIGTERM.
#
#   bash bench/inbox-memory.sh                # 50 x 10 MiB, limit 64 MiB
#   N=10 SIZE=1048576 LIMIT_MIB=32 bash bench/inbox-memory.sh
#   GODEBUG=gctrace=1 bash bench/inbox-memory.sh   # the inbox inherits it
#
# Prints the figure and exits 1 when the peak is over the limit (or a message
# failed). Measured on the 2-core dev VM (2026-11-26): 20-25 MiB peak for
# 50 x 10 MiB, 20 MiB for 50 x 25 MiB (the -max-size default); the heap stays
# near 11 MB (GODEBUG=gctrace=1), as the auth middleware spools each message
# past 256 KiB to an unnamed file under -maildir/.spool and the Maildir
# writes it streaming. Nothing is left behind: the build directory and the Maildir are
# removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

n=${N:-50}
size=${SIZE:-10485760}
limit_mib=${LIMIT_MIB:-64}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/inbox" ./examples/inbox
go build -o "$tmp/inboxload" ./bench/inboxload

out=$("$tmp/inboxload" -inbox "$tmp/inbox" -n "$n" -size "$size")
echo "$out"
peak_kib=$(sed -n 's/.*peak_rss_kib=\([0-9]*\).*/\1/p' <<<"$out")
if [ -z "$peak_kib" ]; then
  echo "inbox-memory: no peak_rss_kib in the output" >&2
  exit 1
fi
peak_mib=$(awk -v k="$peak_kib" 'BEGIN { printf "%.1f", k / 1024 }')
echo "examples/inbox peak RSS (VmHWM): ${peak_mib} MiB with $n concurrent messages of $size bytes (limit ${limit_mib} MiB)"
if [ "$peak_kib" -gt $((limit_mib * 1024)) ]; then
  echo "inbox-memory: over the limit" >&2
  exit 1
fi
