#!/usr/bin/env bash
# Builds the keyward package twice (version N and N+1, from the debug binary, stripped, to save
# time) and installs it into a throw-away root with the real dpkg:
#   dpkg --root=ROOT --force-script-chrootless --force-not-root --force-depends -i keyward.deb
# The maintainer scripts run on this host with DPKG_ROOT=ROOT (not chrooted; the throw-away root
# holds no libc or shell), so what is checked is: the package's files, modes and owners as
# installed, the user and group the postinst adds to ROOT/etc/passwd and ROOT/etc/group, the
# data directory it makes, and that an upgrade keeps every key: the installed binary serves the
# installed data directory, `keyward kmip create` makes keys, N+1 is installed over N, and every
# key reads back with the same material. systemctl is not exercised here (no systemd as PID 1);
# the VM image build installs the package in a real Debian root.
# Usage: packaging/check-deb.sh [--binary PATH]   (default: cargo build, debug profile)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

target="${CARGO_TARGET_DIR:-target}"
binary=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --binary) binary="$2"; shift 2 ;;
        *) echo "usage: $0 [--binary PATH]" >&2; exit 2 ;;
    esac
done
if [[ -z "$binary" ]]; then
    cargo build --locked --bin keyward
    binary="$target/debug/keyward"
fi

work=$(mktemp -d)
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }

strip -o "$work/keyward" "$binary"
deb1=$(packaging/build-deb.sh --binary "$work/keyward" --version 0.1.0 --out "$work/debs" --compress gzip | tail -n1)
deb2=$(packaging/build-deb.sh --binary "$work/keyward" --version 0.1.0+1 --out "$work/debs" --compress gzip | tail -n1)
ok "built $(basename "$deb1") and $(basename "$deb2")"
# etcd only for cluster nodes: recommended, never required (docs/cluster.md, "Packaging").
recommends=$(dpkg-deb -f "$deb1" Recommends)
depends=$(dpkg-deb -f "$deb1" Depends)
grep -Eq '(^|, )etcd-server(,|$| )' <<<"$recommends" || fail "Recommends: '$recommends' lacks etcd-server"
! grep -q etcd <<<"$depends" || fail "Depends: '$depends' names etcd; a single appliance needs none"
ok "Recommends: $recommends; Depends: $depends"

root="$work/root"
mkdir -p "$root/etc" "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers"
touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
printf 'root:*:19000:0:99999:7:::\n' >"$root/etc/shadow"
printf 'root:*::\n' >"$root/etc/gshadow"
chmod 0640 "$root/etc/shadow" "$root/etc/gshadow"

dpkg_root() {
    dpkg --root="$root" --force-script-chrootless --force-not-root --force-depends \
        --force-confold --log=/dev/null "$@"
}

echo "--- install N"
dpkg_root -i "$deb1"
[[ "$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Version} ${Status}' keyward)" == "0.1.0 install ok installed" ]] ||
    fail "dpkg does not list keyward 0.1.0 as installed"
ok "dpkg lists keyward 0.1.0 install ok installed"

uid=$(awk -F: '$1 == "keyward" { print $3 }' "$root/etc/passwd")
gid=$(awk -F: '$1 == "keyward" { print $3 }' "$root/etc/group")
[[ -n "$uid" && -n "$gid" ]] || fail "postinst did not add the keyward user and group"
shell=$(awk -F: '$1 == "keyward" { print $7 }' "$root/etc/passwd")
[[ "$shell" == /usr/sbin/nologin ]] || fail "keyward's shell is $shell"
[[ "$uid" -lt 1000 ]] || fail "keyward is not a system user (uid $uid)"
ok "system user keyward uid $uid gid $gid, shell $shell"

expect() { # expect PATH MODE OWNER:GROUP (numeric)
    local got
    got=$(stat -c '%a %u:%g' "$root$1") || fail "$1 missing"
    [[ "$got" == "$2 $3" ]] || fail "$1 is '$got', expected '$2 $3'"
    ok "$1 $2 $3"
}
expect /usr/bin/keyward 755 0:0
expect /lib/systemd/system/keyward.service 644 0:0
expect /etc/keyward 750 "0:$gid"
expect /etc/keyward/config.toml 640 "0:$gid"
expect /var/lib/keyward 700 "$uid:$gid"
expect /usr/share/doc/keyward/README.md 644 0:0
grep -q '^data_dir = "/var/lib/keyward"$' "$root/etc/keyward/config.toml" || fail "config data_dir"
dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Conffiles}\n' keyward | grep -q '/etc/keyward/config.toml' ||
    fail "config.toml is not a conffile"
ok "/etc/keyward/config.toml is a conffile; data_dir = /var/lib/keyward"
cmp -s "$root/usr/bin/keyward" "$work/keyward" || fail "installed binary differs from the packaged one"

echo "--- serve the installed data directory, create keys"
data="$root/var/lib/keyward"
config="$work/config.toml"
# The packaged configuration, pointed at the throw-away root and a free loopback port.
sed -e "s|^data_dir = .*|data_dir = \"$data\"|" -e 's|^listen = .*|listen = "127.0.0.1:0"|' \
    "$root/etc/keyward/config.toml" >"$config"
start_server() {
    "$root/usr/bin/keyward" serve --config "$config" >"$work/serve.out" 2>"$work/serve.err" &
    server_pid=$!
    for _ in $(seq 1 200); do
        addr=$(sed -n 's/^listening on //p' "$work/serve.out")
        [[ -n "$addr" ]] && return 0
        kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.err"; fail "server exited"; }
        sleep 0.1
    done
    fail "server did not start"
}
stop_server() {
    kill -TERM "$server_pid"
    wait "$server_pid" || fail "server exit status $?"
    server_pid=""
}
start_server
"$root/usr/bin/keyward" client issue --name vcenter --out "$work/client" --data-dir "$data" >/dev/null
kmip() {
    "$root/usr/bin/keyward" kmip --server "localhost:${addr##*:}" --ca "$work/client/ca.crt" \
        --cert "$work/client/client.crt" --key "$work/client/client.key" "$@"
}
: >"$work/keys"
for _ in 1 2 3; do
    uid_key=$(kmip create)
    echo "$uid_key $(kmip get "$uid_key")" >>"$work/keys"
done
[[ $(wc -l <"$work/keys") -eq 3 ]] || fail "expected 3 keys"
ok "3 keys created: $(cut -d' ' -f1 "$work/keys" | tr '\n' ' ')"
stop_server
sum_before=$(cd "$data" && sha256sum root.key ca.key server.key keyward.redb)
# An administrator's edit to the configuration must survive the upgrade.
echo "# edited by the administrator" >>"$root/etc/keyward/config.toml"

echo "--- upgrade to N+1"
dpkg_root -i "$deb2"
[[ "$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Version}' keyward)" == "0.1.0+1" ]] ||
    fail "version after upgrade"
ok "upgraded to 0.1.0+1"
sum_after=$(cd "$data" && sha256sum root.key ca.key server.key keyward.redb)
[[ "$sum_before" == "$sum_after" ]] || fail "the upgrade changed files in the data directory"
ok "root.key, ca.key, server.key, keyward.redb unchanged by the upgrade"
tail -n1 "$root/etc/keyward/config.toml" | grep -q 'edited by the administrator' ||
    fail "the upgrade replaced the edited configuration"
ok "edited /etc/keyward/config.toml kept"
expect /var/lib/keyward 700 "$uid:$gid"
[[ $(grep -c '^keyward:' "$root/etc/passwd") -eq 1 ]] || fail "user added twice"
ok "user keyward still present once"

start_server
while read -r key_uid material; do
    [[ "$(kmip get "$key_uid")" == "$material" ]] || fail "key $key_uid changed or lost"
done <"$work/keys"
ok "all 3 keys read back with the same material after the upgrade"
stop_server

echo "--- remove (keeps data), then purge (deletes it)"
dpkg_root -r keyward
[[ ! -e "$root/usr/bin/keyward" ]] || fail "binary left after remove"
[[ -f "$data/keyward.redb" ]] || fail "remove deleted the store"
ok "remove: binary gone, store kept"
dpkg_root -P keyward
[[ ! -e "$data" ]] || fail "purge left the data directory"
ok "purge: data directory and configuration deleted"
echo "check-deb: all checks passed"
