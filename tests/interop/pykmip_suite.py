"""PyKMIP (a third-party KMIP client) against a running Keyward server.

Run by tests/interop/run.sh, which starts the server and writes the PyKMIP configuration
file with one section per client identity. Prints one line per check and a closing
`N passed, N failed` line; exits non-zero if any check failed.

Usage: pykmip_suite.py CONFIG_FILE FIRST_SECTION SECOND_SECTION
"""

import os
import sys
import traceback
import uuid

from kmip import enums
from kmip.core.factories import attributes as attribute_factories
from kmip.pie import exceptions, objects
from kmip.pie.client import ProxyKmipClient

CONFIG, ALICE, BOB = sys.argv[1], sys.argv[2], sys.argv[3]
ATTRS = attribute_factories.AttributeFactory()

results = {"passed": 0, "failed": 0}


def check(name):
    """Runs the decorated function at once as one named check."""

    def run(fn):
        try:
            fn()
        except Exception:  # noqa: BLE001 - any failure of a check is reported, not fatal
            results["failed"] += 1
            print(f"FAIL {name}")
            traceback.print_exc(file=sys.stdout)
        else:
            results["passed"] += 1
            print(f"ok   {name}")
        return fn

    return run


def client(section, **overrides):
    return ProxyKmipClient(config=section, config_file=CONFIG, **overrides)


def attribute_values(attributes):
    return {a.attribute_name.value: a.attribute_value for a in attributes}


def state_of(c, uid):
    returned_uid, attributes = c.get_attributes(uid, ["State"])
    assert returned_uid == uid, (returned_uid, uid)
    values = attribute_values(attributes)
    assert list(values) == ["State"], values
    return values["State"].value


def expect_failure(reason, fn, *args):
    try:
        fn(*args)
    except exceptions.KmipOperationFailure as e:
        assert e.reason == reason, f"expected {reason.name}, got {e.reason.name}: {e.message}"
        return
    except AttributeError as e:
        # PyKMIP reads Result Message unconditionally on failure; a missing one shows up here.
        raise AssertionError(f"failure response PyKMIP cannot read (no Result Message?): {e}") from e
    raise AssertionError(f"{fn.__name__}{args} succeeded; expected {reason.name}")


def by_name(name):
    return [ATTRS.create_attribute(enums.AttributeType.NAME, name)]


key_name = f"interop-{uuid.uuid4()}"
state = {}

with client(ALICE) as alice:

    @check("discover versions lists 1.x versions, highest first")
    def _():
        result = alice.proxy.discover_versions()
        assert result.result_status.value == enums.ResultStatus.SUCCESS
        versions = [(v.major, v.minor) for v in result.protocol_versions]
        assert (1, 2) in versions, versions
        assert versions == sorted(versions, reverse=True), versions

    @check("create AES-256 with a name")
    def _():
        uid = alice.create(enums.CryptographicAlgorithm.AES, 256, name=key_name)
        assert isinstance(uid, str) and uid, uid
        state["uid"] = uid

    @check("get returns 32 bytes of AES key material")
    def _():
        key = alice.get(state["uid"])
        assert isinstance(key, objects.SymmetricKey), type(key)
        assert key.cryptographic_algorithm == enums.CryptographicAlgorithm.AES
        assert key.cryptographic_length == 256
        assert len(key.value) == 32
        assert key.value != bytes(32)
        state["material"] = key.value

    @check("a new key is Pre-Active")
    def _():
        assert state_of(alice, state["uid"]) == enums.State.PRE_ACTIVE

    @check("get_attributes returns the requested attributes")
    def _():
        names = ["Cryptographic Algorithm", "Cryptographic Length", "Name"]
        _, attributes = alice.get_attributes(state["uid"], names)
        values = attribute_values(attributes)
        assert values["Cryptographic Algorithm"].value == enums.CryptographicAlgorithm.AES, values
        assert values["Cryptographic Length"].value == 256, values
        assert values["Name"].name_value.value == key_name, values

    @check("get_attributes with no names returns the object's attributes")
    def _():
        _, attributes = alice.get_attributes(state["uid"])
        values = attribute_values(attributes)
        for name in ("Cryptographic Algorithm", "Cryptographic Length", "State", "Object Type"):
            assert name in values, sorted(values)

    @check("get_attribute_list names the object's attributes")
    def _():
        names = alice.get_attribute_list(state["uid"])
        for name in ("Cryptographic Algorithm", "Cryptographic Length", "State"):
            assert name in names, names

    @check("activate makes the key Active")
    def _():
        alice.activate(state["uid"])
        assert state_of(alice, state["uid"]) == enums.State.ACTIVE

    @check("locate by name finds exactly the key")
    def _():
        assert alice.locate(attributes=by_name(key_name)) == [state["uid"]]
        assert alice.locate(attributes=by_name(f"absent-{uuid.uuid4()}")) == []

    @check("register a symmetric key and get the same bytes back")
    def _():
        material = os.urandom(16)
        key = objects.SymmetricKey(enums.CryptographicAlgorithm.AES, 128, material, name="interop-registered")
        uid = alice.register(key)
        got = alice.get(uid)
        assert got.value == material
        assert got.cryptographic_length == 128
        state["registered"] = uid

    @check("register secret data and get the same bytes back")
    def _():
        secret = objects.SecretData(os.urandom(24), enums.SecretDataType.PASSWORD, name="interop-secret")
        uid = alice.register(secret)
        got = alice.get(uid)
        assert isinstance(got, objects.SecretData), type(got)
        assert got.value == secret.value
        assert got.data_type == enums.SecretDataType.PASSWORD

with client(BOB) as bob:

    @check("second identity: get of the first identity's key is Item Not Found")
    def _():
        expect_failure(enums.ResultReason.ITEM_NOT_FOUND, bob.get, state["uid"])

    @check("second identity: get_attributes / activate / revoke / destroy are Item Not Found")
    def _():
        expect_failure(enums.ResultReason.ITEM_NOT_FOUND, bob.get_attributes, state["uid"], ["State"])
        expect_failure(enums.ResultReason.ITEM_NOT_FOUND, bob.activate, state["registered"])
        expect_failure(
            enums.ResultReason.ITEM_NOT_FOUND, bob.revoke, enums.RevocationReasonCode.KEY_COMPROMISE, state["uid"]
        )
        expect_failure(enums.ResultReason.ITEM_NOT_FOUND, bob.destroy, state["registered"])

    @check("second identity: locate does not list the first identity's keys")
    def _():
        assert bob.locate(attributes=by_name(key_name)) == []
        assert state["uid"] not in bob.locate()

    @check("second identity: its own key is served")
    def _():
        uid = bob.create(enums.CryptographicAlgorithm.AES, 128, name=key_name)
        assert bob.locate(attributes=by_name(key_name)) == [uid]
        assert len(bob.get(uid).value) == 16
        state["bobs"] = uid

with client(ALICE) as alice:

    @check("first identity is untouched by the second")
    def _():
        assert alice.get(state["uid"]).value == state["material"]
        assert state_of(alice, state["uid"]) == enums.State.ACTIVE
        assert state["bobs"] not in alice.locate()

    @check("revoke (cessation of operation) deactivates the key")
    def _():
        alice.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, state["uid"])
        assert state_of(alice, state["uid"]) == enums.State.DEACTIVATED

    @check("destroy, then get fails and locate leaves the key out")
    def _():
        alice.destroy(state["uid"])
        try:
            alice.get(state["uid"])
        except exceptions.KmipOperationFailure:
            pass
        else:
            raise AssertionError("get after destroy succeeded")
        assert state["uid"] not in alice.locate(attributes=by_name(key_name))

    @check("destroy of a Pre-Active registered key")
    def _():
        alice.destroy(state["registered"])
        expect_failure(enums.ResultReason.ITEM_NOT_FOUND, alice.destroy, state["registered"])

# Python's default context negotiates TLS 1.3; this client is limited to TLS 1.2 so the
# ECDHE-AEAD 1.2 suites the server offers are exercised too.
with client(ALICE, ssl_version="PROTOCOL_TLSv1_2") as alice12:

    @check("TLS 1.2 client: create and get")
    def _():
        assert alice12.proxy.socket.version() == "TLSv1.2", alice12.proxy.socket.version()
        uid = alice12.create(enums.CryptographicAlgorithm.AES, 192)
        assert len(alice12.get(uid).value) == 24

print(f"{results['passed']} passed, {results['failed']} failed")
sys.exit(1 if results["failed"] else 0)
