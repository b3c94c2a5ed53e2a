"""Turning what an endpoint yields into bytes on the wire."""
import json

# One encoder, built once: json.dumps() with keyword arguments builds a new encoder per call.
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

TEXT = "text/plain; charset=utf-8"
BYTES = "application/octet-stream"
NDJSON = "application/x-ndjson"
JSON = "application/json; charset=utf-8"


def encode_item(item):
    """str -> UTF-8, bytes as is, dict/list -> one JSON line; None -> b"" (skipped)."""
    t = type(item)
    if t is str:
        return item.encode("utf-8")
    if t is bytes:
        return item
    if t is dict or t is list:
        return (_dumps(item) + "\n").encode("utf-8")
    if item is None:
        return b""
    if isinstance(item, (bytearray, memoryview)):
        return bytes(item)
    if isinstance(item, str):
        return str(item).encode("utf-8")
    if isinstance(item, bytes):
        return bytes(item)
    if isinstance(item, (dict, list, tuple)):
        return (_dumps(item) + "\n").encode("utf-8")
    raise TypeError(
        "a Python endpoint can return or yield str, bytes, dict or list, got %s" % type(item).__name__
    )


def encode_document(value):
    """A value returned (not yielded) by an endpoint: (bytes, default content type)."""
    if isinstance(value, (dict, list, tuple)):
        return _dumps(value).encode("utf-8"), JSON
    data = encode_item(value)
    return data, (TEXT if isinstance(value, str) else BYTES)


def content_type_of(item):
    """The default Content-Type of a stream whose first item is `item`."""
    if isinstance(item, str):
        return TEXT
    if isinstance(item, (dict, list, tuple)):
        return NDJSON
    return BYTES
