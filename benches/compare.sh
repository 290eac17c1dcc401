#!/usr/bin/env bash
# Side-by-side load runs: Keyward and the PyKMIP server (from PyPI, in a virtualenv) on
# loopback with the SAME certificates (Keyward's CA, server certificate and an issued client
# certificate), the same `keyward bench` load generator and the same workloads. Prints one
# table with the ratio Keyward / PyKMIP per workload. Not part of CI (it measures).
#
#   cargo build --release && bash benches/compare.sh [SECONDS]   # default 10 s per run
#
# Environment: KEYWARD_BIN (default target/release/keyward), COMPARE_VENV (virtualenv to
# reuse), COMPARE_CONNS (default 8). Both servers run durably: Keyward commits to redb with
# fsync before answering; PyKMIP writes to its SQLite file.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-10}
conns=${COMPARE_CONNS:-8}
bin=${KEYWARD_BIN:-${CARGO_TARGET_DIR:-target}/release/keyward}
PYKMIP_VERSION=0.11.0
work=$(mktemp -d)
venv=${COMPARE_VENV:-$work/venv}
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

[[ -x "$bin" ]] || { echo "no $bin: run cargo build --release first" >&2; exit 1; }
if [[ ! -x "$venv/bin/pykmip-server" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --disable-pip-version-check --quiet "pykmip==$PYKMIP_VERSION"
fi

data="$work/data"
"$bin" init --data-dir "$data" >/dev/null
"$bin" client issue --name bench --out "$work/client" --data-dir "$data" >/dev/null

# Keyward
RUST_LOG=warn "$bin" serve --data-dir "$data" --listen 127.0.0.1:0 >"$work/keyward.out" 2>"$work/keyward.log" </dev/null &
pids+=($!)
keyward_pid=$!
for _ in $(seq 100); do grep -q '^listening on' "$work/keyward.out" && break; sleep 0.1; done
keyward_port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$work/keyward.out")

# PyKMIP, with Keyward's server certificate and CA.
pykmip_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/policies"
cat >"$work/server.conf" <<CONF
[server]
hostname=127.0.0.1
port=$pykmip_port
certificate_path=$data/server.crt
key_path=$data/server.key
ca_path=$data/ca.crt
auth_suite=TLS1.2
policy_path=$work/policies
enable_tls_client_auth=True
# rustls offers AEAD suites only; PyKMIP's TLS 1.2 default list is CBC-only.
tls_cipher_suites=
    ECDHE-ECDSA-AES128-GCM-SHA256
    ECDHE-ECDSA-AES256-GCM-SHA384
    ECDHE-RSA-AES128-GCM-SHA256
    ECDHE-RSA-AES256-GCM-SHA384
logging_level=WARNING
database_path=$work/pykmip.db
CONF
"$venv/bin/pykmip-server" -f "$work/server.conf" -l "$work/pykmip.log" >"$work/pykmip.out" 2>&1 &
pids+=($!)
pykmip_pid=$!
for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $pykmip_port), 0.2)" 2>/dev/null && break
    sleep 0.2
done

run() { # name port pid json args...
    local name=$1 port=$2 pid=$3 json=$4
    shift 4
    "$bin" bench --server "localhost:$port" --ca "$work/client/ca.crt" --cert "$work/client/client.crt" \
        --key "$work/client/client.key" --server-pid "$pid" --json "$json" "$@" >"$json.txt" 2>&1 ||
        echo "  ($name: $(tail -1 "$json.txt"))" >&2
}
field() { python3 -c "import json,sys; r=json.load(open('$1')); print(r$2)" 2>/dev/null || echo 0; }

workloads=(
    "bare-handshake|--bare-handshake --conns $conns"
    "vcenter new-conn|--workload vcenter --new-conn --conns $conns"
    "create-get c=$conns|--workload create-get --conns $conns"
    "create-get c=64|--workload create-get --conns 64"
    "get c=$conns|--workload get --conns $conns"
    "mixed c=$conns|--workload mixed --conns $conns"
    "boot-storm c=32|--workload boot-storm --conns 32 --keys 4"
)
printf '%-20s %12s %12s %8s %14s %14s\n' workload "keyward/s" "pykmip/s" ratio "keyward p99" "pykmip p99"
for entry in "${workloads[@]}"; do
    name=${entry%%|*}
    # shellcheck disable=SC2206
    args=(${entry#*|})
    run keyward "$keyward_port" "$keyward_pid" "$work/k.json" "${args[@]}" --duration "$seconds"
    run pykmip "$pykmip_port" "$pykmip_pid" "$work/p.json" "${args[@]}" --duration "$seconds"
    metric="['operations_per_s']"
    [[ $name == bare-handshake* || $name == vcenter* ]] && metric="['handshakes_per_s']"
    k=$(field "$work/k.json" "$metric")
    p=$(field "$work/p.json" "$metric")
    kp=$(field "$work/k.json" "['per_operation'].get('get', {}).get('p99_us', '-')")
    pp=$(field "$work/p.json" "['per_operation'].get('get', {}).get('p99_us', '-')")
    ratio=$(python3 -c "print(f'{$k / $p:.1f}x' if $p > 0 else '-')")
    printf '%-20s %12.0f %12.0f %8s %12s us %12s us\n' "$name" "$k" "$p" "$ratio" "$kp" "$pp"
done
echo "Keyward idle RSS before the runs is in the JSON-free line below:"
grep VmRSS "/proc/$keyward_pid/status" || true
