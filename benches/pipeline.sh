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
# shellcheck source=benches/lib.sh
source benches/lib.sh
seconds=${1:-10}
rounds=${2:-2}
lib_before_after
work=$(mktemp -d)
trap lib_cleanup EXIT

run() { # $1 = label, $2 = binary, $3 = conns
    local bin=$2
    lib_fresh_keyward
    lib_bench "$server_port" "$work" "$server_pid" "$work/r.json" \
        --conns "$3" --workload create-get --duration "$seconds"
    lib_stop_keyward
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
