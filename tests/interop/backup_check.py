"""Backup interop check (issue 7), driven by backup_restore.sh.

`record`: creates AES keys with PyKMIP and writes {uid: material hex} to FILE.
`check`: Gets every recorded UID (from a restored appliance) and compares the material.
Prints `N passed, N failed` last; exits non-zero on any failure.
"""

import json
import sys

from kmip import enums
from kmip.pie.client import ProxyKmipClient

CONFIG, SECTION, MODE, FILE = sys.argv[1:5]
KEYS = 5

passed = failed = 0
with ProxyKmipClient(config=SECTION, config_file=CONFIG) as c:
    if MODE == "record":
        materials = {}
        for _ in range(KEYS):
            uid = c.create(enums.CryptographicAlgorithm.AES, 256)
            materials[uid] = c.get(uid).value.hex()
        with open(FILE, "w") as f:
            json.dump(materials, f)
        passed = len(materials)
        print(f"ok   recorded {passed} keys before the backup")
    else:
        with open(FILE) as f:
            materials = json.load(f)
        for uid, material in materials.items():
            try:
                got = c.get(uid).value.hex()
            except Exception as e:  # noqa: BLE001 - any failure is reported
                failed += 1
                print(f"FAIL restored Get {uid}: {e}")
                continue
            if got == material:
                passed += 1
                print(f"ok   restored Get {uid}: same material")
            else:
                failed += 1
                print(f"FAIL restored Get {uid}: different material")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed or passed == 0 else 0)
