#!/usr/bin/env bash
# The committer thread's CPU per operation, before/after (issue 21, point 2): on a shared,
# loaded machine ops/s swing by 2x between runs, while the CPU the committer thread spends per
# request (user time of "keyward-committer" from /proc, over the whole run) moves far less. Two
# release binaries, alternating fresh servers, create-get at 8 and 64 connections and mixed at 8,
# ROUNDS rounds; prints every run, then the medians of before/after per workload. Not part of CI.
#
#   KEYWARD_BEFORE=/path/to/old/keyward KEYWARD_AFTER=target/release/keyward \
#       bash benches/committer_cpu.sh [SECONDS] [ROUNDS]     # default 8 s, 3 rounds
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=benches/lib.sh
source benches/lib.sh
seconds=${1:-8}
rounds=${2:-3}
lib_before_after
work=$(mktemp -d)
trap lib_cleanup EXIT

run() { # $1 = label, $2 = binary, $3 = workload, $4 = conns
    local bin=$2
    lib_fresh_keyward
    lib_bench "$server_port" "$work" "$server_pid" "$work/r.json" \
        --conns "$4" --workload "$3" --duration "$seconds"
    local task ticks
    task=$(dirname "$(grep -l keyward-committ /proc/"$server_pid"/task/*/comm | head -1)")
    ticks=$(awk '{print $14}' "$task/stat")
    lib_stop_keyward
    python3 - "$work/r.json" "$1" "$3" "$4" "$ticks" >>"$work/results" <<'PY'
import json, os, sys
r = json.load(open(sys.argv[1]))
ops = r["operations_per_s"] * r["elapsed_s"]
committer = int(sys.argv[5]) / os.sysconf("SC_CLK_TCK")
print(f"{sys.argv[2]} {sys.argv[3]}/{sys.argv[4]} {r['operations_per_s']:.0f} "
      f"{(r.get('server_cpu_s') or 0) * 1e6 / ops:.1f} {committer * 1e6 / ops:.1f} {r['errors_total']}")
PY
    tail -1 "$work/results"
}

echo "label workload/conns ops/s server_cpu_us_per_op committer_user_us_per_op errors"
for _ in $(seq "$rounds"); do
    for load in "create-get 8" "create-get 64" "mixed 8"; do
        set -- $load
        run before "$before" "$1" "$2"
        run after "$after" "$1" "$2"
    done
done
python3 - "$work/results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for load in dict.fromkeys(r[1] for r in rows):
    def med(label, col):
        return statistics.median(float(r[col]) for r in rows if r[0] == label and r[1] == load)
    print(f"{load}: after/before ops/s {med('after', 2) / med('before', 2):.2f}, "
          f"server CPU per op {med('after', 3) / med('before', 3):.2f}, "
          f"committer CPU per op {med('after', 4) / med('before', 4):.2f} "
          f"({med('before', 4):.1f} -> {med('after', 4):.1f} us)")
PY
