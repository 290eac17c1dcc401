#!/usr/bin/env bash
# Checks systemd/keyward.service the way CI needs it checked:
#   1. `systemd-analyze verify` passes with no warning about the unit, in a throw-away root
#      holding the distribution's units and the keyward binary at /usr/bin/keyward;
#   2. `systemd-analyze security --offline=yes` rates its exposure at most 2.0.
# Usage: packaging/check-unit.sh [--binary PATH]   (default: target/debug/keyward, else a stub
# executable: verify only checks that ExecStart= names an executable file).
# Installs the `systemd` package from Debian when systemd-analyze is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

max_exposure=2.0
binary=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --binary) binary="$2"; shift 2 ;;
        *) echo "usage: $0 [--binary PATH]" >&2; exit 2 ;;
    esac
done
if [[ -z "$binary" ]]; then
    binary="${CARGO_TARGET_DIR:-target}/debug/keyward"
    [[ -x "$binary" ]] || binary=/bin/true
fi

if ! command -v systemd-analyze >/dev/null; then
    echo "systemd-analyze missing: installing the systemd package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi
systemd-analyze --version | sed -n 1p

unit=systemd/keyward.service
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/bin" "$root/lib/systemd"
cp -a /lib/systemd/system "$root/lib/systemd/"
cp "$unit" "$root/lib/systemd/system/keyward.service"
cp "$binary" "$root/usr/bin/keyward"

echo "--- systemd-analyze verify (root $root, ExecStart binary from $binary)"
set +e
verify_out=$(systemd-analyze verify --root="$root" keyward.service 2>&1)
verify_rc=$?
set -e
# Only lines about our unit count: the host's own units may carry unrelated warnings.
ours=$(grep -i 'keyward' <<<"$verify_out" || true)
if [[ $verify_rc -ne 0 || -n "$ours" ]]; then
    echo "$verify_out"
    echo "FAIL: systemd-analyze verify (exit $verify_rc)"
    exit 1
fi
echo "ok: verify passed with no warning about keyward.service"

echo "--- systemd-analyze security --offline=yes"
security_out=$(systemd-analyze security --offline=yes --root="$root" keyward.service 2>&1 || true)
grep -E '^✗' <<<"$security_out" || true
exposure=$(sed -n 's/.*Overall exposure level for keyward.service: \([0-9.]*\).*/\1/p' <<<"$security_out")
if [[ -z "$exposure" ]]; then
    echo "$security_out"
    echo "FAIL: no exposure rating in the output"
    exit 1
fi
if awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e <= m) }'; then
    echo "ok: exposure $exposure <= $max_exposure"
else
    echo "FAIL: exposure $exposure > $max_exposure"
    exit 1
fi
