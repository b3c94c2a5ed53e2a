"""Peer: FastAPI on uvicorn, one worker, uvloop + httptools when installed.

Same endpoint contract as the Node.js peers (see bench/README.md).
"""
import asyncio
import hashlib
import json
import os
import shutil
import sys
import tempfile

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, PlainTextResponse, Response, StreamingResponse

HELLO = "Hello, World!"
SMALL_CHUNK = b"0123456789abcdef"
BULK_CHUNK_SIZE = 64 * 1024
MIB = 1024 * 1024
BULK_TEMPLATE = bytes(97 + (i % 26) for i in range(BULK_CHUNK_SIZE))
MAX_ROWS = 100_000_000
MAX_MB = 64 * 1024
MAX_EVENTS = 10_000_000

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


def int_param(value, default, maximum):
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except ValueError:
        return default
    if n < 0:
        return default
    return min(n, maximum)


@app.get("/hello")
async def hello():
    return PlainTextResponse(HELLO)


async def small_chunks():
    for _ in range(10):
        yield SMALL_CHUNK


@app.get("/small")
async def small():
    return StreamingResponse(small_chunks(), media_type="application/octet-stream")


async def rows_gen(n):
    for i in range(n):
        yield f'{{"id":{i},"name":"user-{i}","score":{(i * 7) % 1000},"ok":true}}\n'


# POST /upload (issue 16): python-multipart through Starlette's request.form(); each file part is
# an UploadFile (spooled: memory up to 1 MiB, then a temporary file), copied to the request's
# temporary directory ($UPLOAD_TMPDIR, else the OS's) while hashed, in the thread pool as FastAPI
# does for file work.
from starlette.concurrency import run_in_threadpool  # noqa: E402
from starlette.datastructures import UploadFile  # noqa: E402


def copy_and_hash(src, target):
    h = hashlib.sha256()
    size = 0
    src.seek(0)
    with open(target, "wb") as out:
        while True:
            chunk = src.read(MIB)
            if not chunk:
                break
            h.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return size, h.hexdigest()


@app.post("/upload")
async def upload(request: Request):
    tmp = tempfile.mkdtemp(prefix="bench-upload-", dir=os.environ.get("UPLOAD_TMPDIR") or None)
    try:
        form = await request.form(max_files=1000, max_fields=1000)
        try:
            files = []
            fields = {}
            for name, value in form.multi_items():
                if isinstance(value, UploadFile):
                    size, digest = await run_in_threadpool(copy_and_hash, value.file, os.path.join(tmp, str(len(files))))
                    files.append({"field": name, "filename": value.filename, "size": size, "sha256": digest})
                else:
                    fields[name] = value
            return {"files": files, "fields": fields}
        finally:
            await form.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyrows_gen  # noqa: E402  the generator shared by every pyrows peer

# PYROWS_MODE=sync (default): the sync generator as written, which Starlette iterates in its
# thread pool; PYROWS_MODE=async: the same generator wrapped in an async generator on the loop.
PYROWS_MODE = os.environ.get("PYROWS_MODE", "sync")


async def pyrows_async(n):
    for line in pyrows_gen.ndjson(n):
        yield line


@app.get("/pyrows")
async def pyrows(n: str | None = None):
    count = pyrows_gen.row_count(n)
    body = pyrows_async(count) if PYROWS_MODE == "async" else pyrows_gen.ndjson(count)
    return StreamingResponse(body, media_type="application/x-ndjson")


@app.get("/pybulk")
async def pybulk(size: str | None = None, mb: str | None = None):
    return StreamingResponse(pyrows_gen.bulk_items(size, mb), media_type="application/octet-stream")


@app.get("/rows")
async def rows(n: str | None = None):
    return StreamingResponse(rows_gen(int_param(n, 1000, MAX_ROWS)), media_type="application/x-ndjson")


async def bulk_gen(mb, fresh):
    for _ in range(mb * MIB // BULK_CHUNK_SIZE):
        yield bytes(bytearray(BULK_TEMPLATE)) if fresh else BULK_TEMPLATE


@app.get("/bulk")
async def bulk(mb: str | None = None, fresh: str | None = None):
    return StreamingResponse(bulk_gen(int_param(mb, 1, MAX_MB), fresh == "1"), media_type="application/octet-stream")


BENCH_FILE = os.environ.get("BENCH_FILE") or None
if BENCH_FILE:

    @app.get("/file")
    async def file():
        return FileResponse(BENCH_FILE, media_type="application/octet-stream")


subscribers = set()


async def sse_gen(request: Request, queue: asyncio.Queue):
    try:
        yield ": subscribed\n\n"
        while True:
            yield await queue.get()
    finally:
        subscribers.discard(queue)


@app.get("/sse")
async def sse(request: Request):
    queue = asyncio.Queue()
    subscribers.add(queue)
    return StreamingResponse(
        sse_gen(request, queue), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


@app.post("/publish")
async def publish(n: str | None = None):
    count = int_param(n, 1, MAX_EVENTS)
    subs = list(subscribers)
    for i in range(count):
        event = f"data: {i:012d}\n\n"
        for q in subs:
            q.put_nowait(event)
    return Response(json.dumps({"subscribers": len(subs)}, separators=(",", ":")), media_type="application/json")


# /pg/rows (asyncpg cursor in a transaction, JSON lines) and /pg/rows.csv (asyncpg copy_from_query
# into a bounded queue), with PG_URL. Same SQL as the Node.js peers (bench/servers/impl/pg-sql.mjs).
PG_URL = os.environ.get("PG_URL")
PG_MAX_ROWS = 100_000_000
_pg_pool = None


def pg_rows_sql(n):
    return (
        "SELECT i AS id, 'name-' || i AS name, i * 0.5 AS score, i % 2 = 0 AS ok, "
        "timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second' AS created "
        f"FROM generate_series(1, {int(n)}) AS i"
    )


async def pg_pool():
    global _pg_pool
    if _pg_pool is None:
        import asyncpg

        _pg_pool = await asyncpg.create_pool(PG_URL, min_size=1, max_size=int(os.environ.get("PG_POOL_MAX", "16")))
    return _pg_pool


if PG_URL:

    async def pg_rows_gen(n):
        pool = await pg_pool()
        async with pool.acquire() as conn:
            async with conn.transaction():
                async for r in conn.cursor(pg_rows_sql(n), prefetch=2000):
                    yield json.dumps(
                        {"id": r[0], "name": r[1], "score": float(r[2]), "ok": r[3], "created": r[4].isoformat()},
                        separators=(",", ":"),
                    ) + "\n"

    @app.get("/pg/rows")
    async def pg_rows(n: str | None = None):
        return StreamingResponse(pg_rows_gen(int_param(n, 1000, PG_MAX_ROWS)), media_type="application/x-ndjson")

    async def pg_csv_gen(n):
        pool = await pg_pool()
        queue = asyncio.Queue(maxsize=16)
        done = object()

        async def sink(chunk):
            await queue.put(chunk)

        async def run():
            try:
                async with pool.acquire() as conn:
                    await conn.copy_from_query(pg_rows_sql(n), output=sink, format="csv", header=True)
            finally:
                await queue.put(done)

        task = asyncio.ensure_future(run())
        try:
            while True:
                chunk = await queue.get()
                if chunk is done:
                    break
                yield bytes(chunk)
            await task
        finally:
            if not task.done():
                task.cancel()

    @app.get("/pg/rows.csv")
    async def pg_rows_csv(n: str | None = None):
        return StreamingResponse(pg_csv_gen(int_param(n, 1000, PG_MAX_ROWS)), media_type="text/csv; charset=utf-8")


def main():
    import uvicorn

    port = int(os.environ.get("PORT", "0"))
    if port <= 0:
        print("PORT must be set to a TCP port", file=sys.stderr)
        sys.exit(2)
    kwargs = {}
    try:
        import uvloop  # noqa: F401

        kwargs["loop"] = "uvloop"
    except ImportError:
        pass
    try:
        import httptools  # noqa: F401

        kwargs["http"] = "httptools"
    except ImportError:
        pass
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False, **kwargs)


if __name__ == "__main__":
    main()
