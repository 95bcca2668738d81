"""S3 mirrors against a real S3-protocol server process (moto_server): sync, pull, verify, and the ways they fail."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest
import s3
from conftest import run_zoo, sha256

pytestmark = pytest.mark.skipif(not s3.available(), reason="moto[server] is not installed (make test installs it)")

MIB = 1 << 20


@pytest.fixture(scope="module")
def moto(tmp_path_factory):  # noqa: ANN001, ANN201
    server = s3.S3Server(tmp_path_factory.mktemp("moto")).start()
    yield server
    server.stop()


def _zoo(env: dict[str, str], *args: str):  # noqa: ANN202
    return run_zoo(*args, env={**env, "SSL_CERT_FILE": os.environ["SSL_CERT_FILE"]})


def test_sync_pull_and_verify_through_s3(moto, two, https_server, tmp_path: Path) -> None:  # noqa: ANN001
    reg, data = two
    moto.make_bucket("team-models")
    env = moto.env()
    r = _zoo(env, "--registry", str(reg), "mirror", "sync", "s3://team-models/zoo", "alpha", "--json")
    assert r.returncode == 0, r.stderr
    first = json.loads(r.stdout)
    assert (first["files"], first["bytes"], first["kept"]) == (2, len(data["a"]) + len(data["shared"]), 0)
    keys = moto.keys("team-models", "zoo/")
    assert keys[f"zoo/sha256/{sha256(data['a'])}"] == len(data["a"])
    assert keys[f"zoo/sha256/{sha256(data['shared'])}"] == len(data["shared"])
    assert {"zoo/index.json", "zoo/registry/team.yaml"} <= set(keys)
    # Incremental: beta adds only its own file; a repeat moves nothing.
    second = json.loads(_zoo(env, "--registry", str(reg), "mirror", "sync", "s3://team-models/zoo", "beta", "--json").stdout)
    assert (second["files"], second["bytes"], second["kept"], second["total_models"]) == (1, len(data["b"]), 1, 2)
    again = json.loads(_zoo(env, "--registry", str(reg), "mirror", "sync", "s3://team-models/zoo", "alpha", "beta", "--json").stdout)
    assert (again["files"], again["bytes"], again["kept"]) == (0, 0, 4)
    index = json.loads(moto.client().get_object(Bucket="team-models", Key="zoo/index.json")["Body"].read())
    assert index["models"]["beta@v1"] == {"w.bin": sha256(data["b"]), "common.bin": sha256(data["shared"])}

    # A node with the origin gone pulls from the bucket, verified.
    https_server.stop()
    node = {**env, "ZOO_HOME": str(tmp_path / "node"), "ZOO_MIRROR": "s3://team-models/zoo"}
    r = _zoo(node, "--registry", str(reg), "pull", "beta", "--json")
    assert r.returncode == 0, r.stderr
    pulled = json.loads(r.stdout.strip().splitlines()[-1])
    assert {f["path"]: f["source"] for f in pulled["files"]} == {"w.bin": "mirror", "common.bin": "mirror"}
    assert (Path(pulled["path"]) / "common.bin").read_bytes() == data["shared"]

    r = _zoo(env, "mirror", "verify", "s3://team-models/zoo", "--json")
    assert r.returncode == 0, r.stderr
    check = json.loads(r.stdout)
    assert (check["ok"], check["checked"], check["bytes"]) == (True, 3, sum(map(len, data.values())))


def test_a_corrupted_object_is_found_by_verify_and_rejected_by_pull(moto, two, https_server, tmp_path: Path) -> None:  # noqa: ANN001
    reg, data = two
    moto.make_bucket("corrupted")
    env = moto.env()
    assert _zoo(env, "--registry", str(reg), "mirror", "sync", "s3://corrupted/m", "alpha").returncode == 0
    bad = bytearray(data["shared"])
    bad[12345] ^= 0xFF
    moto.put("corrupted", f"m/sha256/{sha256(data['shared'])}", bytes(bad))
    r = _zoo(env, "mirror", "verify", "s3://corrupted/m", "--json")
    assert r.returncode == 1
    check = json.loads(r.stdout)
    assert check["bad"] == [[sha256(data["shared"]), sha256(bytes(bad))]] and not check["ok"]
    # A pull refuses the object and takes the file from the origin; nothing wrong enters the cache.
    node = {**env, "ZOO_HOME": str(tmp_path / "node"), "ZOO_MIRROR": "s3://corrupted/m"}
    r = _zoo(node, "--registry", str(reg), "pull", "alpha", "--json")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.strip().splitlines()]
    assert any(e.get("event") == "fallback" and e["source"] == "s3://corrupted/m" for e in lines)
    assert (Path(lines[-1]["path"]) / "common.bin").read_bytes() == data["shared"]
    # With the origin gone too, the pull fails as a checksum mismatch, naming the mirror.
    https_server.stop()
    r = _zoo({**node, "ZOO_HOME": str(tmp_path / "node2")}, "--registry", str(reg), "pull", "alpha")
    assert r.returncode in (4, 5), r.stderr
    assert "mirror s3://corrupted/m: sha256 mismatch" in r.stderr
    assert not (tmp_path / "node2" / "blobs" / "sha256" / sha256(data["shared"])).exists()


def test_a_missing_bucket_is_a_clear_error_and_pulls_fall_back(moto, two, https_server, tmp_path: Path) -> None:  # noqa: ANN001
    reg, data = two
    env = moto.env()
    r = _zoo(env, "--registry", str(reg), "mirror", "sync", "s3://no-such-bucket/zoo", "alpha")
    assert r.returncode == 5
    assert "no such bucket 'no-such-bucket'" in r.stderr and "create the bucket" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = _zoo(env, "mirror", "verify", "s3://no-such-bucket/zoo")
    assert r.returncode == 5 and "no such bucket" in r.stderr
    node = {**env, "ZOO_HOME": str(tmp_path / "node"), "ZOO_MIRROR": "s3://no-such-bucket/zoo"}
    r = _zoo(node, "--registry", str(reg), "pull", "alpha")
    assert r.returncode == 0, r.stderr  # the origin serves it
    https_server.stop()
    r = _zoo({**node, "ZOO_HOME": str(tmp_path / "node2")}, "--registry", str(reg), "pull", "alpha")
    assert r.returncode == 5
    assert "mirror s3://no-such-bucket/zoo: no such bucket 'no-such-bucket' (NoSuchBucket)" in r.stderr


def test_bad_credentials_are_refused_with_a_clear_error(two, tmp_path: Path) -> None:  # noqa: ANN001
    reg, data = two
    server = s3.S3Server(tmp_path / "auth", enforce_auth=True).start()
    try:
        server.make_bucket("locked")
        good = server.env()
        assert _zoo(good, "--registry", str(reg), "mirror", "sync", "s3://locked/zoo", "alpha").returncode == 0
        for key, secret, code in (("wrong", "wrong", "InvalidAccessKeyId"), (server.key, "wrong", "SignatureDoesNotMatch")):
            wrong = server.env(key=key, secret=secret)
            r = _zoo(wrong, "--registry", str(reg), "mirror", "sync", "s3://locked/zoo", "beta")
            assert r.returncode == 5, r.stderr
            assert f"access denied ({code})" in r.stderr and "AWS_ACCESS_KEY_ID" in r.stderr
            r = _zoo(wrong, "mirror", "verify", "s3://locked/zoo")
            assert r.returncode == 5 and "access denied" in r.stderr
        # A node with wrong credentials: the mirror's refusal is reported, the origin still serves.
        node = {**server.env(key="wrong", secret="wrong"), "ZOO_HOME": str(tmp_path / "node"), "ZOO_MIRROR": "s3://locked/zoo"}
        r = _zoo(node, "--registry", str(reg), "pull", "alpha", "--json")
        assert r.returncode == 0, r.stderr
        fallback = [json.loads(line) for line in r.stdout.splitlines() if '"fallback"' in line]
        assert fallback and "access denied" in fallback[0]["error"]
        r = _zoo({**good, "ZOO_HOME": str(tmp_path / "good"), "ZOO_MIRROR": "s3://locked/zoo"}, "--registry", str(reg), "pull", "alpha", "--json")
        assert all(f["source"] == "mirror" for f in json.loads(r.stdout.strip().splitlines()[-1])["files"])
    finally:
        server.stop()


def test_an_s3_service_that_is_down_fails_fast_and_the_origin_serves(two, tmp_path: Path) -> None:  # noqa: ANN001
    reg, data = two
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**s3.S3Server(tmp_path / "down").env(), "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    start = time.monotonic()
    r = _zoo({**env, "ZOO_MIRROR": "s3://any/zoo"}, "--registry", str(reg), "pull", "alpha", "--json")
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - start < 20
    fallback = [json.loads(line) for line in r.stdout.splitlines() if '"fallback"' in line]
    assert fallback and "connection refused" in fallback[0]["error"]


def test_api_sync_to_s3_in_process(moto, two, monkeypatch) -> None:  # noqa: ANN001
    import zoo
    from zoo import mirror

    reg, data = two
    moto.make_bucket("in-process")
    for key, value in moto.env().items():
        monkeypatch.setenv(key, value)
    events: list[dict] = []
    report = mirror.sync("s3://in-process", ["alpha"], registries=[reg], progress=events.append)
    assert (report.path, report.files, report.total_blobs) == ("s3://in-process", 2, 2)
    uploaded = sum(e["n"] for e in events if e["event"] == "bytes" and e["model"].startswith("mirror"))
    assert uploaded == len(data["a"]) + len(data["shared"])
    assert set(moto.keys("in-process")) >= {f"sha256/{sha256(data['a'])}", "index.json", "registry/team.yaml"}
    check = mirror.verify_mirror("s3://in-process")
    assert check.ok and check.checked == 2
    assert zoo.pull("alpha", registries=[reg], mirrors=["s3://in-process"]).is_dir()
