# matchmeta_lookup: look many hashes, file names or full paths up on a
# matchmeta appliance in one request. Python 3 standard library only, so a
# Volatility 3 plugin (or any script on an offline workstation) can paste it.
import json
import urllib.error
import urllib.request


def matchmeta_lookup(values, server="http://127.0.0.1:8080", api_key=None,
                     kind=None, detail="sets", timeout=300):
    """Answer every value, in input order.

    values: hashes (SHA-256, SHA-1, MD5 in hex), file names or full paths;
            each one's type is told by its form unless kind is given
            ("sha256", "sha1", "md5", "filename" or "path").
    detail: "verdict" (fastest), "sets" or "full" (with NSRL records).
    Returns a list of dicts: {"query", "type", "verdict": "OK"|"NA"|"error",
    "class", "matches": [...], "error"} -- verdict "error" is a value the
    server refused (bad hex, wrong length, empty, ambiguous), never NA;
    "error" says why.
    """
    values = [str(v) for v in values]
    url = server.rstrip("/") + "/api/v1/lookup?detail=" + detail
    if kind:
        url += "&type=" + kind
    # NDJSON: one JSON string per line. The server streams the answers
    # back the same way, so a million values are fine in one call.
    body = "".join(json.dumps(v) + "\n" for v in values).encode("utf-8")
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/x-ndjson",
        "Accept": "application/x-ndjson",
    })
    if api_key:
        req.add_header("x-api-key", api_key)
    # No proxy: the appliance is on the lab network, never behind one.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    answers = []
    try:
        with opener.open(req, timeout=timeout) as resp:
            for line in resp:
                if not line.strip():
                    continue
                a = json.loads(line)
                if "verdict" not in a:  # the server could not finish
                    raise RuntimeError("matchmeta: " + a.get("error", "broken answer"))
                answers.append(a)
    except urllib.error.HTTPError as e:
        try:
            msg = json.loads(e.read()).get("error", "")
        except ValueError:
            msg = ""
        raise RuntimeError("matchmeta: HTTP %d: %s" % (e.code, msg or e.reason)) from None
    if len(answers) != len(values):
        raise RuntimeError("matchmeta: %d answers to %d values" % (len(answers), len(values)))
    return answers


if __name__ == "__main__":
    # python3 matchmeta_lookup.py SERVER [API_KEY] < values.txt  -> JSON lines
    import sys
    lines = [l.strip() for l in sys.stdin if l.strip()]
    try:
        for a in matchmeta_lookup(lines, sys.argv[1], *sys.argv[2:3]):
            print(json.dumps(a))
    except RuntimeError as e:
        sys.exit(str(e))
