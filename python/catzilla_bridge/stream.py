"""One endpoint call: runs the target, paces it by credit, batches its output.

Pacing: Node grants credit in bytes (an initial window, then what the socket took).
A generator is advanced only while the bytes it produced are below the credit, so a
client that stops reading stops the generator.

Batching: each encoded item goes into an outbox and one flush is scheduled on the
event loop unless one is pending. The flush sends everything in the outbox as one
DATA frame. A slow generator's item therefore leaves at once, while a fast one's
items pile up until the loop gets to run (a GIL switch interval, or until it awaits)
and leave in large frames.

Large items: an item (or a returned document) bigger than protocol.MAX_DATA leaves in
slices of that size, each one waiting for credit like an item would, so a 50 MiB item
costs the same as fifty 1 MiB ones and neither side buffers more than the window plus
a slice.

Sync callables and generators run in a thread of their own, so a blocking or
CPU-bound one never stalls the worker's event loop (the other streams); async ones
run as tasks on the loop.
"""
import asyncio
import collections
import inspect
import threading
import traceback
from time import monotonic as _monotonic

from . import protocol as P
from .encoding import content_type_of, encode_document, encode_item
from .body import BodyChannel, RequestBody, RequestParts
from .request import HTTPError, Request, Response
from .targets import resolve

# An async generator that never awaits anything real yields to the loop after this many bytes.
ASYNC_SLICE_BYTES = 256 * 1024
# A sync producer that emitted less than FLUSH_DELAY seconds ago is flushed FLUSH_DELAY later,
# or once FLUSH_BYTES are pending, whichever comes first.
FLUSH_DELAY = 0.001
FLUSH_BYTES = 64 * 1024

# How long a cancelled sync generator's close waits for its on_cancel callbacks.
CANCEL_CALLBACK_WAIT = 5.0

_DONE = object()


def _is_stream(value):
    """Whether a returned value is streamed (iterated) rather than sent as one document."""
    if isinstance(value, (str, bytes, bytearray, memoryview, dict, list, tuple)) or value is None:
        return False
    return hasattr(value, "__aiter__") or hasattr(value, "__iter__")


class Stream:
    def __init__(self, worker, sid, spec, body):
        self.worker = worker
        self.loop = worker.loop
        self.sid = sid
        self.target = spec.get("target")
        self.request = Request.from_spec(spec, body)
        # A body read as it arrives ('stream' or 'parts'): fed by BODY / PART / BODY_END frames.
        self.body = None
        mode = spec.get("body")
        if mode in ("stream", "parts"):
            self.body = BodyChannel(self.loop, self._grant_body)
            if mode == "stream":
                self.request.body = RequestBody(self.body)
            else:
                self.request.body = b""
                self.request.parts = RequestParts(self.body)
        self.granted = int(spec.get("window", 256 * 1024))
        self.used = 0
        self.cond = threading.Condition()
        self.credit_event = asyncio.Event()
        self.outbox = collections.deque()
        self.flush_pending = False
        self.urgent_pending = False
        self.pending_bytes = 0
        self.last_emit = 0.0
        self.head = None          # the sealed head, set by the producer with the first item
        self.head_sent = False
        self.cancelled = False
        self.finished = False
        self.task = None          # asyncio task of an async producer
        self.thread = None
        self.busy = False         # the producer runs the function's own code
        self.cancel_thread = None # runs the request's on_cancel callbacks

    # ---- control (event loop thread) ----

    def start(self):
        try:
            fn = resolve(self.target)
        except BaseException as err:  # noqa: BLE001
            self.finish(_format(err))
            return
        if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
            self.task = self.loop.create_task(self._run_async_call(fn))
        else:
            self.thread = threading.Thread(target=self._run_sync_call, args=(fn,), name="catzilla-stream-%d" % self.sid, daemon=True)
            self.thread.start()

    def add_credit(self, n):
        with self.cond:
            self.granted += n
            self.cond.notify()
        self.credit_event.set()

    def body_frame(self, kind, payload):
        if self.body is None:
            return
        self.body.feed({P.BODY: 0, P.PART: 1, P.BODY_END: 2}[kind], payload)

    def _grant_body(self, n):
        if not self.finished and not self.cancelled:
            self.worker.send(P.BODY_CREDIT, self.sid, P.U32.pack(min(n, 0xFFFFFFFF)))

    def cancel(self):
        if self.cancelled or self.finished:
            return
        if self.body is not None:
            self.body.close()
        self.cancelled = True
        # The producer in the function's own code (not parked on credit): its on_cancel callbacks
        # interrupt what it is blocked in. (busy is set before the producer reads cancelled, and
        # read here after cancelled is set: under the GIL one of the two sees the other.)
        thread = self.request._cancel(self.busy)
        if thread is not None:
            self.cancel_thread = thread
            thread.start()
        with self.cond:
            self.cond.notify()
        self.credit_event.set()
        if self.task is not None:
            self.task.cancel()

    def flush(self):
        """Sends the outbox as one DATA frame (HEAD first, once)."""
        self.flush_pending = False
        self.urgent_pending = False
        self.pending_bytes = 0
        out = self.outbox
        if not out or self.finished:
            return
        parts = []
        while out:
            parts.append(out.popleft())
        if self.cancelled:
            return
        self._send_head()
        payload = parts[0] if len(parts) == 1 else b"".join(parts)
        n = len(payload)
        if n <= P.MAX_DATA:
            self.worker.send(P.DATA, self.sid, payload)
            return
        view = memoryview(payload)
        for off in range(0, n, P.MAX_DATA):
            self.worker.send(P.DATA, self.sid, view[off:off + P.MAX_DATA])

    def finish(self, error=None):
        """The producer is done: flush, then END, ERROR or (after a cancel) CLOSED."""
        if self.finished:
            return
        self.flush()
        self.finished = True
        if self.cancelled:
            self.worker.send(P.CLOSED, self.sid, P.json_payload({"error": error}) if error else b"")
        elif error is not None:
            self.worker.send(P.ERROR, self.sid, P.json_payload(error))
        else:
            if self.head is None:
                self.head = self.request.response.seal(None)
            if not self.head_sent:
                # Nothing was sent: the response has no body (a 204 carries no Content-Type).
                self.head = dict(self.head, empty=True)
            self._send_head()
            self.worker.send(P.END, self.sid)
        self.worker.stream_done(self)

    def _send_head(self):
        if not self.head_sent:
            self.head_sent = True
            self.worker.send(P.HEAD, self.sid, P.json_payload(self.head))

    # ---- producers ----

    def _wait_credit_sync(self):
        """Producer thread: blocks while the stream has no credit; False once cancelled."""
        if self.used >= self.granted:
            with self.cond:
                while self.used >= self.granted and not self.cancelled:
                    self.cond.wait()
        return not self.cancelled

    async def _wait_credit_async(self):
        """Event loop: waits while the stream has no credit; False once cancelled."""
        while self.used >= self.granted and not self.cancelled:
            self.credit_event.clear()
            if self.used >= self.granted and not self.cancelled:
                await self.credit_event.wait()
        return not self.cancelled

    def _put_sync(self, data):
        """Producer thread: queues `data`, a slice at a time past MAX_DATA, each within credit."""
        n = len(data)
        if n <= P.MAX_DATA:
            self._emit(data, True)
            return
        view = memoryview(data)
        for off in range(0, n, P.MAX_DATA):
            if off and not self._wait_credit_sync():
                return
            self._emit(view[off:off + P.MAX_DATA], True)

    async def _put_async(self, data):
        """Event loop: queues `data`, a slice at a time past MAX_DATA, each within credit."""
        n = len(data)
        if n <= P.MAX_DATA:
            self._emit(data, False)
            return
        view = memoryview(data)
        for off in range(0, n, P.MAX_DATA):
            if off and not await self._wait_credit_async():
                return
            self._emit(view[off:off + P.MAX_DATA], False)

    def _emit(self, data, threadsafe):
        """Queues encoded bytes (any thread) and makes sure a flush is scheduled."""
        self.outbox.append(data)
        n = len(data)
        self.used += n
        if not threadsafe:
            if not self.flush_pending:
                self.flush_pending = True
                self.loop.call_soon(self.flush)
            return
        # From the producer thread. Waking the loop releases the GIL to it, so waking it per
        # item would cost a thread switch per item: a producer that emitted recently (a fast
        # one) gets its flush FLUSH_DELAY later, with whatever it produced meanwhile, or as
        # soon as FLUSH_BYTES piled up; one that was quiet (a slow one) is flushed at once.
        self.pending_bytes += n
        if self.pending_bytes >= FLUSH_BYTES:
            self.last_emit = _monotonic()
            if not self.urgent_pending:
                self.urgent_pending = True
                self.flush_pending = True
                self.loop.call_soon_threadsafe(self.flush)
        elif not self.flush_pending:
            self.flush_pending = True
            now = _monotonic()
            if now - self.last_emit >= FLUSH_DELAY:
                self.loop.call_soon_threadsafe(self.flush)
            else:
                self.loop.call_soon_threadsafe(self._arm_flush)
            self.last_emit = now

    def _arm_flush(self):
        self.loop.call_later(FLUSH_DELAY, self.flush)

    def _document(self, value):
        """A returned (not streamed) value: seals the head with its content type, returns its bytes."""
        if value is None:
            head = self.request.response
            if head.status == 200 and not head.sent:
                head.status = 204  # like a Node handler returning null
            if self.head is None:
                self.head = head.seal(None)
            return b""
        data, ctype = encode_document(value)
        if self.head is None:
            self.head = self.request.response.seal(ctype)
        return data

    def _seal_for(self, item):
        if self.head is None:
            self.head = self.request.response.seal(content_type_of(item))

    def _unwrap(self, result):
        if isinstance(result, Response):
            result.apply(self.request.response)
            return result.body
        return result

    def _run_sync_call(self, fn):
        """Thread: call a sync target, then iterate what it returned (or hand an async result to the loop)."""
        error = None
        try:
            self.busy = True
            try:
                result = self._unwrap(fn(self.request))
            finally:
                self.busy = False
            if inspect.isawaitable(result) or hasattr(result, "__aiter__"):
                asyncio.run_coroutine_threadsafe(self._run_async_result(result), self.loop)
                return
            if _is_stream(result):
                self._iterate_sync(result)
            elif not self.cancelled:
                data = self._document(result)
                if data:
                    self._put_sync(data)
        except BaseException as err:  # noqa: BLE001
            error = _format(err)
        self.loop.call_soon_threadsafe(self.finish, error)

    def _iterate_sync(self, iterable):
        it = iter(iterable)
        try:
            while True:
                if not self._wait_credit_sync():
                    break
                self.busy = True
                if self.cancelled:
                    break
                try:
                    item = next(it)
                except StopIteration:
                    self.busy = False
                    return
                self.busy = False
                if self.cancelled:
                    break
                data = encode_item(item)
                if data:
                    self._seal_for(item)
                    self._put_sync(data)
        except BaseException:
            self.busy = False
            self._join_cancel()
            _close_sync(it)
            raise
        self._join_cancel()
        _close_sync(it)  # cancelled: run the generator's finally / with blocks now

    def _join_cancel(self):
        """Producer thread: lets the on_cancel callbacks finish (bounded) before the generator's
        finally runs, so it never closes a connection a callback is still cancelling on."""
        thread = self.cancel_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(CANCEL_CALLBACK_WAIT)

    async def _run_async_call(self, fn):
        try:
            result = fn(self.request)
        except BaseException as err:  # noqa: BLE001 - e.g. a TypeError for a wrong signature
            self.finish(_format(err))
            return
        await self._run_async_result(result)

    async def _run_async_result(self, result):
        """Awaits and iterates what an async target (or a sync one) returned, on the loop."""
        self.task = asyncio.current_task()
        if self.cancelled:
            self.task.cancel()
        error = None
        try:
            if inspect.isawaitable(result):
                self.busy = True
                result = await result
                self.busy = False
            await self._consume_async(self._unwrap(result))
        except asyncio.CancelledError:
            pass
        except BaseException as err:  # noqa: BLE001
            error = _format(err)
        self.finish(error)

    async def _consume_async(self, result):
        if hasattr(result, "__aiter__"):
            await self._iterate_async(result)
        elif _is_stream(result):
            # A sync iterable returned by an async target: iterate it in a thread too.
            await self.loop.run_in_executor(None, self._iterate_sync, result)
        elif not self.cancelled:
            data = self._document(result)
            if data:
                await self._put_async(data)

    async def _iterate_async(self, aiterable):
        it = aiterable.__aiter__()
        slice_bytes = 0
        try:
            while True:
                if not await self._wait_credit_async():
                    break
                self.busy = True
                try:
                    item = await it.__anext__()
                except StopAsyncIteration:
                    return
                self.busy = False
                data = encode_item(item)
                if data:
                    self._seal_for(item)
                    await self._put_async(data)
                    slice_bytes += len(data)
                    if slice_bytes >= ASYNC_SLICE_BYTES:
                        slice_bytes = 0
                        await asyncio.sleep(0)  # let other streams and the flush run
        except BaseException:
            await _close_async(it)
            raise
        await _close_async(it)


def _close_sync(it):
    close = getattr(it, "close", None)
    if close is not None:
        close()


async def _close_async(it):
    aclose = getattr(it, "aclose", None)
    if aclose is None:
        return
    try:
        await aclose()
    except RuntimeError:
        pass  # "aclose(): asynchronous generator is already running": it is being cancelled


def _format(err):
    info = {
        "type": type(err).__name__,
        "message": str(err),
        "traceback": "".join(traceback.format_exception(type(err), err, err.__traceback__)),
    }
    if isinstance(err, HTTPError):
        info.update(status=err.status, message=err.message, headers=[[k, str(v)] for k, v in err.headers.items()])
    return info
