"""Verification tiers against real loopback servers: sha384 (OpenVINO manifests), a sha256 prefix
(torchvision file names), hub (timm weights on the Hugging Face Hub, verified against what the Hub
advertises and pinned on first pull), and pulls that require every file to be pinned."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import REV, file_entry, model_entry, run_zoo, sha256, write_registry
from servers import git_blob_sha1

import zoo
from zoo import resolve
from zoo.cache import Cache
from zoo.errors import ChecksumMismatchError, OfflineError, UnpinnedFileError
from zoo.fetch import RetryPolicy
from zoo.registry import FileInfo

FAST = RetryPolicy(attempts=2, backoff=0.05, max_wait=2.0, connect_timeout=5.0, read_timeout=5.0)
REV2 = "fedcba9876543210fedcba9876543210fedcba98"
HUB_REPO = "timm/tiny.a1_in1k"


def payload(n: int, seed: int) -> bytes:
    """Deterministic bytes; two seeds give two files of the same length."""
    return bytes((i * 131 + seed * 7 + (i >> 8) * 17) % 256 for i in range(n))


A = payload(300_000, 1)
B = payload(300_000, 2)  # same size as A, other bytes


def blobs(home: Path) -> set[str]:
    folder = home / "blobs" / "sha256"
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def no_leftovers(home: Path) -> None:
    """Nothing half-written stays behind after a refused download."""
    folder = home / "blobs" / "sha256"
    assert not [p for p in folder.iterdir() if len(p.name) != 64] if folder.is_dir() else True
    staging = home / "tmp"
    assert not (staging.is_dir() and any(staging.rglob("*")))


# ---------------------------------------------------------------------------------------------- sha384


def _omz(server, tmp_path: Path, data: bytes, served: bytes | None = None) -> Path:  # noqa: ANN001
    server.add("/omz/face-detection.bin", data if served is None else served)
    entry = {
        "path": "face-detection.bin",
        "size": len(data),
        "hash": {"sha384": hashlib.sha384(data).hexdigest()},
        "source": {"url": server.url("/omz/face-detection.bin")},
    }
    return write_registry(tmp_path / "omz.yaml", {"omz": model_entry([entry])})


def test_sha384_pull_records_sha256_for_cache_verify_lock_and_mirrors(https_server, tmp_path, zoo_env) -> None:  # noqa: ANN001
    reg = _omz(https_server, tmp_path, A)
    assert zoo.info("omz", registries=[reg]).verification == "sha384"
    folder = zoo.pull("omz", registries=[reg], policy=FAST)
    assert (folder / "face-detection.bin").read_bytes() == A
    assert blobs(zoo_env) == {sha256(A)}
    assert (zoo_env / "tofu" / "sha384" / hashlib.sha384(A).hexdigest()).read_text().strip() == sha256(A)
    # The recorded sha256 makes the next pull a cache hit.
    https_server.clear_requests()
    zoo.pull("omz", registries=[reg])
    assert https_server.requests == []
    # The lock pins it by that sha256 (and keeps the publisher's digest).
    (entry,) = resolve.lock_models(["omz"], registries=[reg])["models"]["omz@v1"]["files"]
    assert entry["sha256"] == sha256(A) and entry["size"] == len(A) and entry["hash"] == {"sha384": hashlib.sha384(A).hexdigest()}
    # verify re-hashes by sha256: a flipped byte is found and the blob removed.
    assert zoo.verify().ok
    blob = zoo_env / "blobs" / "sha256" / sha256(A)
    blob.write_bytes(b"\0" + A[1:])
    report = zoo.verify()
    assert report.corrupt and report.corrupt[0][0] == sha256(A) and not blob.exists()
    # Mirrors are addressed by sha256: now that it is recorded, a folder mirror serves the file.
    mirror = tmp_path / "mirror"
    (mirror / "sha256").mkdir(parents=True)
    (mirror / "sha256" / sha256(A)).write_bytes(A)
    https_server.clear_requests()
    events: list[dict] = []
    zoo.pull("omz", registries=[reg], mirrors=[str(mirror)], progress=events.append)
    assert https_server.requests == []
    assert [e["source"] for e in events if e["event"] == "fetched"] == ["mirror"]


def test_sha384_wrong_bytes_of_the_right_size_cache_nothing(https_server, tmp_path, zoo_env) -> None:  # noqa: ANN001
    reg = _omz(https_server, tmp_path, A, served=B)
    with pytest.raises(ChecksumMismatchError, match="sha384 mismatch") as info:
        zoo.pull("omz", registries=[reg], policy=FAST)
    assert hashlib.sha384(A).hexdigest()[:12] in str(info.value) and hashlib.sha384(B).hexdigest()[:12] in str(info.value)
    assert blobs(zoo_env) == set()
    assert not (zoo_env / "tofu").exists()
    no_leftovers(zoo_env)


# ------------------------------------------------------------------------------------- sha256 prefix


def _torchvision(server, tmp_path: Path, served: bytes, prefix: str, name: str = "tv") -> Path:  # noqa: ANN001
    url_path = f"/models/resnet18-{prefix}.pth"
    server.add(url_path, served)
    entry = {"path": "resnet18.pth", "size": len(served), "hash": {"sha256_prefix": prefix}, "source": {"url": server.url(url_path)}}
    return write_registry(tmp_path / f"{name}.yaml", {name: model_entry([entry])})


def test_prefix_from_the_file_name_is_checked_and_the_sha256_recorded(https_server, tmp_path, zoo_env) -> None:  # noqa: ANN001
    prefix = sha256(A)[:8]
    reg = _torchvision(https_server, tmp_path, A, prefix)
    assert zoo.info("tv", registries=[reg]).verification == "prefix"
    folder = zoo.pull("tv", registries=[reg], policy=FAST)
    assert (folder / "resnet18.pth").read_bytes() == A
    (record,) = (zoo_env / "tofu" / "sha256_prefix").iterdir()
    assert record.name.startswith(f"{prefix}-") and record.read_text().strip() == sha256(A)
    https_server.clear_requests()
    zoo.pull("tv", registries=[reg])
    assert https_server.requests == []
    (entry,) = resolve.lock_models(["tv"], registries=[reg])["models"]["tv@v1"]["files"]
    assert entry["sha256"] == sha256(A)


def test_prefix_record_belongs_to_its_source(https_server, tmp_path) -> None:  # noqa: ANN001
    """A 32-bit prefix is cheap to collide: one source's first pull must not vouch for another's file."""
    prefix = sha256(A)[:8]
    first = _torchvision(https_server, tmp_path, A, prefix, "tv")
    zoo.pull("tv", registries=[first], policy=FAST)
    https_server.add("/elsewhere/resnet18.pth", A)
    other = {"path": "r.pth", "size": len(A), "hash": {"sha256_prefix": prefix}, "source": {"url": https_server.url("/elsewhere/resnet18.pth")}}
    second = write_registry(tmp_path / "other.yaml", {"other": model_entry([other])})
    assert not Cache().has_file(FileInfo.of(other))
    zoo.pull("other", registries=[second], policy=FAST)
    assert len(https_server.requests_for("/elsewhere/resnet18.pth", "GET")) == 1


def test_wrong_prefix_is_a_mismatch(https_server, tmp_path, zoo_env) -> None:  # noqa: ANN001
    reg = _torchvision(https_server, tmp_path, B, "f37072fd")
    with pytest.raises(ChecksumMismatchError) as info:
        zoo.pull("tv", registries=[reg], policy=FAST)
    assert f"sha256 prefix mismatch: the file name promises f37072fd…, got {sha256(B)[:8]}…" in str(info.value)
    assert blobs(zoo_env) == set() and not (zoo_env / "tofu").exists()
    no_leftovers(zoo_env)


# ----------------------------------------------------------------------------------------------- hub


def _hub_registry(tmp_path: Path, file: str = "model.safetensors", size: int | None = None) -> Path:
    entry = {"path": file, "source": {"hf": HUB_REPO, "file": file}}
    if size is not None:
        entry["size"] = size
    return write_registry(tmp_path / "timm.yaml", {"timmy": model_entry([entry])})


def _pin(home: Path, file: str = "model.safetensors") -> dict:
    return json.loads((home / "tofu" / "hf" / HUB_REPO / f"{file}.json").read_text())


def test_hub_first_pull_pins_commit_and_sha256(hf_server, tmp_path, zoo_env, monkeypatch) -> None:  # noqa: ANN001
    hf_server.add_repo(HUB_REPO, REV, {"model.safetensors": A})
    reg = _hub_registry(tmp_path)
    assert zoo.info("timmy", registries=[reg]).verification == "hub"
    events: list[dict] = []
    folder = zoo.pull("timmy", registries=[reg], progress=events.append)
    assert (folder / "model.safetensors").read_bytes() == A
    assert _pin(zoo_env) == {"repo": HUB_REPO, "file": "model.safetensors", "commit": REV, "sha256": sha256(A), "size": len(A)}
    # One HEAD on main to learn commit + sha256, then the download at that commit.
    asked = [(r.method, r.path) for r in hf_server.requests]
    assert asked[0] == ("HEAD", f"/{HUB_REPO}/resolve/main/model.safetensors")
    assert ("GET", hf_server.resolve_path(HUB_REPO, REV, "model.safetensors")) in asked
    assert [e["where"] for e in events if e["event"] == "fetched"] == [f"{HUB_REPO}@{REV}"]
    # Later pulls are offline-capable.
    hf_server.clear_requests()
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    result = resolve.pull_many(["timmy"], registries=[reg])[0]
    assert hf_server.requests == []
    assert result.files[0].revision == REV and result.files[0].sha256 == sha256(A)
    monkeypatch.delenv("ZOO_OFFLINE")
    # The lock records the pinned commit as the revision, and a fresh machine pulls exactly that.
    lock = tmp_path / "zoo.lock"
    resolve.write_lock(resolve.lock_models(["timmy"], registries=[reg]), lock)
    (entry,) = json.loads(lock.read_text())["models"]["timmy@v1"]["files"]
    assert entry["source"] == {"hf": HUB_REPO, "file": "model.safetensors", "revision": REV}
    assert entry["sha256"] == sha256(A) and entry["size"] == len(A)
    fresh = Cache(tmp_path / "fresh")
    (pulled,) = resolve.pull_lock(lock, cache=fresh, require_pinned=True)
    assert (pulled.path / "model.safetensors").read_bytes() == A


def test_hub_serving_other_bytes_than_it_advertises_is_refused(hf_server, tmp_path, zoo_env) -> None:  # noqa: ANN001
    hf_server.add_repo(HUB_REPO, REV, {"model.safetensors": B}, advertise={"model.safetensors": sha256(A)})
    reg = _hub_registry(tmp_path)
    with pytest.raises(ChecksumMismatchError) as info:
        zoo.pull("timmy", registries=[reg])
    message = str(info.value)
    for part in (HUB_REPO, "model.safetensors", REV, "the Hub advertises", sha256(A)[:12], sha256(B)[:12]):
        assert part in message
    assert blobs(zoo_env) == set()
    assert not (zoo_env / "tofu" / "hf").exists()
    no_leftovers(zoo_env)


def test_hub_pin_wins_over_later_changes(hf_server, tmp_path, zoo_env) -> None:  # noqa: ANN001
    hf_server.add_repo(HUB_REPO, REV, {"model.safetensors": A})
    reg = _hub_registry(tmp_path)
    zoo.pull("timmy", registries=[reg])
    blob = zoo_env / "blobs" / "sha256" / sha256(A)
    # main moves to a commit with other bytes: the pinned bytes stay, the Hub is not even asked.
    hf_server.add_repo(HUB_REPO, REV2, {"model.safetensors": B})
    hf_server.clear_requests()
    folder = zoo.pull("timmy", registries=[reg])
    assert hf_server.requests == [] and (folder / "model.safetensors").read_bytes() == A
    assert blobs(zoo_env) == {sha256(A)}
    # The blob is lost (verify removed it as corrupt): the pull goes back to the pinned commit, not main.
    blob.write_bytes(b"\0" + A[1:])
    assert not zoo.verify().ok and not blob.exists()
    hf_server.clear_requests()
    folder = zoo.pull("timmy", registries=[reg])
    assert (folder / "model.safetensors").read_bytes() == A
    assert {r.path for r in hf_server.requests} == {hf_server.resolve_path(HUB_REPO, REV, "model.safetensors")}
    # The Hub now serves other bytes at the pinned commit itself: refused, the pin is kept.
    hf_server.add_repo(HUB_REPO, REV, {"model.safetensors": B}, branch=None)
    blob.unlink()
    with pytest.raises(ChecksumMismatchError, match="pinned on first pull") as info:
        zoo.pull("timmy", registries=[reg])
    assert "the pin wins" in str(info.value) and sha256(B)[:12] in str(info.value)
    assert sha256(B) not in blobs(zoo_env)
    assert _pin(zoo_env)["sha256"] == sha256(A) and _pin(zoo_env)["commit"] == REV
    no_leftovers(zoo_env)


def test_hub_file_stored_in_git_is_checked_by_its_git_blob_id(hf_server, tmp_path, zoo_env) -> None:  # noqa: ANN001
    config = b'{"architecture": "resnet18", "num_classes": 1000}\n'
    hf_server.add_repo(HUB_REPO, REV, {"config.json": config}, non_lfs=["config.json"])
    reg = _hub_registry(tmp_path, "config.json")
    folder = zoo.pull("timmy", registries=[reg])
    assert (folder / "config.json").read_bytes() == config
    assert _pin(zoo_env, "config.json")["sha256"] == sha256(config)
    # A Hub whose git blob id does not match the bytes it serves is refused.
    other = tmp_path / "other"
    hf_server.add_repo(HUB_REPO, REV, {"config.json": config}, non_lfs=["config.json"], advertise={"config.json": git_blob_sha1(b"x" * len(config))})
    with pytest.raises(ChecksumMismatchError, match="git blob id mismatch"):
        resolve.pull("timmy", registries=[reg], cache=Cache(other))
    assert not (other / "tofu" / "hf").exists()


def test_hub_size_in_the_registry_is_checked_before_downloading(hf_server, tmp_path, zoo_env) -> None:  # noqa: ANN001
    hf_server.add_repo(HUB_REPO, REV, {"model.safetensors": A})
    reg = _hub_registry(tmp_path, size=len(A) + 1)
    with pytest.raises(ChecksumMismatchError, match="refused before downloading"):
        zoo.pull("timmy", registries=[reg])
    assert [r.method for r in hf_server.requests] == ["HEAD"]
    assert blobs(zoo_env) == set()


def test_hub_file_offline_before_its_first_pull(hf_server, tmp_path) -> None:  # noqa: ANN001
    reg = _hub_registry(tmp_path)
    with pytest.raises(OfflineError):
        zoo.pull("timmy", registries=[reg], offline=True)
    assert hf_server.requests == []


# ------------------------------------------------------------------------------------ require pinned


@pytest.fixture
def tiers(https_server, hf_server, tmp_path):  # noqa: ANN001, ANN201
    """One registry with a model per tier (each a single file)."""
    https_server.add("/strong/a.bin", A)
    https_server.add("/omz/a.bin", A)
    https_server.add(f"/tv/resnet-{sha256(A)[:8]}.pth", A)
    https_server.add("/legacy/a.bin", A)
    hf_server.add_repo(HUB_REPO, REV, {"model.safetensors": A})
    models = {
        "strong": model_entry([file_entry("a.bin", A, {"url": https_server.url("/strong/a.bin")})]),
        "omz": model_entry([{"path": "a.bin", "size": len(A), "hash": {"sha384": hashlib.sha384(A).hexdigest()}, "source": {"url": https_server.url("/omz/a.bin")}}]),
        "tv": model_entry([{"path": "a.pth", "size": len(A), "hash": {"sha256_prefix": sha256(A)[:8]}, "source": {"url": https_server.url(f"/tv/resnet-{sha256(A)[:8]}.pth")}}]),
        "legacy": model_entry([{"path": "a.bin", "hash": {"md5": hashlib.md5(A).hexdigest()}, "source": {"url": https_server.url("/legacy/a.bin")}}]),
        "timmy": model_entry([{"path": "model.safetensors", "source": {"hf": HUB_REPO, "file": "model.safetensors"}}]),
    }
    return write_registry(tmp_path / "tiers.yaml", models)


@pytest.mark.parametrize(("name", "tier"), [("tv", "prefix"), ("legacy", "md5"), ("timmy", "hub")])
def test_require_pinned_refuses_before_any_request(tiers, https_server, hf_server, zoo_env, name, tier) -> None:  # noqa: ANN001
    with pytest.raises(UnpinnedFileError) as info:
        zoo.pull(name, registries=[tiers], require_pinned=True)
    exc = info.value
    assert (exc.model, exc.tier) == (f"{name}@v1", tier) and exc.path in ("a.pth", "a.bin", "model.safetensors")
    assert f"run 'zoo registry lock {name} -o zoo.lock' once (it records the sha256 after a verified pull)" in str(exc)
    assert "pull with 'zoo pull --lock zoo.lock'" in str(exc)
    assert isinstance(exc, ValueError)
    assert https_server.requests == [] and hf_server.requests == []
    assert blobs(zoo_env) == set()


def test_require_pinned_accepts_sha256_and_sha384(tiers, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("ZOO_REQUIRE_PINNED", "1")
    for name in ("strong", "omz"):
        assert (zoo.pull(name, registries=[tiers], policy=FAST) / "a.bin").read_bytes() == A


def test_require_pinned_checks_every_model_before_downloading_any(tiers, https_server, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("ZOO_REQUIRE_PINNED", "1")
    with pytest.raises(UnpinnedFileError, match="legacy@v1"):
        resolve.pull_many(["strong", "legacy"], registries=[tiers])
    assert https_server.requests == []
    info = zoo.info("tv", registries=[tiers])
    with pytest.raises(UnpinnedFileError):
        resolve.pull_version(info)
    # An explicit False overrides the setting; recording by a first pull does not count as a pin.
    zoo.pull("legacy", registries=[tiers], policy=FAST, require_pinned=False)
    with pytest.raises(UnpinnedFileError):
        zoo.pull("legacy", registries=[tiers])


def test_require_pinned_accepts_lock_pinned_files(tiers, https_server, hf_server, tmp_path) -> None:  # noqa: ANN001
    lock = tmp_path / "zoo.lock"
    # Locking does the verified first pulls that record each sha256.
    resolve.write_lock(resolve.lock_models(["tv", "legacy", "timmy", "omz"], registries=[tiers], policy=FAST), lock)
    fresh = tmp_path / "fresh"
    https_server.clear_requests()
    hf_server.clear_requests()
    r = run_zoo("pull", "--require-pinned", "--lock", str(lock), env={"ZOO_HOME": str(fresh)})
    assert r.returncode == 0, r.stderr
    folders = [Path(line) for line in r.stdout.splitlines()]
    assert len(folders) == 4 and all((f / p).read_bytes() == A for f in folders for p in json.loads((f / ".zoo-manifest.json").read_text()))
    assert https_server.requests or hf_server.requests  # fetched on the fresh machine (the files share one blob)
    assert {sha256(A)} == {p.name for p in (fresh / "blobs" / "sha256").iterdir()}
    # A hand-written lock entry with only a weak digest is not a pin.
    doc = json.loads(lock.read_text())
    weak = doc["models"]["legacy@v1"]["files"][0]
    del weak["sha256"]
    lock.write_text(json.dumps(doc))
    with pytest.raises(UnpinnedFileError, match="legacy@v1"):
        resolve.pull_lock(lock, cache=Cache(tmp_path / "fresh2"), require_pinned=True)


def test_cli_require_pinned_exit_code(tiers, https_server, hf_server) -> None:  # noqa: ANN001
    r = run_zoo("--registry", str(tiers), "pull", "--require-pinned", "timmy")
    assert r.returncode == 4
    assert "zoo registry lock timmy -o zoo.lock" in r.stderr and "tier 'hub'" in r.stderr
    r = run_zoo("--registry", str(tiers), "pull", "tv", env={"ZOO_REQUIRE_PINNED": "1"})
    assert r.returncode == 4 and "zoo pull --lock zoo.lock" in r.stderr
    assert https_server.requests == [] and hf_server.requests == []
    r = run_zoo("--registry", str(tiers), "pull", "--require-pinned", "strong")
    assert r.returncode == 0, r.stderr
