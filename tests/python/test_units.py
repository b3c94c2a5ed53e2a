"""Encoding, request/response objects, frames and target resolution, without a worker."""
import json
import os

import pytest

from catzilla_bridge import HeadersSentError, Request, Response, encode_item, protocol as P
from catzilla_bridge.control import validate
from catzilla_bridge.encoding import NDJSON, TEXT, BYTES, JSON, content_type_of, encode_document
from catzilla_bridge.targets import parse_target, resolve


def test_encode_items():
    assert encode_item("héllo") == "héllo".encode("utf-8")
    assert encode_item(b"\x00\xff") == b"\x00\xff"
    assert encode_item(bytearray(b"ab")) == b"ab"
    assert encode_item(memoryview(b"cd")) == b"cd"
    assert encode_item({"a": 1, "b": "é"}) == '{"a":1,"b":"é"}\n'.encode("utf-8")
    assert encode_item([1, 2]) == b"[1,2]\n"
    assert encode_item(None) == b""
    with pytest.raises(TypeError, match="got object"):
        encode_item(object())
    with pytest.raises(TypeError):
        encode_item(12)


def test_default_content_types():
    assert content_type_of("x") == TEXT
    assert content_type_of(b"x") == BYTES
    assert content_type_of({"a": 1}) == NDJSON
    assert encode_document({"a": 1}) == (b'{"a":1}', JSON)
    assert encode_document("hi") == (b"hi", TEXT)


def test_request_fields():
    req = Request.from_spec({"method": "POST", "path": "/x/1", "query": "a=1&a=2&b=&c=%20",
                             "headers": {"X-Test": "v"}, "params": {"id": "1"}}, b'{"k":3}')
    assert req.query == {"a": "1", "b": "", "c": " "}
    assert req.query_items == [("a", "1"), ("a", "2"), ("b", ""), ("c", " ")]
    assert req.headers == {"x-test": "v"}
    assert req.header("X-TEST") == "v"
    assert req.params == {"id": "1"}
    assert req.json() == {"k": 3}
    assert req.text() == '{"k":3}'


def test_response_head_seals():
    req = Request()
    req.response.status = 201
    req.response.headers["X-A"] = 1
    head = req.response.seal(NDJSON)
    assert head == {"status": 201, "headers": [["X-A", "1"], ["Content-Type", NDJSON]]}
    with pytest.raises(HeadersSentError):
        req.response.status = 500
    with pytest.raises(HeadersSentError):
        req.response.headers["X-B"] = "2"
    with pytest.raises(ValueError):
        Request().response.status = 99


def test_explicit_content_type_wins():
    req = Request()
    req.response.headers["content-type"] = "text/html"
    assert req.response.seal(TEXT)["headers"] == [["content-type", "text/html"]]
    req = Request()
    Response("x", status=202, headers={"Content-Type": "a/b"}, content_type="text/csv").apply(req.response)
    assert req.response.seal(TEXT) == {"status": 202, "headers": [["Content-Type", "text/csv"]]}


def test_frame_reader_split_anywhere():
    frames = P.frame(P.DATA, 7, b"hello") + P.frame(P.END, 7) + P.frame(P.CREDIT, 1, P.U32.pack(99))
    for cut in range(len(frames) + 1):
        r = P.FrameReader()
        got = r.feed(frames[:cut]) + r.feed(frames[cut:])
        assert got == [(P.DATA, 7, b"hello"), (P.END, 7, b""), (P.CREDIT, 1, P.U32.pack(99))]


def test_start_payload_roundtrip():
    spec, body = P.parse_start(P.build_start({"target": "m:f", "path": "/"}, b"\x00body"))
    assert spec == {"target": "m:f", "path": "/"} and body == b"\x00body"
    with pytest.raises(ValueError):
        P.parse_start(b"\x00\x00\x00\x09{}")


def test_targets():
    assert parse_target("a.b:c") == ("a.b", "c")
    for bad in ("nocolon", "a:b:c", ":f", "m:"):
        with pytest.raises(ValueError):
            parse_target(bad)
    assert resolve("bridge_handlers:rows").__name__ == "rows"
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        resolve("bridge_handlers:missing")
    with pytest.raises(ModuleNotFoundError):
        resolve("no_such_module_xyz:f")


def test_validate_reports_tracebacks():
    report = json.loads(validate(json.dumps(["bridge_handlers:rows", "broken_module:f", "bridge_handlers:nope"])))
    assert report["ok"] is False
    assert [e["target"] for e in report["errors"]] == ["broken_module:f", "bridge_handlers:nope"]
    assert "this_module_does_not_exist_catzilla" in report["errors"][0]["traceback"]
    assert "Traceback (most recent call last)" in report["errors"][0]["traceback"]
    assert json.loads(validate(json.dumps(["bridge_handlers:rows"])))["ok"] is True


def test_validate_captures_module_output_and_reports_progress(tmp_path, capfd):
    files = {name: str(tmp_path / name) for name in ("output", "progress", "report")}
    targets = ["noisy_module:hello", "noisy_broken:rows"]
    report = json.loads(validate(json.dumps(targets), "[]", json.dumps(files)))
    out, err = capfd.readouterr()
    assert out == "" and err == "", "module output leaked: %r %r" % (out, err)
    assert report["ok"] is False and [e["target"] for e in report["errors"]] == ["noisy_broken:rows"]
    assert "RuntimeError: noisy_broken cannot start" in report["errors"][0]["traceback"]
    output = open(files["output"]).read()
    for text in ("noisy_module: print() at import", "noisy_module: stderr at import", "noisy_module: raw fd 1 at import",
                 "noisy_module: no newline at the end", "noisy_broken: connecting to the database at import"):
        assert text in output
    assert open(files["progress"]).read().splitlines() == targets
    assert json.loads(open(files["report"]).read()) == report
    print("stdout works again")
    os.write(2, b"fd 2 works again\n")
    out, err = capfd.readouterr()
    assert out == "stdout works again\n" and err == "fd 2 works again\n"
