"""PyKMIP (a third-party KMIP client) driving Keyward's cryptographic services: Encrypt and
Decrypt (AES-CBC with PKCS#5, server-chosen IV, RSA-OAEP), Create Key Pair with Sign and
Signature Verify (PSS and PKCS#1 v1.5), MAC, and Derive Key (PBKDF2, encryption, HMAC,
NIST SP 800-108). Run by tests/pykmip_crypto.rs against a real server.

Prints one line per check and a closing `N passed, N failed` line; exits non-zero on failure.

Usage: pykmip_crypto.py CONFIG_FILE SECTION
"""

import sys
import traceback

from kmip import enums
from kmip.pie import objects
from kmip.pie.client import ProxyKmipClient
conf, sec = sys.argv[1], sys.argv[2]
ok = fail = 0
def check(name):
    def run(fn):
        global ok, fail
        try:
            fn(); ok += 1; print("ok  ", name)
        except Exception:
            fail += 1; print("FAIL", name); traceback.print_exc(limit=3, file=sys.stdout)
    return run
with ProxyKmipClient(config=sec, config_file=conf) as c:
    @check("encrypt/decrypt AES-CBC-PKCS5")
    def _():
        uid = c.create(enums.CryptographicAlgorithm.AES, 256, cryptographic_usage_mask=[enums.CryptographicUsageMask.ENCRYPT, enums.CryptographicUsageMask.DECRYPT])
        c.activate(uid)
        p = {'block_cipher_mode': enums.BlockCipherMode.CBC, 'padding_method': enums.PaddingMethod.PKCS5, 'cryptographic_algorithm': enums.CryptographicAlgorithm.AES}
        ct, iv = c.encrypt(b'This is a secret message.', uid=uid, cryptographic_parameters=p, iv_counter_nonce=b'\x01'*16)
        pt = c.decrypt(ct, uid=uid, cryptographic_parameters=p, iv_counter_nonce=b'\x01'*16)
        assert pt == b'This is a secret message.', pt
        p2 = dict(p, random_iv=True)
        ct, iv = c.encrypt(b'x'*20, uid=uid, cryptographic_parameters=p2)
        assert iv and len(iv) == 16, iv
        assert c.decrypt(ct, uid=uid, cryptographic_parameters=p, iv_counter_nonce=iv) == b'x'*20
    @check("create_key_pair RSA + sign/verify")
    def _():
        pub, priv = c.create_key_pair(enums.CryptographicAlgorithm.RSA, 2048,
            public_usage_mask=[enums.CryptographicUsageMask.VERIFY],
            private_usage_mask=[enums.CryptographicUsageMask.SIGN])
        c.activate(pub); c.activate(priv)
        p = {'padding_method': enums.PaddingMethod.PSS, 'cryptographic_algorithm': enums.CryptographicAlgorithm.RSA, 'hashing_algorithm': enums.HashingAlgorithm.SHA_256}
        sig = c.sign(b'hello', uid=priv, cryptographic_parameters=p)
        v = c.signature_verify(b'hello', sig, uid=pub, cryptographic_parameters=p)
        assert v == enums.ValidityIndicator.VALID, v
        v = c.signature_verify(b'hellO', sig, uid=pub, cryptographic_parameters=p)
        assert v == enums.ValidityIndicator.INVALID, v
        p = {'digital_signature_algorithm': enums.DigitalSignatureAlgorithm.SHA256_WITH_RSA_ENCRYPTION, 'cryptographic_algorithm': enums.CryptographicAlgorithm.RSA, 'padding_method': enums.PaddingMethod.PKCS1v15}
        sig = c.sign(b'hello', uid=priv, cryptographic_parameters=p)
        assert c.signature_verify(b'hello', sig, uid=pub, cryptographic_parameters=p) == enums.ValidityIndicator.VALID
    @check("RSA encrypt/decrypt with key pair")
    def _():
        pub, priv = c.create_key_pair(enums.CryptographicAlgorithm.RSA, 2048,
            public_usage_mask=[enums.CryptographicUsageMask.ENCRYPT],
            private_usage_mask=[enums.CryptographicUsageMask.DECRYPT])
        c.activate(pub); c.activate(priv)
        p = {'padding_method': enums.PaddingMethod.OAEP, 'cryptographic_algorithm': enums.CryptographicAlgorithm.RSA, 'hashing_algorithm': enums.HashingAlgorithm.SHA_1}
        ct, _ = c.encrypt(b'secret', uid=pub, cryptographic_parameters=p)
        assert c.decrypt(ct, uid=priv, cryptographic_parameters=p) == b'secret'
    @check("mac HMAC-SHA256")
    def _():
        uid = c.create(enums.CryptographicAlgorithm.HMAC_SHA256, 256, cryptographic_usage_mask=[enums.CryptographicUsageMask.MAC_GENERATE, enums.CryptographicUsageMask.MAC_VERIFY])
        c.activate(uid)
        u, mac = c.mac(b'data', uid=uid, algorithm=enums.CryptographicAlgorithm.HMAC_SHA256)
        assert u == uid and len(mac) == 32, (u, mac)
    @check("derive_key PBKDF2 from secret data")
    def _():
        secret = objects.SecretData(b'password', enums.SecretDataType.PASSWORD, masks=[enums.CryptographicUsageMask.DERIVE_KEY])
        sid = c.register(secret); c.activate(sid)
        uid = c.derive_key(enums.ObjectType.SYMMETRIC_KEY, [sid], enums.DerivationMethod.PBKDF2,
            {'cryptographic_parameters': {'hashing_algorithm': enums.HashingAlgorithm.SHA_256}, 'salt': b'salt', 'iteration_count': 4096},
            cryptographic_length=128, cryptographic_algorithm=enums.CryptographicAlgorithm.AES)
        key = c.get(uid)
        assert len(key.value) == 16, key
    @check("derive_key ENCRYPT / HMAC / NIST800_108_C")
    def _():
        base = c.create(enums.CryptographicAlgorithm.AES, 128, cryptographic_usage_mask=[enums.CryptographicUsageMask.DERIVE_KEY])
        c.activate(base)
        uid = c.derive_key(enums.ObjectType.SYMMETRIC_KEY, [base], enums.DerivationMethod.ENCRYPT,
            {'cryptographic_parameters': {'block_cipher_mode': enums.BlockCipherMode.CBC, 'padding_method': enums.PaddingMethod.PKCS5, 'cryptographic_algorithm': enums.CryptographicAlgorithm.AES},
             'initialization_vector': b'\x00'*16, 'derivation_data': b'\x01'*16},
            cryptographic_length=128, cryptographic_algorithm=enums.CryptographicAlgorithm.AES)
        assert len(c.get(uid).value) == 16
        hm = c.create(enums.CryptographicAlgorithm.HMAC_SHA256, 256, cryptographic_usage_mask=[enums.CryptographicUsageMask.DERIVE_KEY])
        c.activate(hm)
        for m in (enums.DerivationMethod.HMAC, enums.DerivationMethod.NIST800_108_C):
            uid = c.derive_key(enums.ObjectType.SYMMETRIC_KEY, [hm], m,
                {'cryptographic_parameters': {'hashing_algorithm': enums.HashingAlgorithm.SHA_256}, 'derivation_data': b'info', 'salt': b'salt'},
                cryptographic_length=256, cryptographic_algorithm=enums.CryptographicAlgorithm.AES)
            assert len(c.get(uid).value) == 32
print(f"{ok} passed, {fail} failed")
sys.exit(1 if fail else 0)
