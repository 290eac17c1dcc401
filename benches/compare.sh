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

# Certificates. PyKMIP's TLS 1.2 suite list and rustls (AEAD suites only) share just the
# ECDHE-ECDSA AES-GCM suites, so both servers present one ECDSA P-256 server certificate. The
# client certificate is RSA-2048, as in the issue's reference runs: an openssl CSR signed by
# `keyward client sign-csr`, so the client pays the same RSA signature per full handshake.
data="$work/data"
cat >"$work/keyward.toml" <<CONF
[tls]
server_key_type = "ecdsa-p256"
CONF
"$bin" init --config "$work/keyward.toml" --data-dir "$data" >/dev/null
mkdir -p "$work/client"
openssl req -new -newkey rsa:2048 -nodes -subj "/CN=bench" -keyout "$work/client/client.key" \
    -out "$work/client/client.csr" 2>/dev/null
"$bin" client sign-csr --name bench --csr "$work/client/client.csr" --out "$work/client/client.crt" \
    --data-dir "$data" >/dev/null
cp "$data/ca.crt" "$work/client/ca.crt"

# Keyward
RUST_LOG=warn "$bin" serve --config "$work/keyward.toml" --data-dir "$data" --listen 127.0.0.1:0 \
    >"$work/keyward.out" 2>"$work/keyward.log" </dev/null &
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
# The two suites PyKMIP's TLS 1.2 list shares with rustls (see the certificates above).
tls_cipher_suites=
    TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
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

# Cosmian KMS (../shared/bench/README.md): the same CA, server certificate and client
# certificate, laid out as start-cosmian.sh wants them. Its SQLite store is fresh in $work.
cosmian_start=${COSMIAN_START:-../shared/bench/start-cosmian.sh}
# A worktree sits one level deeper than the main checkout.
[[ -n ${COSMIAN_START:-} || -f $cosmian_start ]] || cosmian_start=../../shared/bench/start-cosmian.sh
cosmian_pid=
if [[ $cosmian_start != none && -f $cosmian_start ]]; then
    mkdir -p "$work/cosmian-certs"
    cp "$data/ca.crt" "$data/server.crt" "$data/server.key" "$work/client/client.crt" \
        "$work/client/client.key" "$work/cosmian-certs/"
    cosmian_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if cosmian_pid=$(bash "$cosmian_start" "$work/cosmian-certs" "$cosmian_port" "$work/cosmian"); then
        pids+=("$cosmian_pid")
    else
        echo "Cosmian KMS did not start; its column is left out" >&2
        cosmian_pid=
    fi
else
    echo "Cosmian KMS left out ($cosmian_start not found; see ../shared/bench/README.md)" >&2
fi

run() { # name port pid json args...
    local name=$1 port=$2 pid=$3 json=$4
    shift 4
    "$bin" bench --server "localhost:$port" --ca "$work/client/ca.crt" --cert "$work/client/client.crt" \
        --key "$work/client/client.key" --server-pid "$pid" --json "$json" "$@" >"$json.txt" 2>&1 ||
        echo "  ($name: $(tail -1 "$json.txt"))" >&2
}
field() { python3 -c "import json,sys; r=json.load(open('$1')); print(r$2)" 2>/dev/null || echo 0; }
cpu() { # server/client CPU of one run, % of one core
    python3 -c "import json; r=json.load(open('$1')); e=r['elapsed_s']; \
print(f\"{100*(r['server_cpu_s'] or 0)/e:.0f}/{100*r['client_cpu_s']/e:.0f}\")" 2>/dev/null || echo -
}

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
echo "Keyward idle RSS after start-up: $(grep VmRSS "/proc/$keyward_pid/status" | awk '{print $2, $3}')"
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
echo "Keyward RSS after the runs: $(grep VmRSS "/proc/$keyward_pid/status" | awk '{print $2, $3}')"
