# Sourced by the bench scripts (compare.sh, targets.sh, pipeline.sh, committer_cpu.sh,
# read_journal.sh), never run on its own: the parts they share to put Keyward, PyKMIP and
# Cosmian KMS side by side with the same certificates and the same load generator (`keyward
# bench`), and to run fresh Keyward servers for before/after comparisons, so the scripts cannot
# drift apart in how a server is set up, started or measured.
#
# The sourcing script sets `bin` (the Keyward binary that also drives the load) and `work` (a
# temp dir it owns) before calling anything here, and calls `lib_cleanup` from its EXIT trap.

PYKMIP_VERSION=0.11.0
lib_pids=()

# The two binaries of a before/after comparison: $before from KEYWARD_BEFORE (required),
# $after from KEYWARD_AFTER (default: this tree's release build).
lib_before_after() {
    before=${KEYWARD_BEFORE:?set KEYWARD_BEFORE to the binary before the change}
    after=${KEYWARD_AFTER:-${CARGO_TARGET_DIR:-target}/release/keyward}
}

# Kills every process started through `lib_track`, then removes $work.
lib_cleanup() {
    local pid
    for pid in "${lib_pids[@]}"; do lib_stop "$pid"; done
    rm -rf "$work"
}
lib_track() { lib_pids+=("$1"); }
# Forgets process $1 (stopped and waited for: its pid may be reused by a stranger).
lib_untrack() {
    local pid kept=()
    for pid in "${lib_pids[@]}"; do [[ $pid == "$1" ]] || kept+=("$pid"); done
    lib_pids=("${kept[@]}")
}

lib_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The virtualenv with PyKMIP's server: $1 (reused when it already has it).
lib_pykmip_venv() {
    local venv=$1
    if [[ ! -x "$venv/bin/pykmip-server" ]]; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install --disable-pip-version-check --quiet "pykmip==$PYKMIP_VERSION"
    fi
}

# Certificates and a pristine Keyward data dir in $1, made with Keyward binary $2 (default
# $bin). PyKMIP's TLS 1.2 suite list and rustls (AEAD suites only) share just the ECDHE-ECDSA
# AES-GCM suites, so every server presents one ECDSA P-256 server certificate. The client
# certificate is RSA-2048, as in issue 21's reference runs: an openssl CSR signed by `keyward
# client sign-csr`, so the client pays the same RSA signature per full handshake everywhere.
# Leaves $1/pristine (data dir), $1/keyward.toml and $1/client/{ca.crt,client.crt,client.key}.
lib_make_certs() {
    local dir=$1 keyward=${2:-$bin}
    mkdir -p "$dir/client"
    cat >"$dir/keyward.toml" <<CONF
[tls]
server_key_type = "ecdsa-p256"
CONF
    "$keyward" init --config "$dir/keyward.toml" --data-dir "$dir/pristine" >/dev/null \
        2>"$dir/init.log"
    openssl req -new -newkey rsa:2048 -nodes -subj "/CN=bench" -keyout "$dir/client/client.key" \
        -out "$dir/client/client.csr" 2>/dev/null
    "$keyward" client sign-csr --name bench --csr "$dir/client/client.csr" \
        --out "$dir/client/client.crt" --data-dir "$dir/pristine" >/dev/null
    cp "$dir/pristine/ca.crt" "$dir/client/ca.crt"
}

# Starts `keyward serve` (binary $3, default $bin) on a free loopback port with data dir $1 and
# configuration $2; sets server_pid and server_port. The log is $1.log.
lib_start_keyward() {
    local data=$1 config=$2 keyward=${3:-$bin}
    RUST_LOG=${KEYWARD_LOG:-warn} "$keyward" serve --config "$config" --data-dir "$data" \
        --listen 127.0.0.1:0 >"$data.out" 2>"$data.log" </dev/null &
    server_pid=$!
    lib_track "$server_pid"
    local _
    for _ in $(seq 100); do grep -q '^listening on' "$data.out" && break; sleep 0.1; done
    server_port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$data.out")
    [[ -n $server_port ]] || { echo "keyward did not start (log: $data.log)" >&2; return 1; }
}

# A fresh Keyward for one run of a before/after comparison, made and served by binary $1
# (default $bin): configuration $2 (TOML text, default empty) in $work/keyward.toml, a new
# data dir under $work, a client certificate issued into $work/client (so `lib_bench` takes
# $work as its client dir), and `keyward serve` on it (lib_start_keyward). Sets data_dir,
# server_pid and server_port; stop it with lib_stop_keyward.
lib_fresh_keyward() {
    local keyward=${1:-$bin}
    data_dir="$work/data-$RANDOM"
    printf '%s' "${2:-}" >"$work/keyward.toml"
    "$keyward" init --config "$work/keyward.toml" --data-dir "$data_dir" >/dev/null \
        2>"$data_dir.init.log" || { cat "$data_dir.init.log" >&2; return 1; }
    rm -rf "$work/client"
    "$keyward" client issue --name bench --out "$work/client" --data-dir "$data_dir" \
        >/dev/null 2>>"$data_dir.init.log" || { cat "$data_dir.init.log" >&2; return 1; }
    lib_start_keyward "$data_dir" "$work/keyward.toml" "$keyward"
}

# Stops the Keyward server started last ($server_pid) with SIGTERM and waits however long its
# shutdown takes (its last group commits, the read journal folds into the audit log), unlike
# lib_stop: a script may read the data dir afterwards.
lib_stop_keyward() {
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    lib_untrack "$server_pid"
    server_pid=""
}

# Starts PyKMIP's server from venv $1 with the certificates of lib_make_certs dir $2 and a fresh
# SQLite file under $3; sets server_pid and server_port.
lib_start_pykmip() {
    local venv=$1 certs=$2 dir=$3
    mkdir -p "$dir/policies"
    server_port=$(lib_free_port)
    cat >"$dir/server.conf" <<CONF
[server]
hostname=127.0.0.1
port=$server_port
certificate_path=$certs/pristine/server.crt
key_path=$certs/pristine/server.key
ca_path=$certs/pristine/ca.crt
auth_suite=TLS1.2
policy_path=$dir/policies
enable_tls_client_auth=True
# The two suites PyKMIP's TLS 1.2 list shares with rustls (see lib_make_certs).
tls_cipher_suites=
    TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
logging_level=WARNING
database_path=$dir/pykmip.db
CONF
    # A process group of its own: the server forks helpers (its policy monitor), which must go
    # with it (lib_stop kills the group).
    setsid "$venv/bin/pykmip-server" -f "$dir/server.conf" -l "$dir/pykmip.log" \
        >"$dir/pykmip.out" 2>&1 </dev/null &
    server_pid=$!
    lib_track "$server_pid"
    local _
    for _ in $(seq 100); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', $server_port), 0.2)" \
            2>/dev/null && return 0
        sleep 0.2
    done
    echo "PyKMIP did not start (log: $dir/pykmip.log)" >&2
    return 1
}

# The start script of ../shared/bench (README there), or COSMIAN_START; prints nothing and
# fails when Cosmian KMS is not available (COSMIAN_START=none, no script, or no binary).
lib_cosmian_start_script() {
    local script=${COSMIAN_START:-../shared/bench/start-cosmian.sh}
    # A worktree sits one level deeper than the main checkout.
    [[ -n ${COSMIAN_START:-} || -f $script ]] || script=../../shared/bench/start-cosmian.sh
    [[ $script != none && -f $script ]] || return 1
    local binary=${COSMIAN_KMS_BIN:-${COSMIAN_ROOT:-/opt/cosmian-kms}/bin/cosmian_kms}
    [[ -x $binary ]] || return 1
    echo "$script"
}

# Starts Cosmian KMS with the certificates of lib_make_certs dir $1 and a fresh SQLite store in
# $2; sets server_pid and server_port.
lib_start_cosmian() {
    local certs=$1 dir=$2 script
    script=$(lib_cosmian_start_script) || return 1
    mkdir -p "$certs/cosmian"
    cp "$certs/pristine/ca.crt" "$certs/pristine/server.crt" "$certs/pristine/server.key" \
        "$certs/client/client.crt" "$certs/client/client.key" "$certs/cosmian/"
    server_port=$(lib_free_port)
    server_pid=$(bash "$script" "$certs/cosmian" "$server_port" "$dir") || return 1
    lib_track "$server_pid"
}

# Stops process $1: SIGTERM, SIGKILL after 2 s (PyKMIP's server takes its time to join its
# threads; every run starts from a fresh store, so nothing is lost), and waits until it is gone
# (Cosmian's server is not our child, so `wait` alone cannot tell).
# A process that leads its own group (PyKMIP's, Cosmian's: started with setsid) is stopped
# with its whole group.
lib_stop() {
    local target=$1 _
    [[ $(ps -o pgid= -p "$1" 2>/dev/null | tr -d ' ') == "$1" ]] && target=-$1
    kill -- "$target" 2>/dev/null || true
    for _ in $(seq 20); do lib_alive "$1" || break; sleep 0.1; done
    kill -9 -- "$target" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    for _ in $(seq 50); do lib_alive "$1" || return 0; sleep 0.1; done
}
# Whether process $1 runs (a zombie, exited but not yet waited for, does not).
lib_alive() {
    local state
    state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
    [[ -n $state && $state != Z ]]
}

# One `keyward bench` run against 127.0.0.1:$1 (the host name "localhost" matches the server
# certificate) with the client of lib_make_certs dir $2, server pid $3 (for its CPU), the JSON
# report to $4 and the text to $4.txt; the rest are bench arguments. A failed run leaves a
# line on stderr and no JSON.
lib_bench() {
    local port=$1 certs=$2 pid=$3 json=$4
    shift 4
    rm -f "$json"
    "$bin" bench --server "localhost:$port" --ca "$certs/client/ca.crt" \
        --cert "$certs/client/client.crt" --key "$certs/client/client.key" \
        ${pid:+--server-pid "$pid"} --json "$json" "$@" >"$json.txt" 2>&1 ||
        echo "  (bench $*: $(tail -1 "$json.txt"))" >&2
}

# A field of a bench JSON report ($1), as a Python subscript ($2); 0 when absent.
lib_field() { python3 -c "import json,sys; r=json.load(open('$1')); print(r$2)" 2>/dev/null || echo 0; }

# Server and client CPU of one run ($1), % of one core.
lib_cpu() {
    python3 -c "import json; r=json.load(open('$1')); e=r['elapsed_s']; \
print(f\"{100*(r['server_cpu_s'] or 0)/e:.0f}/{100*r['client_cpu_s']/e:.0f}\")" 2>/dev/null || echo -
}

# Resident memory of process $1 (VmRSS), e.g. "9812 kB".
lib_rss() { grep VmRSS "/proc/$1/status" | awk '{print $2, $3}'; }
