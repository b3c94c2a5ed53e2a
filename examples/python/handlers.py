"""Python endpoints for examples/python-export.mjs (run by catzilla_bridge workers)."""
import asyncio
import csv
import io
import time

from catzilla_bridge import HTTPError, Response


def rows(request):
    """GET /export?n=5 -> NDJSON: every dict is one JSON line, paced by the socket."""
    n = int(request.query.get("n", "10"))
    request.response.headers["X-Row-Count"] = str(n)
    for i in range(n):
        yield {"id": i, "name": "user-%d" % i, "score": (i * 7) % 1000}


def report_csv(request):
    """GET /export.csv -> CSV with a header row; status, headers and type via Response."""
    def lines():
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["id", "name"])
        for i in range(int(request.query.get("n", "5"))):
            writer.writerow([i, "user-%d" % i])
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    return Response(lines(), headers={"Content-Disposition": 'attachment; filename="report.csv"'}, content_type="text/csv")


def clock(request):
    """GET /clock -> one line a second until the client leaves (then `finally` runs)."""
    try:
        while True:
            yield time.strftime("%H:%M:%S\n")
            time.sleep(1)
    finally:
        print("clock: client gone, generator closed")


async def ticker(request):
    """GET /ticker -> an async generator, five ticks 200 ms apart."""
    for i in range(5):
        yield {"tick": i}
        await asyncio.sleep(0.2)


def user(request):
    """GET /users/:id -> one JSON document, or 404."""
    uid = request.params["id"]
    if not uid.isdigit():
        raise HTTPError(404, "no user %s" % uid)
    return {"id": int(uid), "name": "user-%s" % uid}
