#!/usr/bin/env bash
# CI check of the OVF descriptor and the OVA layout, without building the full image: makes a
# small empty streamOptimized VMDK, runs make-ova on it, then checks
#   - validate-ovf.py accepts the descriptor (structural OVF 1.x check; see its header);
#   - the OVA is POSIX ustar with exactly: keyward.ovf first, keyward.mf second, the disk last;
#   - the manifest has a SHA256 line for every other member, and each digest matches;
# and that the checks can fail: a descriptor without a required Info, a dangling disk
# reference, and a manifest with a wrong digest are each refused.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if ! command -v qemu-img >/dev/null; then
    echo "qemu-img missing: installing qemu-utils"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends qemu-utils >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }

qemu-img create -q -f vmdk -o subformat=streamOptimized "$work/disk.vmdk" 64M
ova=$("$here/make-ova" --disk "$work/disk.vmdk" --out "$work/out" --version 0.0.0-ci | tail -n1)

check_ova() { # check_ova FILE.ova: layout and manifest
    python3 - "$1" <<'PY'
import hashlib, re, sys, tarfile
path = sys.argv[1]
with open(path, "rb") as f:
    data = f.read()
problems = []
with tarfile.open(path) as tar:
    members = tar.getmembers()
    names = [m.name for m in members]
    if len(names) != 3 or names[0] != "keyward.ovf" or names[1] != "keyward.mf" \
            or not names[2].endswith(".vmdk"):
        problems.append("members are %s; expected keyward.ovf, keyward.mf, the .vmdk" % names)
    for m in members:
        if not m.isfile():
            problems.append("%s is not a regular file" % m.name)
        # Every header must carry the POSIX ustar magic (OVF 1.x requires ustar).
        if data[m.offset + 257:m.offset + 265] != b"ustar\x0000":
            problems.append("%s: header is not POSIX ustar" % m.name)
    content = {m.name: tar.extractfile(m).read() for m in members if m.isfile()}
digests = {}
for line in content.get("keyward.mf", b"").decode().splitlines():
    mm = re.fullmatch(r"SHA256\((.+)\)= ([0-9a-f]{64})", line.strip())
    if not mm:
        problems.append("manifest line not 'SHA256(name)= hex': %r" % line)
        continue
    digests[mm.group(1)] = mm.group(2)
for name in names:
    if name == "keyward.mf":
        continue
    if name not in digests:
        problems.append("manifest has no digest for %s" % name)
    elif hashlib.sha256(content[name]).hexdigest() != digests[name]:
        problems.append("digest mismatch for %s" % name)
for p in problems:
    print("invalid: " + p)
sys.exit(1 if problems else 0)
PY
}

check_ova "$ova" || fail "OVA layout"
ok "$(basename "$ova"): ustar; keyward.ovf, keyward.mf, disk in that order; SHA256 digests match"
mkdir "$work/x"
tar -xf "$ova" -C "$work/x"
python3 "$here/validate-ovf.py" "$work/x/keyward.ovf" --files "$work/x" || fail "descriptor"

echo "--- the checks refuse broken input"
expect_refused() { # expect_refused WHAT COMMAND...
    local what="$1"; shift
    if "$@" >"$work/refused.out" 2>&1; then
        cat "$work/refused.out"
        fail "accepted: $what"
    fi
    ok "refused: $what ($(head -n1 "$work/refused.out"))"
}
sed '0,/<Info>/{/<Info>/d}' "$work/x/keyward.ovf" >"$work/no-info.ovf"
expect_refused "a section without Info" python3 "$here/validate-ovf.py" "$work/no-info.ovf"
sed 's|ovf:/disk/vmdisk1|ovf:/disk/nosuchdisk|' "$work/x/keyward.ovf" >"$work/dangling.ovf"
expect_refused "a disk Item naming no Disk" python3 "$here/validate-ovf.py" "$work/dangling.ovf"
sed 's|<rasd:InstanceID>5</rasd:InstanceID>|<rasd:InstanceID>4</rasd:InstanceID>|' "$work/x/keyward.ovf" >"$work/dup.ovf"
expect_refused "a duplicate InstanceID" python3 "$here/validate-ovf.py" "$work/dup.ovf"
mkdir "$work/bad"
cp "$work/x/keyward.ovf" "$work/x/keyward-disk1.vmdk" "$work/bad/"
cp "$work/x/keyward.mf" "$work/bad/keyward.mf"
# Every digest's last nibble changed.
python3 - "$work/bad/keyward.mf" <<'PY'
import sys
p = sys.argv[1]
lines = open(p).read().splitlines()
out = [l[:-1] + ("0" if l[-1] != "0" else "1") for l in lines]
open(p, "w").write("\n".join(out) + "\n")
PY
(cd "$work/bad" && tar --format=ustar -cf bad.ova keyward.ovf keyward.mf keyward-disk1.vmdk)
expect_refused "a manifest with wrong digests" check_ova "$work/bad/bad.ova"
(cd "$work/bad" && tar --format=ustar -cf order.ova keyward.mf keyward.ovf keyward-disk1.vmdk)
expect_refused "the manifest before the descriptor" check_ova "$work/bad/order.ova"
(cd "$work/bad" && tar --format=gnu -cf gnu.ova keyward.ovf keyward.mf keyward-disk1.vmdk)
expect_refused "a GNU-format tar" check_ova "$work/bad/gnu.ova"
echo "check-ova: all checks passed"
