#!/usr/bin/env bash
# etcd's own capacity on three members on this machine, started as tests/cluster.rs starts them
# (loopback, one disk, the test's heartbeat and election settings): `etcdctl check perf`
# (Debian's etcd-client) with the "s" load (50 clients, 150 puts/s asked) and "m" (200 clients,
# 1,000 puts/s asked) prints etcd's own verdict, the throughput reached and the slowest put.
# Not part of CI.
#
#   bash benches/etcd_capacity.sh [LOAD...]      # default: s m
set -euo pipefail
loads=("${@:-s}")
[[ $# -eq 0 ]] && loads=(s m)
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
base=$((23000 + RANDOM % 1000 * 10))
cluster=""
for i in 0 1 2; do cluster+="m$i=http://127.0.0.1:$((base + 2 * i + 1)),"; done
cluster=${cluster%,}
endpoints=""
for i in 0 1 2; do
    client="http://127.0.0.1:$((base + 2 * i))" peer="http://127.0.0.1:$((base + 2 * i + 1))"
    endpoints+="$client,"
    etcd --name "m$i" --data-dir "$work/m$i" --listen-client-urls "$client" \
        --advertise-client-urls "$client" --listen-peer-urls "$peer" \
        --initial-advertise-peer-urls "$peer" --initial-cluster "$cluster" \
        --initial-cluster-state new --initial-cluster-token keyward-bench \
        --heartbeat-interval 50 --election-timeout 500 --logger zap --log-level warn \
        >"$work/m$i.log" 2>&1 &
    pids+=($!)
done
endpoints=${endpoints%,}
for _ in $(seq 100); do
    ETCDCTL_API=3 etcdctl --endpoints "$endpoints" endpoint health >/dev/null 2>&1 && break
    sleep 0.2
done
for load in "${loads[@]}"; do
    echo "== etcdctl check perf --load=$load (3 members on loopback)"
    ETCDCTL_API=3 etcdctl --endpoints "$endpoints" check perf --load="$load" 2>&1 | tr '\r' '\n' | grep -v '^ *[0-9]* / [0-9]*' || true
done
