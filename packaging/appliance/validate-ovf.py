#!/usr/bin/env python3
"""Structural check of an OVF 1.x descriptor, stdlib only.

This is NOT validation against the DMTF XML schema (DSP8023): no Debian or PyPI package we can
use ships that XSD. Instead it checks what the schema and the OVF 1.x specification (DSP0243)
require of the parts an importer such as the vSphere client depends on:

- the root is ovf:Envelope, ovf:version 1.x; References come before the sections and the
  VirtualSystem; every section and the VirtualSystem begin with an Info element;
- File ids and hrefs are unique, relative, and (with --files DIR) exist with the declared size;
- every Disk has a unique diskId, a fileRef naming a File, an integer capacity and a format URI;
- VirtualHardwareSection: a System element; every Item has a unique InstanceID and a
  ResourceType; rasd elements appear in the schema's (alphabetical) order; Parent names an
  Item; a disk Item's HostResource names a Disk (ovf:/disk/ID); an Ethernet Item's Connection
  names a Network from NetworkSection; there is exactly one CPU and one memory Item;
- ProductSection: Info, Product/Vendor/Version order; Property keys unique, types from the
  OVF type list, boolean values true/false.

Usage: validate-ovf.py DESCRIPTOR.ovf [--files DIR]. Exit 0 when valid, 1 with the problems.
"""

import os
import re
import sys
import xml.etree.ElementTree as ET

OVF = "http://schemas.dmtf.org/ovf/envelope/1"
RASD = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
VSSD = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
PROPERTY_TYPES = {"uint8", "sint8", "uint16", "sint16", "uint32", "sint32", "uint64",
                  "sint64", "string", "boolean", "real32", "real64"}
PRODUCT_ORDER = ["Info", "Product", "Vendor", "Version", "FullVersion", "ProductUrl",
                 "VendorUrl", "AppUrl", "Icon"]


def q(ns, name):
    return "{%s}%s" % (ns, name)


def local(tag):
    return tag.split("}", 1)[-1]


def attr(el, name):
    return el.get(q(OVF, name))


class Checker:
    def __init__(self):
        self.problems = []

    def need(self, cond, message):
        if not cond:
            self.problems.append(message)
        return cond

    def info_first(self, el, what):
        children = list(el)
        self.need(children and children[0].tag == q(OVF, "Info"),
                  "%s: the first child must be Info" % what)

    def check(self, path, files_dir):
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as e:
            self.problems.append("not well-formed XML: %s" % e)
            return
        if not self.need(root.tag == q(OVF, "Envelope"),
                         "root element is %s, not ovf:Envelope" % root.tag):
            return
        version = attr(root, "version") or ""
        self.need(re.fullmatch(r"1\.\d+(\.\d+)?", version) is not None,
                  "ovf:version is %r, expected 1.x" % version)
        children = list(root)
        self.need(children and children[0].tag == q(OVF, "References"),
                  "References must be the Envelope's first child")
        systems = [c for c in children if c.tag in (q(OVF, "VirtualSystem"),
                                                    q(OVF, "VirtualSystemCollection"))]
        self.need(len(systems) == 1, "exactly one VirtualSystem (or collection) expected")
        if systems:
            content_at = children.index(systems[0])
            self.need(all(local(c.tag).endswith("Section") for c in children[1:content_at]),
                      "only sections may sit between References and the content")
            self.need(content_at == len(children) - 1, "the content must be the last child")

        files = {}
        for f in root.iter(q(OVF, "File")):
            fid, href = attr(f, "id"), attr(f, "href")
            if not self.need(fid and href, "File without ovf:id or ovf:href"):
                continue
            self.need(fid not in files, "duplicate File id %s" % fid)
            self.need(href not in [h for h, _ in files.values()], "duplicate href %s" % href)
            self.need("/" not in href and ":" not in href and not href.startswith("."),
                      "href %s must name a file beside the descriptor" % href)
            size = attr(f, "size")
            files[fid] = (href, size)
            if files_dir is not None:
                p = os.path.join(files_dir, href)
                if self.need(os.path.isfile(p), "referenced file %s is missing" % href) and size:
                    self.need(str(os.path.getsize(p)) == size,
                              "%s is %d bytes, ovf:size says %s" % (href, os.path.getsize(p), size))

        for section in root.iter():
            if local(section.tag).endswith("Section") and section.tag.startswith("{%s}" % OVF):
                self.info_first(section, local(section.tag))

        disks = {}
        for d in root.iter(q(OVF, "Disk")):
            did, ref = attr(d, "diskId"), attr(d, "fileRef")
            self.need(did and did not in disks, "Disk diskId missing or duplicate: %s" % did)
            disks[did] = d
            self.need(ref in files, "Disk %s: fileRef %s names no File" % (did, ref))
            self.need((attr(d, "capacity") or "").isdigit(), "Disk %s: capacity not an integer" % did)
            self.need((attr(d, "format") or "").startswith("http"), "Disk %s: format URI missing" % did)

        networks = {attr(n, "name") for n in root.iter(q(OVF, "Network"))}
        self.need(None not in networks, "Network without ovf:name")

        for vs in systems:
            self.need(attr(vs, "id"), "VirtualSystem without ovf:id")
            self.info_first(vs, "VirtualSystem")
            hw = vs.findall(q(OVF, "VirtualHardwareSection"))
            if self.need(len(hw) >= 1, "VirtualSystem has no VirtualHardwareSection"):
                for section in hw:
                    self.hardware(section, disks, networks)
            for product in vs.findall(q(OVF, "ProductSection")):
                self.product(product)
            self.need(vs.find(q(OVF, "OperatingSystemSection")) is not None,
                      "no OperatingSystemSection")

    def hardware(self, section, disks, networks):
        self.need(section.find(q(OVF, "System")) is not None, "VirtualHardwareSection: no System")
        items = section.findall(q(OVF, "Item"))
        ids = {}
        for item in items:
            rasd = [c for c in item if c.tag.startswith("{%s}" % RASD)]
            names = [local(c.tag) for c in rasd]
            self.need(names == sorted(names),
                      "Item %s: rasd elements out of schema order: %s" % (names[:3], names))
            values = {local(c.tag): (c.text or "").strip() for c in rasd}
            iid = values.get("InstanceID")
            if not self.need(iid, "Item without rasd:InstanceID"):
                continue
            self.need(iid not in ids, "duplicate InstanceID %s" % iid)
            self.need(values.get("ResourceType", "").isdigit(), "Item %s: no ResourceType" % iid)
            self.need(values.get("ElementName"), "Item %s: no ElementName" % iid)
            ids[iid] = values
        for iid, values in ids.items():
            if "Parent" in values:
                self.need(values["Parent"] in ids, "Item %s: Parent %s names no Item" % (iid, values["Parent"]))
            rtype = values.get("ResourceType")
            if rtype == "17":
                host = values.get("HostResource", "")
                m = re.fullmatch(r"ovf:/disk/(.+)", host)
                self.need(m and m.group(1) in disks, "disk Item %s: HostResource %r names no Disk" % (iid, host))
            if rtype == "10":
                self.need(values.get("Connection") in networks,
                          "Ethernet Item %s: Connection %r is not in NetworkSection" % (iid, values.get("Connection")))
        types = [v.get("ResourceType") for v in ids.values()]
        self.need(types.count("3") == 1, "exactly one CPU Item (ResourceType 3) expected")
        self.need(types.count("4") == 1, "exactly one memory Item (ResourceType 4) expected")
        self.need("17" in types, "no disk Item (ResourceType 17)")
        for v in ids.values():
            if v.get("ResourceType") in ("3", "4"):
                self.need(v.get("VirtualQuantity", "").isdigit(),
                          "CPU/memory Item %s: VirtualQuantity not an integer" % v.get("InstanceID"))

    def product(self, section):
        head = [local(c.tag) for c in section if local(c.tag) in PRODUCT_ORDER]
        self.need(head == sorted(head, key=PRODUCT_ORDER.index),
                  "ProductSection: elements out of order: %s" % head)
        keys = set()
        for p in section.iter(q(OVF, "Property")):
            key, ptype = attr(p, "key"), attr(p, "type")
            self.need(key and key not in keys, "Property key missing or duplicate: %s" % key)
            keys.add(key)
            self.need(ptype in PROPERTY_TYPES, "Property %s: type %r is not an OVF type" % (key, ptype))
            if ptype == "boolean" and attr(p, "value") is not None:
                self.need(attr(p, "value") in ("true", "false"),
                          "Property %s: boolean value %r" % (key, attr(p, "value")))


def main(argv):
    if len(argv) not in (2, 4) or (len(argv) == 4 and argv[2] != "--files"):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    files_dir = argv[3] if len(argv) == 4 else None
    checker = Checker()
    checker.check(argv[1], files_dir)
    if checker.problems:
        for p in checker.problems:
            print("invalid: %s" % p)
        return 1
    print("ok: %s is a structurally valid OVF 1.x descriptor (structural check, not the DMTF XSD)" % argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
