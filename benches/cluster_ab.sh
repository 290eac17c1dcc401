#!/usr/bin/env bash
# The cluster rows of issue 21 for two or more keyward binaries, alternated in one session
# (A B A B …): each run is `benches/targets.sh` with PARTS=cluster (a single appliance, then
# three etcd members and three nodes on loopback, Creates then Gets), so every run carries its
# own single-appliance figures and the ratios are taken within the run. Prints per run:
# Creates/s and Gets/s of the cluster (three nodes summed) and of the single appliance, their
# ratios, and the nodes' server CPU per cluster Get (µs, three nodes summed). Not CI.
#
#   bash benches/cluster_ab.sh BIN_A BIN_B [BIN…]
# Environment: SECONDS_EACH (default 8), ROUNDS (default 2), CLUSTER_CONNS (targets.sh's, 2);
# SUMMARY_OF=DIR prints the table of an earlier run's directory (same binaries) without running.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
(($# >= 2)) || { echo "usage: $0 BIN_A BIN_B [BIN…]" >&2; exit 2; }
seconds=${SECONDS_EACH:-8}
rounds=${ROUNDS:-2}
out=${SUMMARY_OF:-$(mktemp -d)}
[[ -n ${SUMMARY_OF:-} ]] && rounds=0
for round in $(seq "$rounds"); do
    for bin in "$@"; do
        run="$out/$(basename "$bin").$round"
        echo "[$(date -u +%H:%M:%S)] round $round: $bin (load $(cut -d' ' -f1 /proc/loadavg))" >&2
        KEYWARD_BIN=$bin PARTS=cluster REPEATS=1 TARGETS_OUT=$run \
            bash benches/targets.sh "$seconds" >"$run.log" 2>&1 || echo "  (targets.sh failed: $run.log)" >&2
    done
done
python3 - "$out" "$@" <<'PY'
import glob, json, os, sys
out, bins = sys.argv[1], sys.argv[2:]
def load(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return None
def rate(reports):
    reports = [r for r in reports if r]
    return sum(r["operations_per_s"] for r in reports), reports
print(f"{'binary':34} {'round':>5} {'cl create/s':>11} {'cl get/s':>9} {'single create/s':>15} "
      f"{'single get/s':>12} {'create ratio':>12} {'get ratio':>9} {'µs CPU/get':>10}")
names = [os.path.basename(b) for b in bins]
runs = [p for p in glob.glob(f"{out}/*") if os.path.isdir(p)]
runs.sort(key=lambda p: (int(p.rsplit(".", 1)[1]), names.index(os.path.basename(p).rsplit(".", 1)[0])))
for run in runs:
    raw = f"{run}/raw"
    name, rnd = os.path.basename(run).rsplit(".", 1)
    cc, _ = rate(load(p) for p in glob.glob(f"{raw}/cluster_create.cluster.1.n*.json"))
    cg, gets = rate(load(p) for p in glob.glob(f"{raw}/cluster_get.cluster.1.n*.json"))
    sc, _ = rate([load(f"{raw}/cluster_create.single.1.json")])
    sg, _ = rate([load(f"{raw}/cluster_get.single.1.json")])
    ops = sum(r["operations"] for r in gets)
    cpu = sum(r["server_cpu_s"] or 0 for r in gets)
    per_get = 1e6 * cpu / ops if ops else float("nan")
    ratio = lambda a, b: a / b if b else float("nan")
    print(f"{name:34} {rnd:>5} {cc:11.0f} {cg:9.0f} {sc:15.0f} {sg:12.0f} {ratio(cc, sc):12.3f} "
          f"{ratio(cg, sg):9.3f} {per_get:10.0f}")
PY
echo "raw reports: $out" >&2
