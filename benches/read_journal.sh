#!/usr/bin/env bash
# Before/after for the read journal (issue 21, points 1-2), one session, same binary: the same
# workloads against a fresh server with `[audit] durable_reads = true` (every read's record is
# fsynced before its answer: the behaviour before the journal) and with the default (reads
# journalled, made durable within read_sync_interval_ms). Prints ops/s, p99 and server CPU per
# workload, and, per Create, the fdatasync calls (strace -c on the server, a separate run, since
# tracing slows it) and the bytes the server wrote (/proc/PID/io write_bytes). Not part of CI.
#
#   cargo build --release && bash benches/read_journal.sh [SECONDS]   # default 10 s per run
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=benches/lib.sh
source benches/lib.sh
seconds=${1:-10}
conns=${BENCH_CONNS:-8}
bin=${KEYWARD_BIN:-${CARGO_TARGET_DIR:-target}/release/keyward}
work=$(mktemp -d)
trap lib_cleanup EXIT
[[ -x "$bin" ]] || { echo "no $bin: run cargo build --release first" >&2; exit 1; }

start() { # $1 = durable_reads
    lib_fresh_keyward "$bin" "[audit]
durable_reads = $1
"
}

bench() { # workload args...
    lib_bench "$server_port" "$work" "$server_pid" "$work/r.json" --conns "$conns" "$@"
    python3 - "$work/r.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ops = r["per_operation"]
p99 = " ".join(f"{k} p99 {v['p99_us'] / 1000:.2f} ms" for k, v in ops.items())
cpu = r.get("server_cpu_s") or 0
print(f"  {r['operations_per_s']:.0f} ops/s; {p99}; errors {r['errors_total']}; "
      f"server CPU {cpu / r['elapsed_s'] * 100:.0f} % "
      f"({cpu / max(r['operations'], 1) * 1e6:.0f} us/op)")
PY
}

for durable in true false; do
    for workload in get create-get; do
        start "$durable"
        echo "== durable_reads=$durable workload=$workload"
        bench --workload "$workload" --duration "$seconds"
        lib_stop_keyward
        if [[ "$workload" == get ]]; then
            records=$("$bin" audit export --format jsonl --data-dir "$data_dir" 2>/dev/null | grep -c '^{' || true)
            size=$(stat -c %s "$data_dir/keyward.redb")
            echo "  store after the run: $records audit records, keyward.redb $size bytes ($((size / (records + 1))) bytes/record)"
        fi
    done
    # fsyncs and bytes per Create: a fixed number of create-get iterations under strace.
    start "$durable"
    before=$(awk '/^write_bytes/ {print $2}' "/proc/$server_pid/io")
    strace -c -f -e trace=fdatasync,fsync -p "$server_pid" -o "$work/strace" &
    tracer=$!
    sleep 1
    lib_bench "$server_port" "$work" "" "$work/traced.json" \
        --conns "$conns" --workload create-get --ops 2000
    after=$(awk '/^write_bytes/ {print $2}' "/proc/$server_pid/io")
    kill -INT "$tracer"; wait "$tracer" 2>/dev/null || true
    syncs=$(awk '/fdatasync|fsync/ {s += $4} END {print s + 0}' "$work/strace")
    echo "== durable_reads=$durable create-get 2000 ops: fsyncs=$syncs bytes_written=$((after - before))"
    lib_stop_keyward
done
