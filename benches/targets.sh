#!/usr/bin/env bash
# Every row of issue 21's targets table, measured in one run on one machine: Keyward, Cosmian
# KMS (when built) and PyKMIP with the same certificates and the same load generator
# (`keyward bench`, benches/lib.sh shares the setup with compare.sh), a three-node cluster on a
# real etcd next to a single appliance, audit forwarding at a fixed request rate with and
# without a collector, and the idle RSS; then the table with ratios and met/missed per row
# (benches/targets_table.py holds the rules). Meant to be run once on a quiet machine; not CI.
#
#   cargo build --release && bash benches/targets.sh [SECONDS]   # default 10 s per run, 2 runs
#
# Each workload runs REPEATS times (default 2) for SECONDS against a fresh server (a fresh
# store); the table shows medians. At the defaults the whole run takes about 12 minutes.
# Environment:
#   KEYWARD_BIN     the release binary (default $CARGO_TARGET_DIR/release/keyward)
#   REPEATS         runs per workload (default 2)
#   PARTS           comma list of what to run (default all): keyward,cosmian,pykmip,cluster,
#                   forward,before
#   BEFORE_BIN      an older keyward binary: create-get, get and mixed at 8 connections are also
#                   run against it (issue 20's before and after; the load generator is $bin's)
#   PERF=1          for every missed row, `perf record -g` of the server during that workload
#                   (one more run) and a `perf report --stdio` summary (needs perf, root or
#                   kernel.perf_event_paranoid <= 1); PERF_ARGS replaces -g (e.g.
#                   "--call-graph dwarf,8192 -F 499": the release build has no frame pointers)
#   FORWARD_RATE    requests/s of the forwarding rows (default 5000)
#   CLUSTER_CONNS   connections per cluster node (default 2; the single appliance gets 3 times
#                   as many)
#   TARGETS_OUT     where the table and raw reports go (default $CARGO_TARGET_DIR/targets/TIME)
#   COMPARE_VENV    PyKMIP virtualenv (default $CARGO_TARGET_DIR/bench-venv, kept between runs)
#   COSMIAN_START, COSMIAN_KMS_BIN   as for compare.sh (../shared/bench/README.md)
# Needs: openssl, python3 (+ venv, PyPI the first time), etcd (Debian's etcd-server) for the
# cluster rows, perf for PERF=1. Cosmian's column says "not run" when it is not built.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=benches/lib.sh
source benches/lib.sh
seconds=${1:-10}
repeats=${REPEATS:-2}
target_dir=${CARGO_TARGET_DIR:-target}
bin=$(realpath "${KEYWARD_BIN:-$target_dir/release/keyward}")
parts=,${PARTS:-keyward,cosmian,pykmip,cluster,forward,before},
forward_rate=${FORWARD_RATE:-5000}
cluster_conns=${CLUSTER_CONNS:-2}
out=${TARGETS_OUT:-$target_dir/targets/$(date -u +%Y%m%dT%H%M%SZ)}
venv=${COMPARE_VENV:-$target_dir/bench-venv}
raw="$out/raw"
mkdir -p "$raw"
work=$(mktemp -d)
trap lib_cleanup EXIT
wants() { [[ $parts == *,$1,* ]]; }
say() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

[[ -x "$bin" ]] || { echo "no $bin: run cargo build --release first" >&2; exit 1; }
if [[ -n ${BEFORE_BIN:-} ]]; then
    BEFORE_BIN=$(realpath "$BEFORE_BIN")
    [[ -x $BEFORE_BIN ]] || { echo "BEFORE_BIN=$BEFORE_BIN is not executable" >&2; exit 1; }
fi
wants pykmip && lib_pykmip_venv "$venv"
lib_make_certs "$work"
cosmian=
if wants cosmian && lib_cosmian_start_script >/dev/null; then cosmian=yes; fi
[[ -n $cosmian ]] || say "Cosmian KMS not run (not built or left out): its column says so"
say "$(uname -r), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); out: $out"

# key | `keyward bench` arguments | servers (k Keyward, c Cosmian, p PyKMIP). Handshake rows use
# --no-resume: a full handshake every time, client certificate included, on every server.
workloads=(
    "cg8|--workload create-get --conns 8|kcp"
    "get8|--workload get --conns 8|kcp"
    "mixed8|--workload mixed --conns 8|kcp"
    "getnew8|--workload get --new-conn --no-resume --conns 8|kcp"
    "bare8|--bare-handshake --no-resume --conns 8|k"
    "vcenter8|--workload vcenter --new-conn --no-resume --conns 8|k"
    "cg64|--workload create-get --conns 64|kcp"
)
args_of() { # key -> its bench arguments
    local entry
    for entry in "${workloads[@]}"; do
        [[ ${entry%%|*} == "$1" ]] && { entry=${entry#*|}; echo "${entry%|*}"; return; }
    done
}

# A fresh server of kind $1 (keyward, before, cosmian, pykmip) for run $2; sets server_pid,
# server_port, run_dir (removed by stop_fresh) and certs (the client for lib_bench). Keyward's
# configuration is $3 (default: the one lib_make_certs wrote).
start_fresh() {
    local kind=$1 tag=$2 config=${3:-$work/keyward.toml}
    run_dir="$work/run-$kind-$tag"
    certs=$work
    case $kind in
    keyward)
        cp -a "$work/pristine" "$run_dir"
        lib_start_keyward "$run_dir" "$config"
        ;;
    before)
        certs=$work/before
        cp -a "$certs/pristine" "$run_dir"
        lib_start_keyward "$run_dir" "$certs/keyward.toml" "$BEFORE_BIN"
        ;;
    pykmip) lib_start_pykmip "$venv" "$work" "$run_dir" ;;
    cosmian) lib_start_cosmian "$work" "$run_dir" ;;
    esac
}
stop_fresh() {
    lib_stop "$server_pid"
    rm -rf "$run_dir" "$run_dir.out" "$run_dir.log"
}

measure() { # kind key args...
    local kind=$1 key=$2 rep
    shift 2
    for rep in $(seq "$repeats"); do
        if ! start_fresh "$kind" "$key-$rep"; then
            say "$kind did not start for $key"
            return 0
        fi
        lib_bench "$server_port" "$certs" "$server_pid" "$raw/$key.$kind.$rep.json" "$@" \
            --duration "$seconds"
        stop_fresh
    done
}

# ---- single servers, side by side --------------------------------------------------------
if wants keyward; then
    start_fresh keyward idle
    sleep 1
    lib_rss "$server_pid" >"$raw/idle_rss_kib"
    stop_fresh
fi
for entry in "${workloads[@]}"; do
    key=${entry%%|*}
    servers=${entry##*|}
    # shellcheck disable=SC2206
    args=($(args_of "$key"))
    if wants keyward; then say "keyward $key"; measure keyward "$key" "${args[@]}"; fi
    if [[ $servers == *c* && -n $cosmian ]]; then
        say "cosmian $key"
        measure cosmian "$key" "${args[@]}"
    fi
    if [[ $servers == *p* ]] && wants pykmip; then say "pykmip $key"; measure pykmip "$key" "${args[@]}"; fi
done

# ---- issue 20's before and after: the same load generator against an older binary ---------
if [[ -n ${BEFORE_BIN:-} ]] && wants before; then
    lib_make_certs "$work/before" "$BEFORE_BIN"
    for key in cg8 get8 mixed8; do
        say "before $key"
        # shellcheck disable=SC2046
        measure before "$key" $(args_of "$key")
    done
fi

# ---- a three-node cluster on etcd next to a single appliance ------------------------------
# As docs/cluster.md sets one up (and tests/common/nodes.rs): three etcd members on loopback,
# `keyward cluster init` on the first node, `cluster join --root-key-file` on the others.
start_etcd() { # dir -> etcd_urls (client URLs, space separated)
    local dir=$1 i initial="" urls=() peers=()
    for i in 0 1 2; do
        urls+=("http://127.0.0.1:$(lib_free_port)")
        peers+=("http://127.0.0.1:$(lib_free_port)")
        initial+="${initial:+,}m$i=${peers[$i]}"
    done
    for i in 0 1 2; do
        etcd --name "m$i" --data-dir "$dir/m$i.etcd" \
            --listen-client-urls "${urls[$i]}" --advertise-client-urls "${urls[$i]}" \
            --listen-peer-urls "${peers[$i]}" --initial-advertise-peer-urls "${peers[$i]}" \
            --initial-cluster "$initial" --initial-cluster-state new \
            --initial-cluster-token keyward-bench --max-txn-ops 4096 \
            --logger zap --log-level warn >/dev/null 2>"$dir/m$i.log" </dev/null &
        lib_track $!
    done
    # A linearizable read through every member: answered once there is a leader and a quorum.
    python3 - "${urls[@]}" <<'PY'
import sys, time, urllib.request
deadline = time.time() + 30
for url in sys.argv[1:]:
    while True:
        try:
            req = urllib.request.Request(url + "/v3/kv/range", data=b'{"key":"AA=="}',
                                         headers={"content-type": "application/json"})
            if urllib.request.urlopen(req, timeout=1).status == 200:
                break
        except OSError:
            pass
        if time.time() > deadline:
            sys.exit(f"etcd at {url} has no quorum after 30 s")
        time.sleep(0.2)
PY
    etcd_urls="${urls[*]}"
}

cluster_part() {
    local dir=$work/cluster i rep pids
    mkdir -p "$dir/single-certs" "$dir/cluster-certs"
    # The single appliance: the same kind of client certificate as the cluster's (`client issue`).
    echo '[log]' >"$dir/single.toml"
    "$bin" init --config "$dir/single.toml" --data-dir "$dir/single" >/dev/null 2>"$dir/single-init.log"
    "$bin" client issue --name bench --out "$dir/single-certs/client" \
        --config "$dir/single.toml" --data-dir "$dir/single" >/dev/null
    lib_start_keyward "$dir/single" "$dir/single.toml"
    local single_pid=$server_pid single_port=$server_port
    for rep in $(seq "$repeats"); do
        say "single appliance create/get ($rep)"
        lib_bench "$single_port" "$dir/single-certs" "$single_pid" \
            "$raw/cluster_create.single.$rep.json" --workload create \
            --conns $((3 * cluster_conns)) --duration "$seconds"
        lib_bench "$single_port" "$dir/single-certs" "$single_pid" \
            "$raw/cluster_get.single.$rep.json" --workload get \
            --conns $((3 * cluster_conns)) --duration "$seconds"
    done
    lib_stop "$single_pid"

    command -v etcd >/dev/null || { say "no etcd: cluster rows not run (apt-get install etcd-server)"; return 0; }
    start_etcd "$dir" || { say "etcd did not start: cluster rows not run"; return 0; }
    # shellcheck disable=SC2206
    local urls=($etcd_urls) ports=() node_pids=()
    for i in 0 1 2; do
        # Each node lists its own member first.
        local list="" j
        for j in 0 1 2; do list+="${list:+, }\"${urls[$(((i + j) % 3))]}\""; done
        printf '[cluster]\nendpoints = [%s]\nprefix = "/keyward-bench/"\nmax_txn_ops = 4096\n' \
            "$list" >"$dir/node$i.toml"
    done
    if ! "$bin" cluster init --config "$dir/node0.toml" --data-dir "$dir/node0" >"$dir/init.log" 2>&1 ||
        ! "$bin" client issue --name bench --out "$dir/cluster-certs/client" \
            --config "$dir/node0.toml" --data-dir "$dir/node0" >>"$dir/init.log" 2>&1; then
        say "cluster init failed: $(tail -1 "$dir/init.log"); cluster rows not run"
        return 0
    fi
    for i in 1 2; do
        if ! "$bin" cluster join --root-key-file "$dir/node0/root.key" --config "$dir/node$i.toml" \
            --data-dir "$dir/node$i" >"$dir/join$i.log" 2>&1; then
            say "cluster join of node $i failed: $(tail -1 "$dir/join$i.log"); cluster rows not run"
            return 0
        fi
    done
    for i in 0 1 2; do
        lib_start_keyward "$dir/node$i" "$dir/node$i.toml" || return 0
        ports+=("$server_port")
        node_pids+=("$server_pid")
    done
    for rep in $(seq "$repeats"); do
        for what in create get; do
            say "3-node cluster $what ($rep)"
            pids=()
            for i in 0 1 2; do
                lib_bench "${ports[$i]}" "$dir/cluster-certs" "${node_pids[$i]}" \
                    "$raw/cluster_$what.cluster.$rep.n$i.json" --workload "$what" \
                    --conns "$cluster_conns" --duration "$seconds" &
                pids+=($!)
            done
            for i in "${pids[@]}"; do wait "$i" || true; done
        done
    done
    if [[ ${PERF:-} == 1 ]]; then
        for what in create get; do
            # Profiled whether or not the row is missed (the cluster is gone afterwards); the
            # summary is shown only for a missed row.
            pids=()
            for i in 0 1 2; do
                lib_bench "${ports[$i]}" "$dir/cluster-certs" "" "$work/perf-$what.$i.json" \
                    --workload "$what" --conns "$cluster_conns" --duration "$seconds" &
                pids+=($!)
            done
            profile "cluster_$what" "${node_pids[0]}"
            for i in "${pids[@]}"; do wait "$i" || true; done
        done
    fi
    for i in 0 1 2; do lib_stop "${node_pids[$i]}"; done
}

# perf record -g of process $2 for the run's duration, into $out/perf/$1.{data,txt}.
profile() {
    mkdir -p "$out/perf"
    # The load generator first connects (and, for get, creates its keys): skip that second.
    sleep 1
    # shellcheck disable=SC2086
    perf record ${PERF_ARGS:--g} -p "$2" -o "$out/perf/$1.data" -- sleep "$(python3 -c "print(max(1, $seconds - 1))")" \
        >/dev/null 2>"$out/perf/$1.err" || true
    # Where the server's time goes: per thread, then the hottest functions (flat; the .data
    # file keeps the call graphs: perf report -i FILE).
    {
        perf report --stdio --no-children --sort comm -g none -i "$out/perf/$1.data" 2>/dev/null |
            grep -E '^ +[0-9]' | head -8
        echo
        perf report --stdio --no-children --sort comm,sym -g none -i "$out/perf/$1.data" \
            2>/dev/null | grep -E '^ +[0-9]' | head -40
    } >"$out/perf/$1.txt" || true
}

# ---- audit forwarding at a fixed request rate, with and without a collector --------------
# The collector counts lines and, twice a second, writes "time lines lag": lag is how old the
# newest record it has received is (now − the record's time), so a forwarder that falls behind
# shows as a lag that grows through the run.
collector() { # port-file samples-file
    # exec: started with `&`, the function's subshell becomes the collector itself, so the pid
    # the caller tracks and stops is the collector's (a plain call left python running).
    exec python3 - "$1" "$2" <<'PY'
import datetime, re, socket, sys, threading, time
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0))
listener.listen(8)
open(sys.argv[1], "w").write(f"{listener.getsockname()[1]}\n")
lock = threading.Lock()
state = {"lines": 0, "last": b""}
stamp = re.compile(rb'(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z')
def serve(conn):
    tail = b""
    while True:
        data = conn.recv(1 << 16)
        if not data:
            return
        tail += data
        cut = tail.rfind(b"\n")
        if cut < 0:
            continue
        complete, tail = tail[:cut], tail[cut + 1:]
        with lock:
            state["lines"] += complete.count(b"\n") + 1
            state["last"] = complete[complete.rfind(b"\n") + 1:]
def accept():
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()
threading.Thread(target=accept, daemon=True).start()
with open(sys.argv[2], "w", buffering=1) as samples:
    while True:
        time.sleep(0.5)
        now = time.time()
        with lock:
            lines, last = state["lines"], state["last"]
        found = stamp.search(last)
        lag = -1.0
        if found:
            sent = datetime.datetime.strptime(found.group(1).decode(), "%Y-%m-%dT%H:%M:%S.%f")
            lag = now - sent.replace(tzinfo=datetime.timezone.utc).timestamp()
        samples.write(f"{now:.3f} {lines} {lag:.3f}\n")
PY
}

forward_run() { # rep on|off [perf-key]
    local rep=$1 mode=$2 config=$work/keyward.toml collector_pid=
    if [[ $mode == on ]]; then
        rm -f "$work/collector.port"
        local samples="$raw/forward.$rep.samples"
        [[ -n ${3:-} ]] && samples=$work/perf.samples
        collector "$work/collector.port" "$samples" &
        collector_pid=$!
        lib_track "$collector_pid"
        local _
        for _ in $(seq 50); do [[ -s $work/collector.port ]] && break; sleep 0.1; done
        config=$work/forward.toml
        printf '[tls]\nserver_key_type = "ecdsa-p256"\n[audit]\nforward_address = "127.0.0.1:%s"\nforward_format = "jsonl"\n' \
            "$(cat "$work/collector.port")" >"$config"
    fi
    start_fresh keyward "fwd-$mode-$rep" "$config" || return 0
    local json="$raw/fwd_$mode.keyward.$rep.json"
    [[ -n ${3:-} ]] && json=$work/perf-forward.json
    local started
    started=$(date +%s.%N)
    if [[ -n ${3:-} ]]; then
        lib_bench "$server_port" "$certs" "$server_pid" "$json" --workload get --conns 8 \
            --rate "$forward_rate" --duration "$seconds" &
        local bench=$!
        profile "$3" "$server_pid"
        wait "$bench" || true
    else
        lib_bench "$server_port" "$certs" "$server_pid" "$json" --workload get --conns 8 \
            --rate "$forward_rate" --duration "$seconds"
        [[ $mode == on ]] && echo "$started $(date +%s.%N)" >"$raw/forward.$rep.window"
    fi
    # Up to 10 s for the collector to catch up after the load (the samples say when it did).
    [[ $mode == on ]] && sleep "$(python3 -c "print(min(10, max(2, $seconds / 2)))")"
    stop_fresh
    if [[ -n $collector_pid ]]; then lib_stop "$collector_pid"; fi
}

if wants cluster; then cluster_part; fi
if wants forward; then
    for rep in $(seq "$repeats"); do
        say "audit forwarding at $forward_rate/s ($rep)"
        forward_run "$rep" off
        forward_run "$rep" on
    done
fi

# ---- the table ----------------------------------------------------------------------------
table() {
    {
        echo "# Issue 21 targets, $(date -u '+%Y-%m-%d %H:%M') UTC"
        echo
        echo "Keyward $("$bin" --version 2>/dev/null || echo "$bin"), $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo ' (modified tree)');" \
            "$(nproc) CPUs, $(uname -r), load average at the end $(cut -d' ' -f1-3 /proc/loadavg)."
        echo
        FORWARD_RATE=$forward_rate python3 benches/targets_table.py "$raw" "$seconds" "$repeats"
    } >"$out/targets.md"
}
table

# ---- profiles of the missed rows ----------------------------------------------------------
if [[ ${PERF:-} == 1 ]]; then
    while read -r key <&3; do
        case $key in
        cluster_*) continue ;; # profiled while the cluster ran
        forward) say "profiling forward"; forward_run 1 on forward ;;
        cpu_get | getnew8 | vcenter8 | cg8 | get8 | mixed8 | cg64)
            [[ $key == cpu_get ]] && key=get8
            [[ -s $out/perf/$key.txt ]] && continue
            say "profiling keyward $key"
            start_fresh keyward "perf-$key"
            # shellcheck disable=SC2046
            lib_bench "$server_port" "$certs" "$server_pid" "$out/perf/$key.bench.json" $(args_of "$key") \
                --duration "$seconds" &
            bench=$!
            profile "$key" "$server_pid"
            wait "$bench" || true
            stop_fresh
            ;;
        esac
    done 3<"$out/missed"
    {
        echo
        echo "## Profiles of the missed rows (perf record of the server during the row's workload: samples per thread, then per function)"
        while read -r key; do
            [[ -s $out/perf/$key.txt ]] || continue
            echo
            echo "### $key ($out/perf/$key.data)"
            echo
            echo '```'
            head -30 "$out/perf/$key.txt"
            echo '```'
        done < <(sed 's/^cpu_get$/get8/' "$out/missed" | sort -u)
    } >>"$out/targets.md"
fi
cat "$out/targets.md"
say "table: $out/targets.md; raw reports: $raw"
