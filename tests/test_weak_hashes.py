"""Legacy hashes (md5 from gensim-data, sha1 from the Caffe Model Zoo): weakly verified
entries, trust on first use, locks that record the sha256, tampering caught."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import model_entry, run_zoo, write_registry

import zoo
from zoo import resolve
from zoo.errors import ChecksumMismatchError, OfflineError, RegistryError
from zoo.fetch import RetryPolicy

FAST = RetryPolicy(attempts=2, backoff=0.05)
DATA = b"glove 0.1 0.2 0.3\nking 0.5 0.6 0.7\n" * 1000


def _weak_file(server, data: bytes, algo: str = "md5", size: bool = True) -> dict:  # noqa: ANN001
    server.add("/legacy/vectors.gz", data)
    entry = {"path": "vectors.gz", "hash": {algo: hashlib.new(algo, data).hexdigest()}, "source": {"url": server.url("/legacy/vectors.gz")}}
    if size:
        entry["size"] = len(data)
    return entry


@pytest.fixture
def weak_reg(https_server, tmp_path):  # noqa: ANN001, ANN201
    return write_registry(tmp_path / "weak.yaml", {"legacy": model_entry([_weak_file(https_server, DATA)])})


def test_schema_rules(tmp_path) -> None:  # noqa: ANN001
    def issues(file: dict) -> list[str]:
        reg = write_registry(tmp_path / "s.yaml", {"m": model_entry([file])})
        with pytest.raises(RegistryError) as info:
            zoo.validate_registry([reg])
        return [i.code for i in info.value.issues]

    src = {"url": "https://example.org/f"}
    assert issues({"path": "f", "size": 3, "source": src}) == ["hash_required"]
    assert issues({"path": "f", "sha256": "a" * 64, "source": src}) == ["size_required"]
    assert issues({"path": "f", "hash": {"md5": "a" * 32, "sha1": "b" * 40}, "source": src}) == ["weak_hash_kind"]
    assert issues({"path": "f", "hash": {"md5": "xyz"}, "source": src}) == ["md5_format"]
    assert issues({"path": "f", "hash": {"sha1": "a" * 32}, "source": src}) == ["sha1_format"]
    assert issues({"path": "f", "hash": {"crc32": "abcd"}, "source": src}) == ["extra_forbidden"]
    ok = write_registry(tmp_path / "ok.yaml", {"m": model_entry([{"path": "f", "hash": {"sha1": "a" * 40}, "source": src}])})
    assert zoo.validate_registry([ok])["files_pinned"] == 1


def test_weak_flag_in_list_and_info(weak_reg) -> None:  # noqa: ANN001
    (row,) = [m for m in zoo.list_models(registries=[weak_reg]) if m.name == "legacy"]
    assert row.verification == "weak (md5)"
    assert zoo.info("resnet50").verification == "sha256"
    r = run_zoo("--registry", str(weak_reg), "info", "legacy")
    assert "verified:     weak (md5)" in r.stdout and "md5:" in r.stdout
    r = run_zoo("--registry", str(weak_reg), "list")
    assert "weak (md5)" in next(line for line in r.stdout.splitlines() if line.startswith("legacy"))


def test_first_pull_records_sha256_then_lock_uses_it(weak_reg, https_server, tmp_path, zoo_env) -> None:  # noqa: ANN001
    sha256 = hashlib.sha256(DATA).hexdigest()
    # Locking needs the sha256 a verified pull records: offline, with nothing recorded, it cannot.
    with pytest.raises(OfflineError, match="not in the cache"):
        resolve.lock_models(["legacy"], registries=[weak_reg], offline=True)
    assert https_server.requests == []
    folder = zoo.pull("legacy", registries=[weak_reg], policy=FAST)
    assert (folder / "vectors.gz").read_bytes() == DATA
    assert (zoo_env / "blobs" / "sha256" / sha256).is_file()
    assert (zoo_env / "tofu" / "md5" / hashlib.md5(DATA).hexdigest()).read_text().strip() == sha256
    # A second pull trusts the recorded sha256: no request.
    https_server.clear_requests()
    zoo.pull("legacy", registries=[weak_reg])
    assert https_server.requests == []
    lock = tmp_path / "zoo.lock"
    assert run_zoo("--registry", str(weak_reg), "registry", "lock", "legacy", "-o", str(lock)).returncode == 0
    (entry,) = json.loads(lock.read_text())["models"]["legacy@v1"]["files"]
    assert entry["sha256"] == sha256 and entry["size"] == len(DATA) and entry["hash"] == {"md5": hashlib.md5(DATA).hexdigest()}
    # The origin's file is tampered with: a fresh machine pulling by the lock is checked by sha256.
    https_server.add("/legacy/vectors.gz", DATA.replace(b"king", b"kong"))
    fresh = tmp_path / "fresh"
    r = run_zoo("pull", "--lock", str(lock), env={"ZOO_HOME": str(fresh)})
    assert r.returncode == 4 and "sha256 mismatch" in r.stderr
    assert not (fresh / "blobs" / "sha256" / sha256).exists()
    # Without the lock, the md5 still catches it.
    r = run_zoo("--registry", str(weak_reg), "pull", "legacy", env={"ZOO_HOME": str(tmp_path / "fresh2")})
    assert r.returncode == 4 and "md5 mismatch" in r.stderr


def test_lock_pulls_a_file_not_pulled_yet(weak_reg, https_server, zoo_env) -> None:  # noqa: ANN001
    doc = resolve.lock_models(["legacy"], registries=[weak_reg], policy=FAST)
    (entry,) = doc["models"]["legacy@v1"]["files"]
    assert entry["sha256"] == hashlib.sha256(DATA).hexdigest() and entry["size"] == len(DATA)
    assert len(https_server.requests_for("/legacy/vectors.gz", "GET")) == 1  # the verified pull
    assert (zoo_env / "blobs" / "sha256" / entry["sha256"]).read_bytes() == DATA


def test_sha1_without_size(https_server, tmp_path) -> None:  # noqa: ANN001
    reg = write_registry(tmp_path / "c.yaml", {"caffe-like": model_entry([_weak_file(https_server, DATA, "sha1", size=False)])})
    folder = zoo.pull("caffe-like", registries=[reg], policy=FAST)
    assert (folder / "vectors.gz").read_bytes() == DATA
    assert zoo.info("caffe-like", registries=[reg]).verification == "weak (sha1)"


def test_unsized_download_resumes(https_server, tmp_path) -> None:  # noqa: ANN001
    reg = write_registry(tmp_path / "c.yaml", {"caffe-like": model_entry([_weak_file(https_server, DATA, "sha1", size=False)])})
    https_server.fault("/legacy/vectors.gz", "drop", after=5000)
    folder = zoo.pull("caffe-like", registries=[reg], policy=FAST)
    assert (folder / "vectors.gz").read_bytes() == DATA
    assert [r.range_start for r in https_server.requests_for("/legacy/vectors.gz", "GET")] == [None, 5000]


def test_verify_uses_the_recorded_sha256(weak_reg, zoo_env) -> None:  # noqa: ANN001
    zoo.pull("legacy", registries=[weak_reg], policy=FAST)
    blob = zoo_env / "blobs" / "sha256" / hashlib.sha256(DATA).hexdigest()
    blob.write_bytes(DATA[:-1] + b"!")
    report = zoo.verify()
    assert not report.ok and report.corrupt[0][0] == blob.name


def test_import_adopts_a_weakly_pinned_file(weak_reg, https_server, tmp_path) -> None:  # noqa: ANN001
    local = tmp_path / "downloads"
    local.mkdir()
    (local / "glove.gz").write_bytes(DATA)
    report = resolve.import_folder(local, registries=[weak_reg])
    assert report["complete"] == ["legacy@v1"]
    zoo.pull("legacy", registries=[weak_reg], offline=True)
    assert https_server.requests == []


def test_wrong_md5_caches_nothing(https_server, tmp_path, zoo_env) -> None:  # noqa: ANN001
    entry = _weak_file(https_server, DATA)
    entry["hash"] = {"md5": "0" * 32}
    reg = write_registry(tmp_path / "bad.yaml", {"bad": model_entry([entry])})
    with pytest.raises(ChecksumMismatchError, match="md5 mismatch"):
        zoo.pull("bad", registries=[reg], policy=FAST)
    assert not any(Path(zoo_env / "blobs" / "sha256").iterdir())
    assert not (zoo_env / "tofu").exists()
