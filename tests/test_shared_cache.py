"""The read-only shared cache tier (ZOO_SHARED_CACHE; issue 15): a team's ZOO_HOME on a shared disk, tried first.

A node with the shared tier mounted pulls verified copies of its blobs and downloads nothing (the origin
is stopped); nothing is ever written to the shared tier (its tree is compared byte for byte before and
after); what the shared cache's first pull recorded (the sha256 of an md5-pinned file) is adopted; a
corrupt shared blob is refused and the origin serves the file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import file_entry, model_entry, run_zoo, sha256, write_registry

from zoo.cache import Cache

MIB = 1 << 20


def _tree(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under ``root``: size, mtime and sha256 (links as their target text)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            out[str(p.relative_to(root))] = (0, 0, str(p.readlink()))
        elif p.is_file():
            st = p.stat()
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns, sha256(p.read_bytes()))
    return out


@pytest.fixture
def shared(https_server, tmp_path: Path) -> tuple[Path, Path, dict[str, bytes]]:  # noqa: ANN001
    """A team model (a sha256-pinned file and an md5-pinned one) pulled once into the shared ZOO_HOME."""
    weights = hashlib.sha256(b"seed").digest() * (3 * MIB // 32)
    legacy = b"glove-ish text vectors\n" * 4000
    https_server.add("/o/weights.bin", weights)
    https_server.add("/o/legacy.txt", legacy)
    files = [
        file_entry("weights.bin", weights, {"url": https_server.url("/o/weights.bin")}),
        {"path": "legacy.txt", "size": len(legacy), "hash": {"md5": hashlib.md5(legacy).hexdigest()},
         "source": {"url": https_server.url("/o/legacy.txt")}},
    ]
    reg = write_registry(tmp_path / "reg" / "team.yaml", {"teammodel": model_entry(files)})
    root = tmp_path / "shared"
    r = run_zoo("pull", "teammodel", env={"ZOO_HOME": str(root), "ZOO_REGISTRY": str(reg)})
    assert r.returncode == 0, r.stderr
    return root, reg, {"weights.bin": weights, "legacy.txt": legacy}


def test_a_node_with_the_shared_cache_downloads_nothing_and_writes_nothing_there(shared, https_server, tmp_path: Path) -> None:  # noqa: ANN001
    root, reg, data = shared
    before = _tree(root)
    https_server.stop()  # zero bytes can come from the network
    node = tmp_path / "node"
    env = {"ZOO_HOME": str(node), "ZOO_REGISTRY": str(reg), "ZOO_SHARED_CACHE": str(root)}
    r = run_zoo("pull", "teammodel", "--json", env=env)
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    fetched = [e for e in events if e.get("event") == "fetched"]
    assert {e["path"]: e["source"] for e in fetched} == {"weights.bin": "shared", "legacy.txt": "shared"}
    folder = node / "models" / "teammodel" / "v1"
    assert {p: (folder / p).read_bytes() for p in data} == data
    # The md5-pinned file's sha256 was found by the shared cache's first pull; the node adopted it.
    md5 = hashlib.md5(data["legacy.txt"]).hexdigest()
    assert (node / "tofu" / "md5" / md5).read_text().strip() == sha256(data["legacy.txt"])
    assert _tree(root) == before  # nothing written, touched or removed in the shared tier
    assert run_zoo("verify", env=env).returncode == 0
    # Offline, a second node gets it the same way (the shared tier is on this machine).
    r = run_zoo("pull", "teammodel", env={**env, "ZOO_HOME": str(tmp_path / "node2"), "ZOO_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr
    assert _tree(root) == before


def test_a_corrupt_shared_blob_is_refused_and_the_origin_serves_the_file(shared, https_server, tmp_path: Path) -> None:  # noqa: ANN001
    root, reg, data = shared
    blob = Cache(root).blob_path(sha256(data["weights.bin"]))
    blob.write_bytes(b"\0" * len(data["weights.bin"]))  # same size, wrong bytes
    before = _tree(root)
    node = tmp_path / "node"
    r = run_zoo("pull", "teammodel", "--json", env={"ZOO_HOME": str(node), "ZOO_REGISTRY": str(reg), "ZOO_SHARED_CACHE": str(root)})
    assert r.returncode == 0, r.stderr
    sources = {e["path"]: e["source"] for e in map(json.loads, r.stdout.splitlines()) if e.get("event") == "fetched"}
    assert sources == {"weights.bin": "url", "legacy.txt": "shared"}
    assert (node / "models" / "teammodel" / "v1" / "weights.bin").read_bytes() == data["weights.bin"]
    assert _tree(root) == before  # the bad blob is the shared cache's owner's to fix: zoo verify there
    # With the origin gone too, the pull fails naming both sources.
    https_server.stop()
    r = run_zoo("pull", "teammodel", env={"ZOO_HOME": str(tmp_path / "n3"), "ZOO_REGISTRY": str(reg), "ZOO_SHARED_CACHE": str(root)})
    assert r.returncode in (4, 5) and "shared" in r.stderr and str(root) in r.stderr, r.stderr


def test_the_shared_cache_pointing_at_zoo_home_itself_is_ignored(shared, tmp_path: Path) -> None:  # noqa: ANN001
    root, reg, data = shared
    r = run_zoo("pull", "teammodel", "--json", env={"ZOO_HOME": str(root), "ZOO_REGISTRY": str(reg), "ZOO_SHARED_CACHE": str(root)})
    assert r.returncode == 0, r.stderr
    assert not [line for line in r.stdout.splitlines() if '"event": "fetched"' in line]  # all cached already
