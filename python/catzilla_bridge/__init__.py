"""catzilla_bridge: the Python side of catzilla's Python endpoints.

A Node.js catzilla app mounts ``python.endpoint("module:function")``; a pool of
``python -m catzilla_bridge.worker`` processes runs the function for each request.
The function receives a :class:`Request` and returns or yields ``str`` (sent as
UTF-8), ``bytes`` (as is) or ``dict``/``list`` (JSON lines); it may return a
:class:`Response` to set the status, headers and content type, or set them on
``request.response`` before its first ``yield``.
"""
from .request import HTTPError, HeadersSentError, Request, Response, ResponseHead
from .encoding import encode_item
from .body import ClientDisconnected, Part, RequestBody, RequestParts

__all__ = ["HTTPError", "Request", "Response", "ResponseHead", "HeadersSentError", "encode_item",
           "ClientDisconnected", "Part", "RequestBody", "RequestParts"]
__version__ = "0.1.0"
