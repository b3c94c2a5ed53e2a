"""The Python generator every `pyrows` peer serves (bench/README.md, workload pyrows).

One dict per row; each framework turns it into the contract's NDJSON line
{"id":i,"name":"user-i","score":(i*7)%1000,"ok":true}.
"""
import json

MAX_ROWS = 100_000_000

# Compact JSON, the same encoding catzilla_bridge uses for dicts.
dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def rows(n):
    for i in range(n):
        yield {"id": i, "name": "user-%d" % i, "score": (i * 7) % 1000, "ok": True}


def row_count(value, default=1000):
    try:
        n = int(value)
    except (TypeError, ValueError):
        return default
    return default if n < 0 else min(n, MAX_ROWS)


def ndjson(n):
    """The rows as NDJSON lines (for frameworks that stream str, not dicts)."""
    for row in rows(n):
        yield dumps(row) + "\n"


def pyrows(request):
    """catzilla_bridge endpoint: GET /pyrows?n=N, the dicts as they are (the bridge encodes them)."""
    yield from rows(row_count(request.query.get("n")))
