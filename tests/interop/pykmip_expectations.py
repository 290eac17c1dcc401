"""pytest plugin for PyKMIP 0.11's own integration suite run against Keyward.

Why: the suite (kmip/tests/integration/services/ in PyKMIP's source distribution) tests
operations Keyward does not offer yet. Each such test is listed here with the KMIP operations
it needs. Before the tests run, the plugin asks the server (Query Operations) what it offers:
a test whose operations are all offered runs normally, and must pass; a test needing an
operation the server does not list is an expected failure, strict, so the day the server
offers it and the test passes, the run fails until this list is trimmed. Nothing is skipped.

Features that are not operations cannot be asked for with Query; a test needing one would be
listed in NEEDS_FEATURE, a strict expected failure until the feature lands. A test asking
for something Keyward refuses on purpose (an invalid key length, an obsolete cipher) is listed
in REFUSED_ON_PURPOSE with the reason, also a strict expected failure.
"""

import enum

import pytest

from kmip.core import enums
from kmip.services import kmip_client

# test name -> the operations it needs beyond the ones every test uses.
NEEDS_OPERATIONS = {
    "test_key_pair_create_get_destroy": ["CREATE_KEY_PAIR"],
    "test_asymmetric_key_pair_create_get_destroy": ["CREATE_KEY_PAIR"],
    "test_create_key_pair_sign_signature_verify": [
        "CREATE_KEY_PAIR", "SIGN", "SIGNATURE_VERIFY"],
    "test_derive_key_using_pbkdf2": ["DERIVE_KEY"],
    "test_derive_key_using_encryption": ["DERIVE_KEY"],
    "test_derive_key_using_nist_800_108c": ["DERIVE_KEY"],
    "test_derive_key_using_hmac": ["DERIVE_KEY"],
    "test_encrypt_decrypt": ["ENCRYPT", "DECRYPT"],
}

# test name -> a feature Query cannot report (none outstanding).
NEEDS_FEATURE = {}

# test name -> why Keyward refuses what the test asks, on purpose (docs/kmip-support.md). Strict
# expected failures too: if Keyward ever accepts the request, the run fails until this is read.
REFUSED_ON_PURPOSE = {}


def offered_operations(section):
    client = kmip_client.KMIPProxy(config=section)
    client.open()
    try:
        result = client.query(
            query_functions=[enums.QueryFunction.QUERY_OPERATIONS])
    finally:
        client.close()
    # PyKMIP hands back Operation enum members (or primitives wrapping them).
    return {op.name if isinstance(op, enum.Enum) else op.value.name
            for op in (result.operations or [])}


def pytest_collection_modifyitems(config, items):
    offered = offered_operations(config.getoption("--config"))
    for item in items:
        missing = [op for op in NEEDS_OPERATIONS.get(item.name, [])
                   if op not in offered]
        if missing:
            reason = "not offered yet: " + ", ".join(missing)
        elif item.name in NEEDS_FEATURE:
            reason = "not offered yet: " + NEEDS_FEATURE[item.name]
        elif item.name in REFUSED_ON_PURPOSE:
            reason = "refused on purpose: " + REFUSED_ON_PURPOSE[item.name]
        else:
            continue
        item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
