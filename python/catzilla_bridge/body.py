"""A request body read as it arrives: ``for chunk in request.body`` and ``for part in request.parts``.

Node sends the body in BODY frames (at most 64 KiB each), within a credit window that this side
returns as the endpoint consumes them (BODY_CREDIT): the same pacing as responses, the other
way. While the endpoint does not read, Node stops pulling from the request, and the server
stops reading the client's socket.

Multipart bodies are parsed on the Node side (its parser and limits): a PART frame (JSON) starts
each part, a file part's bytes follow as BODY frames, BODY_END ends the body (with an error when
a limit was exceeded, the body was malformed or the client left, raised here as HTTPError).

Frames arrive on the worker's event loop thread; sync endpoints (in their own thread) block in
``take_sync``, async ones await ``take_async``.
"""
import asyncio
import collections
import json
import threading

from .request import HTTPError


class ClientDisconnected(HTTPError):
    """The client went away before the whole body arrived (or the stream was cancelled)."""

    def __init__(self, message="the client closed the connection before the body ended"):
        super().__init__(499, message)


_DATA, _PART, _END = 0, 1, 2


class BodyChannel:
    """Frames of one request body, fed by the event loop, taken by the endpoint (sync or async)."""

    def __init__(self, loop, grant):
        self._loop = loop
        self._grant = grant  # grant(n): tells Node the endpoint consumed n bytes (event loop thread only)
        self._items = collections.deque()
        self._cond = threading.Condition()
        self._event = asyncio.Event()
        self._pending = None  # an item looked at but not consumed (the next part seen by a file part)
        self._ended = False

    # ---- event loop side ----

    def feed(self, kind, payload):
        if kind == _END:
            info = json.loads(payload) if payload else {}
            err = info.get("error")
            if err is None:
                failure = None
            elif err.get("status") == 499:
                failure = ClientDisconnected()
            else:
                failure = HTTPError(int(err.get("status", 500)), err.get("message", ""))
            item = (_END, failure, 0)
        elif kind == _PART:
            item = (_PART, json.loads(payload), len(payload))
        else:
            item = (_DATA, payload, len(payload))
        self._put(item)

    def close(self):
        """The stream was cancelled: a reader still waiting gets ClientDisconnected."""
        self._put((_END, ClientDisconnected(), 0))

    def _put(self, item):
        with self._cond:
            if self._ended:
                return
            if item[0] == _END:
                self._ended = True
            self._items.append(item)
            self._cond.notify_all()
        self._event.set()

    # ---- endpoint side ----

    def _consumed(self, item, on_loop):
        n = item[2]  # the frame's payload length: what Node counted against the credit
        if n == 0:
            return
        if on_loop:
            self._grant(n)
        else:
            self._loop.call_soon_threadsafe(self._grant, n)

    def take_sync(self):
        if self._pending is not None:
            item, self._pending = self._pending, None
            return item
        with self._cond:
            while not self._items:
                self._cond.wait()
            item = self._items[0]
            if item[0] != _END:
                self._items.popleft()
        self._consumed(item, False)
        return item

    async def take_async(self):
        if self._pending is not None:
            item, self._pending = self._pending, None
            return item
        while True:
            with self._cond:
                if self._items:
                    item = self._items[0]
                    if item[0] != _END:
                        self._items.popleft()
                    break
                self._event.clear()
            await self._event.wait()
        self._consumed(item, True)
        return item

    def push_back(self, item):
        self._pending = item


def _data_or_stop(item):
    """The bytes of a DATA item; None at the end of the body or of a file part; raises the body's error."""
    kind, value = item[0], item[1]
    if kind == _DATA:
        return value
    if kind == _END and value is not None:
        raise value
    return None


class RequestBody:
    """The raw request body as it arrives: iterate it (sync or async) for bytes chunks, or read() it whole."""

    def __init__(self, channel):
        self._channel = channel

    def __iter__(self):
        while True:
            data = _data_or_stop(self._channel.take_sync())
            if data is None:
                return
            yield data

    async def __aiter__(self):
        while True:
            data = _data_or_stop(await self._channel.take_async())
            if data is None:
                return
            yield data

    def read(self):
        return b"".join(self)

    async def aread(self):
        return b"".join([chunk async for chunk in self])

    def __repr__(self):
        return "<RequestBody (streamed)>"


class Part:
    """One part of a form: ``name``, ``filename`` (None for a field; made safe, never a path),
    ``mime_type``, ``value`` (str, fields only). A file part iterates its bytes (sync or async);
    leave it unread to skip it."""

    __slots__ = ("name", "filename", "mime_type", "value", "_channel", "_done")

    def __init__(self, info, channel):
        self.name = info.get("name")
        self.filename = info.get("filename") if info.get("kind") == "file" else None
        self.mime_type = info.get("mimeType")
        self.value = info.get("value")
        self._channel = channel
        self._done = info.get("kind") != "file"

    @property
    def is_file(self):
        return self.filename is not None

    def _next_sync(self):
        if self._done:
            return None
        item = self._channel.take_sync()
        data = _data_or_stop(item)
        if data is None:
            self._done = True
            self._channel.push_back(item)
        return data

    async def _next_async(self):
        if self._done:
            return None
        item = await self._channel.take_async()
        data = _data_or_stop(item)
        if data is None:
            self._done = True
            self._channel.push_back(item)
        return data

    def __iter__(self):
        while True:
            data = self._next_sync()
            if data is None:
                return
            yield data

    async def __aiter__(self):
        while True:
            data = await self._next_async()
            if data is None:
                return
            yield data

    def read(self):
        return b"".join(self)

    def __repr__(self):
        return "<Part %s%s>" % (self.name, "" if self.filename is None else " file=%r" % self.filename)


class RequestParts:
    """The parts of a multipart/form-data (or urlencoded) body as they arrive (sync or async iteration)."""

    def __init__(self, channel):
        self._channel = channel
        self._current = None

    def __iter__(self):
        while True:
            if self._current is not None:
                for _ in self._current:  # skip what the endpoint left unread
                    pass
            kind, value, _ = self._channel.take_sync()
            if kind == _END:
                if value is not None:
                    raise value
                return
            if kind != _PART:
                continue
            self._current = Part(value, self._channel)
            yield self._current

    async def __aiter__(self):
        while True:
            if self._current is not None:
                async for _ in self._current:
                    pass
            kind, value, _ = await self._channel.take_async()
            if kind == _END:
                if value is not None:
                    raise value
                return
            if kind != _PART:
                continue
            self._current = Part(value, self._channel)
            yield self._current

    def __repr__(self):
        return "<RequestParts>"
