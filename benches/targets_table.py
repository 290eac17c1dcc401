#!/usr/bin/env python3
"""Turns the raw reports of one `benches/targets.sh` run into issue 21's targets table.

Kept apart from the shell script because the rules (which figure each row compares, what
"met" means) are the part a reader checks, and they read better as code than as shell.

usage: targets_table.py RAW_DIR SECONDS REPEATS > table.md   (writes RAW_DIR/../missed too)

RAW_DIR holds `keyward bench` JSON reports named KEY.SERVER.REP.json (a cluster run has one
report per node: KEY.cluster.REP.nN.json), the idle RSS in idle_rss_kib, and per forwarding run
the collector's samples (forward.REP.samples) and the bench window (forward.REP.window).
"""

import glob
import json
import os
import statistics
import sys

raw, seconds, repeats = sys.argv[1], sys.argv[2], sys.argv[3]


def reports(key, server):
    """Every run of KEY against SERVER; a cluster run is one list of per-node reports."""
    runs = []
    for rep in range(1, int(repeats) + 1):
        single = os.path.join(raw, f"{key}.{server}.{rep}.json")
        nodes = sorted(glob.glob(os.path.join(raw, f"{key}.{server}.{rep}.n*.json")))
        try:
            if os.path.exists(single):
                runs.append([json.load(open(single))])
            elif nodes:
                runs.append([json.load(open(n)) for n in nodes])
        except (OSError, ValueError):
            pass
    return runs


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


class Figures:
    """Medians over the runs of one workload against one server."""

    def __init__(self, key, server, handshakes=False, op="get"):
        self.runs = reports(key, server)
        per_run = []
        for nodes in self.runs:
            rate = sum(r["handshakes_per_s" if handshakes else "operations_per_s"] for r in nodes)
            count = sum(r["handshakes" if handshakes else "operations"] for r in nodes)
            cpu = [r.get("server_cpu_s") for r in nodes]
            cpu = sum(cpu) if all(c is not None for c in cpu) else None
            name = "handshake" if handshakes else op
            p99 = [r["per_operation"].get(name, {}).get("p99_us") for r in nodes]
            p99 = max(p99) if all(p is not None for p in p99) else None
            elapsed = max(r["elapsed_s"] for r in nodes)
            per_run.append(
                {
                    "rate": rate,
                    "p99": p99,
                    "cpu_per": cpu / count * 1e6 if cpu is not None and count else None,
                    "server_share": cpu / elapsed if cpu is not None else None,
                    "client_share": sum(r["client_cpu_s"] for r in nodes) / elapsed,
                    "errors": sum(r["errors_total"] for r in nodes),
                }
            )
        self.ok = bool(per_run)
        for field in ("rate", "p99", "cpu_per", "server_share", "client_share"):
            setattr(self, field, median([r[field] for r in per_run]))
        self.errors = sum(r["errors"] for r in per_run)


def num(x, digits=0):
    if x is None:
        return "not run"
    return f"{x:,.{digits}f}"


def rate_cell(f, p99=False):
    if not f.ok:
        return "not run"
    cell = num(f.rate) + "/s"
    if p99 and f.p99 is not None:
        cell += f", p99 {f.p99 / 1000:.2f} ms"
    if f.errors:
        cell += f" ({f.errors} errors)"
    return cell


def ratio(a, b):
    return a / b if a is not None and b else None


def times(r):
    return "—" if r is None else f"{r:.2f}×"


def verdict(*checks):
    """`checks` are True/False/None (None: a figure it needs was not measured)."""
    if any(c is False for c in checks):
        return "**missed**"
    return "not measured" if any(c is None for c in checks) else "met"


def at_least(value, bound):
    return None if value is None else value >= bound


rows, missed = [], []


def row(key, workload, keyward, cosmian, pykmip, ratio_text, target, result):
    rows.append((workload, keyward, cosmian, pykmip, ratio_text, target, result))
    if result == "**missed**":
        missed.append(key)


def peer_row(key, workload, bound, p99_bound_us=None):
    k, c, p = Figures(key, "keyward"), Figures(key, "cosmian"), Figures(key, "pykmip")
    r = ratio(k.rate, c.rate)
    checks = [at_least(r, bound)]
    target = f"≥ {bound:g}× Cosmian"
    if p99_bound_us is not None:
        checks.append(None if k.p99 is None else k.p99 < p99_bound_us)
        target += f", p99 < {p99_bound_us / 1000:g} ms"
    row(key, workload, rate_cell(k, True), rate_cell(c, True), rate_cell(p),
        f"{times(r)} Cosmian, {times(ratio(k.rate, p.rate))} PyKMIP", target, verdict(*checks))
    return k


peer_row("cg8", "create-get, 8 connections kept", 3)
get8 = peer_row("get8", "get, 8 connections kept", 2, p99_bound_us=1000)

cpu = {s: Figures("get8", s) for s in ("keyward", "cosmian", "pykmip")}
row("cpu_get", "server CPU per Get, 8 connections kept",
    *(f"{num(cpu[s].cpu_per)} µs ({num(cpu[s].server_share, 2)} cores)" if cpu[s].ok
      else "not run" for s in ("keyward", "cosmian", "pykmip")),
    f"{times(ratio(cpu['keyward'].cpu_per, cpu['cosmian'].cpu_per))} Cosmian's CPU",
    "≤ 40 µs", verdict(None if cpu["keyward"].cpu_per is None
                       else cpu["keyward"].cpu_per <= 40))

peer_row("mixed8", "mixed (Create, Activate, Get Attributes, Get, Locate), 8 connections", 10)

bare = Figures("bare8", "keyward", handshakes=True, op="handshake")
k = Figures("getnew8", "keyward")
c, p = Figures("getnew8", "cosmian"), Figures("getnew8", "pykmip")
r, rb = ratio(k.rate, c.rate), ratio(k.rate, bare.rate)
row("getnew8", "get with a new TLS connection each (full handshake), 8 connections",
    rate_cell(k, True), rate_cell(c, True), rate_cell(p),
    f"{times(r)} Cosmian; {num(None if rb is None else 100 * rb)} % of bare handshakes",
    "≥ 2.5× Cosmian and ≥ 80 % of Keyward's bare handshake rate",
    verdict(at_least(r, 2.5), at_least(rb, 0.8)))
row("bare8", "bare TLS handshake + close (no KMIP), full handshakes, 8 connections",
    rate_cell(bare, True), "—", "—", "—", "reference for the rows around it", "—")

vc = Figures("vcenter8", "keyward", handshakes=True, op="handshake")
rv = ratio(vc.rate, bare.rate)
row("vcenter8", "vCenter sequence, new connection per exchange (Discover Versions + one "
    "operation), full handshakes, 8 connections",
    rate_cell(vc, True).replace("/s", " connections/s", 1), "—", "—",
    f"{num(None if rv is None else 100 * rv)} % of bare handshakes",
    "≥ 80 % of the bare handshake rate", verdict(at_least(rv, 0.8)))

peer_row("cg64", "create-get, 64 connections", 6)

for key, what, op, bound in (("cluster_create", "Creates", "create", 0.5),
                             ("cluster_get", "Gets", "get", 0.8)):
    cl, single = Figures(key, "cluster", op=op), Figures(key, "single", op=op)
    r = ratio(cl.rate, single.rate)
    row(key, f"3-node cluster: {what}/s (etcd on loopback, 2 connections per node) vs a "
        "single appliance (6 connections)",
        f"cluster {rate_cell(cl, True)}; single {rate_cell(single, True)}" if cl.ok or single.ok
        else "not run", "—", "—",
        times(r), f"≥ {bound:g}× a single appliance", verdict(at_least(r, bound)))


def forwarding():
    on, off = Figures("fwd_on", "keyward"), Figures("fwd_off", "keyward")
    first, last, drained = [], [], []
    for rep in range(1, int(repeats) + 1):
        try:
            start, end = map(float, open(os.path.join(raw, f"forward.{rep}.window")).read().split())
            samples = [tuple(map(float, line.split()))
                       for line in open(os.path.join(raw, f"forward.{rep}.samples"))]
        except (OSError, ValueError):
            continue
        inside = [s for s in samples if start <= s[0] <= end and s[2] >= 0]
        if len(inside) >= 4:
            q = max(1, len(inside) // 4)
            first.append(statistics.median(s[2] for s in inside[:q]))
            last.append(statistics.median(s[2] for s in inside[-q:]))
        # The backlog is delivered when the count stops growing: the last growth after the load.
        done = 0.0
        for before, sample in zip(samples, samples[1:]):
            if sample[0] > end and sample[1] > before[1]:
                done = sample[0] - end
        drained.append(done)
    lag_first, lag_last = median(first), median(last)
    slowdown = ratio(on.rate, off.rate)
    growth = None if lag_first is None else lag_last - lag_first
    cell = f"with: {rate_cell(on, True)}; without: {rate_cell(off, True)}"
    if lag_first is not None:
        cell += (f"; forwarding lag {num(lag_first, 2)} s → {num(lag_last, 2)} s (first → last "
                 "quarter of the run)")
    if drained and all(d is not None for d in drained):
        cell += f"; the last record arrived {num(max(drained), 1)} s after the load"
    row("forward", "audit forwarding (jsonl over TCP to a loopback collector), Gets paced at "
        f"{os.environ.get('FORWARD_RATE', '5000')}/s, 8 connections", cell, "—", "—",
        f"{times(slowdown)} throughput without forwarding",
        "no lag growth (≤ 0.5 s), no KMIP slowdown beyond 10 %",
        verdict(None if growth is None else growth <= 0.5, at_least(slowdown, 0.9)))


forwarding()

try:
    rss = int(open(os.path.join(raw, "idle_rss_kib")).read().split()[0])
except (OSError, ValueError, IndexError):
    rss = None
row("idle_rss", "idle RSS after start-up (kept)", f"{num(None if rss is None else rss / 1024, 1)} MiB",
    "—", "—", "—", "≤ 30 MiB", verdict(None if rss is None else rss <= 30 * 1024))

for key, workload in (("cg8", "create-get, 8 connections kept"), ("get8", "get, 8 connections kept"),
                      ("mixed8", "mixed, 8 connections")):
    before, after = Figures(key, "before"), Figures(key, "keyward")
    if not before.ok:
        continue
    r = ratio(after.rate, before.rate)
    row(f"before_{key}", f"before/after (issue 20): {workload}",
        f"after {rate_cell(after, True)}; before {rate_cell(before, True)}", "—", "—", times(r),
        "no throughput loss (≥ 0.95× before)", verdict(at_least(r, 0.95)))

print(f"Medians of {repeats} × {seconds} s runs, a fresh server for every run.\n")
print("| workload | Keyward | Cosmian | PyKMIP | ratio | target | verdict |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    print("| " + " | ".join(r) + " |")

# Every run's figures, for the reader who wants the CPU and the p99 of each server.
print("\nEvery workload (medians): rate, p99 of the row's operation, server / client CPU in "
      "cores, errors over all runs.\n")
print("| key | server | rate/s | p99 ms | server CPU | client CPU | errors |")
print("|---|---|---|---|---|---|---|")
seen = set()
for path in sorted(glob.glob(os.path.join(raw, "*.json"))):
    parts = os.path.basename(path).split(".")
    key, server = parts[0], parts[1]
    if (key, server) in seen:
        continue
    seen.add((key, server))
    hs = key in ("bare8", "vcenter8")
    op = {"cluster_create": "create"}.get(key, "handshake" if hs else "get")
    f = Figures(key, server, handshakes=hs, op=op)
    print(f"| {key} | {server} | {num(f.rate)} | {num(None if f.p99 is None else f.p99 / 1000, 2)}"
          f" | {num(f.server_share, 2)} | {num(f.client_share, 2)} | {f.errors} |")

with open(os.path.join(raw, "..", "missed"), "w") as out:
    out.write("".join(m + "\n" for m in missed))
