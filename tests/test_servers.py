"""Tests of the test servers themselves (tests/servers.py), with real clients over real sockets."""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from servers import FileServer, HFServer, Request, git_blob_sha1, make_tls

DATA = bytes(range(256)) * 40  # 10 240 bytes, every offset distinguishable mod 256
SHA = hashlib.sha256(DATA).hexdigest()
REV = "0123456789abcdef0123456789abcdef01234567"
REV2 = "fedcba9876543210fedcba9876543210fedcba98"
REPO = "sentence-transformers/all-MiniLM-L6-v2"
HF_FILES = {
    "config.json": b'{"hidden_size": 384}\n',
    "1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}\n',
    "model.safetensors": bytes(range(251)) * 4000,  # ~1 MB
}


@pytest.fixture
def server() -> Iterator[FileServer]:
    with FileServer() as s:
        s.add("/f.bin", DATA)
        yield s


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


def read_until_error(client: httpx.Client, url: str, **kw: Any) -> tuple[bytes, Exception | None]:
    """Streams a GET, returning the bytes received and the exception that ended it (if any)."""
    got = bytearray()
    try:
        with client.stream("GET", url, **kw) as r:
            for chunk in r.iter_raw():
                got += chunk
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ReadTimeout) as e:
        return bytes(got), e
    return bytes(got), None


# --------------------------------------------------------------------------- FileServer basics


def test_get_head_and_headers(server: FileServer, client: httpx.Client) -> None:
    assert server.base_url.startswith("http://127.0.0.1:")
    assert server.url("/f.bin") == server.base_url + "/f.bin"

    r = client.get(server.url("/f.bin"))
    assert r.status_code == 200
    assert r.content == DATA
    assert r.headers["content-length"] == str(len(DATA))
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["etag"] == f'"{SHA}"'

    h = client.head(server.url("/f.bin"))
    assert h.status_code == 200 and h.content == b""
    assert h.headers["content-length"] == str(len(DATA))
    assert h.headers["etag"] == f'"{SHA}"'

    assert client.get(server.url("/missing")).status_code == 404
    assert client.head(server.url("/missing")).status_code == 404

    server.add("/typed.txt", b"hello", headers={"Content-Type": "text/plain", "X-Custom": "1"})
    r = client.get(server.url("/typed.txt"))
    assert (r.text, r.headers["content-type"], r.headers["x-custom"]) == ("hello", "text/plain", "1")
    server.remove("/typed.txt")
    assert client.get(server.url("/typed.txt")).status_code == 404


def test_empty_file_and_percent_encoded_path(server: FileServer, client: httpx.Client) -> None:
    server.add("/dir/a b.txt", b"")
    r = client.get(server.url("/dir/a%20b.txt"))
    assert r.status_code == 200 and r.content == b"" and r.headers["content-length"] == "0"
    assert server.requests[-1].path == "/dir/a b.txt"


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=2-5", 2, 5),
        ("bytes=100-", 100, len(DATA) - 1),
        ("bytes=0-0", 0, 0),
        ("bytes=10000-99999", 10000, len(DATA) - 1),  # end clamped to the last byte
        ("bytes=-16", len(DATA) - 16, len(DATA) - 1),  # suffix range
    ],
)
def test_range_206(server: FileServer, client: httpx.Client, header: str, start: int, end: int) -> None:
    r = client.get(server.url("/f.bin"), headers={"Range": header})
    assert r.status_code == 206
    assert r.content == DATA[start : end + 1]
    assert r.headers["content-range"] == f"bytes {start}-{end}/{len(DATA)}"
    assert r.headers["content-length"] == str(end - start + 1)
    assert r.headers["etag"] == f'"{SHA}"'
    rec = server.requests_for("/f.bin")[-1]
    assert rec.status == 206 and rec.range_start == start and rec.bytes_sent == end - start + 1


def test_range_recording_and_ignored_ranges(server: FileServer, client: httpx.Client) -> None:
    client.get(server.url("/f.bin"), headers={"Range": "bytes=7-"})
    client.get(server.url("/f.bin"), headers={"Range": "bytes=0-1,4-5"})  # multi-range: unsupported => 200
    client.get(server.url("/f.bin"), headers={"Range": "bytes=9-3"})  # invalid => ignored => 200
    a, b, c = server.requests_for("/f.bin")
    assert (a.range_start, a.range_end, a.status) == (7, None, 206)
    assert (b.range_start, b.range_end, b.status, b.bytes_sent) == (None, None, 200, len(DATA))
    assert c.status == 200


def test_range_416(server: FileServer, client: httpx.Client) -> None:
    r = client.get(server.url("/f.bin"), headers={"Range": f"bytes={len(DATA)}-"})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{len(DATA)}"
    assert r.content == b""
    server.add("/empty", b"")
    r = client.get(server.url("/empty"), headers={"Range": "bytes=0-"})
    assert r.status_code == 416 and r.headers["content-range"] == "bytes */0"
    # the connection survives a 416
    assert client.get(server.url("/f.bin")).content == DATA
    recs = server.requests
    assert recs[0].client_port == recs[-1].client_port


def test_head_with_range(server: FileServer, client: httpx.Client) -> None:
    r = client.head(server.url("/f.bin"), headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.headers["content-length"] == "10" and r.content == b""


def test_keep_alive_and_connection_close(server: FileServer, client: httpx.Client) -> None:
    for _ in range(3):
        assert client.get(server.url("/f.bin")).status_code == 200
    ports = {r.client_port for r in server.requests}
    assert len(ports) == 1, "httpx should reuse one connection"

    r = client.get(server.url("/f.bin"), headers={"Connection": "close"})
    assert r.headers["connection"] == "close" and r.content == DATA
    client.get(server.url("/f.bin"))
    recs = server.requests
    assert recs[-1].client_port != recs[-2].client_port  # a new connection after "close"

    with httpx.Client(http1=True, headers={"Connection": "close"}) as c2:  # works for a pure close client too
        assert c2.get(server.url("/f.bin")).content == DATA


def test_request_recording(server: FileServer, client: httpx.Client) -> None:
    server.add("/other", b"xyz")
    client.get(server.url("/f.bin?x=1"), headers={"X-Test": "Yes"})
    client.head(server.url("/other"))
    client.get(server.url("/nope"))
    recs = server.requests
    assert [(r.method, r.path, r.status) for r in recs] == [
        ("GET", "/f.bin", 200),
        ("HEAD", "/other", 200),
        ("GET", "/nope", 404),
    ]
    first = recs[0]
    assert isinstance(first, Request)
    assert first.query == "x=1"
    assert first.headers["x-test"] == "Yes" and "host" in first.headers
    assert all(k == k.lower() for k in first.headers)
    assert first.bytes_sent == len(DATA) and first.range_start is None and first.range_end is None
    assert recs[1].bytes_sent == 0
    assert [r.method for r in server.requests_for("/other")] == ["HEAD"]
    assert server.requests_for("/f.bin", method="HEAD") == []
    recs.clear()  # a copy: does not touch the server's list
    assert len(server.requests) == 3
    server.clear_requests()
    assert server.requests == []


def test_other_methods_rejected(server: FileServer, client: httpx.Client) -> None:
    r = client.post(server.url("/f.bin"), content=b"body")
    assert r.status_code == 405
    assert client.get(server.url("/f.bin")).content == DATA  # body was drained, connection still usable


# --------------------------------------------------------------------------- faults


def test_fault_drop(server: FileServer, client: httpx.Client) -> None:
    server.fault("/f.bin", "drop", after=1000)
    got, err = read_until_error(client, server.url("/f.bin"))
    assert isinstance(err, (httpx.RemoteProtocolError, httpx.ReadError))
    assert got == DATA[:1000]
    rec = server.requests[-1]
    assert (rec.status, rec.bytes_sent, rec.fault) == (200, 1000, "drop")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        server.fault("/f.bin", "drop", after=0)
        client.get(server.url("/f.bin"))
    # faults are consumed: the next request is clean, on a fresh connection
    assert client.get(server.url("/f.bin")).content == DATA
    recs = server.requests
    assert recs[-1].fault is None and recs[-1].client_port != recs[-2].client_port


def test_fault_drop_with_range_and_times(server: FileServer, client: httpx.Client) -> None:
    server.fault("/f.bin", "drop", times=2, after=10)
    assert server.pending_faults("/f.bin") == 2
    for _ in range(2):
        got, err = read_until_error(client, server.url("/f.bin"), headers={"Range": "bytes=500-"})
        assert err is not None and got == DATA[500:510]
    assert server.pending_faults("/f.bin") == 0
    r = client.get(server.url("/f.bin"), headers={"Range": "bytes=500-"})
    assert r.status_code == 206 and r.content == DATA[500:]


def test_fault_corrupt(server: FileServer, client: httpx.Client) -> None:
    server.fault("/f.bin", "corrupt", offset=1234)
    r = client.get(server.url("/f.bin"))
    assert r.status_code == 200 and len(r.content) == len(DATA)
    assert r.headers["etag"] == f'"{SHA}"'  # claims the right hash...
    diff = [i for i in range(len(DATA)) if r.content[i] != DATA[i]]
    assert diff == [1234] and r.content[1234] == DATA[1234] ^ 0xFF  # ...but one byte is flipped
    assert server.requests[-1].fault == "corrupt"

    server.fault("/f.bin", "corrupt", times=2, offset=1234)
    outside = client.get(server.url("/f.bin"), headers={"Range": "bytes=0-99"})
    assert outside.content == DATA[:100]  # range does not cover the offset: sent as is
    inside = client.get(server.url("/f.bin"), headers={"Range": "bytes=1230-1239"})
    assert inside.content[4] == DATA[1234] ^ 0xFF and inside.content[:4] == DATA[1230:1234]
    assert client.get(server.url("/f.bin")).content == DATA


def test_fault_corrupt_default_offset_large_body(server: FileServer, client: httpx.Client) -> None:
    big = bytes(3 * 1024 * 1024 + 7)
    server.add("/big", big)
    server.fault("/big", "corrupt")
    r = client.get(server.url("/big"))
    assert len(r.content) == len(big) and r.content[0] == 0xFF and r.content[1:] == big[1:]


def test_fault_extra(server: FileServer, client: httpx.Client) -> None:
    server.fault("/f.bin", "extra", extra=100)
    r = client.get(server.url("/f.bin"))
    assert r.status_code == 200
    assert r.headers["content-length"] == str(len(DATA) + 100)
    assert len(r.content) == len(DATA) + 100 and r.content[: len(DATA)] == DATA
    assert server.requests[-1].bytes_sent == len(DATA) + 100
    assert client.get(server.url("/f.bin")).content == DATA


def test_fault_status_retry_after(server: FileServer, client: httpx.Client) -> None:
    server.fault("/f.bin", "status", code=429, retry_after="7")
    server.fault("/f.bin", "status", code=503)
    r = client.get(server.url("/f.bin"))
    assert r.status_code == 429 and r.headers["retry-after"] == "7"
    h = client.head(server.url("/f.bin"))  # status faults apply to HEAD too
    assert h.status_code == 503 and "retry-after" not in h.headers
    assert client.get(server.url("/f.bin")).status_code == 200
    assert [r.status for r in server.requests] == [429, 503, 200]
    assert len({r.client_port for r in server.requests}) == 1  # error replies keep the connection alive
    # a fault on a path that does not exist still applies
    server.fault("/nothing", "status", code=500)
    assert client.get(server.url("/nothing")).status_code == 500
    assert client.get(server.url("/nothing")).status_code == 404


def test_fault_stall(server: FileServer, client: httpx.Client) -> None:
    server.fault("/f.bin", "stall", seconds=0.4, after=100)
    t0 = time.monotonic()
    r = client.get(server.url("/f.bin"))
    assert time.monotonic() - t0 >= 0.4
    assert r.content == DATA and server.requests[-1].bytes_sent == len(DATA)

    server.fault("/f.bin", "stall", seconds=0.3, then_drop=True)
    t0 = time.monotonic()
    got, err = read_until_error(client, server.url("/f.bin"))
    assert time.monotonic() - t0 >= 0.3
    assert got == b"" and isinstance(err, (httpx.RemoteProtocolError, httpx.ReadError))

    server.fault("/f.bin", "stall", seconds=2.0, after=10)  # a client read timeout fires first
    got, err = read_until_error(client, server.url("/f.bin"), timeout=httpx.Timeout(5, read=0.2))
    assert got == DATA[:10] and isinstance(err, httpx.ReadTimeout)


def test_fault_redirect(server: FileServer, client: httpx.Client) -> None:
    server.add("/target", b"moved here")
    server.fault("/f.bin", "redirect", to="/target")
    r = client.get(server.url("/f.bin"), follow_redirects=True)
    assert r.content == b"moved here" and r.url == server.url("/target")
    assert [h.status_code for h in r.history] == [302]
    assert r.history[0].headers["location"] == "/target"

    with FileServer() as other:
        other.add("/cdn/blob", DATA)
        server.fault("/f.bin", "redirect", to=other.url("/cdn/blob"))
        r = client.get(server.url("/f.bin"), follow_redirects=True)
        assert r.content == DATA and str(r.url) == other.url("/cdn/blob")
        assert [q.path for q in other.requests] == ["/cdn/blob"]


def test_faults_in_order_and_method_filters(server: FileServer, client: httpx.Client) -> None:
    server.fault("/f.bin", "status", code=500)
    server.fault("/f.bin", "corrupt", offset=5)
    server.fault("/f.bin", "status", code=502, method="GET")
    assert client.get(server.url("/f.bin")).status_code == 500
    assert client.head(server.url("/f.bin")).status_code == 200  # HEAD does not consume a body fault
    assert client.get(server.url("/f.bin")).content[5] == DATA[5] ^ 0xFF
    assert client.head(server.url("/f.bin")).status_code == 200  # method="GET" fault skips HEAD
    assert client.get(server.url("/f.bin")).status_code == 502
    assert client.get(server.url("/f.bin")).content == DATA
    assert [r.fault for r in server.requests] == ["status", None, "corrupt", None, "status", None]
    with pytest.raises(ValueError):
        server.fault("/f.bin", "explode")
    with pytest.raises(ValueError):
        server.fault("/f.bin", "status")  # needs code
    server.fault("/f.bin", "drop")
    server.clear_faults()
    assert client.get(server.url("/f.bin")).content == DATA


def test_large_body_throughput(client: httpx.Client) -> None:
    big = b"\xab" * (256 << 20)
    with FileServer() as s:
        s.add("/big", big)
        t0 = time.monotonic()
        n = 0
        with client.stream("GET", s.url("/big")) as r:
            for chunk in r.iter_raw(1 << 20):
                n += len(chunk)
        elapsed = time.monotonic() - t0
        assert n == len(big)
        assert n / elapsed > 150e6, f"only {n / elapsed / 1e6:.0f} MB/s"
        r = client.get(s.url("/big"), headers={"Range": f"bytes={len(big) - 10}-"})
        assert r.status_code == 206 and r.content == big[-10:]


# --------------------------------------------------------------------------- TLS


def test_https_with_trustme_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, ca = make_tls(tmp_path)
    assert ca.is_file() and ca.parent == tmp_path
    with FileServer(ssl_context=ctx) as s:
        s.add("/f.bin", DATA)
        assert s.base_url.startswith("https://127.0.0.1:")
        with httpx.Client(verify=ssl.create_default_context(cafile=str(ca))) as c:
            assert c.get(s.url("/f.bin")).content == DATA
            r = c.get(s.url("/f.bin"), headers={"Range": "bytes=3-6"})
            assert r.status_code == 206 and r.content == DATA[3:7]
            assert c.get(s.url("/f.bin")).content == DATA
            assert len({q.client_port for q in s.requests}) == 1  # keep-alive over TLS
            s.fault("/f.bin", "drop", after=10)
            got, err = read_until_error(c, s.url("/f.bin"))
            assert got == DATA[:10] and err is not None
            assert c.get(s.url("/f.bin")).content == DATA
        with httpx.Client(verify=ssl.create_default_context(cafile=str(ca))) as c:
            assert c.get(f"https://localhost:{s.port}/f.bin").content == DATA  # cert also covers localhost
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        with httpx.Client() as c, pytest.raises(httpx.ConnectError):
            c.get(s.url("/f.bin"))  # not trusted without the CA
        monkeypatch.setenv("SSL_CERT_FILE", str(ca))
        with httpx.Client() as c:  # httpx honours SSL_CERT_FILE (trust_env)
            assert c.get(s.url("/f.bin")).content == DATA


# --------------------------------------------------------------------------- HFServer, raw HTTP


@pytest.fixture
def hf() -> Iterator[HFServer]:
    with HFServer() as s:
        s.add_repo(REPO, REV, HF_FILES)
        s.add_repo(REPO, REV2, {"config.json": b"{}"}, branch="v2")
        s.add_repo("gpt2", REV2, {"config.json": b"{}"})  # legacy id without a namespace
        yield s


def test_hf_resolve_headers(hf: HFServer, client: httpx.Client) -> None:
    body = HF_FILES["1_Pooling/config.json"]
    sha = hashlib.sha256(body).hexdigest()
    for rev in (REV, "main"):
        url = hf.url(f"/{REPO}/resolve/{rev}/1_Pooling/config.json")
        h = client.head(url)
        assert h.status_code == 200 and h.content == b""
        assert h.headers["x-repo-commit"] == REV
        assert h.headers["etag"] == h.headers["x-linked-etag"] == f'"{sha}"'
        assert h.headers["x-linked-size"] == h.headers["content-length"] == str(len(body))
        assert h.headers["accept-ranges"] == "bytes"
        assert client.get(url).content == body
        r = client.get(url, headers={"Range": "bytes=2-"})
        assert r.status_code == 206 and r.content == body[2:]
        assert r.headers["content-range"] == f"bytes 2-{len(body) - 1}/{len(body)}"
    assert client.get(hf.url(f"/{REPO}/resolve/v2/config.json")).headers["x-repo-commit"] == REV2
    assert client.get(hf.url("/gpt2/resolve/main/config.json")).content == b"{}"
    assert client.get(hf.url(f"/{REPO}/resolve/{REV}/1_Pooling%2Fconfig.json")).content == body


def test_hf_resolve_errors(hf: HFServer, client: httpx.Client) -> None:
    r = client.head(hf.url(f"/{REPO}/resolve/{REV}/missing.bin"))
    assert r.status_code == 404 and r.headers["x-error-code"] == "EntryNotFound" and r.headers["x-error-message"]
    assert r.headers["x-repo-commit"] == REV
    r = client.get(hf.url(f"/nobody/nothing/resolve/{REV}/config.json"))
    assert r.status_code == 404 and r.headers["x-error-code"] == "RepoNotFound"
    r = client.get(hf.url(f"/{REPO}/resolve/{'9' * 40}/config.json"))
    assert r.status_code == 404 and r.headers["x-error-code"] == "RevisionNotFound"
    r = client.get(hf.url(f"/{REPO}/resolve/no-such-branch/config.json"))
    assert r.headers["x-error-code"] == "RevisionNotFound"
    with pytest.raises(ValueError):
        hf.add_repo("x/y", "main", {})


def test_hf_api_routes(hf: HFServer, client: httpx.Client) -> None:
    for rev in (REV, "main"):
        info = client.get(hf.url(f"/api/models/{REPO}/revision/{rev}")).json()
        assert info["id"] == REPO and info["sha"] == REV
        assert sorted(s["rfilename"] for s in info["siblings"]) == sorted(HF_FILES)
    assert client.get(hf.url(f"/api/models/{REPO}")).json()["sha"] == REV
    assert client.get(hf.url(f"/api/models/{REPO}/revision/v2")).json()["sha"] == REV2
    r = client.get(hf.url(f"/api/models/{REPO}/revision/nope"))
    assert r.status_code == 404 and r.headers["x-error-code"] == "RevisionNotFound"
    r = client.get(hf.url("/api/models/no/repo/revision/main"))
    assert r.status_code == 404 and r.headers["x-error-code"] == "RepoNotFound"

    tree = client.get(hf.url(f"/api/models/{REPO}/tree/{REV}"), params={"recursive": "true", "expand": "false"})
    entries = {e["path"]: e for e in tree.json()}
    assert set(entries) == set(HF_FILES)
    for path, data in HF_FILES.items():
        e = entries[path]
        assert e["type"] == "file" and e["size"] == len(data) and e["oid"] == git_blob_sha1(data)
        assert e["lfs"] == {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
    assert git_blob_sha1(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # git hash-object of an empty file
    top = client.get(hf.url(f"/api/models/{REPO}/tree/main")).json()
    assert {(e["type"], e["path"]) for e in top} == {
        ("directory", "1_Pooling"),
        ("file", "config.json"),
        ("file", "model.safetensors"),
    }
    sub = client.get(hf.url(f"/api/models/{REPO}/tree/main/1_Pooling")).json()
    assert [e["path"] for e in sub] == ["1_Pooling/config.json"]


def test_hf_fault_applies_via_branch_url(hf: HFServer, client: httpx.Client) -> None:
    path = hf.resolve_path(REPO, REV, "config.json")
    assert path == f"/{REPO}/resolve/{REV}/config.json"
    hf.fault(path, "status", code=503, retry_after="1")
    r = client.get(hf.url(f"/{REPO}/resolve/main/config.json"))
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert client.get(hf.url(f"/{REPO}/resolve/main/config.json")).status_code == 200


# --------------------------------------------------------------------------- HFServer with huggingface_hub

_PRELUDE = """
import json, os, sys, traceback
import huggingface_hub as hh
from huggingface_hub import hf_hub_download, snapshot_download
def emit(**kw):
    print("RESULT " + json.dumps(kw))
"""


def run_hf(server: HFServer, tmp_path: Path, code: str, **env: str) -> dict[str, Any]:
    """Runs ``code`` in a fresh interpreter with HF_ENDPOINT pointing at ``server`` (it is read on import)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    full_env.update(
        HF_ENDPOINT=server.base_url,
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_OFFLINE="0",
        HF_HOME=str(tmp_path / "hf_home"),
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        **env,
    )
    proc = subprocess.run(
        [sys.executable, "-c", _PRELUDE + textwrap.dedent(code)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"rc={proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return json.loads(lines[-1][len("RESULT ") :])


def test_hf_hub_download_cache_and_local_dir(hf: HFServer, tmp_path: Path) -> None:
    out = run_hf(
        hf,
        tmp_path,
        f"""
        p1 = hf_hub_download("{REPO}", "1_Pooling/config.json", revision="{REV}", cache_dir=r"{tmp_path / 'cache'}")
        p2 = hf_hub_download("{REPO}", "1_Pooling/config.json", revision="{REV}", local_dir=r"{tmp_path / 'local'}")
        p3 = hf_hub_download("{REPO}", "config.json", revision="v2", cache_dir=r"{tmp_path / 'cache'}")
        emit(p1=p1, p2=p2, p3=p3)
        """,
    )
    nested = HF_FILES["1_Pooling/config.json"]
    assert Path(out["p1"]).read_bytes() == nested
    assert f"snapshots/{REV}/1_Pooling/config.json" in out["p1"]
    assert Path(out["p2"]) == tmp_path / "local" / "1_Pooling" / "config.json"
    assert Path(out["p2"]).read_bytes() == nested
    assert Path(out["p3"]).read_bytes() == b"{}"
    resolve = hf.resolve_path(REPO, REV, "1_Pooling/config.json")
    recs = hf.requests_for(resolve)
    # HEAD (metadata, Accept-Encoding: identity) then GET, twice: the local_dir download does not use the cache
    assert [(r.method, r.status) for r in recs] == [("HEAD", 200), ("GET", 200)] * 2
    assert recs[0].headers["accept-encoding"] == "identity"
    assert recs[1].bytes_sent == len(nested)
    assert all(r.client_port == recs[0].client_port for r in recs)  # its client keeps the connection alive


def test_hf_hub_download_errors(hf: HFServer, tmp_path: Path) -> None:
    out = run_hf(
        hf,
        tmp_path,
        f"""
        from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError
        res = {{}}
        for name, repo, rev in [("entry", "{REPO}", "{REV}"), ("repo", "nobody/none", "{REV}"),
                                ("rev", "{REPO}", "{'9' * 40}")]:
            try:
                hf_hub_download(repo, "missing.bin", revision=rev, cache_dir="c")
                res[name] = None
            except Exception as e:
                res[name] = [c.__name__ for c in type(e).__mro__]
        emit(**res)
        """,
    )
    assert "EntryNotFoundError" in out["entry"]
    assert "RepositoryNotFoundError" in out["repo"]
    assert "RevisionNotFoundError" in out["rev"]


def test_hf_hub_download_accepts_corrupt_bytes(hf: HFServer, tmp_path: Path) -> None:
    """huggingface_hub checks sizes, not hashes: a wrong byte with the right length is accepted."""
    path = hf.resolve_path(REPO, REV, "model.safetensors")
    hf.fault(path, "corrupt", offset=12345)
    out = run_hf(
        hf,
        tmp_path,
        f"""
        p = hf_hub_download("{REPO}", "model.safetensors", revision="{REV}", cache_dir="c")
        emit(p=os.path.abspath(p))
        """,
    )
    got = Path(out["p"]).read_bytes()
    good = HF_FILES["model.safetensors"]
    assert len(got) == len(good) and got != good
    assert got[12345] == good[12345] ^ 0xFF and got[:12345] == good[:12345] and got[12346:] == good[12346:]
    assert [(r.method, r.fault) for r in hf.requests_for(path)] == [("HEAD", None), ("GET", "corrupt")]


def test_hf_hub_download_extra_bytes_and_drop(hf: HFServer, tmp_path: Path) -> None:
    """A longer body fails the size check; a dropped connection is retried, resuming with Range only from the
    last complete 10 MiB chunk (huggingface_hub's DOWNLOAD_CHUNK_SIZE): bytes of a partial chunk are re-fetched."""
    mib = 1 << 20
    big = bytes(range(256)) * (12 * mib // 256)
    hf.add_repo("org/big", REV, {"big.bin": big})
    cfg = hf.resolve_path(REPO, REV, "config.json")
    model = hf.resolve_path(REPO, REV, "model.safetensors")
    large = hf.resolve_path("org/big", REV, "big.bin")
    hf.fault(cfg, "extra", extra=10)
    hf.fault(model, "drop", after=300_000)
    hf.fault(large, "drop", after=11 * mib)
    out = run_hf(
        hf,
        tmp_path,
        f"""
        try:
            hf_hub_download("{REPO}", "config.json", revision="{REV}", cache_dir="c")
            extra = None
        except OSError as e:
            extra = str(e)
        p = hf_hub_download("{REPO}", "model.safetensors", revision="{REV}", cache_dir="c")
        p_big = hf_hub_download("org/big", "big.bin", revision="{REV}", cache_dir="c")
        emit(extra=extra, p=os.path.abspath(p), p_big=os.path.abspath(p_big))
        """,
    )
    assert out["extra"] and "Consistency check failed" in out["extra"]
    assert Path(out["p"]).read_bytes() == HF_FILES["model.safetensors"]
    gets = hf.requests_for(model, method="GET")
    # < 10 MiB received before the drop: nothing was kept, the retry asks for the whole file again
    assert [(g.fault, g.status, g.range_start) for g in gets] == [("drop", 200, None), (None, 200, None)]
    assert Path(out["p_big"]).read_bytes() == big
    gets = hf.requests_for(large, method="GET")
    assert [(g.fault, g.status, g.range_start, g.bytes_sent) for g in gets] == [
        ("drop", 200, None, 11 * mib),
        (None, 206, 10 * mib, 2 * mib),
    ]
    assert gets[1].headers["range"] == f"bytes={10 * mib}-"


def test_hf_snapshot_download(hf: HFServer, tmp_path: Path) -> None:
    out = run_hf(
        hf,
        tmp_path,
        f"""
        d1 = snapshot_download("{REPO}", revision="{REV}", cache_dir="c")
        d2 = snapshot_download("{REPO}", revision="main", local_dir="local")
        emit(d1=os.path.abspath(d1), d2=os.path.abspath(d2))
        """,
    )
    for d in (Path(out["d1"]), Path(out["d2"])):
        for name, data in HF_FILES.items():
            assert (d / name).read_bytes() == data
    assert Path(out["d1"]).name == REV
    trees = [r for r in hf.requests if "/tree/" in r.path]
    assert [t.path for t in trees] == [f"/api/models/{REPO}/tree/{REV}"] * 2
    assert "recursive=true" in trees[0].query
    # a branch is resolved to its commit through the revision endpoint first
    assert any(r.path == f"/api/models/{REPO}/revision/main" for r in hf.requests)


def test_hf_over_https(tmp_path: Path) -> None:
    ctx, ca = make_tls(tmp_path / "tls")
    with HFServer(ssl_context=ctx) as hf:
        hf.add_repo(REPO, REV, HF_FILES)
        out = run_hf(
            hf,
            tmp_path,
            f"""
            p = hf_hub_download("{REPO}", "1_Pooling/config.json", revision="{REV}", cache_dir="c")
            emit(p=os.path.abspath(p))
            """,
            SSL_CERT_FILE=str(ca),
        )
        assert Path(out["p"]).read_bytes() == HF_FILES["1_Pooling/config.json"]
        assert hf.base_url.startswith("https://")
