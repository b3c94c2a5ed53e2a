"""A bridge worker: ``python -m catzilla_bridge.worker``.

Speaks the frame protocol (catzilla_bridge.protocol) on its stdin/stdout, which it
takes over at startup: fd 1 then points at stderr, so ``print()`` in an endpoint
shows up in the server's log instead of corrupting the frames. One asyncio loop runs
every stream of this worker. When stdin reaches EOF (the Node side closed the pool
or died) every stream is cancelled, their generators are closed, and the worker exits.

Liveness: the loop answers Node's PING with PONG; a loop blocked by an endpoint (e.g.
time.sleep() inside an async def) stops answering and Node replaces the worker. The
worker dies with its parent whatever state it is in: on Linux the kernel kills it when
Node dies (PR_SET_PDEATHSIG), and a watchdog thread exits the process a grace period
after its pipes closed or its parent went away, even while the loop is blocked.
"""
import asyncio
import json
import os
import select
import signal
import sys
import threading
import time

from . import protocol as P
from .stream import Stream

# Streams get this long to close their generators once the pool went away.
EXIT_GRACE_SECONDS = 2.0
# The watchdog ends the process this long after the pipes closed, if the loop did not.
WATCHDOG_GRACE_SECONDS = EXIT_GRACE_SECONDS + 1.0
# How often the watchdog looks at the parent when the pipes say nothing.
WATCHDOG_POLL_SECONDS = 1.0
# Set by the Node side: the pid of the process the worker must not outlive.
PARENT_ENV = "CATZILLA_BRIDGE_PARENT"


class Worker:
    def __init__(self, loop, write):
        self.loop = loop
        self._write = write
        self.streams = {}
        self.reader = P.FrameReader()
        self.idle = asyncio.Event()
        self.idle.set()

    def send(self, kind, sid, payload=b""):
        self._write(P.HEADER.pack(kind, sid, len(payload)), payload)

    def hello(self):
        self.send(P.HELLO, 0, P.json_payload({"pid": os.getpid(), "python": sys.version.split()[0]}))

    def feed(self, data):
        for kind, sid, payload in self.reader.feed(data):
            self.on_frame(kind, sid, payload)

    def on_frame(self, kind, sid, payload):
        if kind == P.START:
            if sid in self.streams:
                return
            try:
                spec, body = P.parse_start(payload)
            except (ValueError, UnicodeDecodeError) as err:
                self.send(P.ERROR, sid, P.json_payload({"type": "ProtocolError", "message": str(err), "traceback": ""}))
                return
            stream = Stream(self, sid, spec, body)
            self.streams[sid] = stream
            self.idle.clear()
            stream.start()
        elif kind == P.CREDIT:
            stream = self.streams.get(sid)
            if stream is not None and len(payload) >= 4:
                stream.add_credit(P.U32.unpack_from(payload)[0])
        elif kind == P.CANCEL:
            stream = self.streams.get(sid)
            if stream is not None:
                stream.cancel()
        elif kind == P.PING:
            self.send(P.PONG, 0)
        elif kind in (P.BODY, P.PART, P.BODY_END):
            stream = self.streams.get(sid)
            if stream is not None:
                stream.body_frame(kind, payload)

    def stream_done(self, stream):
        if self.streams.get(stream.sid) is stream:
            del self.streams[stream.sid]
        if not self.streams:
            self.idle.set()

    def cancel_all(self):
        for stream in list(self.streams.values()):
            stream.cancel()


class _Input(asyncio.Protocol):
    def __init__(self, worker, eof):
        self.worker = worker
        self.eof = eof

    def data_received(self, data):
        try:
            self.worker.feed(data)
        except Exception as err:  # noqa: BLE001 - a broken frame stream: nothing more can be trusted
            sys.stderr.write("catzilla_bridge.worker: bad input, exiting: %r\n" % (err,))
            self.eof.set()

    def eof_received(self):
        self.eof.set()

    def connection_lost(self, exc):
        self.eof.set()


async def serve(in_fd, out_fd):
    loop = asyncio.get_running_loop()
    out_transport, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(out_fd, "wb", buffering=0))

    def write(header, payload):
        if payload:
            out_transport.writelines((header, payload))
        else:
            out_transport.write(header)

    worker = Worker(loop, write)
    eof = asyncio.Event()
    await loop.connect_read_pipe(lambda: _Input(worker, eof), os.fdopen(in_fd, "rb", buffering=0))
    worker.hello()
    await eof.wait()
    worker.cancel_all()
    try:
        await asyncio.wait_for(worker.idle.wait(), EXIT_GRACE_SECONDS)
    except asyncio.TimeoutError:
        pass


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _die_with_parent():
    """Linux: the kernel SIGKILLs this process when its parent dies, whatever the process is doing."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except Exception:  # noqa: BLE001 - no libc/prctl: the watchdog still covers it
        pass


def _parent_gone(parent, ppid):
    return os.getppid() != ppid or (parent is not None and not _alive(parent))


def _watchdog(fds, parent, ppid):
    """Thread: exits the process a grace period after the pipes closed or the parent died.

    The event loop handles a normal EOF by itself; this covers a loop blocked by an
    endpoint, which would otherwise never see the EOF and outlive Node.
    """
    poller = select.poll()
    for fd in fds:
        poller.register(fd, 0)  # POLLHUP / POLLERR / POLLNVAL are reported whatever the mask
    while True:
        try:
            events = poller.poll(WATCHDOG_POLL_SECONDS * 1000)
        except InterruptedError:
            continue
        if events or _parent_gone(parent, ppid):
            break
    time.sleep(WATCHDOG_GRACE_SECONDS)
    os._exit(0)


def main():
    # Ctrl-C in a terminal reaches the whole process group: the Node side decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    ppid = os.getppid()
    try:
        parent = int(os.environ.get(PARENT_ENV, ""))
    except ValueError:
        parent = None
    _die_with_parent()
    if _parent_gone(parent, ppid):
        os._exit(0)  # the parent died before the kernel was told to follow it
    in_fd = os.dup(0)
    out_fd = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)  # print() in an endpoint goes to stderr, never into the frames
    extra = os.environ.get("CATZILLA_BRIDGE_PATH")
    if extra:
        for p in reversed(json.loads(extra)):
            if p not in sys.path:
                sys.path.insert(0, p)
    threading.Thread(target=_watchdog, args=((in_fd, out_fd), parent, ppid), name="catzilla-watchdog", daemon=True).start()
    asyncio.run(serve(in_fd, out_fd))
    sys.stdout.flush()
    sys.stderr.flush()
    # Threads of generators still blocked in user code must not keep the process alive.
    os._exit(0)


if __name__ == "__main__":
    main()
