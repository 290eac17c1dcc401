#!/usr/bin/env bash
# Builds the keyward Debian package with dpkg-deb. One command:
#   packaging/build-deb.sh                       # cargo build --release, then the package
#   packaging/build-deb.sh --binary PATH         # package an existing binary (fast)
# Options: --version V (default: Cargo.toml's), --out DIR (default: target/debian),
#          --compress xz|gzip|none (default xz).
# Prints the path of the .deb on its last line.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

binary=""
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
out="${CARGO_TARGET_DIR:-target}/debian"
compress=xz
while [[ $# -gt 0 ]]; do
    case "$1" in
        --binary) binary="$2"; shift 2 ;;
        --version) version="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        # gzip or none: faster for throw-away test packages.
        --compress) compress="$2"; shift 2 ;;
        *) echo "usage: $0 [--binary PATH] [--version V] [--out DIR] [--compress xz|gzip|none]" >&2; exit 2 ;;
    esac
done
if [[ -z "$binary" ]]; then
    cargo build --release --locked --bin keyward >&2
    binary="${CARGO_TARGET_DIR:-target}/release/keyward"
fi
[[ -x "$binary" ]] || { echo "not an executable: $binary" >&2; exit 1; }
arch=$(dpkg --print-architecture)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
pkg="$stage/keyward"
install -d -m 0755 "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/lib/systemd/system" \
    "$pkg/etc/keyward" "$pkg/usr/share/doc/keyward"
install -m 0755 "$binary" "$pkg/usr/bin/keyward"
install -m 0644 systemd/keyward.service "$pkg/lib/systemd/system/keyward.service"
# The packaged configuration: the commented example, with the appliance's paths and a listener
# vCenter can reach. Everything else keeps its documented default.
sed -e 's|^data_dir = .*|data_dir = "/var/lib/keyward"|' \
    -e 's|^listen = "127.0.0.1:5696"|listen = "0.0.0.0:5696"|' \
    -e 's|keyward serve --config [^ ]*|keyward serve --config /etc/keyward/config.toml|' \
    config.example.toml >"$pkg/etc/keyward/config.toml"
grep -q '^data_dir = "/var/lib/keyward"$' "$pkg/etc/keyward/config.toml"
grep -q '^listen = "0.0.0.0:5696"$' "$pkg/etc/keyward/config.toml"
chmod 0640 "$pkg/etc/keyward/config.toml"
install -m 0644 README.md "$pkg/usr/share/doc/keyward/README.md"
[[ -f docs/appliance.md ]] && install -m 0644 docs/appliance.md "$pkg/usr/share/doc/keyward/appliance.md"
printf 'Keyward\nLicense: Apache-2.0\nOn Debian systems see /usr/share/common-licenses/Apache-2.0.\n' \
    >"$pkg/usr/share/doc/keyward/copyright"
chmod 0644 "$pkg/usr/share/doc/keyward/copyright"

for script in postinst prerm postrm; do
    install -m 0755 "packaging/debian/$script" "$pkg/DEBIAN/$script"
done
echo /etc/keyward/config.toml >"$pkg/DEBIAN/conffiles"
installed_kb=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
# etcd-server is recommended, not a dependency: a single appliance keeps its store in its own
# redb file and never talks to etcd; only a cluster node (a [cluster] table in the
# configuration) needs an etcd member beside it. apt installs recommended packages by default,
# so a cluster node gets etcd without a step of its own, and an appliance installed with
# --no-install-recommends carries no unused daemon. The unit's After=etcd.service orders the
# two when both are present. docs/cluster.md ("Packaging").
cat >"$pkg/DEBIAN/control" <<CONTROL
Package: keyward
Version: $version
Architecture: $arch
Maintainer: Keyward maintainers <keyward@localhost>
Section: admin
Priority: optional
Depends: libc6 (>= 2.34), passwd
Recommends: systemd, etcd-server
Installed-Size: $installed_kb
Description: KMIP key server for VMware vCenter and vSAN
 Keyward serves KMIP over mutually authenticated TLS on port 5696. Keys are
 sealed under a master key wrapped by a local root key or IBM Key Protect.
CONTROL

mkdir -p "$out"
deb="$out/keyward_${version}_${arch}.deb"
dpkg-deb --root-owner-group "-Z$compress" --build "$pkg" "$deb" >&2
echo "$deb"
