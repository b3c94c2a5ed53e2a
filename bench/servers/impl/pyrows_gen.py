"""The Python generators every `pyrows` / `pybulk` peer serves (bench/README.md).

pyrows: one dict per row; each framework turns it into the contract's NDJSON line
{"id":i,"name":"user-i","score":(i*7)%1000,"ok":true}.
pybulk: `mb` MiB of bytes items of `size` bytes each (the item built once per size and reused).
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


MAX_BULK_MB = 64 * 1024
MAX_ITEM = 256 * 1024 * 1024
_items = {}


def _item(size):
    item = _items.get(size)
    if item is None:
        block = bytes(97 + i % 26 for i in range(4096))
        reps, rest = divmod(size, 4096)
        item = _items[size] = block * reps + block[:rest]
    return item


def bulk_items(size_value, mb_value):
    """`mb` MiB as items of `size` bytes (the last one shorter)."""
    size = min(max(row_count(size_value, 1024), 1), MAX_ITEM)
    total = min(row_count(mb_value, 1), MAX_BULK_MB) * 1024 * 1024
    item = _item(size)
    for _ in range(total // size):
        yield item
    rest = total % size
    if rest:
        yield item[:rest]


def pybulk(request):
    """catzilla_bridge endpoint: GET /pybulk?size=S&mb=M."""
    request.response.content_type = "application/octet-stream"
    yield from bulk_items(request.query.get("size"), request.query.get("mb"))
