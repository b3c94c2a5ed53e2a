"""What an endpoint receives (Request) and what it may return (Response)."""
import json
import sys
import threading
import traceback
from urllib.parse import parse_qsl


class HeadersSentError(RuntimeError):
    """The status or headers were changed after the response head left."""


class HTTPError(Exception):
    """Raised by an endpoint before its first item: answered with `status` and `message` as the body."""

    def __init__(self, status, message=None, headers=None):
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError("HTTPError status must be an int in [400, 599], got %r" % (status,))
        super().__init__(message if message is not None else "HTTP %d" % status)
        self.status = status
        self.message = message if message is not None else ""
        self.headers = dict(headers or {})


class _Headers(dict):
    """Response headers: a dict that refuses changes once the head was sent."""

    __slots__ = ("_owner",)

    def __init__(self, owner, init=None):
        dict.__init__(self)
        self._owner = owner
        if init:
            for k, v in (init.items() if hasattr(init, "items") else init):
                self[k] = v

    def _check(self):
        if self._owner.sent:
            raise HeadersSentError("the response headers were already sent (set them before the first yield)")

    def __setitem__(self, key, value):
        self._check()
        if not isinstance(key, str) or not key:
            raise TypeError("a header name must be a non-empty str, got %r" % (key,))
        dict.__setitem__(self, key, value if isinstance(value, str) else str(value))

    def __delitem__(self, key):
        self._check()
        dict.__delitem__(self, key)

    def update(self, *args, **kwargs):
        for k, v in dict(*args, **kwargs).items():
            self[k] = v

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def pop(self, *args):
        self._check()
        return dict.pop(self, *args)

    def clear(self):
        self._check()
        dict.clear(self)


class ResponseHead:
    """Status, headers and content type of the response being produced.

    Set them before the first ``yield`` (or before returning); afterwards the head
    is on the wire and changing it raises HeadersSentError instead of being ignored.
    """

    def __init__(self):
        self.sent = False
        self._status = 200
        self._content_type = None
        self.headers = _Headers(self)

    @property
    def status(self):
        return self._status

    @status.setter
    def status(self, value):
        if self.sent:
            raise HeadersSentError("the response status was already sent (set it before the first yield)")
        if not isinstance(value, int) or isinstance(value, bool) or not 200 <= value <= 599:
            raise ValueError("status must be an int in [200, 599], got %r" % (value,))
        self._status = value

    @property
    def content_type(self):
        return self._content_type

    @content_type.setter
    def content_type(self, value):
        if self.sent:
            raise HeadersSentError("the content type was already sent (set it before the first yield)")
        self._content_type = value

    def seal(self, default_content_type):
        """Marks the head as sent and returns it as a JSON-ready dict."""
        headers = [[k, v] for k, v in self.headers.items()]
        has_type = any(k.lower() == "content-type" for k, _ in headers)
        if self._content_type is not None:
            headers = [h for h in headers if h[0].lower() != "content-type"]
            headers.append(["Content-Type", self._content_type])
        elif not has_type and default_content_type:
            headers.append(["Content-Type", default_content_type])
        self.sent = True
        return {"status": self._status, "headers": headers}


class Response:
    """Returned by an endpoint to set the status, headers and content type along with a body.

    ``body`` is anything an endpoint may return: str, bytes, dict/list, None, or a
    (sync or async) generator / iterable of str, bytes and dicts.
    """

    __slots__ = ("body", "status", "headers", "content_type")

    def __init__(self, body=None, status=200, headers=None, content_type=None):
        self.body = body
        self.status = status
        self.headers = dict(headers or {})
        self.content_type = content_type

    def apply(self, head):
        head.status = self.status
        head.headers.update(self.headers)
        if self.content_type is not None:
            head.content_type = self.content_type


class Request:
    """One HTTP request as the endpoint sees it.

    Attributes: ``method``, ``path``, ``query_string``, ``query`` (name -> first
    value), ``query_items`` (every (name, value) pair), ``headers`` (lowercase
    name -> value), ``params`` (route parameters), ``body`` (bytes; for an endpoint with
    ``body: 'stream'`` a RequestBody to iterate as it arrives), ``parts`` (``body: 'parts'``: the
    form's parts as they arrive, see catzilla_bridge.body), and ``response`` (the ResponseHead
    to set status/headers on).

    ``on_cancel(callback)`` registers what to call when the request is cancelled while its
    function still runs (see there).
    """

    __slots__ = ("method", "path", "query_string", "headers", "params", "body", "parts", "response", "_query_items", "_on_cancel")

    def __init__(self, method="GET", path="/", query="", headers=None, params=None, body=b""):
        self.method = method
        self.path = path
        self.query_string = query or ""
        self.headers = {str(k).lower(): v for k, v in (headers or {}).items()}
        self.params = dict(params or {})
        self.body = body
        self.parts = None
        self.response = ResponseHead()
        self._query_items = None
        self._on_cancel = None    # None, a list of callbacks, or _CANCELLED once cancelled

    @classmethod
    def from_spec(cls, spec, body=b""):
        return cls(spec.get("method", "GET"), spec.get("path", "/"), spec.get("query", ""),
                   spec.get("headers"), spec.get("params"), body)

    @property
    def query_items(self):
        if self._query_items is None:
            self._query_items = parse_qsl(self.query_string, keep_blank_values=True)
        return self._query_items

    @property
    def query(self):
        out = {}
        for k, v in self.query_items:
            out.setdefault(k, v)
        return out

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def text(self, encoding="utf-8"):
        return self.body.decode(encoding)

    def json(self):
        return json.loads(self.body) if self.body else None

    def on_cancel(self, callback):
        """Calls ``callback()`` once, in a thread of its own, when this request is cancelled (the
        client went away, ``firstItemTimeout`` ran out, the app is closing) while its function is
        busy in its own code: blocked in a call, say a database fetch running on the server. A
        generator waiting for the client to take what it produced needs no callback: the bridge
        closes it at once. Registered after such a cancellation, it is called at once, in the
        calling thread.

        The blocked call only sees the cancellation when it returns; a callback that interrupts it
        from another thread ends the wait: ``request.on_cancel(conn.cancel_safe)`` with psycopg
        cancels the statement, the fetch raises ``QueryCanceled`` and the generator's ``finally``
        runs. A sync generator that was cancelled is closed once its callbacks returned (5 s at
        most), so its ``finally`` never runs while one of them is still using the connection.
        Exceptions a callback raises are written to stderr.
        """
        with _cancel_lock:
            if self._on_cancel is not _CANCELLED:
                if self._on_cancel is None:
                    self._on_cancel = []
                self._on_cancel.append(callback)
                return
        _run_callbacks([callback])

    def _cancel(self, busy):
        """The bridge cancelled this request; `busy`: its function is in its own code, so the
        on_cancel callbacks are to run: the thread that runs them is returned, not started yet.
        After a busy cancellation later registrations run at once."""
        with _cancel_lock:
            callbacks = self._on_cancel
            self._on_cancel = _CANCELLED if busy else []
        if busy and callbacks and callbacks is not _CANCELLED:
            return _callbacks_thread(callbacks)
        return None

    def __repr__(self):
        return "<Request %s %s>" % (self.method, self.path)


_cancel_lock = threading.Lock()
_CANCELLED = object()


def _run_callbacks(callbacks):
    for callback in callbacks:
        try:
            callback()
        except BaseException:  # noqa: BLE001 - one failing callback must not stop the others
            sys.stderr.write("catzilla_bridge: an on_cancel callback failed:\n" + traceback.format_exc())


def _callbacks_thread(callbacks):
    """A daemon thread (not started) that runs the callbacks: one may block (a cancel request to a database)."""
    return threading.Thread(target=_run_callbacks, args=(callbacks,), name="catzilla-on-cancel", daemon=True)
