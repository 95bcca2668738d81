"""zoo mirror sync / verify (zoo/mirror.py; issue 15): an incremental team mirror with its registry snapshot and index."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from conftest import run_zoo, sha256

MIB = 1 << 20


def _sync(reg: Path, *args: str) -> dict:
    r = run_zoo("--registry", str(reg), "mirror", "sync", *args, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_sync_is_incremental_and_merges_the_registry_snapshot(two, https_server, tmp_path: Path) -> None:  # noqa: ANN001
    reg, data = two
    dest = tmp_path / "mirror"
    first = _sync(reg, str(dest), "alpha")
    assert (first["files"], first["kept"], first["total_models"]) == (2, 0, 1)
    second = _sync(reg, str(dest), "beta")
    # beta's common.bin is the blob alpha brought: kept, not copied again.
    assert (second["files"], second["bytes"], second["kept"]) == (1, len(data["b"]), 1)
    assert (second["total_models"], second["total_blobs"]) == (2, 3)
    assert sorted(p.name for p in (dest / "sha256").iterdir()) == sorted(sha256(d) for d in data.values())
    snapshot = yaml.safe_load((dest / "registry" / "team.yaml").read_text())
    assert sorted(snapshot["models"]) == ["alpha", "beta"]  # the second sync kept the first one's entry
    index = json.loads((dest / "index.json").read_text())
    assert index["models"]["alpha@v1"] == {"w.bin": sha256(data["a"]), "common.bin": sha256(data["shared"])}
    again = _sync(reg, str(dest), "alpha", "beta")
    assert (again["files"], again["kept"]) == (0, 4)
    # An air-gapped node: the mirror's own registry snapshot, the origin gone.
    https_server.stop()
    r = run_zoo("pull", "beta", env={"ZOO_HOME": str(tmp_path / "node"), "ZOO_MIRROR": str(dest), "ZOO_REGISTRY": str(dest / "registry")})
    assert r.returncode == 0, r.stderr
    assert (Path(r.stdout.strip()) / "w.bin").read_bytes() == data["b"]


def test_verify_reports_bad_and_missing_blobs_and_changes_nothing(two, tmp_path: Path) -> None:  # noqa: ANN001
    reg, data = two
    dest = tmp_path / "mirror"
    _sync(reg, str(dest), "alpha", "beta")
    r = run_zoo("mirror", "verify", str(dest), "--json")
    assert r.returncode == 0, r.stderr
    check = json.loads(r.stdout)
    assert (check["ok"], check["checked"], check["bytes"]) == (True, 3, sum(len(d) for d in data.values()))
    bad = dest / "sha256" / sha256(data["a"])
    bad.write_bytes(b"X" * len(data["a"]))
    (dest / "sha256" / sha256(data["b"])).unlink()
    (dest / "sha256" / sha256(b"stray")).write_bytes(b"stray")
    r = run_zoo("mirror", "verify", str(dest), "--json")
    assert r.returncode == 1
    check = json.loads(r.stdout)
    assert check["bad"] == [[sha256(data["a"]), sha256(b"X" * len(data["a"]))]]
    assert check["missing"] == [["beta@v1", "w.bin", sha256(data["b"])]]
    assert check["unlisted"] == [sha256(b"stray")]
    assert bad.read_bytes() == b"X" * len(data["a"])  # reported, not removed: the mirror's owner decides
    r = run_zoo("mirror", "verify", str(dest))
    assert r.returncode == 1 and "bad:" in r.stdout and "missing:  beta@v1: w.bin" in r.stdout
    r = run_zoo("mirror", "verify", str(tmp_path))
    assert r.returncode == 2 and "not a zoo mirror" in r.stderr


def test_sync_a_lock_file_and_bad_options(two, tmp_path: Path) -> None:  # noqa: ANN001
    reg, data = two
    lock = tmp_path / "team.lock"
    assert run_zoo("--registry", str(reg), "registry", "lock", "alpha", "-o", str(lock)).returncode == 0
    dest = tmp_path / "mirror"
    report = _sync(reg, str(dest), "--lock", str(lock))
    assert report["models"] == ["alpha@v1"] and report["files"] == 2
    assert (dest / "locks" / "team.lock").read_bytes() == lock.read_bytes()
    r = run_zoo("--registry", str(reg), "mirror", "sync", str(dest))
    assert r.returncode == 2 and "--all" in r.stderr and "--lock" in r.stderr
    r = run_zoo("--registry", str(reg), "mirror", "sync", str(dest), "--source", "timm")
    assert r.returncode == 2 and "add --all" in r.stderr
