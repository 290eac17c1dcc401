#!/usr/bin/env bash
# Interop suite: PyKMIP, a third-party KMIP client, against a real Keyward server.
#
# Creates a virtualenv with a pinned PyKMIP from PyPI, builds keyward (or uses $KEYWARD_BIN),
# initialises a temporary data directory, issues two client certificates, starts the server
# on a free loopback port (port 0; the real port is read from the server's `listening on`
# line), writes a PyKMIP configuration with one section per identity and runs
# pykmip_suite.py, then PyKMIP's own integration suite (pykmip_integration.sh, under a third
# identity: it counts what Locate finds). Prints `N passed, N failed` last (both suites
# together) and exits non-zero on any failure.
#
# TLS findings (PyKMIP 0.11.0, kmip/services/kmip_client.py, read for this suite):
# - The client builds `ssl.SSLContext(ssl_version)` with ssl_version from the config
#   (default "PROTOCOL_SSLv23", the old name of PROTOCOL_TLS: negotiate the highest version).
#   It never calls set_ciphers(), so Python's default cipher string applies: on TLS 1.2
#   that is ECDHE/DHE with AES-GCM or ChaCha20 first, which meets rustls' ECDHE-AEAD-only
#   suites; TLS 1.3 suites are not affected by set_ciphers anyway. With OpenSSL 3 the
#   default context negotiates TLS 1.3 with rustls.
# - It calls wrap_socket() without server_hostname: no SNI is sent and the host name is not
#   checked (check_hostname stays False for PROTOCOL_TLS); the server certificate is still
#   verified against ca_certs because cert_reqs = CERT_REQUIRED. PROTOCOL_TLS_CLIENT must NOT
#   be used here: it turns on check_hostname, and wrap_socket() then fails without a name.
# - So the client is configured with ssl_version = PROTOCOL_TLS and CERT_REQUIRED, and the
#   server keeps its own settings (TLS 1.2/1.3, ECDHE-AEAD only, client certificate
#   required). One check forces PROTOCOL_TLSv1_2 to exercise the TLS 1.2 suites as well.
# - On failures PyKMIP reads Result Message unconditionally for several operations, so a
#   failure response without one shows up as an AttributeError in the client.
set -euo pipefail

PYKMIP_VERSION=0.11.0

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$repo/target}
venv=${KEYWARD_INTEROP_VENV:-$target_dir/interop-venv}

fail() {
    echo "interop: $*" >&2
    echo "0 passed, 1 failed"
    exit 1
}

# --- PyKMIP in a virtualenv -----------------------------------------------------------------
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv" || fail "cannot create a virtualenv (is python3-venv installed?)"
fi
if ! "$venv/bin/python" -c "import kmip, sys; sys.exit(kmip.__version__ != '$PYKMIP_VERSION')" 2>/dev/null; then
    "$venv/bin/pip" install --disable-pip-version-check --quiet "pykmip==$PYKMIP_VERSION" \
        || fail "pip install pykmip==$PYKMIP_VERSION failed"
fi

# --- the binary -----------------------------------------------------------------------------
if [[ -n "${KEYWARD_BIN:-}" ]]; then
    bin=$KEYWARD_BIN
else
    (cd "$repo" && cargo build --quiet --bin keyward) || fail "cargo build failed"
    bin=$target_dir/debug/keyward
fi
[[ -x "$bin" ]] || fail "no keyward binary at $bin"

# --- appliance on a temp data dir -----------------------------------------------------------
work=$(mktemp -d)
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

data="$work/data"
"$bin" init --data-dir "$data" >"$work/init.log" 2>&1 || { cat "$work/init.log"; fail "keyward init failed"; }
for who in alice bob carol; do
    "$bin" client issue --name "interop-$who" --out "$work/$who" --data-dir "$data" >"$work/issue-$who.log" 2>&1 \
        || { cat "$work/issue-$who.log"; fail "client issue $who failed"; }
done

"$bin" serve --data-dir "$data" --listen 127.0.0.1:0 >"$work/stdout.log" 2>"$work/server.log" </dev/null &
server_pid=$!
addr=""
for _ in $(seq 1 300); do
    addr=$(sed -n 's/^listening on //p' "$work/stdout.log" | head -n1)
    [[ -n "$addr" ]] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
if [[ -z "$addr" ]]; then
    cat "$work/server.log" >&2
    fail "server did not start listening"
fi
host=${addr%:*}
port=${addr##*:}
echo "interop: keyward listening on $host:$port; PyKMIP $PYKMIP_VERSION"

conf="$work/pykmip.conf"
for who in alice bob carol; do
    cat >>"$conf" <<EOF
[$who]
host = $host
port = $port
certfile = $work/$who/client.crt
keyfile = $work/$who/client.key
ca_certs = $work/$who/ca.crt
cert_reqs = CERT_REQUIRED
ssl_version = PROTOCOL_TLS
do_handshake_on_connect = True
suppress_ragged_eofs = True

EOF
done

# --- the suite ------------------------------------------------------------------------------
set +e
# PyKMIP logs through the root logger; keep only warnings and our own lines.
(cd "$work" && "$venv/bin/python" -W ignore::DeprecationWarning "$here/pykmip_suite.py" "$conf" alice bob) \
    | tee "$work/suite.log"
suite_rc=${PIPESTATUS[0]}
# PyKMIP's own integration suite (issue 18), under carol alone.
"$here/pykmip_integration.sh" "$venv/bin/python" "$work" "$conf" carol | tee "$work/integration.log"
integration_rc=${PIPESTATUS[0]}
# Backup and restore (issue 7): PyKMIP gets the same material from a restored appliance.
"$here/backup_restore.sh" "$bin" "$venv/bin/python" "$work" "$data" "$conf" \
    >"$work/backup.log" 2>&1
backup_rc=$?
cat "$work/backup.log"
set -e

kill -TERM "$server_pid"
server_rc=0
wait "$server_pid" || server_rc=$?
server_pid=""

summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$work/suite.log" | tail -n1 || true)
passed=$(echo "${summary:-0 passed, 0 failed}" | awk '{print $1}')
failed=$(echo "${summary:-0 passed, 0 failed}" | awk '{print $3}')
if [[ -z "$summary" ]]; then
    echo "interop: the suite ended without a summary (exit $suite_rc)"
    failed=$((failed + 1))
fi
integration=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$work/integration.log" | tail -n1 || true)
if [[ -n "$integration" ]]; then
    passed=$((passed + $(echo "$integration" | awk '{print $1}')))
    failed=$((failed + $(echo "$integration" | awk '{print $3}')))
fi
if [[ -z "$integration" ]]; then
    echo "interop: PyKMIP's integration suite ended without a summary (exit $integration_rc)"
    failed=$((failed + 1))
fi
if [[ $backup_rc -ne 0 ]]; then
    echo "interop: backup and restore check failed (exit $backup_rc)"
    failed=$((failed + 1))
fi
if [[ $server_rc -ne 0 ]]; then
    echo "interop: server exited $server_rc after SIGTERM; its log:"
    tail -n 50 "$work/server.log"
    failed=$((failed + 1))
elif [[ $suite_rc -ne 0 || $failed -ne 0 ]]; then
    echo "interop: server log (last 50 lines):"
    tail -n 50 "$work/server.log"
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 && $suite_rc -eq 0 ]]
