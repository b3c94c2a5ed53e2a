"""Peer: the Python `catzilla` framework from PyPI (v0.2.x, the design this project ports).

Serves /hello and /pyrows (the shared generator, as NDJSON lines through its StreamingResponse).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyrows_gen  # noqa: E402

from catzilla import Catzilla, Response, StreamingResponse  # noqa: E402

app = Catzilla(production=True, show_banner=False, log_requests=False, auto_validation=False, enable_di=False)


@app.get("/hello")
def hello(request):
    return Response(body="Hello, World!", content_type="text/plain")


@app.get("/pyrows")
def pyrows(request):
    n = pyrows_gen.row_count(request.query_params.get("n"))
    return StreamingResponse(pyrows_gen.ndjson(n), content_type="application/x-ndjson")


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "0"))
    if port <= 0:
        print("PORT must be set to a TCP port", file=sys.stderr)
        sys.exit(2)
    app.listen(port=port, host="127.0.0.1")
