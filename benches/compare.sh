#!/usr/bin/env bash
# Side-by-side load runs: Keyward, the PyKMIP server (from PyPI, in a virtualenv) and, when it
# is built, Cosmian KMS, on loopback with the SAME certificates (Keyward's CA, server
# certificate and an issued client certificate), the same `keyward bench` load generator and
# the same workloads. Prints one table with the ratios Keyward / PyKMIP and Keyward / Cosmian
# per workload. Not part of CI (it measures).
#
#   cargo build --release && bash benches/compare.sh [SECONDS]   # default 10 s per run
#
# Environment: KEYWARD_BIN (default target/release/keyward), COMPARE_VENV (virtualenv to
# reuse), COMPARE_CONNS (default 8), COSMIAN_START (default ../shared/bench/start-cosmian.sh,
# which finds the binary built by build-cosmian.sh beside it; COSMIAN_KMS_BIN overrides it;
# COSMIAN_START=none leaves Cosmian out). All servers run durably: Keyward commits to redb
# with fsync before answering; PyKMIP and Cosmian write to their SQLite files.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=benches/lib.sh
source benches/lib.sh
seconds=${1:-10}
conns=${COMPARE_CONNS:-8}
bin=${KEYWARD_BIN:-${CARGO_TARGET_DIR:-target}/release/keyward}
work=$(mktemp -d)
venv=${COMPARE_VENV:-$work/venv}
trap lib_cleanup EXIT

[[ -x "$bin" ]] || { echo "no $bin: run cargo build --release first" >&2; exit 1; }
lib_pykmip_venv "$venv"
lib_make_certs "$work"

# One server of each kind for every workload (benches/targets.sh starts a fresh one per run).
lib_start_keyward "$work/pristine" "$work/keyward.toml"
keyward_pid=$server_pid keyward_port=$server_port
lib_start_pykmip "$venv" "$work" "$work/pykmip"
pykmip_pid=$server_pid pykmip_port=$server_port
cosmian_pid=
if ! lib_cosmian_start_script >/dev/null; then
    echo "Cosmian KMS left out (not built or COSMIAN_START=none; see ../shared/bench/README.md)" >&2
elif lib_start_cosmian "$work" "$work/cosmian"; then
    cosmian_pid=$server_pid cosmian_port=$server_port
else
    echo "Cosmian KMS did not start; its column is left out" >&2
fi

run() { # name port pid json args...
    local port=$2 pid=$3 json=$4
    shift 4
    lib_bench "$port" "$work" "$pid" "$json" "$@"
}
field() { lib_field "$@"; }
cpu() { lib_cpu "$@"; }

# Handshake rows use --no-resume (a full handshake every time, client certificate included):
# PyKMIP's TLS 1.2 server would otherwise resume sessions and Keyward's TLS 1.3 would not
# for bare handshakes (they close before the ticket arrives), which compares unlike work.
workloads=(
    "bare-handshake|--bare-handshake --no-resume --conns $conns"
    "vcenter new-conn|--workload vcenter --new-conn --no-resume --conns $conns"
    "vcenter resumed|--workload vcenter --new-conn --conns $conns"
    "create-get c=1|--workload create-get --conns 1"
    "create-get c=$conns|--workload create-get --conns $conns"
    "create-get c=64|--workload create-get --conns 64"
    "get c=$conns|--workload get --conns $conns"
    "mixed c=$conns|--workload mixed --conns $conns"
    "boot-storm c=32|--workload boot-storm --conns 32 --keys 4"
)
echo "Keyward idle RSS after start-up: $(lib_rss "$keyward_pid")"
echo "CPU columns: server and client CPU as % of one core over the run (2 cores = 200 %)."
printf '%-18s %10s %10s %8s %10s %8s %12s %12s %12s %13s %13s %13s\n' workload "keyward/s" \
    "pykmip/s" "kw/py" "cosmian/s" "kw/cos" "keyward p99" "pykmip p99" "cosmian p99" \
    "kw cpu s/c" "py cpu s/c" "cos cpu s/c"
for entry in "${workloads[@]}"; do
    name=${entry%%|*}
    # shellcheck disable=SC2206
    args=(${entry#*|})
    run keyward "$keyward_port" "$keyward_pid" "$work/k.json" "${args[@]}" --duration "$seconds"
    run pykmip "$pykmip_port" "$pykmip_pid" "$work/p.json" "${args[@]}" --duration "$seconds"
    rm -f "$work/c.json"
    if [[ -n $cosmian_pid ]]; then
        run cosmian "$cosmian_port" "$cosmian_pid" "$work/c.json" "${args[@]}" --duration "$seconds"
    fi
    metric="['operations_per_s']"
    op=get
    if [[ $name == bare-handshake* || $name == vcenter* ]]; then
        metric="['handshakes_per_s']"
        op=handshake
    fi
    k=$(field "$work/k.json" "$metric")
    p=$(field "$work/p.json" "$metric")
    kp=$(field "$work/k.json" "['per_operation'].get('$op', {}).get('p99_us', '-')")
    pp=$(field "$work/p.json" "['per_operation'].get('$op', {}).get('p99_us', '-')")
    c=$(field "$work/c.json" "$metric")
    cp99=$(field "$work/c.json" "['per_operation'].get('$op', {}).get('p99_us', '-')")
    kc=$(cpu "$work/k.json")
    pc=$(cpu "$work/p.json")
    cc=$(cpu "$work/c.json")
    ratio=$(python3 -c "print(f'{$k / $p:.1f}x' if $p > 0 else '-')")
    cratio=$(python3 -c "print(f'{$k / $c:.1f}x' if $c > 0 else '-')")
    printf '%-18s %10.0f %10.0f %8s %10.0f %8s %9s us %9s us %9s us %13s %13s %13s\n' "$name" "$k" "$p" \
        "$ratio" "$c" "$cratio" "$kp" "$pp" "$cp99" "$kc" "$pc" "$cc"
done
echo "Keyward RSS after the runs: $(lib_rss "$keyward_pid")"
