#!/usr/bin/env bash
# What a Create costs the disk on a real server, counted, not timed (issue 21, point 2): a fresh
# release server, `keyward bench --workload create-get` for a fixed number of iterations, and
#   - fsyncs: fdatasync/fsync calls of the server (strace -c attached for the run),
#   - bytes written: the server's write-syscall bytes (/proc/PID/io wchar) over the run,
#   - file growth: keyward.redb before and after.
# Counts do not depend on how busy the machine is, so this can run on a shared box.
#
#   cargo build --release && bash benches/write_cost.sh [ITERATIONS] [CONNS]   # 2000, 1
# WORKLOAD=mixed (any `keyward bench --workload`) instead of create-get.
#
# KEYWARD_BIN picks the binary (default target/release/keyward). Needs strace.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ops=${1:-2000}
conns=${2:-1}
workload=${WORKLOAD:-create-get}
bin=${KEYWARD_BIN:-${CARGO_TARGET_DIR:-target}/release/keyward}
work=$(mktemp -d)
server_pid=
strace_pid=
cleanup() {
    [[ -n $strace_pid ]] && kill "$strace_pid" 2>/dev/null || true
    [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
[[ -x "$bin" ]] || { echo "no $bin: run cargo build --release first" >&2; exit 1; }
command -v strace >/dev/null || { echo "needs strace" >&2; exit 1; }

data="$work/data"
"$bin" init --data-dir "$data" >/dev/null
mkdir -p "$work/client"
"$bin" client issue --name bench --out "$work/client" --data-dir "$data" >/dev/null
RUST_LOG=warn "$bin" serve --data-dir "$data" --listen 127.0.0.1:0 >"$work/out" 2>"$work/log" </dev/null &
server_pid=$!
for _ in $(seq 100); do grep -q '^listening on' "$work/out" && break; sleep 0.1; done
port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$work/out")
bench() {
    "$bin" bench --server "localhost:$port" --ca "$data/ca.crt" --cert "$work/client/client.crt" \
        --key "$work/client/client.key" --workload "$workload" --conns "$conns" "$@" >/dev/null
}
bench --ops 50 # warm-up: first commits create the tables' first pages
sleep 0.5
size_before=$(stat -c %s "$data/keyward.redb")
wchar_before=$(awk '/^wchar/ {print $2}' "/proc/$server_pid/io")
strace -f -qq -y -e trace=fdatasync,fsync,pwrite64,pwritev,write -p "$server_pid" -o "$work/strace" &
strace_pid=$!
sleep 1
bench --ops "$ops"
sleep 0.3 # the read journal's last sync
kill -INT "$strace_pid"; wait "$strace_pid" 2>/dev/null || true
strace_pid=
wchar_after=$(awk '/^wchar/ {print $2}' "/proc/$server_pid/io")
size_after=$(stat -c %s "$data/keyward.redb")
# Per file: syscalls, bytes and syncs (strace -y names each descriptor's file).
summary=$(python3 - "$work/strace" "$ops" <<'PY'
import re, sys, collections
ops = int(sys.argv[2])
calls = collections.Counter(); written = collections.Counter(); syncs = collections.Counter()
for line in open(sys.argv[1]):
    m = re.search(r'(\w+)\((\d+)<([^>]*)>.*= (\d+)\s*$', line)
    if not m:
        continue
    name, _, path, result = m.groups()
    path = re.sub(r'^.*/', '', path) if path.startswith('/') else path
    if name in ('fdatasync', 'fsync'):
        syncs[path] += 1
    else:
        calls[path] += 1
        written[path] += int(result)
total_bytes = sum(written.values()); total_syncs = sum(syncs.values())
print(f"per iteration: {total_bytes / ops:.0f} bytes written, {total_syncs / ops:.3f} fsyncs")
for path in sorted(set(calls) | set(syncs)):
    print(f"  {path:<28} {calls[path] / ops:6.2f} writes  {written[path] / ops:8.0f} bytes  {syncs[path] / ops:.3f} fsyncs")
PY
)
printf "%s x %d, %d connection(s), %s\n" "$workload" "$ops" "$conns" "$("$bin" --version 2>/dev/null || echo keyward)"
echo "$summary"
printf '  keyward.redb grew %.0f bytes per iteration; wchar %.0f bytes per iteration\n' \
    "$(echo "($size_after - $size_before) / $ops" | bc -l)" \
    "$(echo "($wchar_after - $wchar_before) / $ops" | bc -l)"
