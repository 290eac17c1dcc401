#!/usr/bin/env python3
"""Writes src/kmip/registry.rs: every KMIP 1.0-2.1 tag, enumeration and bit mask, once.

Why a generator: the tag and enumeration tables of KMIP 1.4 and 2.1 run to about a thousand
rows. Typing them by hand is how the old code came to hold thirteen enumerations twice (a Rust
enum in enums.rs and a name table in names.rs) and to lack most 2.x tags. This script reads the
facts (tag and enumeration names and values, as printed in the OASIS specifications; see
../shared/spec/kmip-registry/README.md) and writes one Rust table per enumeration, in our own
format: `kmip_enum!` rows from which the Rust enum, the XML/JSON name and the wire value all
come. The output is checked in; run this again only when the registry changes:

    python3 scripts/gen-kmip-registry.py ../shared/spec/kmip-registry > src/kmip/registry.rs
    cargo fmt

Names. The XML and JSON encodings spell a specification name without spaces, each word
capitalised; characters that cannot appear in a name become `_` (`PKCS#1` -> `PKCS_1`,
`SHA-256` -> `SHA_256`), a hyphen joining two words is dropped (`Pre-Active` -> `PreActive`).
The spellings the OASIS vector files use where that rule is ambiguous are pinned in SPELLING.
"""

import json
import re
import sys
import unicodedata

# Spellings the vectors (or the rule's exceptions) fix, by (enumeration, value).
SPELLING = {
    ("Cryptographic Algorithm", 0x02): "DES3",
    ("Cryptographic Algorithm", 0x1E): "ChaCha20Poly1305",
    ("Cryptographic Algorithm", 0x2E): "GOSTR34_10_2012",
    ("Cryptographic Algorithm", 0x2F): "GOSTR34_11_2012",
    ("Cryptographic Algorithm", 0x30): "GOSTR34_13_2015",
    ("Cryptographic Algorithm", 0x31): "GOST28147_89",
    ("Block Cipher Mode", 0x0C): "AESKeyWrapPadding",
    ("Block Cipher Mode", 0x0D): "NISTKeyWrap",
    ("Block Cipher Mode", 0x0E): "X9_102AESKW",
    ("Block Cipher Mode", 0x0F): "X9_102TDKW",
    ("Block Cipher Mode", 0x10): "X9_102AKW1",
    ("Block Cipher Mode", 0x11): "X9_102AKW2",
    ("Padding Method", 0x06): "ANSIX9_23",
    ("Padding Method", 0x07): "ISO10126",
    ("Padding Method", 0x08): "PKCS1V1_5",
    ("Hashing Algorithm", 0x0C): "SHA_512_224",
    ("Hashing Algorithm", 0x0D): "SHA_512_256",
    ("Padding Method", 0x09): "X9_31",
    ("Key Format Type", 0x06): "ECPrivateKey",
    ("Recommended Curve", 0x45): "CURVE25519",
    ("Recommended Curve", 0x46): "CURVE448",
    ("Wrapping Method", 0x05): "TR_31",
    ("Unique Identifier", 0x01): "IDPlaceholder",
    # The 2.1 table misprints MGF1 as MFG1; 1.4 and the vectors spell it MGF1.
    ("Mask Generator", 0x01): "MGF1",
}

# Profile names the 1.x vectors spell with a lower-case `v` before the version.
PROFILE_VERSION_SPELLING = re.compile(r"V(\d+_\d+)")

# Rust variant names the code already uses where the derived name would differ.
VARIANT = {
    ("Cryptographic Algorithm", 0x02): "TripleDes",
    ("Key Format Type", 0x06): "EcPrivateKey",
    ("Result Reason", 0x45): "PkcsElevenCodecError",
    ("Result Reason", 0x46): "PkcsElevenInvalidFunction",
    ("Result Reason", 0x47): "PkcsElevenInvalidInterface",
}

# Rows the printed tables lack: the 1.4 extraction lost Template (Object Type 6), and the
# 1.0-1.2 tag and key formats that 1.3 retired are still what 1.0-1.2 clients send.
EXTRA_TAGS = {0x42005D: "Operation Policy Name"}
EXTRA_ENUM = {
    "Object Type": {0x06: "Template"},
    "Key Format Type": {
        0x0E: "Transparent ECDSA Private Key",
        0x0F: "Transparent ECDSA Public Key",
        0x10: "Transparent ECDH Private Key",
        0x11: "Transparent ECDH Public Key",
        0x12: "Transparent ECMQV Private Key",
        0x13: "Transparent ECMQV Public Key",
    },
}

# Rust type names, where they differ from the enumeration's name.
TYPE_NAME = {
    "Batch Error Continuation": "BatchErrorContinuationOption",
    "Profile Name Type": "ProfileName",
    "Profile Name": "ProfileName",
    "Object Group Member Option": "ObjectGroupMemberOption",
    "Data": "DataEnumeration",
}

# Enumerations named by a tag of another name; `None`: no tag carries it as is.
TAGS_OF = {
    "Batch Error Continuation": ["Batch Error Continuation Option"],
    "Profile Name Type": ["Profile Name"],
    "Object Group Member Option": ["Object Group Member"],
    "Destroy Action Type": ["Destroy Action"],
    "Hashing Algorithm": ["Hashing Algorithm", "Mask Generator Hashing Algorithm"],
    # The 2.x "Data" enumeration names constraint data, not the Byte String `Data` tag.
    "Data": [],
    "Item Type": [],
}

# Prefixes and suffixes the code's variant names leave out.
VARIANT_STRIP = {
    "Query Function": ("Query ", ""),
    "Link Type": ("", " Link"),
}

# Rust constant names of masks' bits, by mask.
MASK_MODULE = {
    "Cryptographic Usage Mask": "usage_mask",
    "Storage Status Mask": "storage_status",
    "Protection Storage Mask": "protection_storage",
}

# Bit names the vectors spell differently from the rule.
MASK_SPELLING = {
    ("Cryptographic Usage Mask", 0x80): "MACGenerate",
    ("Cryptographic Usage Mask", 0x100): "MACVerify",
    ("Cryptographic Usage Mask", 0x400): "ContentCommitment",
    ("Cryptographic Usage Mask", 0x2000): "CRLSign",
    ("Cryptographic Usage Mask", 0x400000): "FPEEncrypt",
    ("Cryptographic Usage Mask", 0x800000): "FPEDecrypt",
}


def clean(name):
    """The name as printed, without the stray characters the HTML extraction left."""
    name = unicodedata.normalize("NFKC", name)
    name = "".join(c if c.isascii() and c.isprintable() else " " for c in name)
    return re.sub(r"\s+", " ", name).strip()


def skipped(name, value):
    return (
        not name
        or name.startswith("(")
        or name == "Reserved"
        or "-" in value.replace("0x", "")
        or "X" in value.upper().replace("0X", "")
    )


def hex_value(value):
    return int(value.lower().replace("0x", ""), 16)


def xml_name(name):
    """The KMIP XML/JSON spelling of a specification name."""
    out = []
    for word in name.split(" "):
        if not word:
            continue
        text = ""
        prev = ""
        capital_next = True
        for i, c in enumerate(word):
            nxt = word[i + 1] if i + 1 < len(word) else ""
            if c.isalnum():
                text += c.upper() if capital_next else c
                capital_next = False
            elif c == "-":
                if prev.isupper() or prev.isdigit() or nxt.isdigit():
                    text += "_"
                else:
                    capital_next = True
            elif c == "/":
                capital_next = True
            elif c in "#.":
                text += "_"
            # Brackets, commas and the like vanish.
            prev = c
        out.append(text)
    joined = "".join(out)
    if joined[:1].isdigit():
        m = re.match(r"(\d+)(.*)", joined)
        joined = m.group(2) + m.group(1)
    return joined


def rust_words(name):
    return [w for w in re.split(r"[^A-Za-z0-9]+", name) if w]


def variant_name(name):
    parts = []
    for w in rust_words(name):
        if w.isupper() or (w.upper() == w):
            w = w[0] + w[1:].lower()
        parts.append(w[0].upper() + w[1:])
    out = "".join(parts)
    if out[:1].isdigit():
        out = "N" + out
    return out


def const_name(name):
    words = rust_words(name)
    out = []
    for w in words:
        # camelCase inside a word (e.g. "ChaCha20") splits into words.
        out.extend(x for x in re.split(r"(?<=[a-z0-9])(?=[A-Z])", w) if x)
    return "_".join(x.upper() for x in out)


def merged(old, new):
    """Union by value of two {value: name} maps: the newer name wins unless it is reserved."""
    out = dict(old)
    out.update(new)
    return dict(sorted(out.items()))


def rows(entries):
    out = {}
    for e in entries:
        name = clean(e["name"])
        if skipped(name, e["value"]):
            continue
        out[hex_value(e["value"])] = name
    return out


def main(registry_dir):
    v14 = json.load(open(f"{registry_dir}/kmip-1.4.json", encoding="utf-8"))
    v21 = json.load(open(f"{registry_dir}/kmip-2.1.json", encoding="utf-8"))

    tags = merged(merged(EXTRA_TAGS, rows(v14["tags"])), rows(v21["tags"]))
    tag_by_name = {name: value for value, name in tags.items()}

    enum_sources = {}
    for source in (v14, v21):
        for ename, entries in source["enumerations"].items():
            key = TYPE_NAME.get(ename, ename)
            found = merged(EXTRA_ENUM.get(ename, {}), rows(entries))
            enum_sources.setdefault(key, []).append((ename, found))

    print("// @generated by scripts/gen-kmip-registry.py from the KMIP 1.4 and 2.1 tag, enumeration")
    print("// and mask tables. Do not edit by hand: change the script (or its spelling tables) and")
    print("// run it again. Why generated, and the naming rule: see the script's opening comment.")
    print()
    print("use super::registry_macros::{kmip_enum, kmip_mask, tags};")
    print()
    print("/// KMIP tags (1.x and 2.x), as constants, with their XML/JSON names.")
    print("pub mod tag {")
    print("    use super::tags;")
    print()
    print("    tags! {")
    seen_consts = set()
    for value, name in tags.items():
        const = const_name(name)
        if const in seen_consts:
            const = f"{const}_{value:06X}"
        seen_consts.add(const)
        print(f'        {const} = 0x{value:06X}, "{xml_name(name)}";')
    print("    }")
    print("}")
    print()

    table_rows = []
    for key in sorted(enum_sources):
        sources = enum_sources[key]
        values = {}
        spec_name = sources[-1][0]
        for ename, r in sources:
            values = merged(values, r)
        type_name = key if key in TYPE_NAME.values() else variant_name(key)
        strip = VARIANT_STRIP.get(spec_name, ("", ""))
        print(f"kmip_enum!(")
        print(f"    /// {spec_name} (KMIP 1.4 / 2.1).")
        print(f"    {type_name} {{")
        used = set()
        for value, name in values.items():
            lookup = [(e, value) for e, _ in sources]
            spelled = next((SPELLING[k] for k in lookup if k in SPELLING), xml_name(name))
            if spec_name.startswith("Profile Name"):
                spelled = PROFILE_VERSION_SPELLING.sub(r"v\1", spelled)
            vname = next((VARIANT[k] for k in lookup if k in VARIANT), None)
            if vname is None:
                short = name
                if strip[0] and short.startswith(strip[0]):
                    short = short[len(strip[0]):]
                if strip[1] and short.endswith(strip[1]):
                    short = short[: -len(strip[1])]
                vname = variant_name(short)
            if vname in used:
                vname = f"{vname}{value:X}"
            used.add(vname)
            print(f'        {vname} = 0x{value:02X}, "{spelled}",')
        print("    }")
        print(");")
        print()
        tag_names = TAGS_OF.get(spec_name, TAGS_OF.get(sources[0][0], [spec_name]))
        for t in tag_names:
            if t in tag_by_name:
                table_rows.append((const_name(t), type_name))
            else:
                print(f"warning: no tag {t!r} for enumeration {spec_name!r}", file=sys.stderr)

    print("/// Every enumeration, by the tag whose values it names.")
    print("pub const ENUMERATIONS: &[(u32, &[(u32, &str)])] = &[")
    for const, type_name in table_rows:
        print(f"    (tag::{const}, {type_name}::NAMES),")
    print("];")
    print()

    masks = {}
    for source in (v14, v21):
        for mname, entries in source["masks"].items():
            masks[mname] = merged(masks.get(mname, {}), rows(entries))
    for mname in sorted(masks):
        module = MASK_MODULE[mname]
        print(f"kmip_mask!(")
        print(f"    /// {mname} bits.")
        print(f"    {module} {{")
        for value, name in masks[mname].items():
            spelled = MASK_SPELLING.get((mname, value), xml_name(name))
            const = const_name(spelled if (mname, value) in MASK_SPELLING else name)
            print(f'        {const} = 0x{value:X}, "{spelled}";')
        print("    }")
        print(");")
        print()
    print("/// Every bit mask, by the tag of the Integer that carries it.")
    print("pub const MASKS: &[(u32, &[(i32, &str)])] = &[")
    for mname in sorted(masks):
        print(f"    (tag::{const_name(mname)}, {MASK_MODULE[mname]}::NAMES),")
    print("];")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/spec/kmip-registry")
