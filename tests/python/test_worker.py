"""The worker process over its real pipes: streaming, pacing, cancellation, errors, concurrency."""
import json
import time

import pytest

from catzilla_bridge import protocol as P
from conftest import read_marker


def test_hello(worker):
    assert worker.hello["pid"] == worker.proc.pid


def test_sync_generator_of_dicts(worker):
    worker.start(1, "bridge_handlers:rows", query="n=1000")
    head, body, kind, _ = worker.collect(1)
    assert kind == P.END
    assert head == {"status": 200, "headers": [["Content-Type", "application/x-ndjson"]]}
    lines = body.decode().splitlines()
    assert len(lines) == 1000
    assert json.loads(lines[999]) == {"id": 999, "name": "user-999"}


def test_fast_generator_is_batched(worker):
    worker.start(1, "bridge_handlers:rows", query="n=20000")
    frames = 0
    while True:
        kind, sid, payload = worker.recv()
        if kind == P.DATA:
            frames += 1
        if kind in (P.END, P.ERROR):
            break
    assert kind == P.END
    assert frames < 2000, "20,000 items should leave in far fewer frames (got %d)" % frames


def test_strings_bytes_documents_and_none(worker):
    worker.start(1, "bridge_handlers:lines", query="n=2")
    assert worker.collect(1)[:3] == ({"status": 200, "headers": [["Content-Type", "text/plain; charset=utf-8"]]}, b"line 0\nline 1\n", P.END)
    worker.start(2, "bridge_handlers:chunks")
    head, body, kind, _ = worker.collect(2)
    assert body == b"\x00\x01\x02\x03\x04" and head["headers"] == [["Content-Type", "application/octet-stream"]]
    worker.start(3, "bridge_handlers:document")
    head, body, kind, _ = worker.collect(3)
    assert json.loads(body) == {"ok": True, "items": [1, 2]} and head["headers"][0][1].startswith("application/json")
    worker.start(4, "bridge_handlers:nothing")
    head, body, kind, _ = worker.collect(4)
    assert head["status"] == 204 and body == b"" and kind == P.END
    assert head["empty"] is True and head["headers"] == []


def test_request_reaches_the_function(worker):
    worker.start(1, "bridge_handlers:echo", body=b"payload", method="POST", path="/e/5", query="q=1",
                 headers={"x-h": "v"}, params={"id": "5"})
    _, body, kind, _ = worker.collect(1)
    got = json.loads(body)
    assert got["method"] == "POST" and got["path"] == "/e/5" and got["query"] == {"q": "1"}
    assert got["headers"] == {"x-h": "v"} and got["params"] == {"id": "5"} and got["body"] == "payload"


def test_status_headers_and_response_object(worker):
    worker.start(1, "bridge_handlers:custom_head")
    head, body, _, _ = worker.collect(1)
    assert head == {"status": 201, "headers": [["X-Custom", "yes"], ["Content-Type", "text/csv"]]}
    assert body == b"a,b\n1,2\n"
    worker.start(2, "bridge_handlers:wrapped")
    head, body, _, _ = worker.collect(2)
    assert head == {"status": 202, "headers": [["X-Wrapped", "1"], ["Content-Type", "text/x-wrapped"]]}


def test_async_generator_and_coroutine(worker):
    worker.start(1, "bridge_handlers:async_rows", query="n=500")
    _, body, kind, _ = worker.collect(1)
    assert kind == P.END and len(body.splitlines()) == 500
    worker.start(2, "bridge_handlers:async_document")
    _, body, kind, _ = worker.collect(2)
    assert json.loads(body) == {"async": True}


def test_slow_generator_items_leave_at_once(worker):
    worker.start(1, "bridge_handlers:slow", query="interval=1")
    t0 = time.monotonic()
    kind, _, _ = worker.recv()
    assert kind == P.HEAD
    kind, _, payload = worker.recv()
    assert kind == P.DATA and payload == b"tick 0\n"
    kind, _, payload = worker.recv(timeout=3)
    assert payload == b"tick 1\n"
    elapsed = time.monotonic() - t0
    assert 0.8 < elapsed < 1.6, elapsed
    worker.send(P.CANCEL, 1)


def test_credit_paces_the_generator(worker, marker):
    worker.start(1, "bridge_handlers:endless", window=16 * 1024, query="marker=%s" % marker)
    received = 0
    while received < 16 * 1024:
        kind, _, payload = worker.recv()
        if kind == P.DATA:
            received += len(payload)
    time.sleep(0.3)
    counts = [int(l.split()[1]) for l in read_marker(marker) if l.startswith("count")]
    # 16 KiB window of 1 KiB items: the generator is suspended at its 16th yield.
    assert max(counts, default=0) <= 16, counts
    assert received == 16 * 1024
    worker.credit(1, 64 * 1024)
    read_marker(marker, "count 64")
    time.sleep(0.3)
    counts = [int(l.split()[1]) for l in read_marker(marker) if l.startswith("count")]
    assert 64 <= max(counts) <= 80, counts
    worker.send(P.CANCEL, 1)
    assert worker.collect(1)[2] == P.CLOSED


def test_cancel_runs_finally_and_with(worker, marker):
    worker.start(1, "bridge_handlers:endless", window=4096, query="marker=%s" % marker)
    worker.recv()  # HEAD
    worker.send(P.CANCEL, 1)
    assert worker.collect(1)[2] == P.CLOSED
    lines = read_marker(marker, "exit")
    assert any(l.startswith("finally") for l in lines) and "exit" in lines


def test_cancel_async_generator_is_prompt(worker, marker):
    worker.start(1, "bridge_handlers:async_slow", query="interval=30&marker=%s" % marker)
    assert worker.recv()[0] == P.HEAD
    t0 = time.monotonic()
    worker.send(P.CANCEL, 1)
    assert worker.collect(1)[2] == P.CLOSED
    assert time.monotonic() - t0 < 1.0
    assert "finally" in read_marker(marker, "finally")


def test_error_before_first_item(worker):
    worker.start(1, "bridge_handlers:fail_before")
    head, body, kind, payload = worker.collect(1)
    assert head is None and kind == P.ERROR
    err = json.loads(payload)
    assert err["type"] == "ValueError" and "boom before the first item" in err["traceback"]
    assert "fail_before" in err["traceback"]


def test_error_after_items(worker):
    worker.start(1, "bridge_handlers:fail_after")
    head, body, kind, payload = worker.collect(1)
    assert head["status"] == 200 and body == b"first\nsecond\n" and kind == P.ERROR
    assert "boom after two items" in json.loads(payload)["message"]


def test_bad_items_and_late_headers_are_errors(worker):
    worker.start(1, "bridge_handlers:bad_item")
    _, _, kind, payload = worker.collect(1)
    assert kind == P.ERROR and json.loads(payload)["type"] == "TypeError"
    worker.start(2, "bridge_handlers:late_status")
    head, body, kind, payload = worker.collect(2)
    assert body == b"x\n" and kind == P.ERROR and json.loads(payload)["type"] == "HeadersSentError"


def test_import_error_is_reported(worker):
    worker.start(1, "broken_module:f")
    _, _, kind, payload = worker.collect(1)
    assert kind == P.ERROR and "this_module_does_not_exist_catzilla" in json.loads(payload)["traceback"]


def test_cpu_bound_stream_does_not_block_others(worker):
    worker.start(1, "bridge_handlers:cpu_bound", query="seconds=1.5&n=1")
    time.sleep(0.1)
    t0 = time.monotonic()
    worker.start(2, "bridge_handlers:hello")
    _, body, kind, _ = worker.collect(2, timeout=5)
    assert body == b"hello from python\n"
    assert time.monotonic() - t0 < 0.5
    assert worker.collect(1, timeout=5)[1] == b"cpu 0\n"


def test_many_concurrent_streams(worker):
    for sid in range(1, 51):
        worker.start(sid, "bridge_handlers:rows", query="n=200")
    done = {}
    bodies = {sid: bytearray() for sid in range(1, 51)}
    while len(done) < 50:
        kind, sid, payload = worker.recv()
        if kind == P.DATA:
            bodies[sid] += payload
        elif kind in (P.END, P.ERROR):
            done[sid] = kind
    assert set(done.values()) == {P.END}
    assert all(len(b.splitlines()) == 200 for b in bodies.values())


def test_eof_closes_generators_and_exits(worker, marker):
    worker.start(1, "bridge_handlers:endless", window=4096, query="marker=%s" % marker)
    worker.recv()
    worker.proc.stdin.close()
    assert worker.proc.wait(5) == 0
    assert "exit" in read_marker(marker, "exit")


def _pattern(size, seed=0):
    ramp = bytes((seed + i) % 251 for i in range(251))
    reps, rest = divmod(size, 251)
    return ramp * reps + ramp[:rest]


def _drain(worker, sid, quiet=0.3):
    """DATA payload sizes of `sid` until nothing came for `quiet` seconds (or the stream ended)."""
    sizes, body, kind = [], bytearray(), None
    while True:
        try:
            kind, fsid, payload = worker.recv(timeout=quiet)
        except TimeoutError:
            return sizes, bytes(body), None
        if fsid != sid:
            continue
        if kind == P.DATA:
            sizes.append(len(payload))
            body += payload
        elif kind != P.HEAD:
            return sizes, bytes(body), kind


def test_a_large_item_leaves_in_frame_sized_slices_paced_by_credit(worker):
    """A 5 MiB item (sync, async, returned): frames of at most MAX_DATA, never past the credit."""
    size = 5 * 1024 * 1024 + 3
    window = 256 * 1024
    for sid, target in ((1, "bridge_handlers:big"), (2, "bridge_handlers:async_big"), (3, "bridge_handlers:big_document")):
        worker.start(sid, target, window=window, query="size=%d" % size)
        sizes, body, kind = _drain(worker, sid)
        assert kind is None, "%s: the stream went on without credit" % target
        assert sizes and max(sizes) <= P.MAX_DATA, (target, max(sizes))
        assert window <= len(body) <= window + P.MAX_DATA, (target, len(body))
        worker.credit(sid, size)  # the rest at once
        sizes, more, kind = _drain(worker, sid, quiet=5)
        assert kind == P.END, target
        assert max(sizes) <= P.MAX_DATA, (target, max(sizes))
        body += more
        assert body == _pattern(size), target


def test_ping_is_answered_by_the_event_loop(worker):
    worker.send(P.PING, 0)
    assert worker.recv()[:2] == (P.PONG, 0)


def test_worker_with_a_blocked_loop_exits_once_its_pipe_closed(worker, marker):
    """The watchdog thread ends a worker whose event loop never sees the EOF."""
    worker.start(1, "bridge_handlers:async_blocked", query="seconds=60&marker=%s" % marker)
    assert "start" in read_marker(marker, "start")
    worker.send(P.PING, 0)
    with pytest.raises(TimeoutError):
        worker.recv(timeout=0.5)  # the loop is blocked: no PONG
    worker.proc.stdin.close()
    assert worker.proc.wait(15) == 0  # the grace period, then the watchdog's exit (not the 60 s sleep)


def test_on_cancel_interrupts_a_blocked_call_and_finally_waits_for_it(worker, marker):
    # The generator is blocked in a call (not waiting for credit): CANCEL runs its on_cancel
    # callback, which unblocks it; its finally runs only once the callback returned.
    worker.start(1, "bridge_handlers:blocked_call", query="marker=%s" % marker)
    assert worker.recv()[0] == P.HEAD
    read_marker(marker, "blocked")
    t0 = time.monotonic()
    worker.send(P.CANCEL, 1)
    assert worker.collect(1)[2] == P.CLOSED
    assert time.monotonic() - t0 < 5.0
    lines = read_marker(marker, "finally")
    assert "not interrupted" not in lines
    assert lines.index("callback") < lines.index("unblocked") < lines.index("callback done") < lines.index("finally"), lines


def test_on_cancel_is_not_called_for_a_generator_waiting_for_credit(worker, marker):
    worker.start(1, "bridge_handlers:blocked_call", window=4096, query="parked=1&marker=%s" % marker)
    assert worker.recv()[0] == P.HEAD
    time.sleep(0.2)  # credit used up: parked
    worker.send(P.CANCEL, 1)
    assert worker.collect(1)[2] == P.CLOSED
    lines = read_marker(marker, "finally")
    time.sleep(0.1)
    assert "callback" not in read_marker(marker, "finally"), lines


def test_on_cancel_registered_after_the_cancel_runs_at_once():
    import threading
    from catzilla_bridge.request import Request
    req = Request()
    called = threading.Event()
    req.on_cancel(called.set)
    thread = req._cancel(True)
    thread.start()
    assert called.wait(2)
    late = threading.Event()
    req.on_cancel(late.set)
    assert late.wait(2)
    # not busy: nothing runs, now or later
    req2 = Request()
    req2.on_cancel(lambda: pytest.fail("called"))
    assert req2._cancel(False) is None
