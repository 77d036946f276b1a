#!/usr/bin/env python3
"""Objects that grew between two V8 heap snapshots, by constructor: count and self size.

  python3 benchmarks/soak/heap-diff.py EARLY.heapsnapshot LATE.heapsnapshot [top]
"""
import json
import sys


def tally(path):
    snap = json.load(open(path))
    meta = snap['snapshot']['meta']
    fields = meta['node_fields']
    types = meta['node_types'][0]
    width = len(fields)
    i_type, i_name, i_size = fields.index('type'), fields.index('name'), fields.index('self_size')
    nodes, strings = snap['nodes'], snap['strings']
    out = {}
    for at in range(0, len(nodes), width):
        kind = types[nodes[at + i_type]]
        if kind in ('hidden', 'synthetic'):
            continue
        key = f"{kind}:{strings[nodes[at + i_name]][:80]}" if kind in ('object', 'closure', 'native') else kind
        n, size = out.get(key, (0, 0))
        out[key] = (n + 1, size + nodes[at + i_size])
    return out


early, late = tally(sys.argv[1]), tally(sys.argv[2])
top = int(sys.argv[3]) if len(sys.argv) > 3 else 30
rows = []
for key in set(early) | set(late):
    n0, s0 = early.get(key, (0, 0))
    n1, s1 = late.get(key, (0, 0))
    rows.append((s1 - s0, n1 - n0, key, n1))
rows.sort(reverse=True)
print(f"{'bytes +':>10} {'count +':>8} {'count':>8}  constructor")
for ds, dn, key, n1 in rows[:top]:
    print(f"{ds:>10} {dn:>8} {n1:>8}  {key}")
