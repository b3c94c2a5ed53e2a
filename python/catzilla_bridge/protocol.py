"""The frame protocol between the Node.js pool and a worker.

Every frame is a 9-byte header ``type (u8) | stream id (u32 BE) | payload length (u32 BE)``
followed by the payload. Node -> worker: START, CREDIT, CANCEL, PING, BODY, PART, BODY_END.
Worker -> Node: HELLO, HEAD, DATA, END, ERROR, CLOSED, PONG, BODY_CREDIT. The TypeScript side (ts/python/protocol.ts)
mirrors these numbers. A DATA payload is at most MAX_DATA bytes.
"""
import json
import struct

HEADER = struct.Struct(">BII")
HEADER_SIZE = HEADER.size
U32 = struct.Struct(">I")
MAX_PAYLOAD = 1 << 30
# The largest DATA payload a worker sends: a bigger item (or batch) leaves in slices of this
# size, each within the stream's credit, so neither side ever holds more than a few of them.
MAX_DATA = 64 * 1024

# Node -> worker
START = 1    # payload: u32 JSON length, JSON {target, method, path, query, headers, params, window}, body bytes
CREDIT = 2   # payload: u32 bytes the stream may produce beyond what it already did
CANCEL = 3   # no payload: close the generator (finally / with blocks run), answer CLOSED
PING = 4     # stream 0, no payload: answered with PONG by the worker's event loop (liveness)
BODY = 5     # request body bytes (the raw body, or the current file part's), within the body credit
PART = 6     # JSON {kind: "field"|"file", name, filename?, mimeType, value?}: the next part of a form
BODY_END = 7  # the request body is over: no payload, or JSON {error: {status, message}}

# worker -> Node
HELLO = 20   # stream 0, JSON {pid, python}: the worker is ready
HEAD = 21    # JSON {status, headers: [[name, value], ...], empty?: true}: sent right before the first DATA
             # (empty: sent with END, no DATA at all: the response has no body)
DATA = 22    # encoded items, concatenated
END = 23     # the generator finished
ERROR = 24   # JSON {type, message, traceback}; before HEAD it becomes a 500, after it an aborted stream
CLOSED = 25  # answer to CANCEL: the generator is closed
PONG = 26    # stream 0, no payload: answer to PING
BODY_CREDIT = 27  # u32: request body bytes the endpoint consumed (Node may send that many more)


def frame(kind, stream_id, payload=b""):
    """One frame as bytes (header + payload)."""
    return HEADER.pack(kind, stream_id, len(payload)) + payload


def json_payload(value):
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def parse_start(payload):
    """Splits a START payload into (spec dict, body bytes)."""
    if len(payload) < 4:
        raise ValueError("START frame too short")
    (n,) = U32.unpack_from(payload, 0)
    if 4 + n > len(payload):
        raise ValueError("START frame: JSON length past the end of the payload")
    spec = json.loads(payload[4:4 + n].decode("utf-8"))
    return spec, bytes(payload[4 + n:])


def build_start(spec, body=b""):
    """The START payload for `spec` (used by tests and tools)."""
    data = json_payload(spec)
    return U32.pack(len(data)) + data + body


class FrameReader:
    """Incremental parser: feed() bytes, get back complete (type, stream id, payload) tuples."""

    def __init__(self):
        self._buf = bytearray()

    def feed(self, data):
        buf = self._buf
        buf += data
        frames = []
        pos = 0
        n = len(buf)
        while n - pos >= HEADER_SIZE:
            kind, sid, length = HEADER.unpack_from(buf, pos)
            if length > MAX_PAYLOAD:
                raise ValueError("frame payload of %d bytes is too large" % length)
            end = pos + HEADER_SIZE + length
            if end > n:
                break
            frames.append((kind, sid, bytes(buf[pos + HEADER_SIZE:end])))
            pos = end
        if pos:
            del buf[:pos]
        return frames
