#!/usr/bin/env python3
"""Call every HTTP method of PyHashlookup's Hashlookup against a server.

drive.py URL KNOWN_MD5 KNOWN_SHA1 KNOWN_SHA256 UNKNOWN_MD5
prints one JSON object: method name -> what the client returned (or the
exception it raised, as {"raised": "..."}).
"""
import json
import sys

from pyhashlookup import Hashlookup, PyHashlookupError

url, md5, sha1, sha256, unknown_md5 = sys.argv[1:6]
# No proxy: the server is on loopback.
h = Hashlookup(url, useragent="matchmeta-test", proxies={"http": "", "https": ""})
h.session.trust_env = False

calls = {
    "info": lambda: h.info(),
    "top": lambda: h.top(),
    "md5_lookup": lambda: h.md5_lookup(md5),
    "md5_lookup_unknown": lambda: h.md5_lookup(unknown_md5),
    "sha1_lookup": lambda: h.sha1_lookup(sha1),
    "sha256_lookup": lambda: h.sha256_lookup(sha256),
    "md5_bulk_lookup": lambda: h.md5_bulk_lookup([md5, "not-a-hash", unknown_md5, md5.lower()]),
    "sha1_bulk_lookup": lambda: h.sha1_bulk_lookup([sha1, md5]),
    "sha1_children": lambda: h.sha1_children(sha1),
    "sha1_parents": lambda: h.sha1_parents(sha1, count=10, cursor="0"),
    "lookup_str": lambda: h.lookup(sha256),
    "lookup_list": lambda: h.lookup([md5, unknown_md5]),
    "lookup_bad": lambda: h.lookup("foo"),
}
out = {}
for name, call in calls.items():
    try:
        out[name] = call()
    except PyHashlookupError as e:
        out[name] = {"raised": "PyHashlookupError: %s" % e}
    except Exception as e:  # the test reports it
        out[name] = {"raised": "%s: %s" % (type(e).__name__, e)}
print(json.dumps(out, indent=1, sort_keys=True))
