#!/usr/bin/env bash
# PyKMIP 0.11's own integration suite (kmip/tests/integration/services/test_integration.py and
# test_proxykmipclient.py, 37 tests, from PyKMIP's source distribution on PyPI) against a
# running Keyward server. Called by run.sh, which owns the venv, the server and the identities.
#
# Usage: pykmip_integration.sh VENV_PYTHON WORK_DIR PYKMIP_CONF SECTION
#   PYKMIP_CONF holds a [SECTION] for a client identity of its own: the suite counts what it
#   finds with Locate, so no other client's objects may share its owner.
# Prints one line per test that did not pass, then `N passed, N failed` last. Tests needing an
# operation the server does not offer are strict expected failures (pykmip_expectations.py):
# they are listed and counted apart, and fail the run the moment they start passing.
set -uo pipefail

PYKMIP_VERSION=0.11.0
PYTEST_VERSION=9.2.0
TESTTOOLS_VERSION=2.9.1

python=$1
work=$2
conf=$3
section=$4
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

fail() {
    echo "pykmip integration: $*" >&2
    echo "0 passed, 1 failed"
    exit 1
}

# --- pytest and testtools (the suite's own test dependencies), from PyPI --------------------
if ! "$python" -c "import pytest, testtools" 2>/dev/null; then
    "$python" -m pip install --disable-pip-version-check --quiet \
        "pytest==$PYTEST_VERSION" "testtools==$TESTTOOLS_VERSION" \
        || fail "pip install pytest testtools failed"
fi

# --- the suite, from PyKMIP's source distribution ------------------------------------------
venv_dir=$(cd "$(dirname "$python")/.." && pwd)
sdist_dir="$venv_dir/pykmip-$PYKMIP_VERSION-sdist"
suite="$sdist_dir/pykmip-$PYKMIP_VERSION/kmip/tests/integration"
if [[ ! -f "$suite/services/test_proxykmipclient.py" ]]; then
    rm -rf "$sdist_dir" && mkdir -p "$sdist_dir"
    "$python" -m pip download --disable-pip-version-check --quiet --no-deps \
        --no-binary :all: "pykmip==$PYKMIP_VERSION" -d "$sdist_dir" \
        || fail "pip download pykmip==$PYKMIP_VERSION (sdist) failed"
    tar -xzf "$sdist_dir"/[Pp]y[Kk][Mm][Ii][Pp]-"$PYKMIP_VERSION".tar.gz -C "$sdist_dir" \
        || fail "cannot unpack the PyKMIP source distribution"
fi

# PyKMIP reads its client configuration from ~/.pykmip/pykmip.conf.
home="$work/pykmip-integration-home"
mkdir -p "$home/.pykmip"
cp "$conf" "$home/.pykmip/pykmip.conf"

junit="$work/pykmip-integration.xml"
(cd "$suite/../../.." && HOME="$home" PYTHONPATH="$here" "$python" -m pytest \
    -p no:cacheprovider -p pykmip_expectations -q -W ignore --tb=line \
    --junitxml="$junit" --config "$section" \
    kmip/tests/integration/services/test_integration.py \
    kmip/tests/integration/services/test_proxykmipclient.py) >"$work/pykmip-integration.log" 2>&1
[[ -s "$junit" ]] || { tail -n 30 "$work/pykmip-integration.log" >&2; fail "pytest wrote no results"; }

"$python" - "$junit" <<'PY'
import sys
import xml.etree.ElementTree as ET

passed, failed, expected = 0, 0, []
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    name = case.get("name")
    skipped = case.find("skipped")
    problem = case.find("failure")
    if problem is None:
        problem = case.find("error")
    if skipped is not None and skipped.get("type") == "pytest.xfail":
        expected.append((name, skipped.get("message", "")))
    elif skipped is not None:
        failed += 1
        print(f"pykmip integration: {name}: skipped, which this suite never allows")
    elif problem is not None:
        failed += 1
        print(f"pykmip integration: {name}: FAILED {problem.get('message', '')[:300]}")
    else:
        passed += 1
for name, reason in expected:
    print(f"pykmip integration: {name}: expected failure ({reason.removeprefix('reason: ')})")
print(f"pykmip integration: {passed} of {passed + failed + len(expected)} pass; "
      f"{len(expected)} expected failures (not offered yet, or refused on purpose)")
print(f"{passed} passed, {failed} failed")
PY
