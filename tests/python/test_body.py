"""Request bodies read as they arrive, over the worker's real pipes: BODY / PART / BODY_END frames in,
BODY_CREDIT out as the endpoint consumes (tests/python/fixtures/upload_handlers.py)."""
import hashlib
import json

from catzilla_bridge import protocol as P


def _start(worker, sid, target, mode):
    """START with a body mode (conftest's start() takes `body` as the buffered body's bytes)."""
    worker.send(P.START, sid, P.build_start({"target": target, "window": 1 << 20, "body": mode}))


def _collect_with_credit(worker, sid, timeout=10.0):
    """Like worker.collect, also summing the BODY_CREDIT the worker returned."""
    head, body, credit = None, bytearray(), 0
    while True:
        kind, fsid, payload = worker.recv(timeout)
        if fsid != sid:
            continue
        if kind == P.BODY_CREDIT:
            credit += P.U32.unpack(payload)[0]
        elif kind == P.HEAD:
            head = json.loads(payload)
        elif kind == P.DATA:
            body += payload
        else:
            return head, bytes(body), kind, payload, credit


def test_stream_body_sync_and_async_with_credit_for_every_byte(worker):
    data = bytes(range(256)) * 1000
    for sid, target in ((1, "upload_handlers:hash_body"), (2, "upload_handlers:async_hash_body")):
        _start(worker, sid, target, "stream")
        for off in range(0, len(data), 60000):
            worker.send(P.BODY, sid, data[off:off + 60000])
        worker.send(P.BODY_END, sid)
        head, body, kind, _, credit = _collect_with_credit(worker, sid)
        assert kind == P.END, body
        out = json.loads(body)
        assert out["size"] == len(data)
        assert out["sha256"] == hashlib.sha256(data).hexdigest()
        assert credit == len(data)


def test_parts_fields_files_and_a_skipped_file(worker):
    _start(worker, 3, "upload_handlers:parts", "parts")
    part = lambda **kw: P.json_payload(kw)  # noqa: E731
    worker.send(P.PART, 3, part(kind="field", name="t", mimeType="text/plain", value="caf\u00e9"))
    worker.send(P.PART, 3, part(kind="file", name="skip", filename="s.bin", mimeType="application/octet-stream"))
    worker.send(P.BODY, 3, b"x" * 1000)
    worker.send(P.PART, 3, part(kind="file", name="f", filename="f.bin", mimeType="image/png"))
    worker.send(P.BODY, 3, b"abc")
    worker.send(P.BODY, 3, b"def")
    worker.send(P.BODY_END, 3)
    head, body, kind, _, credit = _collect_with_credit(worker, 3)
    assert kind == P.END, body
    assert json.loads(body) == [
        {"field": "t", "value": "caf\u00e9"},
        {"skipped": "s.bin"},
        {"file": "f", "filename": "f.bin", "mimeType": "image/png", "size": 6, "sha256": hashlib.sha256(b"abcdef").hexdigest()},
    ]
    assert credit > 1006  # the skipped bytes and the part frames are granted back too


def test_a_body_error_before_the_first_item_is_the_answer(worker):
    _start(worker, 4, "upload_handlers:parts", "parts")
    worker.send(P.BODY_END, 4, P.json_payload({"error": {"status": 413, "message": "upload rejected: too big"}}))
    head, body, kind, payload, _ = _collect_with_credit(worker, 4)
    assert kind == P.ERROR
    info = json.loads(payload)
    assert info["status"] == 413
    assert info["message"] == "upload rejected: too big"


def test_cancel_wakes_a_reader_blocked_on_the_body(worker):
    _start(worker, 5, "upload_handlers:hash_body", "stream")
    worker.send(P.BODY, 5, b"some")
    worker.send(P.CANCEL, 5)
    head, body, kind, _, _ = _collect_with_credit(worker, 5)
    assert kind == P.CLOSED
