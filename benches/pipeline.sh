#!/usr/bin/env bash
# Before/after for the pipelined group commit (issue 21, point 2): two release binaries, the
# same workloads, alternating runs on a fresh server each, in one session, so load from other
# processes hits both alike. Prints ops/s, the Get's p99 and server CPU per run, and the
# after/before ratio of the medians. Not part of CI.
#
#   KEYWARD_BEFORE=/path/to/old/keyward KEYWARD_AFTER=target/release/keyward \
#       bash benches/pipeline.sh [SECONDS] [ROUNDS]     # default 10 s, 2 rounds
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-10}
rounds=${2:-2}
before=${KEYWARD_BEFORE:?set KEYWARD_BEFORE to the binary before the change}
after=${KEYWARD_AFTER:-${CARGO_TARGET_DIR:-target}/release/keyward}
work=$(mktemp -d)
pid=""
cleanup() {
    [[ -n "$pid" ]] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
    rm -rf "$work"
}
trap cleanup EXIT

start() { # $1 = binary
    local bin=$1 data="$work/data-$RANDOM"
    : >"$work/keyward.toml"
    "$bin" init --config "$work/keyward.toml" --data-dir "$data" >/dev/null 2>&1
    rm -rf "$work/client"
    "$bin" client issue --name bench --out "$work/client" --data-dir "$data" >/dev/null 2>&1
    RUST_LOG=warn "$bin" serve --config "$work/keyward.toml" --data-dir "$data" --listen 127.0.0.1:0 \
        >"$work/out" 2>"$work/log" </dev/null &
    pid=$!
    for _ in $(seq 100); do grep -q '^listening on' "$work/out" && break; sleep 0.1; done
    port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$work/out")
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }

run() { # $1 = label, $2 = binary, $3 = conns
    start "$2"
    "$2" bench --server "localhost:$port" --ca "$work/client/ca.crt" \
        --cert "$work/client/client.crt" --key "$work/client/client.key" \
        --conns "$3" --server-pid "$pid" --json "$work/r.json" \
        --workload create-get --duration "$seconds" >/dev/null
    stop
    python3 - "$work/r.json" "$1" "$3" >>"$work/results" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ops = r["per_operation"]
get = next((v for k, v in ops.items() if k.lower() == "get"), {})
cpu = r.get("server_cpu_s") or 0
print(f"{sys.argv[2]} {sys.argv[3]} {r['operations_per_s']:.0f} {get.get('p99_us', 0) / 1000:.2f} "
      f"{cpu / r['elapsed_s'] * 100:.0f} {r['errors_total']}")
PY
    tail -1 "$work/results"
}

echo "label conns ops/s get_p99_ms server_cpu_% errors"
for _ in $(seq "$rounds"); do
    for conns in 8 64; do
        run before "$before" "$conns"
        run after "$after" "$conns"
    done
done
python3 - "$work/results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for conns in ("8", "64"):
    med = {}
    for label in ("before", "after"):
        med[label] = statistics.median(float(r[2]) for r in rows if r[0] == label and r[1] == conns)
    print(f"create-get, {conns} conns: before {med['before']:.0f} ops/s, after {med['after']:.0f} ops/s, "
          f"after/before {med['after'] / med['before']:.2f}")
PY
