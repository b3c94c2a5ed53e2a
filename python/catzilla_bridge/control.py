"""The startup check: imports every endpoint target once, before the app listens.

Called from Node.js through pythonia (never on the data path), or run as
``python -m catzilla_bridge.control TARGETS_JSON PATHS_JSON [OPTIONS_JSON]``.

OPTIONS_JSON may name three files the Node side created:

- ``output``: everything the modules write while they are imported (``print()``, C
  code writing to fd 1 or 2) goes there instead of the app's stdout and stderr; the
  Node side shows it with the error when the check fails;
- ``progress``: each target is appended, one per line, right before it is imported,
  so the Node side can tell which module hangs when the check times out;
- ``report``: the JSON report is written there too (the subprocess form reads it).
"""
import contextlib
import json
import os
import sys
import traceback

from .targets import resolve


@contextlib.contextmanager
def _captured(path):
    """fds 1 and 2, sys.stdout and sys.stderr all write to `path` meanwhile."""
    if not path:
        yield
        return
    streams = (sys.stdout, sys.stderr)
    for stream in streams:
        _flush(stream)
    saved = (os.dup(1), os.dup(2))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
    finally:
        os.close(fd)
    # sys.stdout may not be fd 1 (a test runner's capture, an embedding): replace it too.
    text = open(path, "a", encoding="utf-8", errors="backslashreplace", buffering=1)
    text.reconfigure(write_through=True)
    sys.stdout = sys.stderr = text
    try:
        yield
    finally:
        sys.stdout, sys.stderr = streams
        _flush(text)
        text.close()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def _flush(stream):
    try:
        if stream is not None:
            stream.flush()
    except Exception:  # noqa: BLE001 - a closed or replaced stream: nothing to flush
        pass


def _note(path, text):
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text + "\n")


def validate(targets_json, paths_json="[]", options_json="{}"):
    """Imports every target; returns a JSON string {"ok": bool, "python": str, "errors": [{target, traceback}]}."""
    options = json.loads(options_json or "{}")
    for p in reversed(json.loads(paths_json)):
        if p not in sys.path:
            sys.path.insert(0, p)
    errors = []
    with _captured(options.get("output")):
        for target in json.loads(targets_json):
            _note(options.get("progress"), target)
            try:
                resolve(target)
            except BaseException:  # noqa: BLE001 - an import can raise anything, SystemExit included
                errors.append({"target": target, "traceback": traceback.format_exc()})
    report = json.dumps({"ok": not errors, "python": sys.version.split()[0], "errors": errors})
    if options.get("report"):
        with open(options["report"], "w", encoding="utf-8") as f:
            f.write(report)
    return report


if __name__ == "__main__":
    report = validate(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "[]", sys.argv[3] if len(sys.argv) > 3 else "{}")
    sys.stdout.write(report + "\n")
    sys.stdout.flush()
    # Threads a module started at import must not keep the check alive.
    os._exit(0)
