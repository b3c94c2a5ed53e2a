"""Runs a real `python -m catzilla_bridge.worker` and talks frames to it (every wait bounded)."""
import json
import os
import select
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PYTHON_DIR = os.path.join(ROOT, "python")
FIXTURES = os.path.join(HERE, "fixtures")
sys.path.insert(0, PYTHON_DIR)
sys.path.insert(0, FIXTURES)

from catzilla_bridge import protocol as P  # noqa: E402


class WorkerProcess:
    def __init__(self):
        env = dict(os.environ)
        env["PYTHONPATH"] = PYTHON_DIR + os.pathsep + env.get("PYTHONPATH", "")
        env["CATZILLA_BRIDGE_PATH"] = json.dumps([FIXTURES])
        self.proc = subprocess.Popen([sys.executable, "-m", "catzilla_bridge.worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env)
        self.reader = P.FrameReader()
        self.pending = []
        kind, sid, payload = self.recv()
        assert kind == P.HELLO, kind
        self.hello = json.loads(payload)

    def send(self, kind, sid, payload=b""):
        self.proc.stdin.write(P.frame(kind, sid, payload))
        self.proc.stdin.flush()

    def start(self, sid, target, window=1 << 20, body=b"", **spec):
        spec.update(target=target, window=window)
        self.send(P.START, sid, P.build_start(spec, body))

    def credit(self, sid, n):
        self.send(P.CREDIT, sid, P.U32.pack(n))

    def recv(self, timeout=5.0):
        end = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while not self.pending:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("no frame from the worker within %.1f s" % timeout)
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                data = os.read(fd, 1 << 16)
                if not data:
                    raise EOFError("the worker closed its output")
                self.pending.extend(self.reader.feed(data))
        return self.pending.pop(0)

    def collect(self, sid, timeout=5.0):
        """Frames of `sid` until END/ERROR/CLOSED: (head dict or None, body bytes, last kind, last payload)."""
        head, body = None, bytearray()
        end = time.monotonic() + timeout
        while True:
            kind, fsid, payload = self.recv(max(0.01, end - time.monotonic()))
            if fsid != sid:
                continue
            if kind == P.HEAD:
                head = json.loads(payload)
            elif kind == P.DATA:
                body += payload
            else:
                return head, bytes(body), kind, payload

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


@pytest.fixture
def worker():
    w = WorkerProcess()
    yield w
    w.close()


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "marker.txt"
    path.write_text("")
    return path


def read_marker(path, want=None, timeout=5.0):
    """Lines of the marker file, waiting (bounded) until `want` is among them."""
    end = time.monotonic() + timeout
    while True:
        lines = path.read_text().splitlines()
        if want is None or any(line.startswith(want) for line in lines) or time.monotonic() > end:
            return lines
        time.sleep(0.02)
