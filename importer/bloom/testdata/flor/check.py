#!/usr/bin/env python3
"""check.py FILTER < digests: how flor's consumers screen with a filter.

Prints one JSON object: {"n", "p", "k", "m", "N", "data", "present": [...],
"absent": [...]} for the digests on stdin (one per line), queried as
hashlookup-forensic-analyser and Plaso do: digest.upper().encode().
"""
import json
import sys

import flor

bf = flor.BloomFilter()
with open(sys.argv[1], "rb") as f:
    bf.read(f)
out = {"n": bf.n, "p": bf.p, "k": bf.k, "m": bf.m, "N": bf.N,
       "data": bf.data.decode("utf-8", "replace"), "present": [], "absent": []}
for line in sys.stdin:
    d = line.strip()
    if d:
        out["present" if d.upper().encode("utf-8") in bf else "absent"].append(d)
print(json.dumps(out))
