#!/usr/bin/env bash
# Backup interop (issue 7), called by run.sh while its server runs: PyKMIP creates keys, the
# running server exports an encrypted backup, `keyward restore` builds a new data directory
# with the local root (no network), a second server starts on it, and PyKMIP must Get the same
# material for every UID. Args: KEYWARD_BIN PYTHON WORK_DIR DATA_DIR PYKMIP_CONF.
set -euo pipefail
bin=$1 py=$2 work=$3 data=$4 conf=$5
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

restored_pid=""
cleanup() {
    if [[ -n "$restored_pid" ]] && kill -0 "$restored_pid" 2>/dev/null; then
        kill -KILL "$restored_pid" 2>/dev/null || true
        wait "$restored_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT

pass="$work/backup.pass"
(umask 077 && printf 'interop backup passphrase 7\n' >"$pass")
"$py" -W ignore::DeprecationWarning "$here/backup_check.py" "$conf" alice record "$work/backup-materials.json"
"$bin" backup export --data-dir "$data" --out "$work/interop.kwbackup" --passphrase-file "$pass" \
    --test-only-weak-kdf
"$bin" restore --from "$work/interop.kwbackup" --data-dir "$work/restored" --root local \
    --passphrase-file "$pass"

"$bin" serve --data-dir "$work/restored" --listen 127.0.0.1:0 >"$work/restored-stdout.log" \
    2>"$work/restored-server.log" </dev/null &
restored_pid=$!
addr=""
for _ in $(seq 1 300); do
    addr=$(sed -n 's/^listening on //p' "$work/restored-stdout.log" | head -n1)
    [[ -n "$addr" ]] && break
    kill -0 "$restored_pid" 2>/dev/null || break
    sleep 0.1
done
[[ -n "$addr" ]] || { cat "$work/restored-server.log" >&2; echo "restored server did not start"; exit 1; }
# Same client certificates (the restored registry trusts them); the new appliance CA.
sed -e "s#^port = .*#port = ${addr##*:}#" -e "s#^ca_certs = .*#ca_certs = $work/restored/ca.crt#" \
    "$conf" >"$work/pykmip-restored.conf"
"$py" -W ignore::DeprecationWarning "$here/backup_check.py" "$work/pykmip-restored.conf" alice \
    check "$work/backup-materials.json"
